"""Exact analytics of an order book's levels (mid, spread, microprice, imbalance, VWAP, impact
price, depth), in Decimal from the exchange's strings: no float reaches a result.

`BookAnalytics` is a mixin of `bybitctl.book.OrderBook`: it reads the book's sorted sides
and adds no state, so the sync rules and the layout stay in `orderbook.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

_BPS = Decimal(10000)
_TWO = Decimal(2)


class BookAnalytics:
    """The analytics of `OrderBook`, over its levels as they stand. On a book with bids
    100.0x2, 99.5x4 and asks 100.5x1, 101x3:

    >>> from bybitctl.book.orderbook import _demo
    >>> book = _demo()
    >>> book.mid()
    Decimal('100.25')
    >>> book.spread()
    Decimal('0.5')
    >>> round(book.spread_bps(), 4)
    Decimal('49.8753')
    >>> book.microprice()  # 2 bid vs 1 ask: closer to the ask
    Decimal('100.3333333333333333333333333')
    >>> book.imbalance(1)
    Decimal('0.3333333333333333333333333333')
    >>> book.imbalance(2)
    Decimal('0.2')
    >>> book.vwap("Buy", "2")  # 1 @ 100.5 + 1 @ 101
    Decimal('100.75')
    >>> book.vwap("Buy", "5") is None
    True
    >>> book.impact_price("Sell", "3")
    Decimal('99.5')
    >>> book.depth_within(30)  # mid 100.25; 0.3% reaches 99.95 .. 100.55
    Decimal('3')
    >>> book.depth_within(100, "bid")
    Decimal('6')
    """

    __slots__ = ()

    # The book's sides (see `OrderBook`): price string -> size (a str, or (size, rpiSize)
    # in RPI books), and the ascending price strings; `_rpi` says which.
    _bd: dict[str, Any]
    _bp: list[str]
    _ad: dict[str, Any]
    _ap: list[str]
    _rpi: bool

    def mid(self) -> Decimal | None:
        """(best bid + best ask) / 2, or None if a side is empty. O(1)."""
        top = self._top()
        return None if top is None else (top[0] + top[2]) / _TWO

    def spread(self) -> Decimal | None:
        """best ask - best bid, or None if a side is empty. O(1)."""
        top = self._top()
        return None if top is None else top[2] - top[0]

    def spread_bps(self) -> Decimal | None:
        """The spread in basis points of the mid, or None if a side is empty. O(1)."""
        top = self._top()
        if top is None:
            return None
        bid, _, ask, _ = top
        return (ask - bid) * _BPS * _TWO / (ask + bid)

    def microprice(self) -> Decimal | None:
        """Size-weighted mid, leaning toward the side with less size:
        (bid * ask_size + ask * bid_size) / (bid_size + ask_size). O(1)."""
        top = self._top()
        if top is None:
            return None
        bid, bq, ask, aq = top
        return (bid * aq + ask * bq) / (bq + aq)

    def imbalance(self, levels: int = 1) -> Decimal | None:
        """(bid size - ask size) / (bid size + ask size) over the best `levels` per side,
        from -1 (all asks) to 1 (all bids); None for an empty book. O(levels)."""
        if levels < 1:
            raise ValueError(f"levels must be at least 1, got {levels}")
        b = sum(self._sizes(self._bp[: -levels - 1 : -1], self._bd), Decimal(0))
        a = sum(self._sizes(self._ap[:levels], self._ad), Decimal(0))
        total = b + a
        return None if not total else (b - a) / total

    def vwap(self, side: str, qty: Decimal | str | int) -> Decimal | None:
        """Average price a taker `side` ("Buy" lifts asks, "Sell" hits bids) pays for `qty`,
        or None when the book is too thin. O(levels walked)."""
        walked = self._walk(side, qty)
        return None if walked is None else walked[0] / Decimal(qty)

    def impact_price(self, side: str, qty: Decimal | str | int) -> Decimal | None:
        """The worst price a taker `side` order for `qty` reaches ("Buy" lifts asks, "Sell"
        hits bids), or None when the book is too thin. O(levels walked)."""
        walked = self._walk(side, qty)
        return None if walked is None else walked[1]

    def depth_within(self, bps: Decimal | str | int, side: str | None = None) -> Decimal | None:
        """Resting size priced within `bps` basis points of the mid, on both sides or on
        `side` ("bid" or "ask"); None if a side is empty. O(levels counted)."""
        if side not in (None, "bid", "ask"):
            raise ValueError(f"side must be 'bid', 'ask' or None, got {side!r}")
        mid = self.mid()
        if mid is None:
            return None
        reach = mid * Decimal(bps) / _BPS
        total = Decimal(0)
        if side != "ask":
            low = mid - reach
            for p in reversed(self._bp):
                if Decimal(p) < low:
                    break
                total += self._size(self._bd[p])
        if side != "bid":
            high = mid + reach
            for p in self._ap:
                if Decimal(p) > high:
                    break
                total += self._size(self._ad[p])
        return total

    def _top(self) -> tuple[Decimal, Decimal, Decimal, Decimal] | None:
        bp, ap = self._bp, self._ap
        if not bp or not ap:
            return None
        b, a = bp[-1], ap[0]
        return Decimal(b), self._size(self._bd[b]), Decimal(a), self._size(self._ad[a])

    def _size(self, value: Any) -> Decimal:
        """A level's size: size, or size + rpiSize in RPI books."""
        if self._rpi:
            return Decimal(value[0]) + Decimal(value[1])
        return Decimal(value)

    def _sizes(self, ps: list[str], d: dict[str, Any]) -> Iterator[Decimal]:
        size = self._size
        return (size(d[p]) for p in ps)

    def _walk(self, side: str, qty: Decimal | str | int) -> tuple[Decimal, Decimal] | None:
        """Fill `qty` against the opposite side: (notional, last price), or None if short."""
        left = Decimal(qty)
        if left <= 0:
            raise ValueError(f"qty must be positive, got {qty!r}")
        if side in ("Buy", "buy"):
            ps, d = iter(self._ap), self._ad
        elif side in ("Sell", "sell"):
            ps, d = reversed(self._bp), self._bd
        else:
            raise ValueError(f"side must be 'Buy' or 'Sell', got {side!r}")
        notional = Decimal(0)
        for p in ps:
            price = Decimal(p)
            take = min(left, self._size(d[p]))
            notional += take * price
            left -= take
            if not left:
                return notional, price
        return None
