"""Helpers of the market maker's end-to-end tests: settings and REST clients for the local
exchange, a second trading account, an engine on a thread, and the binary's environment."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bybitctl.config import Settings
from bybitctl.mm.config import from_mapping
from bybitctl.mm.journal import Journal
from bybitctl.mm.live import live_engine
from bybitctl.mm.orders import owner
from bybitctl.mm.rest import Rest
from bybitctl.sim import SimHandle
from bybitctl.sim.net.auth import generate_key_pair

SYMBOL = "BTCUSDT"
BASE: dict[str, Any] = {
    "symbol": SYMBOL,
    "order_qty": "0.002",
    "max_position": "0.01",
    "spread_bps": 4.0,
    "min_edge_bps": 0.5,
    "inventory_skew": False,
    "min_requote_interval_ms": 100,
    "max_order_age_ms": 0,
    "rate_limit": 8.0,
}
"""A config the sim's BTCUSDT accepts (tick 0.1, step 0.001, min value 5 USDT), under the
exchange's 10 requests/s order limits."""
TAKER_PACE_S = 0.11
"""Between a taker's market orders: the exchange allows an account 10 orders/s, and pybit's
retry after a 10006 sleeps until the window's reset time, which can already be past by
then (a negative sleep raises in pybit)."""


def binary() -> str:
    found = shutil.which("bybitctl", path=str(Path(sys.executable).parent))
    assert found, "bybitctl is not installed in this venv (pip install -e .)"
    return found


def settings(ex: SimHandle) -> Settings:
    return Settings(
        profile="e2e", api_key=ex.api_key, api_secret=ex.api_secret, base_url=ex.base_url
    )


def rest(ex: SimHandle) -> Any:
    """pybit's HTTP for the bot's account."""
    from bybitctl.client import make_http

    return make_http(settings(ex))


def taker(ex: SimHandle, account: str = "200002") -> Any:
    """pybit's HTTP for a second, independent account that trades against our quotes."""
    from bybitctl.client import make_http

    key, secret = generate_key_pair()
    ex.add_key(key, secret, account=account)
    return make_http(
        Settings(profile="taker", api_key=key, api_secret=secret, base_url=ex.base_url)
    )


def own_open(http: Any, prefix: str = "mm") -> list[dict[str, Any]]:
    owns = owner(prefix)
    return [o for o in Rest(http, "linear", SYMBOL).open_orders() if owns(o["orderLinkId"])]


def executions(http: Any, prefix: str = "mm") -> list[dict[str, Any]]:
    """Every execution of the bot's orders on the exchange, oldest first."""
    owns = owner(prefix)
    rows: list[dict[str, Any]] = []
    cursor = ""
    while True:
        kw: dict[str, Any] = {"category": "linear", "symbol": SYMBOL, "limit": 100}
        if cursor:
            kw["cursor"] = cursor
        result = http.get_executions(**kw)["result"]
        rows.extend(r for r in result["list"] if owns(r["orderLinkId"]))
        cursor = result.get("nextPageCursor") or ""
        if not cursor or not result["list"]:
            return sorted(rows, key=lambda r: (int(r["execTime"]), r["seq"]))


def wait_for(check: Callable[[], Any], timeout: float = 10.0, every: float = 0.05) -> Any:
    """Poll until `check()` is truthy; its value, or AssertionError at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {check}")
        time.sleep(every)


class EngineThread:
    """An engine quoting on a background thread; `stop()` ends it the way `mm stop` does."""

    def __init__(
        self, ex: SimHandle, journal: Path, *, ws_trading: bool = True, **config: Any
    ) -> None:
        self.events: list[dict[str, Any]] = []
        self.journal = Journal(journal)
        self.engine = live_engine(
            from_mapping({**BASE, **config}),
            settings(ex),
            self.journal,
            target=f"e2e@{ex.base_url}",
            emit=self.events.append,
            use_ws_trading=ws_trading,
        )
        self.code: int | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.code = self.engine.run()
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def start(self) -> EngineThread:
        self.engine.prepare()
        self._thread.start()
        return self

    def stop(self, reason: str = "test") -> int:
        self.engine.request_stop(reason)
        return self.wait()

    def wait(self, timeout: float = 30.0) -> int:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "engine did not stop"
        if self.error is not None:
            raise self.error
        assert self.code is not None
        return self.code

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]


def cli_env(ex: SimHandle, tmp_path: Path) -> dict[str, str]:
    """A subprocess environment pointing the binary at the exchange, with private dirs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BYBIT", "XDG_"))}
    env.update(
        {
            "HOME": str(tmp_path / "home"),
            "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "BYBIT_BASE_URL": ex.base_url,
            "BYBIT_API_KEY": ex.api_key,
            "BYBIT_API_SECRET": ex.api_secret,
        }
    )
    return env


def config_flags(**over: Any) -> list[str]:
    """BASE + overrides as `mm start` flags."""
    flags = []
    for key, value in {**BASE, **over}.items():
        name = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            flags.append(name if value else f"--no-{name[2:]}")
        else:
            flags.extend([name, str(value)])
    return flags


def start_bot(ex: SimHandle, tmp_path: Path, *extra: str, **over: Any) -> subprocess.Popen[str]:
    """The installed `bybitctl mm start` on BASE's config (with `over` as in `config_flags`)
    and `tmp_path/j.sqlite`, JSONL events on stdout, quoting `ex`; `extra` are further flags."""
    return subprocess.Popen(
        [
            binary(),
            "mm",
            "start",
            *config_flags(**over),
            "--journal",
            str(tmp_path / "j.sqlite"),
            "-o",
            "jsonl",
            *extra,
        ],
        env=cli_env(ex, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextlib.contextmanager
def reaped(bot: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """Kill the bot if the test fails before it exits (no orphan keeps running)."""
    try:
        yield bot
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.communicate(timeout=10)


def run_cli(ex: SimHandle, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed `bybitctl` with `args`, pointed at `ex`, to its end."""
    return subprocess.run(
        [binary(), *args], env=cli_env(ex, tmp_path), capture_output=True, text=True, timeout=60
    )


def events_of(stdout: str) -> list[dict[str, Any]]:
    """The JSON lines of a bot's stdout (events, then the report)."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]
