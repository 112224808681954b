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
exchange's numbers.

Hedge mode: an order that closes a leg (a sell on positionIdx 1, a buy on 2) is reduce-only,
as on Bybit and the local exchange: a place is capped at the leg (refused when the leg is
empty), no fill takes the leg below zero, and after every sweep a resting closing order
larger than its leg is cut to it, or cancelled when the leg is gone (`trimmed` lists those,
so the simulated exchange can tell the client).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bybitctl.mm.queue_position import consumed, keeps_place, level_size, shrunk
from bybitctl.mm.strategy import leg_index, legs_after_fill

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

    The book passed in is any object with `bids(n)` / `asks(n)` returning (price, size)
    string tuples best first (a `bybitctl.book.OrderBook`).
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
        if closes(side, position_idx):
            qty = min(qty, self.leg(position_idx))
            if qty <= 0:
                return False, []
        buy = side == "Buy"
        opposite = book.asks(None) if buy else book.bids(None)
        fills: list[SimFill] = []
        left = qty
        for level in opposite:
            p = Decimal(level[0])
            if (p > price) if buy else (p < price):
                break
            if post_only:
                return False, []
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
        same = book.bids(None) if buy else book.asks(None)
        self._arrivals += 1
        self.orders[link_id] = SimOrder(
            link_id,
            side,
            price,
            qty,
            qty - left,
            level_size(same, price, buy),
            self._arrivals,
            position_idx,
        )
        self._trim()
        return True, fills

    def amend(self, link_id: str, price: Decimal, qty: Decimal, book: Any) -> SimOrder | None:
        """Amend a resting order (qty = new total). None when it is gone or the new qty is
        not above what already filled (Bybit rejects both)."""
        order = self.orders.get(link_id)
        if order is None or qty <= order.filled:
            return None
        if not keeps_place(order.price, order.qty, price, qty):
            buy = order.side == "Buy"
            order.queue_ahead = level_size(book.bids(None) if buy else book.asks(None), price, buy)
            self._arrivals += 1
            order.arrival = self._arrivals
        order.price = price
        order.qty = qty
        return order

    def cancel(self, link_id: str) -> SimOrder | None:
        """Remove an order; None when it was no longer resting."""
        return self.orders.pop(link_id, None)

    def on_book(self, book: Any) -> list[SimFill]:
        """The book changed: fill orders the opposite side reached, shrink queues ahead."""
        if not self.orders:
            return []
        bids = book.bids(None)
        asks = book.asks(None)
        best_bid = Decimal(bids[0][0]) if bids else None
        best_ask = Decimal(asks[0][0]) if asks else None
        fills: list[SimFill] = []
        for order in sorted(self.orders.values(), key=_arrival):
            buy = order.side == "Buy"
            if (buy and best_ask is not None and best_ask <= order.price) or (
                not buy and best_bid is not None and best_bid >= order.price
            ):
                self._fill(order, order.remaining, fills)
                continue
            visible = level_size(bids if buy else asks, order.price, buy)
            order.queue_ahead = shrunk(order.queue_ahead, visible, _ZERO)
        self._trim()
        return fills

    def on_trade(self, taker_side: str, price: Decimal, qty: Decimal) -> list[SimFill]:
        """A public trade: a sell taker hits bids at or above `price`, a buy taker lifts
        asks at or below it. At our price the trade eats the queue ahead, then us (our
        own orders at one price in arrival order); through our price it fills us fully."""
        hit = "Buy" if taker_side == "Sell" else "Sell"
        left = qty
        fills: list[SimFill] = []
        for order in sorted(self.orders.values(), key=_arrival):
            if order.side != hit:
                continue
            through = order.price > price if hit == "Buy" else order.price < price
            if through:
                self._fill(order, order.remaining, fills)
            elif order.price == price and left > 0:
                order.queue_ahead, left = consumed(order.queue_ahead, left)
                take = min(left, order.remaining)
                if take > 0:
                    left -= self._fill(order, take, fills)
        self._trim()
        return fills

    def resting(self, side: str) -> int:
        """How many of our orders rest on `side`."""
        return sum(1 for o in self.orders.values() if o.side == side)

    def _fill(self, order: SimOrder, qty: Decimal, into: list[SimFill]) -> Decimal:
        """Fill `order` by `qty` (a closing order: at most its leg) as maker, appending the
        fill to `into`; returns the qty filled."""
        if closes(order.side, order.position_idx):
            qty = min(qty, self.leg(order.position_idx))
            if qty <= 0:
                return _ZERO
        order.filled += qty
        if order.filled >= order.qty:
            del self.orders[order.link_id]
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
        for order in list(self.orders.values()):
            if not closes(order.side, order.position_idx):
                continue
            room = self.leg(order.position_idx)
            if order.remaining <= room:
                continue
            if room <= 0:
                del self.orders[order.link_id]
            else:
                order.qty -= order.remaining - room
            self.trimmed.append(order)


def closes(side: str, position_idx: int) -> bool:
    """Whether an order of `side` on hedge-mode `position_idx` closes that leg (a sell on 1,
    a buy on 2); Bybit treats such an order as reduce-only."""
    return position_idx == leg_index(side, closing=True)


def _arrival(order: SimOrder) -> int:
    return order.arrival
