"""`--replay`: a `stream --record` recording drives a book and its trades."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bybitctl.errors import UsageError
from bybitctl.sim.api.exchange import Exchange

from .conftest import T0, Client, Clock, Recorder

START_NS = 1_765_000_000_000_000_000
TOPIC = "orderbook.50.BTCUSDT"


def book(kind: str, u: int, bids: list[list[str]], asks: list[list[str]]) -> dict[str, Any]:
    data = {"s": "BTCUSDT", "b": bids, "a": asks, "u": u, "seq": 1000 + u}
    return {"topic": TOPIC, "type": kind, "ts": 1, "data": data, "cts": 1}


def trade(side: str, qty: str, price: str) -> dict[str, Any]:
    item = {"T": 1, "s": "BTCUSDT", "S": side, "v": qty, "p": price, "L": "PlusTick",
            "i": "t-1", "BT": False}  # fmt: skip
    return {"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": 1, "data": [item]}


def write_recording(path: Path, frames: list[tuple[int, str, dict[str, Any]]]) -> Path:
    """The documented format, line by line: a header, then {recv_ns, channel, frame}."""
    header = {"recording": "bybitctl", "version": 1, "created_ns": START_NS,
              "channel": "public/linear", "topics": [TOPIC, "publicTrade.BTCUSDT"]}  # fmt: skip
    lines = [header] + [
        {"recv_ns": START_NS + ms * 1_000_000, "channel": channel, "frame": frame}
        for ms, channel, frame in frames
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


SNAPSHOT = book(
    "snapshot",
    1,
    [["95000.0", "1.5"], ["94999.9", "2"]],
    [["95000.5", "0.8"], ["95001.0", "3"]],
)
FRAMES = [
    (0, "public/linear", {"success": True, "ret_msg": "", "op": "subscribe", "conn_id": "c"}),
    (0, "public/linear", SNAPSHOT),
    (0, "private", {"topic": "order", "data": []}),
    (
        100,
        "public/linear",
        book("delta", 2, [["95000.0", "0"], ["94999.5", "4"]], [["95000.5", "1.2"]]),
    ),
    (200, "public/linear", trade("Buy", "2", "95001.0")),
]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def replayed(tmp_path: Path, clock: Clock) -> Iterator[tuple[Exchange, Recorder]]:
    rec = Recorder()
    ex = Exchange(clock=clock, seed=7, replay=str(write_recording(tmp_path / "r.jsonl", FRAMES)))
    ex.set_listener(rec)
    yield ex, rec
    ex.close()


Levels = list[tuple[Decimal, Decimal]]


def levels(rows: list[list[str]]) -> Levels:
    """Rows as numbers: the exchange prints sizes with the instrument's decimals."""
    return [(Decimal(p), Decimal(q)) for p, q in rows]


def rest_book(user: Client) -> tuple[Levels, Levels]:
    got = user.get("/v5/market/orderbook", category="linear", symbol="BTCUSDT", limit=50)
    return levels(got["b"]), levels(got["a"])


RECORDED = (levels(SNAPSHOT["data"]["b"]), levels(SNAPSHOT["data"]["a"]))


def step_to(ex: Exchange, clock: Clock, ms: int) -> None:
    """Step the exchange to `ms` into the replay; its first step (`ms` 0, at T0 + 1) is when
    the replay starts."""
    ex.step(clock.advance(T0 + 1 + ms - clock.now))


def test_book_follows_the_recording_at_its_pace_and_stops_at_the_end(replayed, clock):
    ex, rec = replayed
    user = Client(ex, "1001")
    step_to(ex, clock, 0)
    assert rest_book(user) == RECORDED
    # the exchange publishes the replayed book with its own update ids
    [snap] = ex.subscribe_public("linear", TOPIC)
    assert (levels(snap["data"]["b"]), levels(snap["data"]["a"])) == RECORDED
    step_to(ex, clock, 99)
    assert rest_book(user) == RECORDED, "the delta came early"
    step_to(ex, clock, 100)
    after = (
        levels([["94999.9", "2"], ["94999.5", "4"]]),
        levels([["95000.5", "1.2"], ["95001.0", "3"]]),
    )
    assert rest_book(user) == after
    [delta] = [m for m in rec.topic(TOPIC) if m["type"] == "delta"]
    assert delta["data"]["u"] == snap["data"]["u"] + 1
    assert sorted(levels(delta["data"]["b"])) == levels([["94999.5", "4"], ["95000.0", "0"]])
    assert levels(delta["data"]["a"]) == levels([["95000.5", "1.2"]])
    # the fair price (marks, price bands) is the recorded mid, not the synthetic walk
    assert str(ex.marks["BTCUSDT"]) == "95000.2"
    step_to(ex, clock, 10_000)
    assert ex.replay is not None and ex.replay.finished
    assert rest_book(user) == after, "a finished replay leaves the book as it was"
    trades = user.get("/v5/market/recent-trade", category="linear", symbol="BTCUSDT", limit=5)
    assert [(t["side"], Decimal(t["price"]), Decimal(t["size"])) for t in trades["list"]] == [
        ("Buy", Decimal("95001.0"), Decimal(2))
    ]


