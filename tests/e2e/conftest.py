"""The installed `bybitctl` binary against the local exchange over real loopback sockets.

Every run's stdout and stderr are kept, and each test ends by asserting that no secret of
the exchange's keys ever appeared in them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bybitctl.sim import SimHandle, running_exchange


def limit_buy(qty: str) -> tuple[str, ...]:
    """argv of a linear BTCUSDT limit buy of `qty` (add `--price` and the rest)."""
    return (
        "trade",
        "place-order",
        "--category",
        "linear",
        "--symbol",
        "BTCUSDT",
        "--side",
        "Buy",
        "--order-type",
        "Limit",
        "--qty",
        qty,
    )


def binary() -> str:
    """The installed console script next to this interpreter (the project's venv)."""
    found = shutil.which("bybitctl", path=str(Path(sys.executable).parent))
    assert found, "bybitctl is not installed in this venv (pip install -e .)"
    return found


@dataclass(frozen=True)
class Run:
    """One finished run of the binary."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture(scope="session")
def binary_path() -> str:
    """Path of the installed `bybitctl`, for tests that manage the process themselves."""
    return binary()


@pytest.fixture(scope="session")
def exchange() -> Iterator[SimHandle]:
    """One local exchange per test process (xdist workers get their own, on free ports)."""
    with running_exchange(symbols=("BTCUSDT", "ETHUSDT"), seed=7) as ex:
        yield ex


@pytest.fixture(autouse=True)
def transcripts(exchange: SimHandle) -> Iterator[list[str]]:
    """Everything every run printed; checked for secrets when the test ends."""
    seen: list[str] = []
    yield seen
    secrets = [exchange.api_secret, exchange.readonly_secret]
    for text in seen:
        for secret in secrets:
            assert secret not in text, "a secret was printed"


@pytest.fixture
def env(clean_env: dict[str, str], exchange: SimHandle) -> dict[str, str]:
    """A subprocess environment: private config dir, the exchange's URL and trading keys."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BYBIT", "_BYBITCTL"))}
    return {
        **base,
        **clean_env,
        "BYBIT_BASE_URL": exchange.base_url,
        "BYBIT_API_KEY": exchange.api_key,
        "BYBIT_API_SECRET": exchange.api_secret,
    }


@pytest.fixture
def bybitctl(env: dict[str, str], transcripts: list[str]) -> Any:
    """`bybitctl(*args, input=None, env=None, timeout=60)` -> Run of the installed binary."""

    def run(
        *args: str, input: str | None = None, env_update: dict[str, str | None] | None = None
    ) -> Run:
        run_env = dict(env)
        for name, value in (env_update or {}).items():
            if value is None:
                run_env.pop(name, None)
            else:
                run_env[name] = value
        proc = subprocess.run(
            [binary(), *args],
            input=input,
            capture_output=True,
            text=True,
            env=run_env,
            timeout=60,
        )
        transcripts.extend([proc.stdout, proc.stderr])
        return Run(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def received(exchange: SimHandle) -> Any:
    """`received()` -> the requests the exchange got since the test started."""
    start = len(exchange.received)
    return lambda: exchange.received[start:]
