"""A queue-position-aware fill model for replaying recorded books and trades against our
virtual orders.

Recorded data shows the market without us, so the model decides when our orders would
have filled: an order joins the back of the queue at its price (queue ahead = the visible
size there when it arrives); a trade at our price eats the queue ahead first, then us; a
trade or a book through our price fills us completely (someone traded past us); the queue
ahead shrinks to the visible size when the level shrinks (cancellations ahead of us);
an amend that changes the price or raises the qty goes to the back, one that only lowers the
qty keeps its place. These queue rules are `bybitctl.mm.queue_position`'s, which also gives
the live engine's queue-ahead estimate. All sizes are exact Decimals; prices compare as the
exchange's numbers (as floats where that is exact: two decimal prices of up to 15 significant
digits never share a float, and rounding to a float keeps their order).

Cost per book message: O(our orders), each a dict lookup of its own price in the book
(`OrderBook.level_at`), never a copy or scan of the book's levels.

Hedge mode: an order that closes a leg (a sell on positionIdx 1, a buy on 2) is reduce-only,
as on Bybit and the local exchange: a place is capped at the leg (refused when the leg is
empty), no fill takes the leg below zero, and after every sweep a resting closing order
larger than its leg is cut to it, or cancelled when the leg is gone (`trimmed` lists those,
so the simulated exchange can tell the client).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bybitctl.mm.actions import leg_index, legs_after_fill
from bybitctl.mm.queue_position import consumed, keeps_place, shrunk

_ZERO = Decimal(0)


@dataclass(slots=True)
class SimOrder:
    """One of our orders resting at the simulated exchange (mutable: the exchange's own
    record, never handed to the strategy)."""

    link_id: str
    side: str
    price: Decimal
    qty: Decimal
    filled: Decimal
    queue_ahead: Decimal
    arrival: int  # time priority among our own orders at one price
    position_idx: int = 0
    px: float = field(default=0.0, repr=False, compare=False)
    """`price` as a float, to compare with the book's and the trades' prices."""
    key: str = field(default="", repr=False, compare=False)
    """`price` as text, the book's key for its level (`str` of a Decimal costs a parse)."""
    seen: str | None = field(default=None, repr=False, compare=False)
    """The level size the queue ahead was last brought down to (skip an unchanged level)."""

    def __post_init__(self) -> None:
        self.px = float(self.price)
        self.key = str(self.price)

    @property
    def remaining(self) -> Decimal:
        """Qty still open."""
        return self.qty - self.filled


@dataclass(frozen=True, slots=True)
class SimFill:
    """A fill the model produced: our order, its price and qty, whether it was maker, and
    the hedge leg (positionIdx) it traded."""

    link_id: str
    side: str
    price: Decimal
    qty: Decimal
    is_maker: bool
    position_idx: int = 0


