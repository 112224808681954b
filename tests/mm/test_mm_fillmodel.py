"""Queue-position fills, hand-built: queue ahead, trades at and through our price, book
crossing, level shrink, amend priority, post-only rejection."""

from __future__ import annotations

from decimal import Decimal

from bybitctl.book import OrderBook
from bybitctl.mm.fillmodel import QueueFillModel, SimFill

from .helpers import SYMBOL, book_frame

D = Decimal


def make_book() -> OrderBook:
    book = OrderBook(SYMBOL)
    book.apply(
        book_frame(
            "snapshot", 1, [("100.00", "5"), ("99.99", "2")], [("100.02", "4"), ("100.03", "1")]
        )
    )
    return book


def test_joins_back_of_queue_and_trades_eat_queue_first() -> None:
    book = make_book()
    model = QueueFillModel()
    assert model.place("a", "Buy", D("100.00"), D(1), True, book) == (True, [])
    assert model.orders["a"].queue_ahead == D(5)
    assert model.on_trade("Sell", D("100.00"), D(3)) == []
    assert model.orders["a"].queue_ahead == D(2)
    assert model.on_trade("Sell", D("100.00"), D("2.5")) == [
        SimFill("a", "Buy", D("100.00"), D("0.5"), True)
    ]
    assert model.orders["a"].filled == D("0.5") and model.orders["a"].queue_ahead == 0
    assert model.on_trade("Sell", D("100.00"), D(7)) == [
        SimFill("a", "Buy", D("100.00"), D("0.5"), True)
    ]
    assert "a" not in model.orders


def test_buy_taker_trades_do_not_touch_bids() -> None:
    model = QueueFillModel()
    model.place("a", "Buy", D("100.00"), D(1), True, make_book())
    assert model.on_trade("Buy", D("100.00"), D(100)) == []
    assert model.orders["a"].queue_ahead == D(5)


def test_trade_through_our_price_fills_fully() -> None:
    model = QueueFillModel()
    model.place("a", "Buy", D("100.00"), D(1), True, make_book())
    model.place("s", "Sell", D("100.03"), D(2), True, make_book())
    assert model.on_trade("Sell", D("99.99"), D("0.001")) == [
        SimFill("a", "Buy", D("100.00"), D(1), True)
    ]
    assert model.on_trade("Buy", D("100.04"), D("0.001")) == [
        SimFill("s", "Sell", D("100.03"), D(2), True)
    ]


def test_empty_level_means_front_of_queue() -> None:
    model = QueueFillModel()
    model.place("a", "Sell", D("100.01"), D(1), True, make_book())
    assert model.orders["a"].queue_ahead == 0
    assert model.on_trade("Buy", D("100.01"), D("0.4"))[0].qty == D("0.4")


def test_book_crossing_through_us_fills_fully() -> None:
    book = make_book()
    model = QueueFillModel()
    model.place("a", "Buy", D("99.99"), D(1), True, book)
    # the market moves down: asks reach our resting bid's price
    book.apply(book_frame("snapshot", 2, [("99.98", "1")], [("99.99", "3")]))
    assert model.on_book(book) == [SimFill("a", "Buy", D("99.99"), D(1), True)]


def test_level_shrink_reduces_queue_ahead_never_grows_it() -> None:
    book = make_book()
    model = QueueFillModel()
    model.place("a", "Buy", D("100.00"), D(1), True, book)
    book.apply(book_frame("delta", 2, [("100.00", "1.5")], []))
    model.on_book(book)
    assert model.orders["a"].queue_ahead == D("1.5")
    book.apply(book_frame("delta", 3, [("100.00", "9")], []))  # joins behind us
    model.on_book(book)
    assert model.orders["a"].queue_ahead == D("1.5")


def test_amend_price_loses_priority_qty_down_keeps_it_qty_up_loses_it() -> None:
    book = make_book()
    model = QueueFillModel()
    model.place("a", "Buy", D("100.00"), D(2), True, book)
    model.on_trade("Sell", D("100.00"), D(4))
    assert model.orders["a"].queue_ahead == D(1)
    model.amend("a", D("100.00"), D(1), book)  # qty down: keeps its place
    assert model.orders["a"].queue_ahead == D(1)
    model.amend("a", D("100.00"), D(3), book)  # qty up: back of the queue
    assert model.orders["a"].queue_ahead == D(5)
    model.amend("a", D("99.99"), D(3), book)  # new price: back of that level's queue
    assert model.orders["a"].queue_ahead == D(2) and model.orders["a"].price == D("99.99")


