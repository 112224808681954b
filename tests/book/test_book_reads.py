"""Reads and analytics of `bybitctl.book.OrderBook` against hand-computed values."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from bybitctl.book import OrderBook

from .reference import delta, snapshot

# bids 100.0x2, 99.5x4, 99.0x10 (16); asks 100.5x1, 101x3, 102.5x6 (10)
BIDS = [["100.0", "2"], ["99.5", "4"], ["99.0", "10"]]
ASKS = [["100.5", "1"], ["101", "3"], ["102.5", "6"]]


@pytest.fixture
def book() -> OrderBook:
    b = OrderBook("BTCUSDT")
    b.apply(snapshot(10, BIDS, ASKS))
    return b


def test_top_of_book_and_levels(book: OrderBook) -> None:
    assert book.best_bid() == ("100.0", "2")
    assert book.best_ask() == ("100.5", "1")
    assert book.bids(2) == [("100.0", "2"), ("99.5", "4")]
    assert book.asks(10) == [("100.5", "1"), ("101", "3"), ("102.5", "6")]
    assert book.bids() == [tuple(level) for level in BIDS]
    assert book.bids(0) == [] and book.asks(0) == []


def test_mid_spread_and_spread_bps(book: OrderBook) -> None:
    assert book.mid() == Decimal("100.25")
    assert book.spread() == Decimal("0.5")
    # 0.5 / 100.25 * 10000 = 49.875311720698...
    assert round(book.spread_bps(), 9) == Decimal("49.875311721")


def test_microprice_leans_toward_the_thinner_side(book: OrderBook) -> None:
    # (100.0 * 1 + 100.5 * 2) / 3 = 301 / 3
    assert round(book.microprice(), 12) == Decimal("100.333333333333")


def test_imbalance_over_levels(book: OrderBook) -> None:
    assert round(book.imbalance(1), 12) == Decimal("0.333333333333")  # (2-1)/3
    assert book.imbalance(2) == Decimal("0.2")  # (6-4)/10
    assert round(book.imbalance(3), 12) == Decimal("0.230769230769")  # (16-10)/26
    assert book.imbalance(50) == book.imbalance(3)
    with pytest.raises(ValueError):
        book.imbalance(0)


@pytest.mark.parametrize(
    ("side", "qty", "vwap", "impact"),
    [
        ("Buy", "1", "100.5", "100.5"),
        ("Buy", "4", "100.875", "101"),  # (100.5 + 3 * 101) / 4
        ("Buy", "5", "101.2", "102.5"),  # (100.5 + 303 + 102.5) / 5
        ("Buy", "10", "101.85", "102.5"),  # all asks: (100.5 + 303 + 615) / 10
        ("Sell", "2", "100", "100.0"),
        ("Sell", "0.5", "100", "100.0"),
        ("sell", "3", "99.83333333333333333333333333", "99.5"),  # (200 + 99.5) / 3
    ],
)
def test_vwap_and_impact_price(
    book: OrderBook, side: str, qty: str, vwap: str, impact: str
) -> None:
    assert book.vwap(side, qty) == Decimal(vwap)
    assert book.impact_price(side, qty) == Decimal(impact)
    assert str(book.impact_price(side, qty)) == impact


def test_vwap_on_a_book_too_thin_is_none(book: OrderBook) -> None:
    assert book.vwap("Buy", "10.001") is None
    assert book.impact_price("Sell", 17) is None


def test_walk_rejects_bad_side_and_quantity(book: OrderBook) -> None:
    with pytest.raises(ValueError):
        book.vwap("bid", "1")
    with pytest.raises(ValueError):
        book.impact_price("Buy", "0")


def test_depth_within(book: OrderBook) -> None:
    # mid 100.25; 50 bps reaches 99.74875 .. 100.75125
    assert book.depth_within(50) == Decimal("3")
    # 100 bps reaches 99.2475 .. 101.2525
    assert book.depth_within(100) == Decimal("10")
    assert book.depth_within(100, "bid") == Decimal("6")
    assert book.depth_within(100, "ask") == Decimal("4")
    assert book.depth_within(0) == Decimal("0")
    assert book.depth_within(10_000) == Decimal("26")
    with pytest.raises(ValueError):
        book.depth_within(10, "Buy")


def test_empty_or_one_sided_book_has_no_analytics() -> None:
    book = OrderBook("BTCUSDT")
    assert book.best_bid() is None and book.bids(5) == []
    for value in (book.mid(), book.spread(), book.spread_bps(), book.microprice()):
        assert value is None
    assert book.imbalance(3) is None
    assert book.depth_within(10) is None
    assert book.vwap("Buy", "1") is None
    book.apply(snapshot(1, [["1.5", "2"]], []))
    assert book.mid() is None
    assert book.imbalance(1) == Decimal(1)


def test_outputs_are_the_exchange_strings_never_floats() -> None:
    book = OrderBook("BTCUSDT")
    book.apply(snapshot(1, [["65000.10", "0.100"], ["64999.90", "1.000"]], [["65000.20", "3"]]))
    book.apply(delta(2, [["65000.00", "0.010"]], [["65000.30", "2.50"]]))
    assert book.bids() == [("65000.10", "0.100"), ("65000.00", "0.010"), ("64999.90", "1.000")]
    assert book.asks() == [("65000.20", "3"), ("65000.30", "2.50")]
    rows = book.bids() + book.asks()
    assert all(type(x) is str for row in rows for x in row)
    for value in (book.mid(), book.spread(), book.microprice(), book.vwap("Buy", "4")):
        assert isinstance(value, Decimal)
    assert book.mid() == Decimal("65000.15")
    assert book.spread() == Decimal("0.10")
    assert str(book.vwap("Buy", "4")) == "65000.225"  # (3 * .20 + .30) / 4 over 65000


RPI_SNAPSHOT = {
    "topic": "orderbook.rpi.BTCUSDT",
    "type": "snapshot",
    "ts": 1752472188000,
    "data": {
        "s": "BTCUSDT",
        "b": [["121975.1", "0.1", "0"], ["121969.9", "0.2", "0.3"], ["121960.5", "1", "0"]],
        "a": [["121990.8", "0.4", "0.5"], ["121996.1", "0.016393", "0"], ["122018.5", "2", "0"]],
        "u": 2258979,
        "seq": 79683241000,
    },
    "cts": 1752472188000,
}
# The documented RPI delta (docs/v5/websocket/public/orderbook-rpi.mdx)
RPI_DELTA = {
    "topic": "orderbook.rpi.BTCUSDT",
    "ts": 1752472188075,
    "type": "delta",
    "data": {
        "s": "BTCUSDT",
        "b": [["121975.1", "0.114259", "0"], ["121969.9", "0", "0"], ["121960.5", "0", "0.163986"]],
        "a": [
            ["121990.8", "0.441585", "0.78821"],
            ["121996.1", "0.016393", "0"],
            ["122018.5", "0", "0"],
        ],
        "u": 2258980,
        "seq": 79683241099,
    },
    "cts": 1752472188067,
}


def test_rpi_book_keeps_rpi_size_and_deletes_only_when_both_sizes_are_zero() -> None:
    book = OrderBook("BTCUSDT", depth=50)
    assert book.apply(RPI_SNAPSHOT) is True
    assert book.rpi
    assert book.apply(RPI_DELTA) is True
    assert book.bids() == [("121975.1", "0.114259", "0"), ("121960.5", "0", "0.163986")]
    assert book.asks() == [("121990.8", "0.441585", "0.78821"), ("121996.1", "0.016393", "0")]
    assert book.best_ask() == ("121990.8", "0.441585", "0.78821")
    book._check()


def test_rpi_analytics_count_size_plus_rpi_size() -> None:
    book = OrderBook("BTCUSDT")
    book.apply(RPI_SNAPSHOT)
    book.apply(RPI_DELTA)
    # best bid size 0.114259; best ask size 0.441585 + 0.78821 = 1.229795
    assert book.imbalance(1) == (Decimal("0.114259") - Decimal("1.229795")) / Decimal("1.344054")
    assert book.impact_price("Sell", "0.2") == Decimal("121960.5")
    assert book.vwap("Buy", "1.229795") == Decimal("121990.8")


def test_to_snapshot_round_trips_through_json(book: OrderBook) -> None:
    book.apply(delta(11, [["99.75", "3"]], [["101", "0"]]))
    snap = json.loads(json.dumps(book.to_snapshot()))
    assert snap["type"] == "snapshot" and snap["topic"] == "orderbook.50.BTCUSDT"
    copy = OrderBook("BTCUSDT")
    assert copy.apply(snap) is True
    assert copy.bids() == book.bids() and copy.asks() == book.asks()
    assert (copy.update_id, copy.seq, copy.ts, copy.cts) == (
        book.update_id,
        book.seq,
        book.ts,
        book.cts,
    )
    assert book.apply(snap) is False  # identical: a repeat, not a change
    assert copy.apply(delta(12, [["99.75", "0"]], [])) is True


def test_rpi_to_snapshot_round_trips() -> None:
    book = OrderBook("BTCUSDT")
    book.apply(RPI_SNAPSHOT)
    book.apply(RPI_DELTA)
    snap = book.to_snapshot()
    assert snap["topic"] == "orderbook.rpi.BTCUSDT"
    assert snap["data"]["b"][1] == ["121960.5", "0", "0.163986"]
    copy = OrderBook("BTCUSDT")
    copy.apply(snap)
    assert copy.rpi and copy.bids() == book.bids() and copy.asks() == book.asks()


def test_to_snapshot_without_a_topic_names_one_from_depth() -> None:
    book = OrderBook("ETHUSDT", depth=200)
    book.apply({"type": "snapshot", "data": {"s": "ETHUSDT", "b": [], "a": [], "u": 3, "seq": 1}})
    assert book.to_snapshot()["topic"] == "orderbook.200.ETHUSDT"
