"""Bad paths and arguments to the commands: one error line and exit 2 (bad input) or 3
(configuration), never a traceback, and nothing sent.

Every run targets a dead base URL, so anything that reached the network would exit 4.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

DEAD = ("--base-url", "http://127.0.0.1:9")
WALLET = ("account", "wallet-balance", "--account-type", "UNIFIED")
HEADER = '{"recording": "bybitctl", "version": 1}\n'


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """Paths of things that are not what a command wants."""
    (tmp_path / "dir").mkdir()
    (tmp_path / "garbage").write_bytes(b"\x00\xff\xfegarbage")
    (tmp_path / "corrupt.gz").write_bytes(gzip.compress(HEADER.encode())[:12] + b"\xff" * 30)
    (tmp_path / "badline.jsonl").write_text(HEADER + '{"recv_ns": "soon"}\n')
    (tmp_path / "list.jsonl").write_text("[1, 2]\n")
    key = tmp_path / "key.der"
    key.write_bytes(b"\x30\x82\x01\x0a\xff")
    key.chmod(0o600)
    return {
        "dir": str(tmp_path / "dir"),
        "garbage": str(tmp_path / "garbage"),
        "corrupt": str(tmp_path / "corrupt.gz"),
        "badline": str(tmp_path / "badline.jsonl"),
        "list": str(tmp_path / "list.jsonl"),
        "key": str(key),
        "missing_dir": str(tmp_path / "no" / "such" / "rec.jsonl"),
    }


CASES: list[tuple[tuple[str, ...], int, str]] = [
    # stream replay: what is not a recording
    (("stream", "replay", "{dir}"), 2, "cannot read the recording"),
    (("stream", "replay", "{garbage}"), 2, "is not a bybitctl recording"),
    (("stream", "replay", "{corrupt}"), 2, "is not a bybitctl recording"),
    (("stream", "replay", "{badline}", "--max-speed", "-o", "jsonl"), 2, "line 2 is not"),
    (("stream", "replay", "{list}"), 2, "is not a bybitctl recording"),
    (("stream", "replay", ""), 2, "expected a path, got an empty value"),
    (("stream", "replay", "{badline}", "--speed", "nan"), 2, "NaN and Infinity"),
    (("stream", "replay", "{badline}", "--levels", "٣"), 2, "only ASCII digits"),
    (("stream", "replay", "{badline}", "--count", "1e3"), 2, "without an exponent"),
    # live streams: numbers and the recording file, before any connection
    (("stream", "orderbook", "-s", "BTCUSDT", "--depth", "٥٠", *DEAD), 2, "only ASCII digits"),
    (("stream", "trades", "-s", "BTCUSDT", "--duration", "inf", *DEAD), 2, "NaN and Infinity"),
    (("stream", "trades", "-s", "BTCUSDT", "--count", "-1", *DEAD), 2, "(no sign)"),
    (
        ("stream", "trades", "-s", "BTCUSDT", "--record", "{missing_dir}", *DEAD),
        2,
        "cannot write the recording",
    ),
    (("stream", "trades", "-s", "BTCUSDT", "--record", "{dir}", *DEAD), 2, "cannot write"),
    # global options
    ((*DEAD, "--timeout", "nan", "market", "server-time"), 2, "bad value for timeout"),
    ((*DEAD, "--recv-window", "٥٠٠٠", "market", "server-time"), 2, "bad value for recv_window"),
    (("--tld", "attacker.org", "market", "server-time"), 2, "Bybit's domains are"),
    (("--base-url", "http://me:hunter2@127.0.0.1:9", "market", "server-time"), 2, "credentials"),
    ((*DEAD, *DEAD, "market", "server-time"), 2, "--base-url given more than once"),
    ((*DEAD, "-o", "json", "--output", "csv", "catalog"), 2, "are the same option"),
    (
        (*DEAD, "--rsa-key-file", "{dir}", "--api-key", "k", *WALLET),
        3,
        "is not a regular file",
    ),
    (
        (*DEAD, "--rsa-key-file", "{key}", "--api-key", "k", *WALLET),
        3,
        "is not a PEM text file",
    ),
    # endpoint, call and api values
    ((*DEAD, "trade", "order-history", "--category", "linear", "--max-pages", "1_0"), 2, "'_'"),
    ((*DEAD, "market", "tickers", "--category", "linear", "--base-coin", "X\x01"), 2, "control"),
    ((*DEAD, "market", "orderbook", "--category", "linear", "--symbol", "X\x01"), 2, "a symbol"),
    ((*DEAD, "market", "orderbook", "--category", "linear", "--symbol", "btcusdt"), 2, "a symbol"),
    ((*DEAD, "market", "orderbook", "--category", "linear", "--symbol", ""), 2, "a symbol"),
    (("stream", "orderbook", "--symbol", "", "--count", "1", *DEAD), 2, "a symbol"),
    (("stream", "orderbook", "--symbol", "btcusdt", "--count", "1", *DEAD), 2, "a symbol"),
    (("stream", "trades", "-s", "BTC USDT", *DEAD), 2, "a symbol"),
    (
        (*DEAD, "market", "orderbook", "--category", "linear", "--symbol", "X", "--limit", "0"),
        2,
        "in [1, 1000]",
    ),
    ((*DEAD, "market", "tickers", "--category", "linear", "--param", 'x={"a":'), 2, "valid JSON"),
    (
        (*DEAD, "market", "tickers", "--category", "linear", "--param", "x=" + "[" * 99),
        2,
        "nested deeper than 32",
    ),
    (
        (*DEAD, "market", "tickers", "--category", "linear", "--param", 'j={"a":1,"a":2}'),
        2,
        "invalid value for --param j: JSON object has the key 'a' twice: give it once",
    ),
    (
        (*DEAD, "api", "POST", "/v5/order/create-batch", 'request=[{"b":{"q":1,"q":1}}]'),
        2,
        "JSON object has the key 'q' twice",
    ),
    ((*DEAD, "--fields", "", "market", "server-time"), 2, "--fields: empty field name"),
    ((*DEAD, "market", "server-time", "--fields", ","), 2, "--fields: empty field name"),
    ((*DEAD, "market", "server-time", "--fields", "a,,b"), 2, "--fields: empty field name"),
    ((*DEAD, "market", "server-time", "--fields", "symbol,symbol"), 2, "symbol given twice"),
    ((*DEAD, "call", "place_order", "positionIdx=٣"), 2, "only ASCII digits"),
    ((*DEAD, "call", "get_tickers", "category=linear", "x\x00=1"), 2, "bad parameter name"),
    ((*DEAD, "api", "GET", "/v5/market/time?x=1"), 2, "PATH takes letters"),
    ((*DEAD, "api", "GET", "//evil.example/v5"), 2, "PATH takes letters"),
    ((*DEAD, "api", "GET", "/v5/../x"), 2, "no '.' or '..' segments"),
    ((*DEAD, "api", "GET", "/v5/./market/time"), 2, "no '.' or '..' segments"),
    ((*DEAD, "api", "/v5/market/.."), 2, "no '.' or '..' segments"),
    ((*DEAD, "api", "GET", "/v5/%2e%2e/x"), 2, "PATH takes letters"),
    ((*DEAD, "api", "GET", "/v5/market/time", "--auth", "--no-auth"), 2, "contradict"),
    ((*DEAD, "api", "POST", "/v5/order/create", "qty={}", "--yes"), 2, "a decimal number"),
    # mm and config through the same rules
    (("mm", "start", "--paper", "--ws-trading", "--http-trading"), 2, "contradict each other"),
    (("config", "set", "timeout", "١"), 2, "bad value for timeout"),
    (("config", "set", "tld", "evil"), 2, "Bybit's domains are"),
    (("config", "set", "base_url", "http://me:hunter2@h"), 2, "credentials"),
    (("config", "init", "--profile", "../x"), 2, "bad profile name"),
    (("config", "get", "colour"), 2, "unknown setting"),
]


@pytest.mark.parametrize(("args", "code", "message"), CASES, ids=lambda v: str(v)[:40])
def test_bad_input_is_one_line_not_a_traceback(
    bybitctl: Any, files: dict[str, str], args: tuple[str, ...], code: int, message: str
) -> None:
    result = bybitctl(*(files.get(arg[1:-1], arg) if arg[:1] == "{" else arg for arg in args))
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert result.code == code, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.lower().startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert message in errors[0]
    assert "hunter2" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ("market", "tickers", "--category", "linear", "--category", "spot"),
            "error: --category given more than once: give it once",
        ),
        (("market", "tickers", "--bogus"), "error: No such option: --bogus"),
        (("nosuch",), "error: No such command 'nosuch'."),
    ],
)
def test_a_refusal_by_the_command_line_parser_is_one_line(
    bybitctl: Any, args: tuple[str, ...], line: str
) -> None:
    result = bybitctl(*DEAD, *args)
    assert (result.code, result.stderr.splitlines(), result.stdout) == (2, [line], "")