def test_amended_order_follows_the_level_at_its_new_price() -> None:
    """After an amend, the queue ahead tracks the level at the new price (however the price
    is spelled), not the old one."""
    book = make_book()
    model = QueueFillModel()
    model.place("a", "Buy", D("100.00"), D(1), True, book)
    model.amend("a", D("99.990"), D(1), book)  # 99.99 spelled with one more digit
    assert model.orders["a"].queue_ahead == D(2)
    book.apply(book_frame("delta", 2, [("100.00", "0.5")], []))  # the old level shrinks
    model.on_book(book)
    assert model.orders["a"].queue_ahead == D(2)
    book.apply(book_frame("delta", 3, [("99.99", "0.75")], []))  # the new one shrinks
    model.on_book(book)
    assert model.orders["a"].queue_ahead == D("0.75")
    model.amend("a", D("100.00"), D(1), book)  # back: behind the 0.5 left there
    book.apply(book_frame("delta", 4, [("100.00", "0.25"), ("99.99", "0")], []))
    model.on_book(book)
    assert model.orders["a"].queue_ahead == D("0.25")


def test_amend_rejected_when_gone_or_not_above_filled() -> None:
    book = make_book()
    model = QueueFillModel()
    model.place("a", "Buy", D("100.00"), D(2), True, book)
    model.on_trade("Sell", D("99.00"), D(1))  # through: fully filled
    assert model.amend("a", D("100.00"), D(3), book) is None
    model.place("b", "Sell", D("100.05"), D(2), True, book)
    model.on_trade("Buy", D("100.05"), D(1))
    assert model.amend("b", D("100.05"), D(1), book) is None
    assert model.cancel("b") is not None and model.cancel("b") is None


def test_post_only_that_would_take_is_rejected_plain_limit_takes() -> None:
    book = make_book()
    model = QueueFillModel()
    assert model.place("a", "Buy", D("100.02"), D(1), True, book) == (False, [])
    ok, fills = model.place("b", "Buy", D("100.03"), D(6), False, book)
    assert ok and fills == [
        SimFill("b", "Buy", D("100.02"), D(4), False),
        SimFill("b", "Buy", D("100.03"), D(1), False),
    ]
    assert model.orders["b"].filled == D(5) and model.orders["b"].queue_ahead == 0


def test_hedge_closing_orders_are_reduce_only_at_the_leg() -> None:
    book = make_book()
    model = QueueFillModel()
    # no long leg yet: a sell on positionIdx 1 has nothing to close
    assert model.place("c0", "Sell", D("100.03"), D(1), True, book, position_idx=1) == (False, [])
    # a buy on 1 opens the long leg: 1.5 after a trade through it
    model.place("o", "Buy", D("100.00"), D("1.5"), True, book, position_idx=1)
    assert model.on_trade("Sell", D("99.99"), D("0.001")) == [
        SimFill("o", "Buy", D("100.00"), D("1.5"), True, 1)
    ]
    assert model.legs == (D("1.5"), D(0))
    # closing asks: one capped at the leg when placed, two more resting at 1 each
    model.place("c1", "Sell", D("100.03"), D(2), True, book, position_idx=1)
    assert model.orders["c1"].qty == D("1.5")
    model.place("c2", "Sell", D("100.04"), D(1), True, book, position_idx=1)
    model.place("c3", "Sell", D("100.05"), D(1), True, book, position_idx=1)
    # a buy sweeps through all three: together they close the leg, never more
    fills = model.on_trade("Buy", D("100.06"), D("0.001"))
    assert sum(f.qty for f in fills) == D("1.5") and fills[0].link_id == "c1"
    assert model.legs == (D(0), D(0))
    # what the sweep could not fill is cancelled, as Bybit cancels reduce-only orders
    assert model.orders == {}
    assert sorted(o.link_id for o in model.trimmed) == ["c2", "c3"]
    assert not any(o.link_id in model.orders for o in model.trimmed)


def test_a_closing_order_is_cut_when_its_leg_shrinks_under_it() -> None:
    book = make_book()
    model = QueueFillModel()
    model.place("o", "Sell", D("99.99"), D(2), False, book, position_idx=2)  # takes: short 2
    assert model.legs == (D(0), D(2))
    model.place("c1", "Buy", D("99.98"), D(2), True, book, position_idx=2)
    model.place("c2", "Buy", D("99.97"), D("1.5"), True, book, position_idx=2)
    # a sell taker fills c1 by 1: the short leg is 1, so c1 (1 left) fits and c2 is cut to 1
    assert model.on_trade("Sell", D("99.98"), D(1)) == [
        SimFill("c1", "Buy", D("99.98"), D(1), True, 2)
    ]
    assert model.legs == (D(0), D(1))
    assert model.orders["c2"].remaining == D(1) and model.trimmed == [model.orders["c2"]]
    # one-way orders (positionIdx 0) never touch the legs
    model.place("w", "Buy", D("99.96"), D(9), True, book)
    assert model.legs == (D(0), D(1)) and model.orders["w"].qty == D(9)
