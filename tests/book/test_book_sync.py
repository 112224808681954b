"""One test per sync rule of `bybitctl.book.OrderBook`."""

from __future__ import annotations

import copy

import pytest

from bybitctl.book import BookError, BookGap, BookSet, CrossedBook, OrderBook
from bybitctl.errors import BybitctlError

from .reference import delta, snapshot

BIDS = [["100.0", "2"], ["99.5", "4"]]
ASKS = [["100.5", "1"], ["101.0", "3"]]


def synced(u: int = 10, depth: int | None = None) -> OrderBook:
    book = OrderBook("BTCUSDT", depth=depth)
    assert book.apply(snapshot(u, BIDS, ASKS)) is True
    return book


def test_snapshot_replaces_the_whole_book_even_with_an_older_u() -> None:
    book = synced(u=10)
    assert book.apply(snapshot(5, [["90", "1"]], [["91", "2"]])) is True
    assert book.bids() == [("90", "1")]
    assert book.asks() == [("91", "2")]
    assert book.update_id == 5


def test_in_sequence_delta_updates_inserts_and_deletes() -> None:
    book = synced(u=10)
    changed = book.apply(delta(11, [["100.0", "7"], ["99.8", "1"]], [["100.5", "0"]]))
    assert changed is True
    assert book.bids() == [("100.0", "7"), ("99.8", "1"), ("99.5", "4")]
    assert book.asks() == [("101.0", "3")]
    assert (book.update_id, book.seq, book.ts, book.cts) == (
        11,
        11,
        1_700_000_000_100,
        1_700_000_000_098,
    )


def test_delta_with_u_1_replaces_the_book_as_a_service_restart() -> None:
    book = synced(u=500)
    assert book.apply(delta(1, [["50", "1"]], [["51", "1"]])) is True
    assert book.bids() == [("50", "1")]
    assert book.asks() == [("51", "1")]
    assert book.update_id == 1
    assert book.apply(delta(2, [["50", "3"]], [])) is True
    assert book.best_bid() == ("50", "3")


def test_stale_delta_is_ignored() -> None:
    book = synced(u=10)
    book.apply(delta(11, [["100.0", "5"]], []))
    assert book.apply(delta(11, [["100.0", "9"]], [])) is False
    assert book.apply(delta(3, [["100.0", "9"]], [])) is False
    assert book.best_bid() == ("100.0", "5")
    assert book.update_id == 11
    assert book.stats.stale == 2
    assert not book.needs_resync


def test_gap_raises_bookgap_empties_the_book_and_sets_needs_resync() -> None:
    book = synced(u=10)
    with pytest.raises(BookGap, match="expected u=11, got u=13"):
        book.apply(delta(13, [["100.0", "5"]], []))
    assert book.needs_resync
    assert book.best_bid() is None and book.best_ask() is None
    assert book.mid() is None
    assert book.stats.gaps == 1


def test_delta_before_any_snapshot_raises_bookgap() -> None:
    book = OrderBook("BTCUSDT")
    with pytest.raises(BookGap, match="before any snapshot"):
        book.apply(delta(7, [["100", "1"]], []))
    assert book.needs_resync
    assert book.update_id is None
    assert book.stats.gaps == 1


def test_deltas_are_dropped_while_resyncing_until_a_snapshot() -> None:
    book = synced(u=10)
    with pytest.raises(BookGap):
        book.apply(delta(12, [], []))
    assert book.apply(delta(13, [["100.0", "5"]], [])) is False
    assert book.apply(delta(11, [["100.0", "5"]], [])) is False
    assert book.stats.dropped == 2
    assert book.bids() == []
    assert book.apply(snapshot(20, BIDS, ASKS)) is True
    assert not book.needs_resync
    assert book.apply(delta(21, [["100.0", "8"]], [])) is True
    assert book.best_bid() == ("100.0", "8")


def test_first_delta_before_snapshot_raises_then_later_ones_are_dropped() -> None:
    book = OrderBook("BTCUSDT")
    with pytest.raises(BookGap):
        book.apply(delta(7, [], []))
    assert book.apply(delta(8, [], [])) is False


def test_size_zero_deletes_a_level() -> None:
    book = synced()
    book.apply(delta(11, [["99.5", "0"]], [["101.0", "0"]]))
    assert book.bids() == [("100.0", "2")]
    assert book.asks() == [("100.5", "1")]


def test_deleting_an_unknown_price_is_ignored_and_counted() -> None:
    book = synced()
    assert book.apply(delta(11, [["42", "0"]], [["4242", "0"]])) is True
    assert book.bids() == [("100.0", "2"), ("99.5", "4")]
    assert book.asks() == [("100.5", "1"), ("101.0", "3")]
    assert book.stats.unknown_deletes == 2
    assert book.update_id == 11


def test_delta_that_crosses_the_book_raises_crossedbook() -> None:
    book = synced()
    with pytest.raises(CrossedBook):
        book.apply(delta(11, [["100.6", "1"]], []))
    assert book.needs_resync
    assert book.bids() == [] and book.asks() == []
    assert book.stats.crossed == 1
    assert book.apply(delta(12, [], [])) is False


def test_locked_book_counts_as_crossed() -> None:
    book = synced()
    with pytest.raises(CrossedBook):
        book.apply(delta(11, [], [["100.0", "1"]]))


def test_crossed_snapshot_raises_crossedbook() -> None:
    book = OrderBook("BTCUSDT")
    with pytest.raises(CrossedBook):
        book.apply(snapshot(3, [["101", "1"]], [["100", "1"]]))
    assert book.needs_resync


