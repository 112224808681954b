"""Every endpoint's help example, run as written against the local exchange.

In-process (`bybitctl.cli.run`, the real handler and pybit over loopback) rather than the
binary: ~450 subprocesses would take minutes, and what is checked is the example, not start-up.
A private exchange keeps the state these commands change away from the other tests.
"""

from __future__ import annotations

import contextlib
import io
import shlex
from collections import Counter

import pytest

from bybitctl.catalog import load
from bybitctl.cli import run
from bybitctl.commands.endpoints import example_command
from bybitctl.sim import running_exchange

# Needs a real file on disk to upload; pybit opens the path before sending.
NEEDS_A_FILE = {"upload-chat-file"}


def test_every_help_example_is_accepted_locally(
    monkeypatch: pytest.MonkeyPatch, clean_env: dict[str, str]
) -> None:
    codes: Counter[int] = Counter()
    failures = []
    with running_exchange(symbols=("BTCUSDT", "ETHUSDT"), seed=3) as ex:
        monkeypatch.setenv("BYBIT_BASE_URL", ex.base_url)
        monkeypatch.setenv("BYBIT_API_KEY", ex.api_key)
        monkeypatch.setenv("BYBIT_API_SECRET", ex.api_secret)
        for row in load():
            if row.command in NEEDS_A_FILE:
                continue
            command = example_command(row)
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = run([*shlex.split(command)[1:], "-o", "json"])
            codes[code] += 1
            assert ex.api_secret not in out.getvalue() + err.getvalue()
            # 1 is the exchange refusing a documented example (a symbol it does not list);
            # 2, 3 or 4 would mean the example itself is broken.
            if code not in (0, 1):
                failures.append(f"{command}\n  -> exit {code}: {err.getvalue().strip()}")
    assert not failures, "\n".join(failures)
    assert codes[0] >= 0.9 * sum(codes.values()), codes
