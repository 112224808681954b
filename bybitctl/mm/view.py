"""What the strategy sees of the market: `BookView` (top of book and the guard flags), built
from an order book by `book_view` on every book message, and `VolEstimator`, the short-term
volatility that feeds the volatility-scaled spread.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from bybitctl.book import OrderBook


class BookView(NamedTuple):
    """What the strategy sees of the market: top of book and the guard flags. A NamedTuple
    (immutable, and half the cost of a frozen dataclass to build once per book message).

    `bid`/`ask` are 0 when that side is empty. `ts_ms` is when the book last produced a
    message (the stale guard compares it with `now_ms`). `halt` carries a reason from the
    risk layer (kill switch, MMP); any non-empty value pulls every quote.
    """

    bid: float
    ask: float
    bid_qty: float = 0.0
    ask_qty: float = 0.0
    last: float | None = None
    mark: float | None = None
    vol_bps: float = 0.0
    ts_ms: int = 0
    resyncing: bool = False
    private_ok: bool = True
    halt: str = ""


class VolEstimator:
    """Short-term volatility of the mid in bps: the root of the summed squared log-returns
    of mid changes within the last `window_ms` (how far the price typically travels in the
    window). Feeds `BookView.vol_bps` for the volatility-scaled spread. O(1) amortised."""

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self._returns: deque[tuple[int, float]] = deque()
        self._sum = 0.0
        self._last: float | None = None

    def update(self, mid: float, now_ms: int) -> float:
        """Record the mid at `now_ms` and return the current estimate."""
        last = self._last
        if last is not None and mid != last and last > 0 and mid > 0:
            r = math.log(mid / last) * 1e4
            self._returns.append((now_ms, r * r))
            self._sum += r * r
        self._last = mid
        return self.value(now_ms)

    def value(self, now_ms: int) -> float:
        """The estimate at `now_ms`, dropping returns older than the window."""
        returns = self._returns
        horizon = now_ms - self.window_ms
        while returns and returns[0][0] < horizon:
            self._sum -= returns.popleft()[1]
        if not returns:
            self._sum = 0.0
        return math.sqrt(self._sum) if self._sum > 0 else 0.0


def book_view(
    book: OrderBook,
    ts_ms: int,
    *,
    resyncing: bool = False,
    last: float | None = None,
    mark: float | None = None,
    vol_bps: float = 0.0,
    private_ok: bool = True,
    halt: str = "",
) -> BookView:
    """A BookView of an order book (read only) plus the other fields. An empty side reads
    as 0; `resyncing` adds the caller's own resync state to the book's. It runs on every
    book message, ahead of the decision: the touch comes as floats from `OrderBook.top`
    and the view is built from its field tuple, without the NamedTuple's Python-level
    `__new__`."""
    bid, bid_qty, ask, ask_qty = book.top()
    return _new_view(
        BookView,
        (
            bid,
            ask,
            bid_qty,
            ask_qty,
            last,
            mark,
            vol_bps,
            ts_ms,
            resyncing or bool(book.needs_resync),
            private_ok,
            halt,
        ),
    )


_new_view = tuple.__new__