def test_level1_resend_with_the_same_u_is_neither_a_gap_nor_stale() -> None:
    book = OrderBook("BTCUSDT", depth=1)
    msg = snapshot(900, [["100.0", "2"]], [["100.5", "1"]], topic="orderbook.1.BTCUSDT")
    assert book.apply(msg) is True
    for _ in range(3):
        assert book.apply(copy.deepcopy(msg)) is False
    assert book.stats.repeats == 3
    assert book.stats.stale == 0 and book.stats.gaps == 0
    assert not book.needs_resync
    moved = snapshot(902, [["100.0", "3"]], [["100.5", "1"]], topic="orderbook.1.BTCUSDT")
    assert book.apply(moved) is True
    assert book.best_bid() == ("100.0", "3")


def test_same_u_snapshot_with_different_levels_replaces() -> None:
    book = synced(u=10)
    assert book.apply(snapshot(10, [["99", "1"]], ASKS)) is True
    assert book.bids() == [("99", "1")]


def test_snapshot_after_resync_with_the_last_u_counts_as_a_change() -> None:
    book = synced(u=10)
    with pytest.raises(BookGap):
        book.apply(delta(12, [], []))
    assert book.apply(snapshot(10, BIDS, ASKS)) is True


def test_depth_keeps_only_the_best_levels_and_later_deletes_of_them_are_unknown() -> None:
    bids = [[f"{100 - i}", "1"] for i in range(6)]
    asks = [[f"{101 + i}", "1"] for i in range(6)]
    book = OrderBook("BTCUSDT", depth=3)
    book.apply(snapshot(1, bids, asks))
    assert [p for p, _ in book.bids()] == ["100", "99", "98"]
    assert [p for p, _ in book.asks()] == ["101", "102", "103"]
    book.apply(delta(2, [["100.5", "2"]], [["100.8", "2"]]))
    assert [p for p, _ in book.bids()] == ["100.5", "100", "99"]
    assert [p for p, _ in book.asks()] == ["100.8", "101", "102"]
    book.apply(delta(3, [["98", "0"]], []))
    assert book.stats.unknown_deletes == 1
    book._check()


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError):
        OrderBook("BTCUSDT", depth=0)


def test_ordering_is_numeric_not_lexicographic() -> None:
    book = OrderBook("BTCUSDT")
    book.apply(snapshot(1, [["9.5", "1"], ["10.25", "1"], ["100", "1"]], [["1000", "1"]]))
    book.apply(delta(2, [["99.75", "1"]], [["200", "1"], ["999.9", "1"]]))
    assert [p for p, _ in book.bids()] == ["100", "99.75", "10.25", "9.5"]
    assert [p for p, _ in book.asks()] == ["200", "999.9", "1000"]


def test_another_spelling_of_a_price_updates_and_deletes_the_same_level() -> None:
    book = synced()
    book.apply(delta(11, [["100.00", "9"]], [["101", "0"]]))
    assert book.bids() == [("100.0", "9"), ("99.5", "4")]
    assert book.asks() == [("100.5", "1")]
    book._check()


def test_apply_never_mutates_the_message() -> None:
    book = OrderBook("BTCUSDT", depth=2)
    messages = [
        snapshot(1, [["1", "1"], ["2", "1"], ["3", "1"]], [["4", "1"]]),
        delta(2, [["2.5", "1"], ["1", "0"]], [["4", "2"]]),
        delta(1, [["1", "1"]], [["4", "1"]]),
    ]
    before = copy.deepcopy(messages)
    for message in messages:
        book.apply(message)
    assert messages == before


def test_malformed_delta_raises_bookerror_and_resyncs() -> None:
    book = synced()
    with pytest.raises(BookError, match="malformed"):
        book.apply(delta(11, [["100.0", "1", "2", "3"]], []))
    assert book.needs_resync
    assert book.bids() == []


def test_unknown_message_type_raises_bookerror() -> None:
    book = synced()
    message = delta(11, [], [])
    message["type"] = "bogus"
    with pytest.raises(BookError, match="bogus"):
        book.apply(message)


def test_book_errors_are_bybitctl_errors_with_an_exit_code() -> None:
    assert issubclass(BookGap, BookError) and issubclass(CrossedBook, BookError)
    assert issubclass(BookError, BybitctlError)
    assert BookGap("x").exit_code == 4


def test_rest_shaped_snapshot_takes_ts_and_cts_from_data() -> None:
    book = OrderBook("BTCUSDT")
    result = {"s": "BTCUSDT", "b": BIDS, "a": ASKS, "ts": 5, "u": 77, "seq": 8, "cts": 4}
    assert book.apply({"type": "snapshot", "data": result}) is True
    assert (book.update_id, book.seq, book.ts, book.cts) == (77, 8, 5, 4)
    assert book.apply(delta(78, [], [])) is True


def test_bookset_keeps_books_per_topic_with_the_topic_depth() -> None:
    books = BookSet()
    one = "orderbook.1.BTCUSDT"
    fifty = "orderbook.50.BTCUSDT"
    eth = "orderbook.50.ETHUSDT"
    books.apply(snapshot(5, BIDS, ASKS, topic=one))
    books.apply(snapshot(900, BIDS, ASKS, topic=fifty))
    books.apply(snapshot(30, [["3000", "1"]], [["3001", "1"]], topic=eth))
    books.apply(delta(901, [["99.9", "1"]], [], topic=fifty))
    assert sorted(books) == sorted([one, fifty, eth])
    assert books[one].depth == 1 and books[fifty].depth == 50
    assert books[one].bids() == [("100.0", "2")]
    assert books[fifty].bids(2) == [("100.0", "2"), ("99.9", "1")]
    assert books[eth].best_ask() == ("3001", "1")
    with pytest.raises(BookGap):
        books.apply(delta(40, [], [], topic=eth))
    assert books.resyncing() == [eth]
    assert books.get("orderbook.50.XRPUSDT") is None
