"""Every endpoint's help example, run as written against the local exchange, and every row
again with each of its documented parameters given.

In-process (`bybitctl.cli.run`, the real handler and pybit over loopback) rather than the
binary: ~450 subprocesses would take minutes, and what is checked is the example, not start-up.
A private exchange keeps the state these commands change away from the other tests.
"""

from __future__ import annotations

import contextlib
import io
import shlex
from collections import Counter
from pathlib import Path

import pytest

from bybitctl.catalog import Endpoint, Param, load
from bybitctl.cli import run
from bybitctl.commands.endpoints import example_command
from bybitctl.naming import kebab
from bybitctl.sim import running_exchange

# Needs a real file on disk to upload; pybit opens the path before sending.
NEEDS_A_FILE = {"upload-chat-file"}
# A value of each type that the CLI accepts for any parameter of it.
SAMPLES = {"number": "1", "decimal": "1", "boolean": "true", "array": "[]", "object": "{}"}


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


def sample(param: Param, upload: Path) -> str:
    """A value the CLI accepts for `param`: its first allowed value, the low end of its range,
    a file for an upload, else one per type."""
    if param.enum:
        return param.enum[0]
    if param.range:
        return str(param.range[0])
    if param.name == "upload_file":
        return str(upload)
    return SAMPLES.get(param.type, "1")


def with_every_parameter(row: Endpoint, upload: Path) -> list[str]:
    """The row's example command line, its `<name>` placeholders filled, plus each
    parameter the example leaves out."""
    args = shlex.split(example_command(row))[1:]
    for param in row.params:
        option = f"--{kebab(param.name)}"
        if option not in args:
            args += [option, sample(param, upload)]
        elif args[args.index(option) + 1] == f"<{param.name}>":
            args[args.index(option) + 1] = sample(param, upload)
    return args


def test_every_row_with_every_parameter_reaches_the_exchange(
    monkeypatch: pytest.MonkeyPatch, clean_env: dict[str, str], tmp_path: Path
) -> None:
    """No row crashes whatever documented parameters it is given: pybit methods that take no
    keyword arguments (`get_system_status`, `request_demo_trading_funds`) included. Each run
    ends in an answer from the exchange (0 or 1), with no traceback."""
    upload = tmp_path / "receipt.png"
    upload.write_bytes(b"\x89PNG\r\n\x1a\n")
    failures = []
    with running_exchange(symbols=("BTCUSDT", "ETHUSDT"), seed=4, rate_limits=False) as ex:
        monkeypatch.setenv("BYBIT_BASE_URL", ex.base_url)
        monkeypatch.setenv("BYBIT_API_KEY", ex.api_key)
        monkeypatch.setenv("BYBIT_API_SECRET", ex.api_secret)
        for row in load():
            args = with_every_parameter(row, upload)
            start = len(ex.received)
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = run([*args, "-o", "json"])
            sent = [(r["method"], r["path"]) for r in ex.received[start:]]
            if code not in (0, 1) or "Traceback" in err.getvalue() or not sent:
                failures.append(f"{shlex.join(args)}\n  -> exit {code}: {err.getvalue().strip()}")
            elif sent != [(row.http_method, row.path)]:
                failures.append(f"{shlex.join(args)}\n  -> sent {sent}")
    assert not failures, "\n".join(failures)
