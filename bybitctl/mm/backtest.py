"""Replay a `bybitctl stream --record` recording through the same `decide` the live engine
runs, against `QueueFillModel`, with order latency and fees.

Two clocks: the market's, taken from each frame's receive time, drives everything the
report says about trading (deterministic for one recording and config); a wall-clock timer
(injectable) only measures how long our code takes from a book message to the actions
(`tick_to_quote_us`). Our side is modelled as the engine sees it: an action reaches the
exchange `latency_ms` after the decision and its answer (ack, reject, fill) comes back
`latency_ms` later, so in-flight orders are in flight here too.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from bybitctl import parsing
from bybitctl.book import BookError, OrderBook
from bybitctl.mm.accounting import Fill, Ledger
from bybitctl.mm.config import MarketRules, MMConfig
from bybitctl.mm.fillmodel import QueueFillModel, SimFill, SimOrder
from bybitctl.mm.risk import Risk, StaleBookGuard
from bybitctl.mm.strategy import (
    OPEN,
    PENDING_AMEND,
    PENDING_CANCEL,
    PENDING_NEW,
    Amend,
    Cancel,
    Decision,
    Inventory,
    OpenOrder,
    Place,
    QuoteParams,
    StrategyState,
    VolEstimator,
    book_view,
    decide,
    legs_after_fill,
)
from bybitctl.recording import iter_recording

REPORT_KEYS = (
    "orders_placed",
    "orders_amended",
    "orders_cancelled",
    "fills",
    "maker_fills",
    "volume_base",
    "volume_quote",
    "fees_quote",
    "realized_pnl",
    "unrealized_pnl",
    "max_abs_position",
    "final_position",
    "open_orders_at_exit",
    "quote_uptime_pct",
    "tick_to_quote_us",
)


@dataclass(frozen=True, slots=True)
class BacktestSettings:
    """The simulated venue: one-way latency and fee rates (fractions; negative = rebate)."""

    latency_ms: int = 5
    maker_fee: Decimal = Decimal("0.0002")
    taker_fee: Decimal = Decimal("0.00055")
    run_prefix: str = "bt"


@dataclass(slots=True)
class BacktestResult:
    """The report dict (REPORT_KEYS, JSON numbers) plus the ledger for attribution."""

    report: dict[str, Any]
    ledger: Ledger
    decisions: int
    mark: Decimal
    fills: list[Fill] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values).

    >>> percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5)
    3.0
    """
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def report_figures(
    *,
    placed: int,
    amended: int,
    cancelled: int,
    ledger: Ledger,
    unrealized: Decimal,
    open_orders: int,
    uptime_pct: float,
    latencies: list[float],
) -> dict[str, Any]:
    """The REPORT_KEYS figures in order, as JSON numbers: a live run's report and a
    backtest's both come from here, so the two cannot drift apart."""
    return {
        "orders_placed": placed,
        "orders_amended": amended,
        "orders_cancelled": cancelled,
        "fills": ledger.fills,
        "maker_fills": ledger.maker_fills,
        "volume_base": float(ledger.volume_base),
        "volume_quote": float(ledger.volume_quote),
        "fees_quote": float(ledger.fees),
        "realized_pnl": float(ledger.realized),
        "unrealized_pnl": float(unrealized),
        "max_abs_position": float(ledger.max_abs_position),
        "final_position": float(ledger.position),
        "open_orders_at_exit": open_orders,
        "quote_uptime_pct": uptime_pct,
        "tick_to_quote_us": {
            "p50": round(percentile(latencies, 0.5), 1),
            "p99": round(percentile(latencies, 0.99), 1),
        },
    }