def test_recorded_trade_fills_a_resting_order_it_reaches(replayed, clock):
    ex, _ = replayed
    user = Client(ex, "1001")
    step_to(ex, clock, 0)
    step_to(ex, clock, 100)
    # between the recorded asks: 1.2 at 95000.5 is ahead of it, a 2.0 buy reaches it
    order = user.order(side="Sell", orderType="Limit", qty="0.01", price="95000.7")
    assert order["orderStatus"] == "New"
    behind = user.order(side="Sell", orderType="Limit", qty="0.01", price="95001.0",
                        orderLinkId="behind")  # fmt: skip
    step_to(ex, clock, 200)
    filled = user.find(order["orderId"])
    assert filled["orderStatus"] == "Filled" and Decimal(filled["avgPrice"]) == Decimal("95000.7")
    # at 95001.0 the order queues behind the 3 recorded lots: the trade's 0.79 left stops short
    assert user.find(behind["orderId"])["orderStatus"] == "New"
    [fill] = user.get("/v5/execution/list", category="linear", symbol="BTCUSDT")["list"]
    assert fill["isMaker"] is True and Decimal(fill["execQty"]) == Decimal("0.01")
    assert Decimal(fill["execFee"]) > 0
    pos = user.position()
    assert pos["side"] == "Sell" and Decimal(pos["size"]) == Decimal("0.01")
    trades = user.get("/v5/market/recent-trade", category="linear", symbol="BTCUSDT", limit=5)
    assert [(t["side"], Decimal(t["price"]), Decimal(t["size"])) for t in trades["list"]] == [
        ("Buy", Decimal("95001.0"), Decimal("1.99")),
        ("Buy", Decimal("95000.7"), Decimal("0.01")),
    ]
    # the recorded liquidity is untouched by the trade: the recording's own deltas move it
    assert rest_book(user)[1][0] == (Decimal("95000.5"), Decimal("1.2"))


def test_recorded_level_crossing_a_user_order_trades_with_it(tmp_path, clock):
    frames = [
        (0, "public/linear", SNAPSHOT),
        # the market falls through the user's bid: a new ask below it, the bids pulled
        (
            100,
            "public/linear",
            book(
                "delta",
                2,
                [["95000.0", "0"], ["94999.9", "0"], ["94999.0", "5"]],
                [["94999.7", "1"]],
            ),
        ),
    ]
    ex = Exchange(clock=clock, seed=7, replay=str(write_recording(tmp_path / "r.jsonl", frames)))
    try:
        user = Client(ex, "1001")
        step_to(ex, clock, 0)
        bid = user.order(side="Buy", orderType="Limit", qty="0.01", price="94999.8")
        assert bid["orderStatus"] == "New"
        step_to(ex, clock, 100)
        filled = user.find(bid["orderId"])
        assert filled["orderStatus"] == "Filled" and Decimal(filled["avgPrice"]) == Decimal(
            "94999.8"
        )
        bids, asks = rest_book(user)
        assert bids[0] == (Decimal("94999.0"), 5) and asks[0] == (
            Decimal("94999.7"),
            Decimal("0.99"),
        )
        ex.feeds[("linear", "BTCUSDT")].eng.book.check()
    finally:
        ex.close()


def test_deepest_recorded_stream_drives_the_book(tmp_path, clock):
    shallow = {
        **book("snapshot", 9, [["1.0", "1"]], [["2.0", "1"]]),
        "topic": "orderbook.1.BTCUSDT",
    }
    frames = [
        (0, "public/linear", SNAPSHOT),
        (10, "public/linear", shallow),
        (
            20,
            "public/spot",
            {
                **SNAPSHOT,
                "data": {**SNAPSHOT["data"], "s": "NOPEUSDT"},
                "topic": "orderbook.50.NOPEUSDT",
            },
        ),
    ]
    ex = Exchange(clock=clock, seed=7, replay=str(write_recording(tmp_path / "r.jsonl", frames)))
    try:
        user = Client(ex, "1001")
        step_to(ex, clock, 0)
        step_to(ex, clock, 50)
        assert rest_book(user) == RECORDED
        assert ex.replayed == {("linear", "BTCUSDT"): 50}
    finally:
        ex.close()


