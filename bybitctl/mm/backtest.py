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
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from bybitctl import parsing
from bybitctl.book import BookError
from bybitctl.mm.accounting import Fill, Funding, Ledger
from bybitctl.mm.actions import Action, Amend, Inventory, OpenOrder, Place, StrategyState
from bybitctl.mm.config import MMConfig
from bybitctl.mm.figures import report_figures
from bybitctl.mm.fillmodel import QueueFillModel, SimFill, SimOrder, closes
from bybitctl.mm.market import Market
from bybitctl.mm.orders import OrderTracker, OrderUpdate
from bybitctl.mm.plan import QuoteParams, QuotePlan, quote_plan
from bybitctl.mm.risk import Risk
from bybitctl.mm.rules import MarketRules
from bybitctl.mm.strategy import settle
from bybitctl.mm.view import BookView, VolEstimator, book_view
from bybitctl.recording import iter_recordings

ORDER_GONE = 110001
"""Bybit's "order does not exist": an amend or cancel of an order no longer resting."""
AMEND_BELOW_FILLED = 110064
"""Bybit's refusal of an amend to a qty not above what already filled."""
REDUCE_ONLY_EMPTY = 110017
"""Bybit's refusal of a reduce-only (hedge-mode closing) order with nothing to close."""
_NEVER = 1 << 62


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
    """One configuration's replay. Feed recording lines with `run` (or `feed`, then
    `finish`); the result is final after it. Several backtests of one symbol can share one
    pass over the data (`Replay`): the book, the last trade and the mark are then kept once
    for all of them, each keeping its own exchange, orders, risk and ledger."""

    def __init__(
        self,
        config: MMConfig,
        rules: MarketRules,
        settings: BacktestSettings | None = None,
        timer: Callable[[], int] = time.perf_counter_ns,
        market: Market | None = None,
        *,
        reuse: bool = True,
    ) -> None:
        self.config = config
        self.settings = settings or BacktestSettings()
        self.params = QuoteParams.build(config, rules)
        self.timer = timer
        self.market = market or shared_market(config.symbol)
        self.vol = (
            VolEstimator(config.vol_window_ms)
            if config.vol_scaling and config.vol_multiplier > 0
            else None
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
        """Decision points: book messages, our fills and the stale timer. One whose inputs
        did not change since a decision that asked for nothing is answered without `decide`
        (it would ask for nothing again); `calls` counts the real calls."""
        self.calls = 0
        self.latencies: list[float] = []
        self.fills: list[Fill] = []
        self._events: list[tuple[int, int, Callable[[int], None]]] = []
        self._stale: deque[tuple[int, int, int]] = deque()
        """Stale-timer checks due: (time, sequence, time of the book message that set it)."""
        self._seq = 0
        self._now = 0
        self._start: int | None = None
        self._two_sided_ms = 0
        self._kill = config.kill_max_loss is not None or config.kill_max_drawdown is not None
        self._dirty = True
        """Whether an input of the decision other than the view and the time changed since
        the last call (our orders, inventory, strategy state), or that call left actions
        to do."""
        self._reuse = reuse
        """False: call `settle` at every decision point (the reference `reuse` is tested
        against: both give the same results)."""
        self._quiet: set[Any] = set()
        """Plans `settle` answered with nothing since our orders, inventory or state last
        changed and a time rule last flipped: the market often comes back to where it was."""
        self._wake = 0
        """From when the quiet answers may no longer hold on time alone."""

    # -- driving --------------------------------------------------------------------------

    def run(self, lines: Iterable[Mapping[str, Any]]) -> BacktestResult:
        """Replay recording lines ({recv_ns, channel, frame}) in order, then exit the way
        the engine does: cancel everything (and flatten when configured)."""
        self.feed(lines)
        return self.finish()

    def feed(self, lines: Iterable[Mapping[str, Any]]) -> None:
        """Replay recording lines, in order (more may follow)."""
        Replay(self.config.symbol, [self], self.market, self.timer).feed(lines)

    def finish(self) -> BacktestResult:
        """Let what is in flight land, then exit: every order cancelled, the position
        closed at the touch when `flatten_on_exit`; the result."""
        self.advance(self._now + 2 * self.settings.latency_ms + 1)
        return self._finish()

    def advance(self, now: int) -> None:
        """Run scheduled exchange/client events and stale-timer checks up to `now`, in time
        order (ties in the order they were scheduled), integrating quote uptime."""
        events = self._events
        stale = self._stale
        while (events and events[0][0] <= now) or (stale and stale[0][0] <= now):
            head = events[0] if events and events[0][0] <= now else None
            if stale and stale[0][0] <= now and (head is None or stale[0][:2] < head[:2]):
                at = stale.popleft()[0]
                self._tick(at)
                self._decide_if_quiet(at)
                continue
            at, _, callback = heapq.heappop(events)
            self._tick(at)
            callback(at)
        if now > self._now:
            self._tick(now)

    def _tick(self, now: int) -> None:
        if now <= self._now:
            return
        if self._start is not None and self.model.two_sided:
            self._two_sided_ms += now - self._now
        self._now = now

    def _later(self, at: int, callback: Callable[[int], None]) -> None:
        self._seq += 1
        heapq.heappush(self._events, (at, self._seq, callback))

    # -- market ---------------------------------------------------------------------------

    def on_book(self, now: int, applied_ns: int, synced: bool) -> None:
        """The shared book took a message (`synced`: without a gap or a crossed book, which
        leave it resyncing and the quotes to be pulled): let the simulated exchange react,
        then decide. `applied_ns` is what applying it took; the latency figure covers our
        pipeline only (book apply, decision, rate budget), not the exchange."""
        book = self.market.book
        if synced:
            if self._start is None and not book.needs_resync:
                self._start = now
            if self.vol is not None:
                bid, _, ask, _ = book.top()
                if bid and ask:
                    self.vol.update((bid + ask) * 0.5, now)
        model = self.model
        if model.orders:
            fills = model.on_book(book)
            if fills or model.trimmed or model.ended:
                self._record_fills(fills, now)
        resumed = self.timer()
        if self._decide(now):
            self.latencies.append((applied_ns + self.timer() - resumed) / 1000.0)
        # the stale timer: a book silent for stale_book_ms must still pull the quotes; a
        # check set before the guard's last message can no longer find it silent
        stale = self._stale
        ts = self.market.guard.ts_ms
        while stale and stale[0][2] < ts:
            stale.popleft()
        self._seq += 1
        stale.append((now + self.config.stale_book_ms + 1, self._seq, now))

    def _decide_if_quiet(self, now: int) -> None:
        """Timer: a book silent for stale_book_ms must still pull the quotes."""
        if now - self.market.guard.ts_ms > self.config.stale_book_ms:
            self._decide(now)

    def on_trade(self, side: str, price: Decimal, qty: Decimal, price_f: float, now: int) -> None:
        """A public trade (the shared market's last price is already set to it)."""
        model = self.model
        if model.orders:
            fills = model.on_trade(side, price, qty, price_f)
            if fills or model.trimmed or model.ended:
                self._record_fills(fills, now)

    # -- our side -------------------------------------------------------------------------

    def settle_funding(self, at: int, rate: Decimal) -> None:
        """A funding time the recording's ticker announced: the position held then pays or
        receives its value at the mark times the predicted rate, booked as live."""
        if self.ledger.position:
            mark = self.market.mark_price()
            self.ledger.settle(Funding.on_position(self.ledger.position, mark, rate, at))

    def _decide(self, now: int) -> bool:
        """One decision point; returns True when actions were handed to the exchange.

        `decide` is pure: when our orders, inventory and state are as they were, no
        time-driven rule can have flipped since (`_wake`) and `settle` already answered
        this very `QuotePlan` of the market with nothing, it would answer nothing again. The
        rate budget still refills as if it had been asked."""
        self.decisions += 1
        risk = self.risk
        if self._kill:
            risk.kill.update(self.ledger.total(self.market.mark_price()), now)
        plan = quote_plan(self.params, self._view(now, risk.halt(now)), self.inventory, now)
        quiet = self._quiet
        keys = None
        if self._dirty or now >= self._wake:
            quiet.clear()
        else:
            keys = self._quiet_keys(plan)
            if self._reuse and quiet.issuperset(keys):
                risk.budget.admit((), now)
                return False
        self.calls += 1
        orders = self.tracker.open_orders()
        decision = settle(self.params, plan, self.inventory, orders, now, self.state)
        self.state = decision.state
        sent, _ = risk.budget.admit(decision.actions, now)
        counts = self.counts
        for action in sent:
            kind = type(action)
            key = "orders_placed" if kind is Place else "orders_amended" if kind is Amend else None
            counts[key or "orders_cancelled"] += 1
            self._later(now + self.settings.latency_ms, _Arrival(self, action))
        self.tracker.sent(sent, now)
        self._dirty = bool(decision.actions)
        if not self._dirty:
            if len(quiet) >= 4096:
                quiet.clear()
            quiet.update(keys or self._quiet_keys(plan))
            self._wake = self._next_wake(orders, now)
        return bool(sent)

    def _quiet_keys(self, plan: QuotePlan) -> tuple[Any, ...]:
        """What a quiet answer is remembered by. In one-way mode each side's actions depend
        on its own wanted quotes only (with the guard verdict, the cap and the tolerance),
        so a side quiet before is quiet again whatever the other side wants; in hedge mode
        the sides share the opening room, so the whole plan is the key."""
        if plan.reason or self.params.hedge_mode:
            return (plan,)
        head = (plan.cap_lots, plan.tol)
        return ((*head, True, plan.bids), (*head, False, plan.asks))

    def _view(self, now: int, halt: str) -> BookView:
        market = self.market
        return book_view(
            market.book,
            market.guard.ts_ms,
            resyncing=market.guard.resyncing,
            last=market.last,
            mark=market.mark,
            vol_bps=self.vol.value(now) if self.vol is not None else 0.0,
            halt=halt,
        )

    def _next_wake(self, orders: tuple[OpenOrder, ...], now: int) -> int:
        """The first time at which the time alone can change what `decide` asks for, with
        every other input as it is now: the requote interval running out, a fill cooldown
        ending, an order reaching its maximum age. (The stale guard, MMP and the kill
        switch's cooldown are read afresh at every point, as part of the view.)"""
        p = self.params
        wake = _NEVER
        last = self.state.last_requote_ms
        if last is not None and now - last < p.min_requote_ms:
            wake = last + p.min_requote_ms
        for last_fill in (self.inventory.last_buy_fill_ms, self.inventory.last_sell_fill_ms):
            if last_fill is not None and now - last_fill < p.fill_cooldown_ms:
                wake = min(wake, last_fill + p.fill_cooldown_ms)
        if p.max_age_ms > 0:
            for o in orders:
                due = o.created_ms + p.max_age_ms
                if due > now:
                    wake = min(wake, due)
        return wake

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
        if model.trimmed:
            for order in model.trimmed:
                update = _update(order, order.link_id in model.orders)
                self._later(back, _Answer(self, None, 0, update))
            model.trimmed.clear()
        if model.ended:
            model.ended.clear()

    def _answer(
        self, action: Action | None, code: int, update: OrderUpdate | None, now: int
    ) -> None:
        """The client learns the exchange's answer to an action, or an order update."""
        self._dirty = True
        if action is not None:
            self.tracker.on_result(action, code)
        if update is not None:
            self.tracker.on_update(update, now)

    def _on_fill(self, fill: Fill, position_idx: int, update: OrderUpdate, now: int) -> None:
        """The client receives an execution (then its order's update): ledger, tracker,
        inventory, MMP; then it decides."""
        self._dirty = True
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


def full_report(result: BacktestResult) -> dict[str, Any]:
    """What `mm backtest` prints (and each `mm sweep` row holds after its swept fields): the
    report keys, then the decision points and the PnL attribution."""
    return {
        **result.report,
        "decisions": result.decisions,
        "spread_capture": float(result.ledger.spread_capture),
        "inventory_pnl": float(result.ledger.inventory_pnl(result.mark)),
    }


def shared_market(symbol: str) -> Market:
    """The public market a replay keeps for every backtest of `symbol`: the whole recorded
    book (no depth cut), the guard's last message time and resync state, the last trade and
    the mark. Volatility is each backtest's own (its window is a config field)."""
    return Market(symbol, depth=None, stale_ms=0, vol_window_ms=1, vol=False)


_UNSEEN = object()


class Replay:
    """One pass over a symbol's recorded market for several backtests: each line is read,
    each book message applied and each trade price parsed once, then every backtest takes
    it in turn (its own events due before it first, as a lone run would)."""

    def __init__(
        self,
        symbol: str,
        backtests: Iterable[Backtest],
        market: Market | None = None,
        timer: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        self.backtests = list(backtests)
        self.market = market or shared_market(symbol)
        for bt in self.backtests:
            if bt.market is not self.market:
                raise ValueError("every backtest of a replay must share its market")
        self.timer = timer
        self._suffix = f".{symbol}"
        self._values: dict[str, Any] = {}

    def feed(self, lines: Iterable[Mapping[str, Any]]) -> None:
        """Replay recording lines, in order (more may follow)."""
        bts = self.backtests
        market = self.market
        timer = self.timer
        suffix = self._suffix
        value = self._value
        for line in lines:
            # a line that is not a frame of our symbol (or not well-formed) is not market data
            if type(line) is not dict and not isinstance(line, Mapping):
                continue
            frame = line.get("frame")
            recv_ns = line.get("recv_ns")
            if not isinstance(frame, dict) or type(recv_ns) is not int:
                continue
            topic, data = frame.get("topic"), frame.get("data")
            if not isinstance(topic, str) or not topic.endswith(suffix):
                continue
            now = recv_ns // 1_000_000
            due = market.funding_due(now)
            if due is not None:
                for bt in bts:
                    bt.advance(due[0])
                    bt.settle_funding(*due)
            for bt in bts:
                bt.advance(now)
            if topic.startswith("orderbook.") and isinstance(data, dict):
                started = timer()
                try:
                    market.on_book(frame, now)
                except BookError:
                    synced = False  # resyncing: the decision pulls the quotes
                else:
                    synced = True
                applied = timer() - started
                for bt in bts:
                    bt.on_book(now, applied, synced)
            elif topic.startswith("publicTrade.") and isinstance(data, list):
                for trade in data:
                    if not isinstance(trade, dict) or trade.get("S") not in ("Buy", "Sell"):
                        continue
                    price, qty = value(trade.get("p")), value(trade.get("v"))
                    if price is None or qty is None:
                        continue
                    market.last = price[1]
                    for bt in bts:
                        bt.on_trade(trade["S"], price[0], qty[0], price[1], now)
            elif topic.startswith("tickers.") and isinstance(data, dict):
                mark = value(data.get("markPrice"))
                if mark is not None:
                    market.mark = mark[1]
                market.on_funding_fields(data)

    def _value(self, raw: Any) -> tuple[Decimal, float] | None:
        """A recorded price or size as (exact, float), None when it is not one; trades
        repeat a few prices and sizes, so each string is checked once."""
        if not isinstance(raw, str):
            return None
        found = self._values.get(raw, _UNSEEN)
        if found is _UNSEEN:
            exact = _price(raw)
            found = None if exact is None else (exact, float(exact))
            if len(self._values) > 100_000:
                self._values.clear()
            self._values[raw] = found
        return found  # type: ignore[return-value]

    def finish(self) -> list[BacktestResult]:
        """Every backtest's result, in order."""
        return [bt.finish() for bt in self.backtests]


Data = str | Path | Iterable[Mapping[str, Any]]
"""A recording file, several in time order, or already-read lines."""


def recording_lines(data: Data | list[str | Path]) -> Iterable[Mapping[str, Any]]:
    """The lines of a recording file (or files, in the order given), or `data` itself."""
    if isinstance(data, (str, Path)):
        return iter_recordings([data])
    if isinstance(data, list) and data and all(isinstance(d, (str, Path)) for d in data):
        return iter_recordings(data)
    return data  # type: ignore[return-value]


def run_backtest(
    data: Data | list[str | Path],
    config: MMConfig,
    rules: MarketRules,
    settings: BacktestSettings | None = None,
    timer: Callable[[], int] = time.perf_counter_ns,
) -> BacktestResult:
    """Backtest `config` on a recording file (files, or already-read lines)."""
    return Backtest(config, rules, settings, timer).run(recording_lines(data))


def run_backtests(
    data: Data | list[str | Path],
    runs: Iterable[tuple[MMConfig, MarketRules]],
    settings: BacktestSettings | None = None,
    timer: Callable[[], int] = time.perf_counter_ns,
) -> list[BacktestResult]:
    """Backtest several configs of one symbol in one pass over the data; each result is
    what `run_backtest` gives for its config alone."""
    runs = list(runs)
    if not runs:
        return []
    symbols = {config.symbol for config, _ in runs}
    if len(symbols) != 1:
        raise ValueError(f"one replay serves one symbol, got {sorted(symbols)}")
    market = shared_market(runs[0][0].symbol)
    bts = [Backtest(config, rules, settings, timer, market) for config, rules in runs]
    replay = Replay(runs[0][0].symbol, bts, market, timer)
    replay.feed(recording_lines(data))
    return replay.finish()
