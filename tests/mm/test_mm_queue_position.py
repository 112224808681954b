"""The live queue-ahead estimate: joining (our own qty and a lagging book), trades at, past
and beside our price, level shrink at status time, amend priority, fills, unknown levels;
properties over random event sequences, and agreement with the backtest's fill model."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from support.examples import examples

from bybitctl.book import OrderBook
from bybitctl.mm.fillmodel import QueueFillModel
from bybitctl.mm.queue_position import QueueTracker

from .helpers import SYMBOL, book_frame

D = Decimal
ASKS = [("100.02", "4"), ("100.03", "1")]


def book(bids: list[tuple[str, str]], ts: int = 1_000, depth: int | None = None) -> OrderBook:
    b = OrderBook(SYMBOL, depth=depth)
    b.apply(book_frame("snapshot", 1, bids, ASKS, ts=ts))
    return b


def row(
    price: str = "100.00",
    qty: str = "1",
    cum: str = "0",
    status: str = "New",
    side: str = "Buy",
    at: int = 1_000,
    link: str = "mm-1",
) -> dict[str, Any]:
    """An order-stream row as Bybit sends it (strings)."""
    return {
        "orderLinkId": link,
        "orderStatus": status,
        "side": side,
        "price": price,
        "qty": qty,
        "cumExecQty": cum,
        "updatedTime": str(at),
    }


def trade(side: str, price: str, qty: str, at: int = 2_000, **flags: bool) -> dict[str, Any]:
    """A publicTrade item; `side` is the taker's."""
    return {"T": at, "s": SYMBOL, "S": side, "v": qty, "p": price, "BT": False, **flags}


def tracked(level: str = "5", **kw: Any) -> QueueTracker:
    """A tracker holding one bid of 1 at 100.00, where the book shows `level` (ours included)."""
    queues = QueueTracker()
    queues.on_order(row(**kw), book([("100.00", level), ("99.99", "2")]))
    return queues


def test_joins_behind_the_level_less_our_own_qty() -> None:
    queues = tracked("5")
    assert queues.ahead("mm-1", D("100.00")) == D(4)
    assert queues.ahead("mm-1", D("100")) == D(4)  # prices compare as numbers
    assert queues.ahead("mm-1", D("99.99")) is None  # not resting there (amend in flight)
    assert tracked("0.5").ahead("mm-1", D("100.00")) == 0  # never below 0


def test_a_book_older_than_the_order_does_not_hold_it_yet() -> None:
    queues = QueueTracker()
    queues.on_order(row(at=1_500), book([("100.00", "5")], ts=1_400))
    assert queues.ahead("mm-1", D("100.00")) == D(5)


def test_an_empty_level_inside_the_book_is_the_front() -> None:
    queues = QueueTracker()
    queues.on_order(row(price="100.01"), book([("100.00", "5")]))
    assert queues.ahead("mm-1", D("100.01")) == 0


def test_sell_takers_at_our_bid_consume_the_queue_ahead() -> None:
    queues = tracked("5")
    queues.on_trade_frame([trade("Sell", "100.00", "1.5"), trade("Sell", "100.0", "1")])
    assert queues.ahead("mm-1", D("100.00")) == D("1.5")
    queues.on_trade_frame([trade("Sell", "100.00", "7")])
    assert queues.ahead("mm-1", D("100.00")) == 0


def test_trades_that_do_not_reach_our_queue_leave_it() -> None:
    queues = tracked("5")
    queues.on_trade_frame(
        [
            trade("Buy", "100.00", "3"),  # a buy taker lifts asks, never our bid
            trade("Sell", "100.01", "3"),  # above our bid: the better bids went first
            trade("Sell", "100.00", "3", BT=True),  # block trade: off the book
            trade("Sell", "100.00", "3", RPI=True),  # RPI liquidity is not in this queue
            trade("Sell", "100.00", "3", at=999),  # printed before we joined
        ]
    )
    assert queues.ahead("mm-1", D("100.00")) == D(4)


