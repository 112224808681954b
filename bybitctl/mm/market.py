"""The public market as the strategy sees it, kept by the same code live, on paper and in the
backtest: the order book (`bybitctl.book`, exact and gap-checked), whether it can be trusted
(`StaleBookGuard`: stale, or resyncing until a snapshot rebuilds it), the last trade, the mark
price and the short-term volatility. `view` makes the strategy's `BookView` of them.

Times are passed in: a live run's wall clock, a backtest's recorded receive times.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from bybitctl.book import BookError, OrderBook
from bybitctl.mm.risk import StaleBookGuard
from bybitctl.mm.view import BookView, VolEstimator, book_view


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
            bid, _, ask, _ = self.book.top()
            if bid and ask:
                self.vol.update((bid + ask) * 0.5, now_ms)

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
