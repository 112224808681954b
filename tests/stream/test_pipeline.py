"""The normaliser: event shapes and the resync state machine, from recorded-style frames."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from support.examples import examples

from bybitctl.errors import BybitctlError, ConfigError
from bybitctl.stream.pipeline import LIVE, RESYNCING, Pipeline, control_error
from stream.frames import TOPIC, book, snapshot, trade


def test_snapshot_emits_top_levels_as_exchange_strings() -> None:
    events = Pipeline(levels=2).feed(snapshot(10))
    assert events == [
        {
            "event": "book",
            "topic": TOPIC,
            "symbol": "BTCUSDT",
            "type": "snapshot",
            "u": 10,
            "seq": 1010,
            "ts": 1_700_000_000_010,
            "cts": 1_700_000_000_009,
            "bids": [("100.0", "1"), ("99.5", "2")],
            "asks": [("100.5", "1.5"), ("101.0", "2.5")],
        }
    ]


def test_delta_in_sequence_updates_inserts_and_deletes() -> None:
    pipe = Pipeline(levels=5)
    pipe.feed(snapshot(10))
    (event,) = pipe.feed(book("delta", 11, [["100.0", "0"], ["99.7", "4"]], [["100.5", "9"]]))
    assert event["type"] == "delta"
    assert event["u"] == 11
    assert event["bids"] == [("99.7", "4"), ("99.5", "2"), ("99.0", "3")]
    assert event["asks"][0] == ("100.5", "9")


def test_duplicate_delta_emits_nothing() -> None:
    pipe = Pipeline()
    pipe.feed(snapshot(10))
    delta = book("delta", 11, [["99.7", "4"]], [])
    assert len(pipe.feed(delta)) == 1
    assert pipe.feed(delta) == []
    assert pipe.books[TOPIC].status == LIVE


def test_gap_resyncs_and_no_book_is_emitted_until_a_snapshot() -> None:
    pipe = Pipeline()
    pipe.feed(snapshot(10))
    (event,) = pipe.feed(book("delta", 12, [["99.7", "4"]], []))
    assert event["event"] == "resync"
    assert event["topic"] == TOPIC
    assert event["u"] == 10
    assert event["reason"].startswith("gap:")
    assert pipe.books[TOPIC].status == RESYNCING
    # the delta that was skipped, then later ones: all dropped, and no second resync event
    assert pipe.feed(book("delta", 11, [["99.8", "1"]], [])) == []
    assert pipe.feed(book("delta", 13, [["99.9", "1"]], [])) == []
    (fresh,) = pipe.feed(snapshot(20))
    assert fresh["event"] == "book"
    assert fresh["u"] == 20
    assert pipe.books[TOPIC].status == LIVE
    assert pipe.books[TOPIC].resyncs == 1


def test_reordered_delta_resyncs() -> None:
    pipe = Pipeline()
    pipe.feed(snapshot(10))
    pipe.feed(book("delta", 11, [["99.7", "4"]], []))
    (event,) = pipe.feed(book("delta", 13, [], [["100.7", "1"]]))
    assert event["event"] == "resync"
    assert pipe.feed(book("delta", 12, [], [["100.6", "1"]])) == []


def test_crossed_delta_resyncs() -> None:
    pipe = Pipeline()
    pipe.feed(snapshot(10))
    (event,) = pipe.feed(book("delta", 11, [["100.6", "1"]], []))
    assert event["event"] == "resync"
    assert event["reason"].startswith("crossed:")


def test_malformed_delta_resyncs() -> None:
    pipe = Pipeline()
    pipe.feed(snapshot(10))
    (event,) = pipe.feed(book("delta", 11, [["100.6"]], []))
    assert event["event"] == "resync"
    assert event["reason"].startswith("malformed:")


def test_delta_before_any_snapshot_resyncs() -> None:
    pipe = Pipeline()
    (event,) = pipe.feed(book("delta", 5, [["99.7", "4"]], []))
    assert event["event"] == "resync"
    assert event["u"] is None


def test_mid_stream_snapshot_replaces_the_book() -> None:
    pipe = Pipeline()
    pipe.feed(snapshot(10))
    (event,) = pipe.feed(book("snapshot", 30, [["98.0", "7"]], [["98.5", "1"]]))
    assert (event["u"], event["bids"], event["asks"]) == (30, [("98.0", "7")], [("98.5", "1")])


def test_restart_with_u_1_replaces_the_book() -> None:
    pipe = Pipeline()
    pipe.feed(snapshot(500))
    (event,) = pipe.feed(book("delta", 1, [["97.0", "1"]], [["97.5", "1"]]))
    assert (event["u"], event["bids"], event["asks"]) == (1, [("97.0", "1")], [("97.5", "1")])
    (nxt,) = pipe.feed(book("delta", 2, [["97.1", "1"]], []))
    assert nxt["bids"][0] == ("97.1", "1")


def test_lost_connection_voids_every_book_until_its_snapshot() -> None:
    pipe = Pipeline()
    other = "orderbook.50.ETHUSDT"
    pipe.feed(snapshot(10))
    pipe.feed(snapshot(40, topic=other))
    events = pipe.lose_books("disconnected", 123)
    assert [(e["event"], e["topic"], e["reason"], e["u"]) for e in events] == [
        ("resync", TOPIC, "disconnected", 10),
        ("resync", other, "disconnected", 40),
    ]
    # a delta that continues the old sequence must not revive the stale book
    assert pipe.feed(book("delta", 11, [["99.7", "4"]], [])) == []
    assert pipe.books[TOPIC].status == RESYNCING
    assert pipe.books[TOPIC].last_resync_ns == 123
    (event,) = pipe.feed(snapshot(50))
    assert event["u"] == 50
    assert pipe.books[other].status == RESYNCING


def test_books_are_kept_per_topic() -> None:
    pipe = Pipeline()
    pipe.feed(snapshot(10))
    (event,) = pipe.feed(snapshot(7, topic="orderbook.1.BTCUSDT"))
    assert event["topic"] == "orderbook.1.BTCUSDT"
    assert pipe.books["orderbook.1.BTCUSDT"].book.depth == 1
    assert event["bids"] == [("100.0", "1")]


def test_rpi_levels_keep_three_strings() -> None:
    frame = book(
        "snapshot", 3, [["100.0", "1", "0.5"]], [["100.5", "0", "2"]], topic="orderbook.rpi.BTCUSDT"
    )
    (event,) = Pipeline().feed(frame)
    assert event["bids"] == [("100.0", "1", "0.5")]
    assert event["asks"] == [("100.5", "0", "2")]


def test_public_message_passes_data_through() -> None:
    frame = trade()
    assert Pipeline().feed(frame) == [
        {
            "event": "message",
            "topic": "publicTrade.BTCUSDT",
            "type": "snapshot",
            "ts": 1_700_000_000_500,
            "data": frame["data"],
        }
    ]


def test_private_message_uses_creation_time() -> None:
    frame = {
        "id": "5923240c",
        "topic": "order",
        "creationTime": 1_672_364_262_474,
        "data": [{"symbol": "BTCUSDT", "orderStatus": "New", "price": "72.5"}],
    }
    (event,) = Pipeline().feed(frame)
    assert event == {
        "event": "message",
        "topic": "order",
        "type": None,
        "ts": 1_672_364_262_474,
        "data": frame["data"],
    }


def test_ticker_deltas_pass_through_and_merge_for_the_panel() -> None:
    pipe = Pipeline()
    topic = "tickers.BTCUSDT"
    pipe.feed(
        {
            "topic": topic,
            "type": "snapshot",
            "ts": 1,
            "cs": 1,
            "data": {"symbol": "BTCUSDT", "lastPrice": "100", "markPrice": "100.1"},
        }
    )
    (event,) = pipe.feed(
        {
            "topic": topic,
            "type": "delta",
            "ts": 2,
            "cs": 2,
            "data": {"symbol": "BTCUSDT", "lastPrice": "101"},
        }
    )
    assert event["data"] == {"symbol": "BTCUSDT", "lastPrice": "101"}
    assert pipe.tickers[topic] == {"symbol": "BTCUSDT", "lastPrice": "101", "markPrice": "100.1"}


def test_control_frames_emit_nothing_and_refusals_are_typed() -> None:
    ok = {"success": True, "ret_msg": "", "conn_id": "c", "req_id": "1", "op": "subscribe"}
    assert Pipeline().feed(ok) == []
    assert control_error(ok) is None
    refused = control_error({"success": False, "ret_msg": "handler not found", "op": "subscribe"})
    assert isinstance(refused, BybitctlError)
    assert (str(refused), refused.exit_code) == ("subscribe refused: handler not found", 1)
    auth = control_error({"success": False, "ret_msg": "Invalid apikey", "op": "auth"})
    assert isinstance(auth, ConfigError)
    assert (str(auth), auth.exit_code) == ("auth refused: Invalid apikey", 3)
    option = control_error(
        {
            "success": True,
            "conn_id": "c",
            "type": "COMMAND_RESP",
            "data": {"failTopics": ["orderbook.25.X"], "successTopics": []},
        }
    )
    assert str(option) == "subscribe refused: orderbook.25.X"
    assert (
        control_error({"success": False, "ret_msg": "no such topic", "op": "unsubscribe"}) is None
    )


# -- property: whatever the exchange does to the sequence, an emitted book is the true book --

_OPS = st.lists(
    st.tuples(
        st.sampled_from(["delta", "delta", "delta", "dup", "skip", "swap", "snapshot", "restart"]),
        st.lists(
            st.tuples(st.sampled_from("ba"), st.integers(1, 8), st.integers(0, 3)), max_size=4
        ),
    ),
    max_size=40,
)


def _level_price(side: str, i: int) -> str:
    return f"{100 - i}.0" if side == "b" else f"{100 + i}.5"


@given(_OPS)
@settings(max_examples=examples(200), deadline=None)
def test_every_emitted_book_equals_the_exchange_book_at_its_u(ops: list) -> None:
    """A reference exchange keeps the true book per u; the wire mangles the deltas."""
    true = {"b": {"100.0": "1"}, "a": {"100.5": "1"}}
    epoch, u = 0, 10
    history = {(epoch, u): ({"100.0": "1"}, {"100.5": "1"})}  # (restart epoch, u) -> book
    wire = [(epoch, book("snapshot", u, [["100.0", "1"]], [["100.5", "1"]]))]
    held = None
    for op, changes in ops:
        if op in ("snapshot", "restart"):
            if op == "restart":
                # a reorder never straddles a restart: the sequence itself starts over
                if held is not None:
                    wire.append(held)
                    held = None
                epoch, u = epoch + 1, 1
            else:
                u += 1
            history[(epoch, u)] = (dict(true["b"]), dict(true["a"]))
            wire.append(
                (
                    epoch,
                    book(
                        "snapshot" if op == "snapshot" else "delta",
                        u,
                        [[p, q] for p, q in true["b"].items()],
                        [[p, q] for p, q in true["a"].items()],
                    ),
                )
            )
            continue
        u += 1
        delta: dict[str, list[list[str]]] = {"b": [], "a": []}
        for side, i, qty in changes:
            price = _level_price(side, i)
            delta[side].append([price, str(qty)])
            if qty:
                true[side][price] = str(qty)
            else:
                true[side].pop(price, None)
        history[(epoch, u)] = (dict(true["b"]), dict(true["a"]))
        frame = (epoch, book("delta", u, delta["b"], delta["a"]))
        if op == "skip":
            continue
        if op == "swap" and held is None:
            held = frame
            continue
        wire.append(frame)
        if op == "dup":
            wire.append(frame)
        if held is not None:
            wire.append(held)
            held = None

    pipe = Pipeline(levels=100)
    for frame_epoch, frame in wire:
        for event in pipe.feed(frame):
            if event["event"] != "book":
                continue
            bids, asks = history[(frame_epoch, event["u"])]
            assert dict(event["bids"]) == bids
            assert dict(event["asks"]) == asks
            prices = [Decimal(p) for p, _ in event["bids"]]
            assert prices == sorted(prices, reverse=True)
