"""Where our resting orders stand in the exchange's queue, estimated from public data.

One model serves the backtest (`bybitctl.mm.fillmodel`, which replays a market recorded
without us) and the live engine (whose book includes our own orders):

- an order that starts resting at a price (the exchange confirms it, or an amend changes its
  price or raises its qty; Bybit keeps the place for a qty decrease only) joins the back of
  the queue: queue ahead = the visible size there minus our own part of it;
- a public trade at our price on our side (a sell taker for a bid, a buy taker for an ask)
  consumes the queue ahead first, then us; a trade through our price clears it;
- cancellations ahead of us show only as the level shrinking: the queue ahead is at most the
  visible size minus ours (growth of the level joins behind us, so it never rises);
- a fill of ours means nothing is ahead any more.

The exchange does not publish queue positions, so this is an estimate: it assumes every
cancellation at our level came from ahead of us, and that each trade at our price printed on
the tape (block and RPI trades, which do not take from the visible book, are skipped).
All sizes are exact Decimals.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bybitctl.book import OrderBook

_ZERO = Decimal(0)
_RESTING = frozenset({"New", "PartiallyFilled"})
"""Order statuses with qty in the book (an Untriggered conditional order has none)."""


def level_size(levels: Iterable[tuple[str, ...]], price: Decimal, bids: bool) -> Decimal:
    """Visible size at `price` on one side (levels best first, as the book returns them);
    0 when no level has that price. Prices compare as numbers (`"100.10"` is `100.1`).

    >>> level_size([("100.1", "2"), ("100.0", "5")], Decimal("100.00"), bids=True)
    Decimal('5')
    """
    for level in levels:
        p = Decimal(level[0])
        if p == price:
            return Decimal(level[1])
        if (p < price) if bids else (p > price):
            break
    return _ZERO


def joined(level: Decimal, ours: Decimal) -> Decimal:
    """Queue ahead of an order that starts resting now: the visible size at its price less
    our own part of it (the recorded book of a backtest lacks us: `ours` is 0), never below 0.

    >>> joined(Decimal("1.5"), Decimal("0.5")), joined(Decimal("0.2"), Decimal("0.5"))
    (Decimal('1.0'), Decimal('0'))
    """
    return level - ours if level > ours else _ZERO


def consumed(ahead: Decimal, qty: Decimal) -> tuple[Decimal, Decimal]:
    """A trade of `qty` at our price takes the queue ahead first: (queue ahead after it,
    qty left over for us and whoever is behind us).

    >>> consumed(Decimal(3), Decimal(1)), consumed(Decimal(1), Decimal("2.5"))
    ((Decimal('2'), Decimal('0')), (Decimal('0'), Decimal('1.5')))
    """
    if qty < ahead:
        return ahead - qty, _ZERO
    return _ZERO, qty - ahead


def shrunk(ahead: Decimal, level: Decimal, ours: Decimal) -> Decimal:
    """The queue ahead once the level shows `level`: cancellations ahead of us bring it down
    to what the level holds besides us; growth joins behind us, so it never rises.

    >>> shrunk(Decimal(4), Decimal(3), Decimal(1)), shrunk(Decimal(1), Decimal(9), Decimal(1))
    (Decimal('2'), Decimal('1'))
    """
    cap = joined(level, ours)
    return cap if cap < ahead else ahead


def keeps_place(price: Decimal, qty: Decimal, new_price: Decimal, new_qty: Decimal) -> bool:
    """Whether an amend keeps the order's queue priority: Bybit keeps it when the price stays
    and the qty does not grow; otherwise the order goes to the back of the queue.

    >>> keeps_place(Decimal(100), Decimal(2), Decimal(100), Decimal(1))
    True
    """
    return new_price == price and new_qty <= qty


@dataclass(slots=True)
class QueueSpot:
    """One of our orders resting at the exchange, as its order updates last showed it."""

    buy: bool
    price: Decimal
    px: float  # `price`, to compare with trade prices without a Decimal per trade
    qty: Decimal
    cum: Decimal
    updated: int  # exchange time (ms) of the last update applied: older rows are ignored
    since: int  # exchange time (ms) it joined the queue at `price`: earlier trades are not ours
    ahead: Decimal | None  # None: unknown (no book, or the price beyond the depth it shows)

    @property
    def remaining(self) -> Decimal:
        """Our qty in the book."""
        return self.qty - self.cum


class QueueTracker:
    """The queue ahead of each of our resting orders in the live engine, kept from the
    exchange's order updates (`on_order`), public trades (`on_trade_frame`, cheap enough for
    the public-frame path) and, lazily when a status is built, the level sizes (`refresh`).

    Called on the engine's handling thread only (not thread-safe).
    """

    def __init__(self) -> None:
        self.spots: dict[str, QueueSpot] = {}

    def on_order(self, row: Mapping[str, Any], book: OrderBook) -> None:
        """The exchange's word on one of our orders (stream or REST row): it joins the queue,
        keeps or loses its place, is filled (front of the queue), or leaves the book."""
        link = row.get("orderLinkId") or ""
        if row.get("orderStatus") not in _RESTING:
            self.spots.pop(link, None)
            return
        updated = int(row.get("updatedTime") or 0)
        spot = self.spots.get(link)
        if spot is not None and updated < spot.updated:
            return  # older than what we hold (a REST read racing the stream)
        price = Decimal(row.get("price") or "0")
        qty = Decimal(row.get("qty") or "0")
        cum = Decimal(row.get("cumExecQty") or "0")
        buy = row.get("side") == "Buy"
        if spot is not None and keeps_place(spot.price, spot.qty, price, qty):
            since = spot.since
            ahead = _ZERO if cum > spot.cum else spot.ahead
        else:
            since = updated
            if spot is None and cum:
                ahead = _ZERO  # first seen part-filled: it has been at the front
            else:
                ahead = _ahead_at_join(book, buy, price, qty - cum, updated)
        self.spots[link] = QueueSpot(buy, price, float(price), qty, cum, updated, since, ahead)

    def on_trade_frame(self, trades: list[dict[str, Any]]) -> None:
        """A publicTrade frame: trades at one of our prices on our side consume its queue
        ahead, trades through it clear it. O(trades x our orders), no Decimal unless a trade
        is at one of our prices."""
        spots = self.spots
        if not spots:
            return
        for t in trades:
            if t.get("BT") or t.get("RPI"):
                continue  # block trades and RPI fills do not take from the visible queue
            px = float(t["p"])
            hits_bids = t["S"] == "Sell"
            qty: Decimal | None = None
            for spot in spots.values():
                ahead = spot.ahead
                if spot.buy is not hits_bids or ahead == 0:
                    continue
                if spot.px == px:
                    if ahead is not None and int(t["T"]) >= spot.since:
                        if qty is None:
                            qty = Decimal(t["v"])
                        spot.ahead = consumed(ahead, qty)[0]
                elif (px < spot.px) if hits_bids else (px > spot.px):
                    spot.ahead = _ZERO  # traded past our price: our whole level went

    def refresh(self, book: OrderBook, live: Container[str]) -> None:
        """Drop orders the engine no longer holds, and bring each queue ahead down to what its
        level holds besides us (cancellations ahead of us); an unknown one becomes that bound
        once its level is visible. Meant for status time, not per book message:
        O(book depth + our orders)."""
        spots = self.spots
        for link in [link for link in spots if link not in live]:
            del spots[link]
        if not spots:
            return
        bids, asks = book.bids(), book.asks()
        for spot in spots.values():
            level = _visible(bids if spot.buy else asks, book.depth, spot.buy, spot.price)
            if level is None:
                continue
            ours = _ours_shown(book, spot.remaining, spot.since)
            spot.ahead = (
                joined(level, ours) if spot.ahead is None else shrunk(spot.ahead, level, ours)
            )

    def ahead(self, link: str, price: Decimal) -> Decimal | None:
        """The queue ahead of `link` if it rests at `price` (None: unknown, not resting yet,
        or an amend to another price in flight)."""
        spot = self.spots.get(link)
        return spot.ahead if spot is not None and spot.price == price else None

    def forget(self, link: str) -> None:
        """The order left the book (known by other means than an order update)."""
        self.spots.pop(link, None)


def _visible(
    levels: list[tuple[str, ...]], depth: int | None, buy: bool, price: Decimal
) -> Decimal | None:
    """Visible size at `price` (0: an empty level inside the book), or None when the book
    cannot tell: no levels (resyncing), or a price beyond the `depth` levels it keeps."""
    if not levels:
        return None
    size = level_size(levels, price, buy)
    if size or depth is None or len(levels) < depth:
        return size
    last = Decimal(levels[-1][0])
    return None if (price < last if buy else price > last) else size


def _ours_shown(book: OrderBook, remaining: Decimal, since: int) -> Decimal:
    """Our part of the visible level: all our remaining qty, unless the book is older than
    our joining (the public stream lags the private one), when the level does not hold us."""
    ts = book.ts
    return _ZERO if ts is not None and ts < since else remaining


def _ahead_at_join(
    book: OrderBook, buy: bool, price: Decimal, remaining: Decimal, since: int
) -> Decimal | None:
    level = _visible(book.bids() if buy else book.asks(), book.depth, buy, price)
    return None if level is None else joined(level, _ours_shown(book, remaining, since))