def test_a_file_that_is_not_a_recording_is_refused(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"hello": 1}\n')
    with pytest.raises(UsageError, match="not a bybitctl recording"):
        Exchange(replay=str(bad))


def test_an_empty_file_is_refused_and_a_bare_header_replays_nothing(
    tmp_path: Path, clock: Clock
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(UsageError, match="is empty"):
        Exchange(replay=str(empty))
    ex = Exchange(clock=clock, seed=7, replay=str(write_recording(tmp_path / "h.jsonl", [])))
    try:
        assert ex.replay is not None and ex.replay.finished
        ex.step(clock.advance(100))
        assert ex.replayed == {}
    finally:
        ex.close()


def test_a_line_of_another_shape_mid_file_ends_the_replay_there(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_recording(tmp_path / "r.jsonl", FRAMES[:2])
    with path.open("a") as fh:
        after = {
            "recv_ns": START_NS,
            "channel": "public/linear",
            "frame": trade("Buy", "2", "95001"),
        }
        fh.write("[1, 2]\n" + json.dumps(after) + "\n")
    ex = Exchange(clock=clock, seed=7, replay=str(path))
    try:
        user = Client(ex, "1001")
        step_to(ex, clock, 0)
        step_to(ex, clock, 100)  # the exchange goes on serving the book replayed so far
        assert rest_book(user) == RECORDED
        assert ex.replay is not None and ex.replay.finished
        assert f"{path}: line 4 is not a recorded frame" in caplog.text
        got = user.get("/v5/market/recent-trade", category="linear", symbol="BTCUSDT", limit=5)
        assert all(Decimal(t["price"]) != 95001 for t in got["list"])  # nothing after the bad line
    finally:
        ex.close()


def test_a_gzip_recording_from_the_writer_replays(tmp_path, clock):
    """What `stream --record` writes (RecordingWriter, .gz) is what --replay reads."""
    from bybitctl.recording import RecordingWriter

    path = tmp_path / "r.jsonl.gz"
    with RecordingWriter(path, channel="public/linear", topics=[TOPIC]) as writer:
        writer.write(SNAPSHOT, START_NS)
        writer.write(trade("Sell", "0.5", "95000.0"), START_NS + 5_000_000)
    ex = Exchange(clock=clock, seed=7, replay=str(path))
    try:
        user = Client(ex, "1001")
        step_to(ex, clock, 0)
        assert rest_book(user) == RECORDED
        step_to(ex, clock, 5)
        [last] = user.get("/v5/market/recent-trade", category="linear", symbol="BTCUSDT",
                          limit=1)["list"]  # fmt: skip
        assert (last["side"], Decimal(last["price"]), Decimal(last["size"])) == (
            "Sell", Decimal(95000), Decimal("0.5"))  # fmt: skip
        assert ex.replay is not None and ex.replay.finished
    finally:
        ex.close()


def test_a_recorded_spread_book_drives_the_spread_book_not_the_coin(tmp_path, clock):
    """A spread's prices are a basis (perp minus spot): replaying its book must not move
    the coin's fair price to it."""
    spread = "BTCUSDT_BTC/USDT"
    data = {"s": spread, "b": [["60.0", "1.5"]], "a": [["60.5", "0.8"]], "u": 1, "seq": 5}
    frame = {"topic": f"orderbook.25.{spread}", "type": "snapshot", "ts": 1, "data": data}
    ex = Exchange(clock=clock, seed=7, replay=str(write_recording(tmp_path / "r.jsonl", [
        (0, "public/spread", frame)])))  # fmt: skip
    try:
        user = Client(ex, "1001")
        step_to(ex, clock, 0)
        got = user.get("/v5/spread/orderbook", symbol=spread, limit=25)
        assert (levels(got["b"]), levels(got["a"])) == (levels(data["b"]), levels(data["a"]))
        assert ex.replayed == {("spread", spread): 25}
        assert ex.pinned == set() and ex.paths["BTC"].price > 10_000
    finally:
        ex.close()


def test_a_spread_topic_names_the_symbol_of_its_legs(tmp_path):
    from bybitctl.sim.market.replay import recorded_symbols

    path = tmp_path / "r.jsonl"
    header = {"recording": "bybitctl", "version": 1, "created_ns": START_NS,
              "channel": "public/spread",
              "topics": ["orderbook.25.ETHUSDT_ETH/USDT", "publicTrade.BTCUSDT_BTC/USDT",
                         "tickers.ETHUSDT"]}  # fmt: skip
    path.write_text(json.dumps(header) + "\n")
    assert recorded_symbols(path) == ("ETHUSDT", "BTCUSDT")