def test_a_trade_through_our_price_clears_the_queue() -> None:
    queues = tracked("5")
    queues.on_trade_frame([trade("Sell", "99.99", "0.001")])
    assert queues.ahead("mm-1", D("100.00")) == 0
    asks = QueueTracker()
    asks.on_order(row(side="Sell", price="100.02"), book([("100.00", "5")]))
    assert asks.ahead("mm-1", D("100.02")) == D(3)
    asks.on_trade_frame([trade("Buy", "100.03", "0.5")])
    assert asks.ahead("mm-1", D("100.02")) == 0


def test_level_shrink_lowers_the_queue_at_refresh_growth_does_not_raise_it() -> None:
    queues = tracked("5")
    queues.refresh(book([("100.00", "2.5")]), {"mm-1"})
    assert queues.ahead("mm-1", D("100.00")) == D("1.5")
    queues.refresh(book([("100.00", "9")]), {"mm-1"})  # joins behind us
    assert queues.ahead("mm-1", D("100.00")) == D("1.5")
    queues.refresh(book([("99.99", "2")]), {"mm-1"})  # our level vanished from the book
    assert queues.ahead("mm-1", D("100.00")) == 0


def test_refresh_drops_orders_the_engine_no_longer_holds() -> None:
    queues = tracked("5")
    queues.refresh(book([("100.00", "5")]), set())
    assert queues.spots == {}


def test_amends_keep_the_place_only_for_a_qty_decrease() -> None:
    b = book([("100.00", "5"), ("99.99", "2")], ts=9_000)  # newer than every row here
    queues = QueueTracker()
    queues.on_order(row(qty="2"), b)
    assert queues.ahead("mm-1", D("100.00")) == D(3)
    queues.on_trade_frame([trade("Sell", "100.00", "1")])
    queues.on_order(row(qty="1", at=3_000), b)  # qty down: keeps its place
    assert queues.ahead("mm-1", D("100.00")) == D(2)
    queues.on_order(row(qty="3", at=4_000), b)  # qty up: back of the queue
    assert queues.ahead("mm-1", D("100.00")) == D(2)  # 5 shown, 3 of them ours
    queues.on_order(row(price="99.99", qty="1", at=5_000), b)  # new price: back of that level
    assert queues.ahead("mm-1", D("99.99")) == D(1)
    assert queues.ahead("mm-1", D("100.00")) is None


def test_a_fill_of_ours_means_nothing_is_ahead() -> None:
    queues = tracked("5", qty="2")
    queues.on_order(row(qty="2", cum="0.5", status="PartiallyFilled", at=2_000), book([]))
    assert queues.ahead("mm-1", D("100.00")) == 0
    adopted = QueueTracker()
    adopted.on_order(row(qty="2", cum="1", status="PartiallyFilled"), book([("100.00", "9")]))
    assert adopted.ahead("mm-1", D("100.00")) == 0


def test_terminal_and_out_of_date_rows() -> None:
    queues = tracked("5")
    queues.on_order(row(price="99.99", at=500), book([("99.99", "2")]))  # older: ignored
    assert queues.ahead("mm-1", D("100.00")) == D(4)
    queues.on_order(row(status="Cancelled", at=2_000), book([]))
    assert queues.spots == {}
    queues = tracked("5")
    queues.forget("mm-1")
    assert queues.ahead("mm-1", D("100.00")) is None


def test_unknown_without_a_book_or_beyond_its_depth_until_the_level_shows() -> None:
    queues = QueueTracker()
    queues.on_order(row(), OrderBook(SYMBOL))  # no book yet (resyncing)
    assert queues.ahead("mm-1", D("100.00")) is None
    queues.on_trade_frame([trade("Sell", "100.00", "1")])  # unknown stays unknown
    assert queues.ahead("mm-1", D("100.00")) is None
    queues.refresh(book([("100.00", "3")]), {"mm-1"})  # at most all of the rest is ahead
    assert queues.ahead("mm-1", D("100.00")) == D(2)

    deep = QueueTracker()
    deep.on_order(row(price="99.00"), book([("100.00", "5"), ("99.99", "2")], depth=2))
    assert deep.ahead("mm-1", D("99.00")) is None
    thin = QueueTracker()  # fewer levels than the depth: the whole side is shown
    thin.on_order(row(price="99.00"), book([("100.00", "5"), ("99.99", "2")], depth=3))
    assert thin.ahead("mm-1", D("99.00")) == 0