class QueueFillModel:
    """The simulated exchange's matching of our orders against a recorded market.

    The book passed in is a `bybitctl.book.OrderBook` (read only): its best levels, the
    level at one price (`level_at`) and, for a plain limit order that takes, its levels.
    """

    def __init__(self) -> None:
        self.orders: dict[str, SimOrder] = {}
        self.legs = (_ZERO, _ZERO)
        """Hedge mode's (long, short) legs as our fills left them."""
        self.ended: dict[str, SimOrder] = {}
        """Orders filled completely (as they ended) since the caller last emptied it."""
        self.trimmed: list[SimOrder] = []
        """Closing orders cut to their leg since the caller last emptied it; one no longer in
        `orders` was cancelled (its leg was gone)."""
        self._arrivals = 0
        self._queue: list[SimOrder] | None = []
        """`orders` in arrival order (None: to be sorted again)."""
        self._sides = {"Buy": 0, "Sell": 0}
        self._closing: set[str] = set()
        """Resting orders that close a hedge leg (the only ones `_trim` may cut)."""

    def place(
        self,
        link_id: str,
        side: str,
        price: Decimal,
        qty: Decimal,
        post_only: bool,
        book: Any,
        position_idx: int = 0,
    ) -> tuple[bool, list[SimFill]]:
        """An order arrives. Returns (accepted, immediate fills). A post-only order that
        would take is rejected, as Bybit does; a plain limit takes the opposite levels up to
        its price (taker) and rests the rest. A closing order is capped at its leg."""
        closing = closes(side, position_idx)
        if closing:
            qty = min(qty, self.leg(position_idx))
            if qty <= 0:
                return False, []
        buy = side == "Buy"
        fills: list[SimFill] = []
        left = qty
        top = book.best_ask() if buy else book.best_bid()
        if top is not None and (
            float(top[0]) <= float(price) if buy else float(top[0]) >= float(price)
        ):
            if post_only:
                return False, []
            for level in book.asks(None) if buy else book.bids(None):
                p = Decimal(level[0])
                if (p > price) if buy else (p < price):
                    break
                take = min(left, Decimal(level[1]))
                fills.append(SimFill(link_id, side, p, take, False, position_idx))
                self._move(side, position_idx, take)
                left -= take
                if not left:
                    self.ended[link_id] = SimOrder(
                        link_id, side, price, qty, qty, _ZERO, 0, position_idx
                    )
                    self._trim()
                    return True, fills
        self._arrivals += 1
        order = SimOrder(
            link_id,
            side,
            price,
            qty,
            qty - left,
            _visible(book, price, buy),
            self._arrivals,
            position_idx,
        )
        self.orders[link_id] = order
        self._sides[side] += 1
        if closing:
            self._closing.add(link_id)
        if self._queue is not None:
            self._queue.append(order)
        self._trim()
        return True, fills

    def amend(self, link_id: str, price: Decimal, qty: Decimal, book: Any) -> SimOrder | None:
        """Amend a resting order (qty = new total). None when it is gone or the new qty is
        not above what already filled (Bybit rejects both)."""
        order = self.orders.get(link_id)
        if order is None or qty <= order.filled:
            return None
        if not keeps_place(order.price, order.qty, price, qty):
            order.queue_ahead = _visible(book, price, order.side == "Buy")
            order.seen = None
            self._arrivals += 1
            order.arrival = self._arrivals
            self._queue = None
        if price != order.price:
            order.px = float(price)
        order.price = price
        order.key = str(price)
        order.qty = qty
        return order

    def cancel(self, link_id: str) -> SimOrder | None:
        """Remove an order; None when it was no longer resting."""
        order = self.orders.pop(link_id, None)
        if order is not None:
            self._gone(order)
        return order

    def on_book(self, book: Any) -> list[SimFill]:
        """The book changed: fill orders the opposite side reached, shrink queues ahead."""
        if not self.orders:
            return []
        bid, _, ask, _ = book.top()  # 0.0: that side is empty (prices are positive)
        best_bid = bid if bid else None
        best_ask = ask if ask else None
        fills: list[SimFill] = []
        for order in self._in_arrival_order():
            buy = order.side == "Buy"
            if (buy and best_ask is not None and best_ask <= order.px) or (
                not buy and best_bid is not None and best_bid >= order.px
            ):
                self._fill(order, order.remaining, fills)
                continue
            if not order.queue_ahead:
                continue  # nothing ahead: a level can only bring it down
            level = book.level_at(order.key, "bid" if buy else "ask")
            size = level[1] if level is not None else "0"
            if size != order.seen:
                order.seen = size
                order.queue_ahead = shrunk(order.queue_ahead, Decimal(size), _ZERO)
        if self._closing:
            self._trim()
        return fills

    def on_trade(
        self, taker_side: str, price: Decimal, qty: Decimal, price_f: float | None = None
    ) -> list[SimFill]:
        """A public trade: a sell taker hits bids at or above `price`, a buy taker lifts
        asks at or below it. At our price the trade eats the queue ahead, then us (our
        own orders at one price in arrival order); through our price it fills us fully.
        `price_f` is `price` as a float, when the caller has it."""
        if not self._sides["Buy" if taker_side == "Sell" else "Sell"]:
            return []
        hit = "Buy" if taker_side == "Sell" else "Sell"
        px = float(price) if price_f is None else price_f
        left = qty
        fills: list[SimFill] = []
        for order in self._in_arrival_order():
            if order.side != hit:
                continue
            through = order.px > px if hit == "Buy" else order.px < px
            if through:
                self._fill(order, order.remaining, fills)
            elif order.px == px and left > 0:
                order.queue_ahead, left = consumed(order.queue_ahead, left)
                take = min(left, order.remaining)
                if take > 0:
                    left -= self._fill(order, take, fills)
        if self._closing:
            self._trim()
        return fills

    def resting(self, side: str) -> int:
        """How many of our orders rest on `side`."""
        return self._sides[side]

    @property
    def two_sided(self) -> bool:
        """Whether an order of ours rests on each side."""
        sides = self._sides
        return bool(sides["Buy"] and sides["Sell"])

    def _in_arrival_order(self) -> list[SimOrder]:
        """The resting orders, oldest arrival first (a copy: fills remove orders)."""
        queue = self._queue
        if queue is None:
            queue = self._queue = sorted(self.orders.values(), key=_arrival)
        return queue[:]

    def _gone(self, order: SimOrder) -> None:
        """Bookkeeping of an order that left `orders`."""
        self._sides[order.side] -= 1
        self._closing.discard(order.link_id)
        if self._queue is not None:
            self._queue.remove(order)

    def _fill(self, order: SimOrder, qty: Decimal, into: list[SimFill]) -> Decimal:
        """Fill `order` by `qty` (a closing order: at most its leg) as maker, appending the
        fill to `into`; returns the qty filled."""
        if order.link_id in self._closing:
            qty = min(qty, self.leg(order.position_idx))
            if qty <= 0:
                return _ZERO
        order.filled += qty
        if order.filled >= order.qty:
            del self.orders[order.link_id]
            self._gone(order)
            self.ended[order.link_id] = order
        self._move(order.side, order.position_idx, qty)
        into.append(SimFill(order.link_id, order.side, order.price, qty, True, order.position_idx))
        return qty

    def leg(self, position_idx: int) -> Decimal:
        """What hedge-mode leg `position_idx` (1 long, 2 short) holds."""
        return self.legs[0] if position_idx == 1 else self.legs[1]

    def _move(self, side: str, position_idx: int, qty: Decimal) -> None:
        if position_idx:
            self.legs = legs_after_fill(*self.legs, side, qty, position_idx)

    def _trim(self) -> None:
        """Cut resting closing orders to what their leg still holds (cancel at zero)."""
        if not self._closing:
            return
        for order in list(self.orders.values()):
            if order.link_id not in self._closing:
                continue
            room = self.leg(order.position_idx)
            if order.remaining <= room:
                continue
            if room <= 0:
                del self.orders[order.link_id]
                self._gone(order)
            else:
                order.qty -= order.remaining - room
            self.trimmed.append(order)


def closes(side: str, position_idx: int) -> bool:
    """Whether an order of `side` on hedge-mode `position_idx` closes that leg (a sell on 1,
    a buy on 2); Bybit treats such an order as reduce-only."""
    return position_idx == leg_index(side, closing=True)


def _visible(book: Any, price: Decimal, buy: bool) -> Decimal:
    """Visible size at `price` on our side of the book (0 at an empty level): the queue an
    order joins the back of."""
    level = book.level_at(price, "bid" if buy else "ask")
    return Decimal(level[1]) if level is not None else _ZERO


def _arrival(order: SimOrder) -> int:
    return order.arrival