class Backtest:
    """One replay. Feed recording lines with `run`; the result is final after it."""

    def __init__(
        self,
        config: MMConfig,
        rules: MarketRules,
        settings: BacktestSettings | None = None,
        timer: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        self.config = config
        self.settings = settings or BacktestSettings()
        self.params = QuoteParams.build(config, rules)
        self.timer = timer
        self.book = OrderBook(config.symbol)
        self.model = QueueFillModel()
        self.ledger = Ledger()
        self.risk = Risk(config)
        self.guard = StaleBookGuard(config.stale_book_ms)
        self.vol = VolEstimator(config.vol_window_ms)
        self.state = StrategyState(f"{config.link_prefix}{self.settings.run_prefix}")
        self.orders: dict[str, OpenOrder] = {}
        self.inventory = Inventory()
        self.last: float | None = None
        self.mark: float | None = None
        self.counts = {"orders_placed": 0, "orders_amended": 0, "orders_cancelled": 0}
        self.decisions = 0
        self.latencies: list[float] = []
        self.fills: list[Fill] = []
        self._events: list[tuple[int, int, Callable[[int], None]]] = []
        self._seq = 0
        self._now = 0
        self._start: int | None = None
        self._two_sided_ms = 0
        self._topic_suffix = f".{config.symbol}"

    # -- driving --------------------------------------------------------------------------

    def run(self, lines: Iterable[Mapping[str, Any]]) -> BacktestResult:
        """Replay recording lines ({recv_ns, channel, frame}) in order, then exit the way
        the engine does: cancel everything (and flatten when configured)."""
        for line in lines:
            # a line that is not a frame of our symbol (or not well-formed) is not market data
            frame = line.get("frame") if isinstance(line, Mapping) else None
            recv_ns = line.get("recv_ns") if isinstance(line, Mapping) else None
            if not isinstance(frame, dict) or type(recv_ns) is not int:
                continue
            topic, data = frame.get("topic"), frame.get("data")
            if not isinstance(topic, str) or not topic.endswith(self._topic_suffix):
                continue
            now = recv_ns // 1_000_000
            self._advance(now)
            if topic.startswith("orderbook.") and isinstance(data, dict):
                self._on_book(frame, now)
            elif topic.startswith("publicTrade.") and isinstance(data, list):
                self._on_trades(data, now)
            elif topic.startswith("tickers.") and isinstance(data, dict):
                mark = _price(data.get("markPrice"))
                if mark is not None:
                    self.mark = float(mark)
        self._advance(self._now + 2 * self.settings.latency_ms + 1)
        return self._finish()

    def _advance(self, now: int) -> None:
        """Run scheduled exchange/client events up to `now`, integrating quote uptime."""
        events = self._events
        while events and events[0][0] <= now:
            at, _, callback = heapq.heappop(events)
            self._tick(at)
            callback(at)
        self._tick(now)

    def _tick(self, now: int) -> None:
        if now <= self._now:
            return
        if self._start is not None and self.model.resting("Buy") and self.model.resting("Sell"):
            self._two_sided_ms += now - self._now
        self._now = now

    def _later(self, at: int, callback: Callable[[int], None]) -> None:
        self._seq += 1
        heapq.heappush(self._events, (at, self._seq, callback))

    # -- market ---------------------------------------------------------------------------

    def _on_book(self, frame: dict[str, Any], now: int) -> None:
        """Apply a book message, let the simulated exchange react, then decide. The timer
        covers our pipeline only (book apply, decision, rate budget), not the exchange."""
        started = self.timer()
        try:
            self.book.apply(frame)
        except BookError:
            self.guard.on_gap()
        else:
            if frame.get("type") == "snapshot" or frame.get("data", {}).get("u") == 1:
                self.guard.on_snapshot(now)
            else:
                self.guard.on_message(now)
            if self._start is None and not self.book.needs_resync:
                self._start = now
        applied = self.timer() - started
        self._record_fills(self.model.on_book(self.book), now)
        resumed = self.timer()
        bid = self.book.best_bid()
        ask = self.book.best_ask()
        if bid and ask:
            self.vol.update((float(bid[0]) + float(ask[0])) * 0.5, now)
        if self._decide(now):
            self.latencies.append((applied + self.timer() - resumed) / 1000.0)
        self._later(now + self.config.stale_book_ms + 1, self._decide_if_quiet)

    def _decide_if_quiet(self, now: int) -> None:
        """Timer: a book silent for stale_book_ms must still pull the quotes."""
        if now - self.guard.ts_ms > self.config.stale_book_ms:
            self._decide(now)

    def _on_trades(self, trades: list[Any], now: int) -> None:
        for trade in trades:
            if not isinstance(trade, dict) or trade.get("S") not in ("Buy", "Sell"):
                continue
            price, qty = _price(trade.get("p")), _price(trade.get("v"))
            if price is None or qty is None:
                continue
            self.last = float(price)
            self._record_fills(self.model.on_trade(trade["S"], price, qty), now)

    def _mid(self) -> Decimal:
        bid = self.book.best_bid()
        ask = self.book.best_ask()
        if bid and ask:
            return (Decimal(bid[0]) + Decimal(ask[0])) / 2
        return Decimal(str(self.last or 0))

    def _mark(self) -> Decimal:
        return Decimal(str(self.mark)) if self.mark else self._mid()

    # -- our side -------------------------------------------------------------------------

    def _decide(self, now: int) -> bool:
        """One decision; returns True when actions were handed to the exchange."""
        self.risk.kill.update(self.ledger.total(self._mark()), now)
        view = book_view(
            self.book,
            self.guard.ts_ms,
            last=self.last,
            mark=self.mark,
            vol_bps=self.vol.value(now),
            halt=self.risk.halt(now),
        )
        decision: Decision = decide(
            self.params, view, self.inventory, tuple(self.orders.values()), now, self.state
        )
        self.decisions += 1
        self.state = decision.state
        sent, _ = self.risk.budget.admit(decision.actions, now)
        arrive = now + self.settings.latency_ms
        for action in sent:
            if isinstance(action, Place):
                self.counts["orders_placed"] += 1
                self.orders[action.link_id] = OpenOrder(
                    action.link_id,
                    action.side,
                    action.price,
                    action.qty,
                    Decimal(0),
                    now,
                    PENDING_NEW,
                    action.position_idx,
                )
            elif isinstance(action, Amend):
                self.counts["orders_amended"] += 1
                old = self.orders[action.link_id]
                self.orders[action.link_id] = replace(
                    old, price=action.price, qty=max(old.qty, action.qty), status=PENDING_AMEND
                )
            else:
                self.counts["orders_cancelled"] += 1
                self.orders[action.link_id] = replace(
                    self.orders[action.link_id], status=PENDING_CANCEL
                )
            self._later(arrive, _Arrival(self, action))
        return bool(sent)

    def _exchange(self, action: Place | Amend | Cancel, now: int) -> None:
        """The action reaches the exchange; its answer (the order as it stands then, or
        gone) goes back after the latency."""
        back = now + self.settings.latency_ms
        link_id = action.link_id
        if isinstance(action, Place):
            ok, fills = self.model.place(
                link_id,
                action.side,
                action.price,
                action.qty,
                action.post_only,
                self.book,
                action.position_idx,
            )
            self._later(back, _Reply(self, link_id, _snap(self.model.orders.get(link_id)), ok))
            self._record_fills(fills, now)
        elif isinstance(action, Amend):
            self.model.amend(link_id, action.price, action.qty, self.book)
            self._later(back, _Reply(self, link_id, _snap(self.model.orders.get(link_id)), False))
        else:
            self.model.cancel(link_id)
            self._later(back, _Reply(self, link_id, None, False))

    def _reply(self, link_id: str, snapshot: tuple[Decimal, Decimal] | None, filling: bool) -> None:
        """The client learns the exchange's answer. `snapshot` is the order's (price, qty)
        then, None when it no longer rests; `filling` marks a place that filled at once
        (its fill reports, still on their way, retire it). Fill counts come only from fill
        reports, so a fill is never counted twice."""
        order = self.orders.get(link_id)
        if order is None:
            return
        if snapshot is None:
            if not filling:
                del self.orders[link_id]
            return
        price, qty = snapshot
        status = PENDING_CANCEL if order.status == PENDING_CANCEL else OPEN
        self.orders[link_id] = replace(order, price=price, qty=qty, status=status)

    def _record_fills(self, fills: list[SimFill], now: int) -> None:
        """Send the client the fills of one model call, then the closing orders it cut to
        their leg (the exchange's order updates: after the fills that caused them)."""
        back = now + self.settings.latency_ms
        if fills:
            mid = self._mid()
            for f in fills:
                rate = self.settings.maker_fee if f.is_maker else self.settings.taker_fee
                fill = Fill(
                    f.side, f.price, f.qty, f.price * f.qty * rate, mid, f.is_maker, now, f.link_id
                )
                self._later(back, _FillReport(self, fill))
        for link_id, order in self.model.trimmed:
            self._later(back, _Reply(self, link_id, _snap(order), False))
        self.model.trimmed.clear()

    def _on_fill(self, fill: Fill, now: int) -> None:
        """The client receives a fill: ledger, open order, inventory, MMP."""
        self.fills.append(fill)
        self.ledger.apply(fill)
        self.risk.mmp.on_fill(fill.qty, now, fill.is_maker)
        order = self.orders.get(fill.link_id)
        legs = self.inventory.long, self.inventory.short
        if order is not None:
            filled = order.filled + fill.qty
            if filled >= order.qty:
                del self.orders[fill.link_id]
            else:
                self.orders[fill.link_id] = replace(order, filled=filled)
            if self.config.hedge_mode:
                legs = legs_after_fill(*legs, fill.side, fill.qty, order.position_idx)
        self.inventory = replace(
            self.inventory,
            position=self.ledger.position,
            avg_price=self.ledger.avg_price,
            long=legs[0],
            short=legs[1],
            **({"last_buy_fill_ms": now} if fill.side == "Buy" else {"last_sell_fill_ms": now}),
        )
        self._decide(now)

    # -- exit -----------------------------------------------------------------------------

    def _finish(self) -> BacktestResult:
        now = self._now
        self._tick(now)
        for link_id in list(self.model.orders):
            self.model.cancel(link_id)
            self.counts["orders_cancelled"] += 1
        self.orders.clear()
        position = self.ledger.position
        if self.config.flatten_on_exit and position:
            side = "Sell" if position > 0 else "Buy"
            top = self.book.best_bid() if position > 0 else self.book.best_ask()
            if top:
                price = Decimal(top[0])
                qty = abs(position)
                self.ledger.apply(
                    Fill(
                        side,
                        price,
                        qty,
                        price * qty * self.settings.taker_fee,
                        self._mid(),
                        False,
                        now,
                        "flatten",
                    )
                )
        mark = self._mark()
        ledger = self.ledger
        span = now - self._start if self._start is not None else 0
        report = report_figures(
            placed=self.counts["orders_placed"],
            amended=self.counts["orders_amended"],
            cancelled=self.counts["orders_cancelled"],
            ledger=ledger,
            unrealized=ledger.unrealized(mark),
            open_orders=len(self.model.orders),
            uptime_pct=round(100.0 * self._two_sided_ms / span, 3) if span else 0.0,
            latencies=self.latencies,
        )
        return BacktestResult(report, ledger, self.decisions, mark, self.fills)


@dataclass(frozen=True, slots=True)
class _Arrival:
    bt: Backtest
    action: Place | Amend | Cancel

    def __call__(self, now: int) -> None:
        self.bt._exchange(self.action, now)


@dataclass(frozen=True, slots=True)
class _Reply:
    bt: Backtest
    link_id: str
    snapshot: tuple[Decimal, Decimal] | None
    filling: bool

    def __call__(self, now: int) -> None:
        self.bt._reply(self.link_id, self.snapshot, self.filling)


def _snap(order: SimOrder | None) -> tuple[Decimal, Decimal] | None:
    return None if order is None else (order.price, order.qty)


@dataclass(frozen=True, slots=True)
class _FillReport:
    bt: Backtest
    fill: Fill

    def __call__(self, now: int) -> None:
        self.bt._on_fill(self.fill, now)


def _price(value: Any) -> Decimal | None:
    """A recorded price or size: a positive decimal string (Bybit's form), else None."""
    if not isinstance(value, str):
        return None
    try:
        return Decimal(parsing.decimal_text(value, parsing.POSITIVE))
    except parsing.InvalidValue:
        return None


def run_backtest(
    data: str | Path | Iterable[Mapping[str, Any]],
    config: MMConfig,
    rules: MarketRules,
    settings: BacktestSettings | None = None,
    timer: Callable[[], int] = time.perf_counter_ns,
) -> BacktestResult:
    """Backtest `config` on a recording file (or already-read lines)."""
    lines = iter_recording(data) if isinstance(data, (str, Path)) else data
    return Backtest(config, rules, settings, timer).run(lines)
