"""The public market as the strategy sees it, kept by the same code live, on paper and in the
backtest: the order book (`bybitctl.book`, exact and gap-checked), whether it can be trusted
(`StaleBookGuard`: stale, or resyncing until a snapshot rebuilds it), the last trade, the mark
price and the short-term volatility. `view` makes the strategy's `BookView` of them.

Times are passed in: a live run's wall clock, a backtest's recorded receive times.
"""

from __future__ import annotations

import math
from collections import deque
from decimal import Decimal, InvalidOperation
from typing import Any

from bybitctl.book import BookError, OrderBook
from bybitctl.mm.risk import StaleBookGuard
from bybitctl.mm.strategy import BookView


class Market:
    """One symbol's public market. `vol`: keep the volatility estimate (only a config that
    scales its spread by it needs one)."""

    def __init__(
        self,
        symbol: str,
        *,
        depth: int | None,
        stale_ms: int,
        vol_window_ms: int,
        vol: bool,
    ) -> None:
        self.symbol = symbol
        self.depth = depth
        self.book = OrderBook(symbol, depth=depth)
        self.guard = StaleBookGuard(stale_ms)
        self.vol = VolEstimator(vol_window_ms)
        self.track_vol = vol
        self.last: float | None = None
        """Price of the last public trade."""
        self.mark: float | None = None
        """Mark price (linear), from the ticker."""
        self.funding_rate: Decimal | None = None
        """The rate the ticker predicts for the next funding settlement (perpetuals)."""
        self.next_funding_ms = 0
        """When that settlement is due, as the ticker says (0: none announced)."""
        self._funded_ms = 0
        """The latest settlement handed out by `funding_due` (a ticker may repeat it)."""

    def on_book(self, frame: dict[str, Any], now_ms: int) -> None:
        """Apply one orderbook message. A gap or a crossed book raises `BookError` once the
        guard knows: quotes stay pulled until a snapshot (or a `u == 1` message, which the
        book takes as one) rebuilds the book."""
        try:
            self.book.apply(frame)
        except BookError:
            self.guard.on_gap()
            raise
        data = frame.get("data")
        if frame.get("type") == "snapshot" or (isinstance(data, dict) and data.get("u") == 1):
            self.guard.on_snapshot(now_ms)
        else:
            self.guard.on_message(now_ms)
        if self.track_vol:
            bid, ask = self.book.best_bid(), self.book.best_ask()
            if bid and ask:
                self.vol.update((float(bid[0]) + float(ask[0])) * 0.5, now_ms)

    def on_funding_fields(self, data: dict[str, Any]) -> None:
        """A ticker's `fundingRate` and `nextFundingTime` (a delta carries only what
        changed; a value that is not a number is ignored)."""
        rate, when = data.get("fundingRate"), data.get("nextFundingTime")
        if isinstance(rate, str) and rate:
            try:
                value = Decimal(rate)
            except InvalidOperation:
                value = None
            if value is not None and value.is_finite():
                self.funding_rate = value
        if isinstance(when, str) and when.isascii() and when.isdigit():
            at = int(when)
            if at > self._funded_ms:
                self.next_funding_ms = at

    def funding_due(self, now_ms: int) -> tuple[int, Decimal] | None:
        """The settlement `now_ms` has reached, once: its time and the rate predicted for
        it (None before the ticker announced both)."""
        at, rate = self.next_funding_ms, self.funding_rate
        if not at or now_ms < at or rate is None:
            return None
        self._funded_ms, self.next_funding_ms = at, 0
        return at, rate

    def lost(self) -> None:
        """The public stream went down: the book is unknown until a fresh snapshot."""
        self.book = OrderBook(self.symbol, depth=self.depth)
        self.guard.on_gap()

    def view(self, now_ms: int, *, private_ok: bool = True, halt: str = "") -> BookView:
        """What the strategy sees at `now_ms`; `private_ok` and `halt` come from the caller
        (the private stream's state, the risk machines)."""
        return book_view(
            self.book,
            self.guard.ts_ms,
            resyncing=self.guard.resyncing,
            last=self.last,
            mark=self.mark,
            vol_bps=self.vol.value(now_ms) if self.track_vol else 0.0,
            private_ok=private_ok,
            halt=halt,
        )

    def mid(self) -> Decimal:
        """(best bid + best ask) / 2; the last trade's price without a two-sided book."""
        bid, ask = self.book.best_bid(), self.book.best_ask()
        if bid and ask:
            return (Decimal(bid[0]) + Decimal(ask[0])) / 2
        return Decimal(str(self.last)) if self.last else Decimal(0)

    def mark_price(self) -> Decimal:
        """The mark price when one was seen, else the mid (what PnL is marked at)."""
        return Decimal(str(self.mark)) if self.mark else self.mid()


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
    book: Any,
    ts_ms: int,
    *,
    resyncing: bool = False,
    last: float | None = None,
    mark: float | None = None,
    vol_bps: float = 0.0,
    private_ok: bool = True,
    halt: str = "",
) -> BookView:
    """A BookView of a `bybitctl.book.OrderBook` (read only) plus the other fields. An
    empty side reads as 0; `resyncing` adds the caller's own resync state to the book's.
    Built positionally: it runs on every book message, ahead of the decision."""
    bb = book.best_bid()
    ba = book.best_ask()
    return BookView(
        float(bb[0]) if bb else 0.0,
        float(ba[0]) if ba else 0.0,
        float(bb[1]) if bb else 0.0,
        float(ba[1]) if ba else 0.0,
        last,
        mark,
        vol_bps,
        ts_ms,
        resyncing or bool(book.needs_resync),
        private_ok,
        halt,
    )