# -- properties ------------------------------------------------------------------------

QTY = st.integers(min_value=0, max_value=50).map(lambda n: D(n) / 10)
EVENT = st.one_of(
    st.tuples(st.just("trade"), st.sampled_from(["Buy", "Sell"]), st.sampled_from([-1, 0, 1]), QTY),
    st.tuples(st.just("level"), QTY),
    st.tuples(st.just("fill"), QTY),
    st.tuples(st.just("qty_down"), QTY),
)
PRICE = D("100.00")


@settings(max_examples=examples(300), deadline=None)
@given(start_level=QTY, qty=QTY.filter(bool), events=st.lists(EVENT, max_size=30))
def test_queue_ahead_bounded_and_never_rises_while_the_order_keeps_its_place(
    start_level: Decimal, qty: Decimal, events: list[tuple[Any, ...]]
) -> None:
    level = start_level + qty  # the book shows our order too
    queues = QueueTracker()
    queues.on_order(row(qty=str(qty)), book([(str(PRICE), str(level))]))
    cum, at = D(0), 1_000
    previous = queues.ahead("mm-1", PRICE)
    assert previous is not None
    for event in events:
        at += 1
        if event[0] == "trade":
            _, side, ticks, size = event
            price = PRICE + D(ticks) / 100
            if size:
                queues.on_trade_frame([trade(side, str(price), str(size), at=at)])
        elif event[0] == "level":
            level = event[1]
        elif event[0] == "fill":
            cum = min(qty, cum + event[1])
            if cum == qty:
                break
            queues.on_order(
                row(qty=str(qty), cum=str(cum), status="PartiallyFilled", at=at), book([])
            )
        else:
            qty = max(cum + D("0.1"), qty - event[1])
            queues.on_order(row(qty=str(qty), cum=str(cum), at=at), book([]))
        shown = book([(str(PRICE), str(level))] if level else [("99.00", "1")], ts=at)
        queues.refresh(shown, {"mm-1"})
        ahead = queues.ahead("mm-1", PRICE)
        assert ahead is not None
        assert ahead >= 0
        assert ahead <= max(level - (qty - cum), D(0))
        assert ahead <= previous
        previous = ahead


@settings(max_examples=examples(300), deadline=None)
@given(
    level=QTY,
    qty=QTY.filter(bool),
    events=st.lists(
        st.one_of(st.tuples(st.just("trade"), QTY.filter(bool)), st.tuples(st.just("level"), QTY)),
        max_size=20,
    ),
)
def test_agrees_with_the_backtest_fill_model(
    level: Decimal, qty: Decimal, events: list[tuple[str, Decimal]]
) -> None:
    """The same market seen twice: the backtest's recorded book lacks our order, the live
    book holds it; both models must put the same qty ahead of us until we are filled."""
    recorded = book([(str(PRICE), str(level))] if level else [])
    model = QueueFillModel()
    model.place("mm-1", "Buy", PRICE, qty, True, recorded)
    queues = QueueTracker()
    queues.on_order(row(qty=str(qty)), book([(str(PRICE), str(level + qty))]))
    for at, (kind, size) in enumerate(events, start=2_000):
        if kind == "trade":
            model.on_trade("Sell", PRICE, size)
            queues.on_trade_frame([trade("Sell", str(PRICE), str(size), at=at)])
        else:
            recorded = book([(str(PRICE), str(size))] if size else [("99.00", "1")], ts=at)
            model.on_book(recorded)
            sim = model.orders.get("mm-1")
            ours = qty - (sim.filled if sim else qty)
            queues.refresh(book([(str(PRICE), str(size + ours))], ts=at), {"mm-1"})
        sim = model.orders.get("mm-1")
        if sim is None or sim.filled:
            assert queues.ahead("mm-1", PRICE) == 0
            return
        assert queues.ahead("mm-1", PRICE) == sim.queue_ahead
