"""Replay a `bybitctl stream --record` recording through the code a live run quotes with: the
same public market (`bybitctl.mm.market`), the same pure `decide`, the same order tracker
(`bybitctl.mm.orders`), risk machines and ledger; only the exchange is simulated
(`QueueFillModel`, with order latency and fees).

Two clocks: the market's, taken from each frame's receive time, drives everything the
report says about trading (deterministic for one recording and config); a wall-clock timer
(injectable) only measures how long our code takes from a book message to the actions
(`tick_to_quote_us`). Our side is modelled as the engine sees it: an action reaches the
exchange `latency_ms` after the decision and its answer comes back `latency_ms` later, as
Bybit answers: a retCode, then the order as it stands (`OrderUpdate`); each fill comes back
as an execution with the order's update after it. So in-flight orders are in flight here
too, and a refusal, a stale update or an order gone with fills on their way is handled by
the tracker exactly as live.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from bybitctl import parsing
from bybitctl.book import BookError
from bybitctl.mm.accounting import Fill, Ledger
from bybitctl.mm.config import MMConfig
from bybitctl.mm.figures import report_figures
from bybitctl.mm.fillmodel import QueueFillModel, SimFill, SimOrder, closes
from bybitctl.mm.market import Market
from bybitctl.mm.orders import OrderTracker, OrderUpdate
from bybitctl.mm.risk import Risk
from bybitctl.mm.rules import MarketRules
from bybitctl.mm.strategy import (
    Action,
    Amend,
    Inventory,
    Place,
    QuoteParams,
    StrategyState,
    decide,
)
from bybitctl.recording import iter_recording

ORDER_GONE = 110001
"""Bybit's "order does not exist": an amend or cancel of an order no longer resting."""
AMEND_BELOW_FILLED = 110064
"""Bybit's refusal of an amend to a qty not above what already filled."""
REDUCE_ONLY_EMPTY = 110017
"""Bybit's refusal of a reduce-only (hedge-mode closing) order with nothing to close."""


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
        self.market = Market(
            config.symbol,
            depth=None,
            stale_ms=config.stale_book_ms,
            vol_window_ms=config.vol_window_ms,
            vol=config.vol_scaling and config.vol_multiplier > 0,
        )
        self.model = QueueFillModel()
        self.ledger = Ledger()
        self.risk = Risk(config)
        run_id = f"{config.link_prefix}{self.settings.run_prefix}"
        self.state = StrategyState(run_id)
        self.tracker = OrderTracker(run_id, hedge_mode=config.hedge_mode)
        self.inventory = Inventory()
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
        self.feed(lines)
        return self.finish()

    def feed(self, lines: Iterable[Mapping[str, Any]]) -> None:
        """Replay recording lines, in order (more may follow)."""
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
                    self.market.mark = float(mark)

    def finish(self) -> BacktestResult:
        """Let what is in flight land, then exit: every order cancelled, the position
        closed at the touch when `flatten_on_exit`; the result."""
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
            self.market.on_book(frame, now)
        except BookError:
            pass  # resyncing: the decision pulls the quotes
        else:
            if self._start is None and not self.market.book.needs_resync:
                self._start = now
        applied = self.timer() - started
        self._record_fills(self.model.on_book(self.market.book), now)
        resumed = self.timer()
        if self._decide(now):
            self.latencies.append((applied + self.timer() - resumed) / 1000.0)
        self._later(now + self.config.stale_book_ms + 1, self._decide_if_quiet)

    def _decide_if_quiet(self, now: int) -> None:
        """Timer: a book silent for stale_book_ms must still pull the quotes."""
        if now - self.market.guard.ts_ms > self.config.stale_book_ms:
            self._decide(now)

    def _on_trades(self, trades: list[Any], now: int) -> None:
        for trade in trades:
            if not isinstance(trade, dict) or trade.get("S") not in ("Buy", "Sell"):
                continue
            price, qty = _price(trade.get("p")), _price(trade.get("v"))
            if price is None or qty is None:
                continue
            self.market.last = float(price)
            self._record_fills(self.model.on_trade(trade["S"], price, qty), now)

    # -- our side -------------------------------------------------------------------------

    def _decide(self, now: int) -> bool:
        """One decision; returns True when actions were handed to the exchange."""
        self.risk.kill.update(self.ledger.total(self.market.mark_price()), now)
        view = self.market.view(now, halt=self.risk.halt(now))
        decision = decide(
            self.params, view, self.inventory, self.tracker.open_orders(), now, self.state
        )
        self.decisions += 1
        self.state = decision.state
        sent, _ = self.risk.budget.admit(decision.actions, now)
        counts = self.counts
        for action in sent:
            kind = type(action)
            key = "orders_placed" if kind is Place else "orders_amended" if kind is Amend else None
            counts[key or "orders_cancelled"] += 1
            self._later(now + self.settings.latency_ms, _Arrival(self, action))
        self.tracker.sent(sent, now)
        return bool(sent)

    def _exchange(self, action: Action, now: int) -> None:
        """The action reaches the exchange; its answer (a retCode, then the order as it
        stands) goes back after the latency."""
        model, link = self.model, action.link_id
        code, update = 0, None
        if isinstance(action, Place):
            idx = action.position_idx
            nothing_to_close = closes(action.side, idx) and model.leg(idx) <= 0
            _, fills = model.place(
                link,
                action.side,
                action.price,
                action.qty,
                action.post_only,
                self.market.book,
                action.position_idx,
            )
            order = model.orders.get(link) or model.ended.get(link)
            if order is not None:
                update = _update(order, link in model.orders)
            elif not nothing_to_close:
                # a post-only order that would take is accepted, then cancelled (as Bybit)
                update = OrderUpdate(
                    link, action.side, "Cancelled", action.price, action.qty, Decimal(0)
                )
            else:
                code = REDUCE_ONLY_EMPTY
            self._later(now + self.settings.latency_ms, _Answer(self, action, code, update))
            self._record_fills(fills, now)
            return
        if isinstance(action, Amend):
            order = model.orders.get(link)
            if order is None:
                code = ORDER_GONE
            elif model.amend(link, action.price, action.qty, self.market.book) is None:
                code = AMEND_BELOW_FILLED
            else:
                update = _update(order, True)
        else:
            order = model.cancel(link)
            if order is None:
                code = ORDER_GONE
            else:
                update = _update(order, False)
        self._later(now + self.settings.latency_ms, _Answer(self, action, code, update))

    def _record_fills(self, fills: list[SimFill], now: int) -> None:
        """Send the client the fills of one model call, each with its order's update, then
        the closing orders it cut to their leg (after the fills that caused them)."""
        back = now + self.settings.latency_ms
        model = self.model
        if fills:
            mid = self.market.mid()
            for f in fills:
                rate = self.settings.maker_fee if f.is_maker else self.settings.taker_fee
                fill = Fill(
                    f.side, f.price, f.qty, f.price * f.qty * rate, mid, f.is_maker, now, f.link_id
                )
                link = f.link_id
                order = model.orders.get(link) or model.ended[link]
                update = _update(order, link in model.orders)
                self._later(back, _FillReport(self, fill, f.position_idx, update))
        for order in model.trimmed:
            self._later(back, _Answer(self, None, 0, _update(order, order.link_id in model.orders)))
        model.trimmed.clear()
        model.ended.clear()

    def _answer(
        self, action: Action | None, code: int, update: OrderUpdate | None, now: int
    ) -> None:
        """The client learns the exchange's answer to an action, or an order update."""
        if action is not None:
            self.tracker.on_result(action, code)
        if update is not None:
            self.tracker.on_update(update, now)

    def _on_fill(self, fill: Fill, position_idx: int, update: OrderUpdate, now: int) -> None:
        """The client receives an execution (then its order's update): ledger, tracker,
        inventory, MMP; then it decides."""
        self.fills.append(fill)
        self.ledger.apply(fill)
        self.risk.mmp.on_fill(fill.qty, now, fill.is_maker)
        tracker = self.tracker
        tracker.on_fill(fill.link_id, fill.side, fill.qty, now, position_idx=position_idx)
        tracker.on_update(update, now)
        self.inventory = tracker.inventory(self.ledger.position, self.ledger.avg_price)
        self._decide(now)

    # -- exit -----------------------------------------------------------------------------

    def _finish(self) -> BacktestResult:
        now = self._now
        self._tick(now)
        for link_id in list(self.model.orders):
            self.model.cancel(link_id)
            self.counts["orders_cancelled"] += 1
        position = self.ledger.position
        if self.config.flatten_on_exit and position:
            side = "Sell" if position > 0 else "Buy"
            top = self.market.book.best_bid() if position > 0 else self.market.book.best_ask()
            if top:
                price = Decimal(top[0])
                qty = abs(position)
                self.ledger.apply(
                    Fill(
                        side,
                        price,
                        qty,
                        price * qty * self.settings.taker_fee,
                        self.market.mid(),
                        False,
                        now,
                        "flatten",
                    )
                )
        mark = self.market.mark_price()
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


def _update(order: SimOrder, resting: bool) -> OrderUpdate:
    """The simulated exchange's order update for `order`: live while `resting`, else
    cancelled (or filled, when nothing remains)."""
    if resting:
        status = "PartiallyFilled" if order.filled else "New"
    else:
        status = "Filled" if order.filled >= order.qty else "Cancelled"
    return OrderUpdate(
        order.link_id,
        order.side,
        status,
        order.price,
        order.qty,
        order.filled,
        order.position_idx,
    )


@dataclass(frozen=True, slots=True)
class _Arrival:
    bt: Backtest
    action: Action

    def __call__(self, now: int) -> None:
        self.bt._exchange(self.action, now)


@dataclass(frozen=True, slots=True)
class _Answer:
    bt: Backtest
    action: Action | None
    code: int
    update: OrderUpdate | None

    def __call__(self, now: int) -> None:
        self.bt._answer(self.action, self.code, self.update, now)


@dataclass(frozen=True, slots=True)
class _FillReport:
    bt: Backtest
    fill: Fill
    position_idx: int
    update: OrderUpdate

    def __call__(self, now: int) -> None:
        self.bt._on_fill(self.fill, self.position_idx, self.update, now)


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
