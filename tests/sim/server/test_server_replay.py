"""`sim serve --replay FILE` and `running_exchange(replay=...)`: a recording, in real time,
drives the book and the trades unmodified pybit sees."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bybitctl.commands.sim import data_dir
from bybitctl.sim import running_exchange

from .conftest import http
from .test_server_cmd import Keys, Served

pytestmark = pytest.mark.e2e

START_NS = 1_765_000_000_000_000_000
BIDS = [["95000.0", "1.5"], ["94999.9", "2"]]
ASKS = [["95000.5", "0.8"], ["95001.0", "3"]]
TRADE_AT_MS = 4000
"""Late enough for the test to see the book and rest an order first, even on a busy machine."""


def write_recording(path: Path) -> Path:
    """A recording in the documented format: header, book snapshot, later a buy of 2 BTC."""
    snapshot = {"topic": "orderbook.50.BTCUSDT", "type": "snapshot", "ts": 1, "cts": 1,
                "data": {"s": "BTCUSDT", "b": BIDS, "a": ASKS, "u": 1, "seq": 1}}  # fmt: skip
    trade = {"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": 2,
             "data": [{"T": 2, "s": "BTCUSDT", "S": "Buy", "v": "2", "p": "95001.0",
                       "L": "PlusTick", "i": "t-1", "BT": False}]}  # fmt: skip
    lines: list[dict[str, Any]] = [
        {
            "recording": "bybitctl",
            "version": 1,
            "created_ns": START_NS,
            "channel": "public/linear",
            "topics": ["orderbook.50.BTCUSDT"],
        },
        {"recv_ns": START_NS, "channel": "public/linear", "frame": snapshot},
        {
            "recv_ns": START_NS + TRADE_AT_MS * 1_000_000,
            "channel": "public/linear",
            "frame": trade,
        },
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def numbers(rows: list[list[str]]) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(p), Decimal(q)) for p, q in rows]


def wait_for(probe: Any, limit: float = 15.0) -> Any:
    """`probe()`'s first truthy answer, polled."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError("timed out")


def book_is_recorded(session: Any) -> bool:
    book = session.get_orderbook(category="linear", symbol="BTCUSDT", limit=50)["result"]
    return numbers(book["b"]) == numbers(BIDS) and numbers(book["a"]) == numbers(ASKS)


def test_serve_replay_drives_the_book_and_its_trades_fill_orders(clean_env, tmp_path):
    env = {**clean_env, "XDG_DATA_HOME": str(tmp_path / "data")}
    recording = write_recording(tmp_path / "btc.jsonl")
    served = Served(env, "--replay", str(recording), "--no-profile", "--seed", "3")
    try:
        assert served.base_url.startswith("http://127.0.0.1:")
        keys = json.loads((data_dir(env) / "sim-keys.json").read_text())
        session = http(Keys(served.base_url, keys))
        wait_for(lambda: book_is_recorded(session))
        placed = session.place_order(category="linear", symbol="BTCUSDT", side="Sell",
                                     orderType="Limit", qty="0.01", price="95000.7")  # fmt: skip
        order_id = placed["result"]["orderId"]

        def status() -> str | None:
            rows = session.get_order_history(category="linear", orderId=order_id)["result"]
            found = rows["list"][0]["orderStatus"]
            return found if found == "Filled" else None

        wait_for(status)
        trades = session.get_public_trade_history(category="linear", symbol="BTCUSDT", limit=2)
        got = [
            (t["side"], Decimal(t["price"]), Decimal(t["size"])) for t in trades["result"]["list"]
        ]
        assert got == [("Buy", Decimal("95001.0"), Decimal("1.99")),
                       ("Buy", Decimal("95000.7"), Decimal("0.01"))]  # fmt: skip
    finally:
        _, err = served.stop()
    assert f"replaying {recording}" in err


def test_running_exchange_takes_a_replay(tmp_path):
    with running_exchange(replay=write_recording(tmp_path / "btc.jsonl")) as ex:
        wait_for(lambda: book_is_recorded(http(ex)))


def test_serve_lists_the_recorded_symbols_by_default(clean_env, tmp_path):
    env = {**clean_env, "XDG_DATA_HOME": str(tmp_path / "data")}
    topic = "orderbook.50.SOLUSDT"
    snapshot = {"topic": topic, "type": "snapshot", "ts": 1, "cts": 1,
                "data": {"s": "SOLUSDT", "b": [["150.10", "12"]], "a": [["150.20", "7"]],
                         "u": 1, "seq": 1}}  # fmt: skip
    lines = [{"recording": "bybitctl", "version": 1, "created_ns": START_NS,
              "channel": "public/linear", "topics": [topic, "publicTrade.SOLUSDT"]},
             {"recv_ns": START_NS, "channel": "public/linear", "frame": snapshot}]  # fmt: skip
    recording = tmp_path / "sol.jsonl"
    recording.write_text("".join(json.dumps(line) + "\n" for line in lines))
    served = Served(env, "--replay", str(recording), "--no-profile")
    try:
        keys = json.loads((data_dir(env) / "sim-keys.json").read_text())
        session = http(Keys(served.base_url, keys))

        def sol_book() -> bool:
            book = session.get_orderbook(category="linear", symbol="SOLUSDT")["result"]
            return numbers(book["b"]) == [(Decimal("150.10"), 12)] and numbers(book["a"]) == [
                (Decimal("150.20"), 7)
            ]

        wait_for(sol_book)
        listed = session.get_instruments_info(category="linear")["result"]["list"]
        assert [row["symbol"] for row in listed] == ["SOLUSDT"]
    finally:
        _, err = served.stop()
    assert "serving SOLUSDT replaying" in err
