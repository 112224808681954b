"""The live market maker: one event queue, handled one batch at a time, and one decision per
batch.

Inputs (public book, trades and ticker; private orders, executions, positions and wallet;
trade-socket answers; stop and resume requests) all arrive on the inbox (`bybitctl.mm.inbox`).
Whichever thread brings an event while no other is handling drains the queue, updates the
state, and makes one decision with the pure `strategy.decide`, so a book frame is quoted on
the reader thread that decoded it; the rate budget admits the actions and the executor sends
them. The main thread runs the timer (guards, reconnects, resyncs, status) under the same
lock. Everything the engine reads time from or performs I/O through is a port passed in
(`bybitctl.mm.ports`): the same engine runs against Bybit, the local exchange, or a script.

State lives in parts shared with the backtest: the public market (`bybitctl.mm.market`), our
orders (`bybitctl.mm.orders`, which hands every in-flight, resting and gone-but-filling order
to the strategy, so it counts them at a full fill against the limits), the risk machines and
the ledger. Start-up and resyncs are `bybitctl.mm.reconcile`'s; the exit, which pulls every
order and confirms it within `shutdown.SHUTDOWN_S` on every path (a normal end, a stop, the
kill switch, the reject breaker, an error, also one raised on another thread), is
`bybitctl.mm.shutdown`'s; the status the dashboard shows is `bybitctl.mm.status`'s.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bybitctl.book import BookError
from bybitctl.errors import EXCHANGE_REJECTED, BybitctlError, ConfigError
from bybitctl.mm import exchange_mmp, reconcile, shutdown, status
from bybitctl.mm.accounting import FUNDING, Fill, Funding, Ledger
from bybitctl.mm.actions import Action, Amend, Inventory, Place, StrategyState, leg_index
from bybitctl.mm.config import MMConfig
from bybitctl.mm.executor import REPLY
from bybitctl.mm.feeds import DOWN, FRAME, UP
from bybitctl.mm.inbox import RESUME, STOP, Event
from bybitctl.mm.journal import Journal
from bybitctl.mm.market import Market
from bybitctl.mm.orders import TIMEOUT, OrderTracker, OrderUpdate, owner
from bybitctl.mm.plan import QuoteParams
from bybitctl.mm.ports import Ports
from bybitctl.mm.queue_position import QueueTracker
from bybitctl.mm.risk import ARMED, RATE_CODES, STOPPED, Risk
from bybitctl.mm.rules import MarketRules
from bybitctl.mm.status import Stats
from bybitctl.mm.strategy import decide

TIMER_S = 0.05
"""Timer period: guards (stale book, dead sockets, kill switch) are re-checked this often."""
STATUS_EVERY_MS = 500
BOOK_DEPTH = 50
OPTION_BOOK_DEPTH = 25
"""Option books stream at 25 or 100 levels only."""


def book_depth(category: str) -> int:
    """The book depth the engine subscribes to and keeps for `category`."""
    return OPTION_BOOK_DEPTH if category == "option" else BOOK_DEPTH


class Engine:
    """One market-making run on one symbol against one target (Bybit or the local exchange).

    `emit` receives plain-dict events (start, guard, fill, connection, status, stop) for the
    JSONL stream or the dashboard; it runs on the handling thread and must be quick.
    """

    def __init__(
        self,
        config: MMConfig,
        journal: Journal,
        ports: Ports,
        *,
        target: str,
        run_id: str,
        emit: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.config = config
        self.journal = journal
        self.target = target
        self.run_id = run_id
        self.emit = emit or (lambda event: None)
        self.clock = ports.clock
        self.inbox = ports.inbox
        self.rest = ports.rest
        self.executor = ports.executor
        self.public = ports.public
        self.private = ports.private
        self.exit_rest = ports.exit_rest
        self.owns = owner(config.link_prefix)
        self.state = StrategyState(run_id)
        self.queues = QueueTracker()  # queue ahead of our resting orders (status only)
        self.tracker = OrderTracker(
            run_id, hedge_mode=config.hedge_mode, on_retire=self.queues.forget
        )
        self.market = Market(
            config.symbol,
            depth=book_depth(config.category),
            stale_ms=config.stale_book_ms,
            vol_window_ms=config.vol_window_ms,
            vol=config.vol_scaling and config.vol_multiplier > 0,
        )
        self.risk = Risk(config)
        self.stats = Stats()
        self.ledger = Ledger()
        self.position_offset = Decimal(0)
        """The exchange's position at start minus the journal's: fills of other sources."""
        self.inventory = Inventory()
        self.exchange_position: Decimal | None = None
        self.exchange_legs: dict[int, Decimal] = {}
        """positionIdx -> signed size, as the position stream last said (hedge: 1 and 2)."""
        self.equity: str | None = None
        self.rules: MarketRules | None = None
        self.params: QuoteParams | None = None
        self.reason = "starting"
        self.stop_asked: str | None = None
        """A stop requested (any thread); during start-up it skips what is left."""
        self.stop_reason: str | None = None
        self.exit_code = 0
        self.remaining: list[dict[str, Any]] = []
        """Our orders the exit could not confirm gone (neither the stream nor REST did)."""
        self.confirmed_over_rest = False
        self.reconciled = False
        """The exit read our executions from the exchange and booked the missing ones."""
        self.exit_error = ""
        self.dcp_armed = False
        self.mmp_coin = ""
        """Options: the base coin whose exchange MMP the run armed ("" otherwise)."""
        self.mmp_check_due = False
        """The exchange's MMP fired: read its state on the next timer."""
        self.mmp_held = False
        self.started_ms = 0
        self.quoted_ms = 0
        self.last_timer_ms = 0
        self.sweep_from_ms = 0
        """Executions from here on are read over REST when the streams may have missed one."""
        self.resync_due = False
        self.adopted_hold_ms = 0
        """With adopted orders resting: no decision before this time unless `_seeing`."""
        self.fills_recent: list[dict[str, Any]] = []
        self._tick_ns = 0
        self._dirty = False
        self._last_status_ms = 0
        self._failure: BaseException | None = None
        self._between_ticks: Callable[[], None] = _nothing

    # -- start and run ---------------------------------------------------------------------

    def prepare(self) -> None:
        """Everything before the first quote (`bybitctl.mm.reconcile.prepare`)."""
        reconcile.prepare(self)

    def run(
        self, duration_s: float | None = None, *, between_ticks: Callable[[], None] | None = None
    ) -> int:
        """Quote until `duration_s`, a stop request, the kill switch or the reject breaker;
        always end by pulling every order. `between_ticks` runs after each handled batch,
        once its decision is sent (`mm start` collects garbage there). Returns the exit code
        (1 if orders remain or the reject breaker stopped the run, 4 if the exit could not
        confirm over REST)."""
        self._between_ticks = between_ticks or _nothing
        try:
            if self.stop_asked is None:
                self._start_feeds()
                self._loop(duration_s)
            else:  # asked to stop during start-up: nothing to quote, still confirm
                self.stop_reason = self.stop_asked
        except BaseException as exc:
            self.stop_reason = self.stop_reason or f"error: {type(exc).__name__}: {exc}"
            self._shutdown()
            raise
        self._shutdown()
        return self.exit_code

    def request_stop(self, reason: str) -> None:
        """Ask the loop to stop (any thread; signal handlers use it). Before the loop runs
        (during `prepare`) it also cuts start-up short."""
        if self.stop_asked is None:
            self.stop_asked = reason
        self.inbox.put((STOP, "", 0, 0, reason))

    def request_resume(self) -> None:
        """Ask the loop to re-arm a paused (or cooling) kill switch (any thread; `mm resume`
        sends SIGUSR1, whose handler calls this)."""
        self.inbox.put((RESUME, "", 0, 0, None))

    def exit_notes(self) -> list[str]:
        """What the exit could not do, one line each, for stderr (`shutdown.exit_notes`)."""
        return shutdown.exit_notes(self)

    def snapshot(self, now: int | None = None) -> dict[str, Any]:
        """The live state as plain data (`status.snapshot`)."""
        return status.snapshot(self, self.clock.now_ms() if now is None else now)

    def _start_feeds(self) -> None:
        self.executor.connect(wait=True)  # its answer is first on the queue
        self.public.start()
        self.private.start()

    def _loop(self, duration_s: float | None) -> None:
        """Hand events to whichever thread brings them, and run the timer every TIMER_S
        here until something sets `stop_reason`."""
        clock = self.clock
        deadline = clock.monotonic() + duration_s if duration_s else None
        self.inbox.handler = self._on_events
        try:
            while self.stop_reason is None:
                with self.inbox.held() as q:
                    self._on_events(None, q)
                    self._timer()
                    if deadline is not None and clock.monotonic() >= deadline:
                        self.stop_reason = self.stop_reason or "duration"
                clock.sleep(TIMER_S)
        finally:
            self.inbox.handler = None
        if self._failure is not None:
            raise self._failure

    def _on_events(self, event: Event | None, q: queue.SimpleQueue[Event]) -> None:
        """The inbox handler: `event`, then the queue, then one decision. Consecutive book
        messages are coalesced into one decision, but once a book message is waiting for
        its decision nothing else (private updates and their journal writes) goes first.
        An error ends the run: it is kept for the main thread and handling stops."""
        try:
            if event is not None:
                self.handle(event)
            while not q.empty():  # only the lock's holder takes from the queue
                item = q.get_nowait()
                if self._tick_ns and (item[0] != FRAME or item[1] != "public"):
                    self._decide_if_due()
                self.handle(item)
            self._decide_if_due()
            self._between_ticks()  # the tick just handled is quoted; the next is likely far
        except BaseException as exc:
            self._failure = self._failure or exc
            self.stop_reason = self.stop_reason or f"error: {type(exc).__name__}: {exc}"
            self.inbox.handler = None

    def _decide_if_due(self) -> None:
        if (
            self._dirty
            and self.stop_reason is None
            and self.params is not None
            and (not self.adopted_hold_ms or self._seeing())
        ):
            self._decide()

    def _seeing(self) -> bool:
        """Whether decisions may run. With adopted leftovers resting, the first one waits
        until the private stream is up and a book has arrived (else its guards would pull
        the orders just taken over only because nothing is seen yet; they rested unwatched
        since the earlier run ended), at most `stale_book_ms` from their adoption."""
        until = self.adopted_hold_ms
        if not until:
            return True
        if (self.private.up and self.market.guard.ts_ms) or self.clock.now_ms() >= until:
            self.adopted_hold_ms = 0
            return True
        return False

    # -- events ----------------------------------------------------------------------------

    def handle(self, item: Event) -> None:
        """One event, without deciding (the caller decides once per batch)."""
        kind, source, gen, t_ns, payload = item
        if kind == FRAME:
            feed = self.public if source == "public" else self.private
            if gen != feed.gen:
                return
            if source == "public":
                self._on_public(payload, t_ns)
            else:
                self._on_private(payload)
        elif kind == REPLY:
            self._on_results(payload, source)
        elif kind in (UP, DOWN):
            self._on_connection(kind, source, gen, payload)
        elif kind == STOP:
            self.stop_reason = self.stop_reason or payload
        elif kind == RESUME:
            self._resume()

    def _resume(self) -> None:
        """Re-arm a paused or cooling kill switch (a stopped one stays stopped)."""
        kill = self.risk.kill
        if kill.state in (ARMED, STOPPED):
            return
        kill.resume(self.ledger.total(self.market.mark_price()))
        self.emit({"event": "kill", "state": kill.state, "reason": "resumed"})
        self._dirty = True
        status.publish(self, self.clock.now_ms())  # `mm resume` waits for it to count

    def _on_connection(self, kind: str, source: str, gen: int, payload: Any) -> None:
        if source == "trade":
            accepted = self.executor.accept(kind, gen, payload)
        else:
            feed = self.public if source == "public" else self.private
            accepted = feed.accept(kind, gen, payload)
        if not accepted:
            return
        self.emit(
            {
                "event": "connection",
                "stream": source,
                "state": "up" if kind == UP else "down",
                **({} if kind == UP else {"detail": str(payload)}),
            }
        )
        if source != "trade":
            self._feed_changed(source, kind == UP)

    def _feed_changed(self, source: str, up: bool) -> None:
        if source == "public" and not up:
            self.market.lost()
        if source == "private" and up:
            self.resync_due = True  # what happened while we could not hear it
        self._dirty = True

    def _on_public(self, frame: dict[str, Any], t_ns: int) -> None:
        topic = frame.get("topic")
        if topic is None:
            if frame.get("success") is False:
                raise BybitctlError(f"public subscription refused: {frame.get('ret_msg')}")
            return
        if topic.startswith("orderbook."):
            try:
                self.market.on_book(frame, self.clock.now_ms())
            except BookError as exc:
                self.stats.resyncs += 1
                self.emit({"event": "resync", "reason": str(exc)})
                self.public.resubscribe(topic)
                self._dirty = True
                return
            if not self._tick_ns:
                self._tick_ns = t_ns
            self._dirty = True
        elif topic.startswith("publicTrade."):
            data = frame.get("data") or []
            if self.mmp_coin:  # option trades stream per base coin
                data = [t for t in data if t.get("s") == self.config.symbol]
            if data:
                self.market.last = float(data[-1]["p"])
                self.queues.on_trade_frame(data)
        elif topic.startswith("tickers."):
            mark = (frame.get("data") or {}).get("markPrice")
            if mark:
                self.market.mark = float(mark)

    def _on_private(self, frame: dict[str, Any]) -> None:
        topic = frame.get("topic")
        if topic is None:
            if frame.get("success") is False:
                raise ConfigError(f"private stream refused: {frame.get('ret_msg')}")
            return
        data = frame.get("data") or []
        symbol = self.config.symbol
        if topic.startswith("execution"):
            for row in data:
                self.on_execution(row)
        elif topic.startswith("order"):
            for row in data:
                if row.get("symbol") == symbol:
                    self.on_order(row)
        elif topic.startswith("position"):
            for row in data:
                if row.get("symbol") == symbol:
                    size = Decimal(row.get("size") or "0")
                    idx = int(row.get("positionIdx") or 0)
                    self.exchange_legs[idx] = -size if row.get("side") == "Sell" else size
                    self.exchange_position = sum(self.exchange_legs.values(), Decimal(0))
        elif topic.startswith("wallet") and data:
            self.equity = data[0].get("totalEquity")

    def on_order(self, row: dict[str, Any]) -> None:
        """The exchange's word on one of our orders (stream or REST listing): journaled,
        then the tracker's."""
        link = row.get("orderLinkId") or ""
        if not self.owns(link):
            return
        update = OrderUpdate.from_row(row)
        self.journal.order_event(
            link,
            "update",
            row.get("side"),
            update.price,
            update.qty,
            update.status,
            row.get("rejectReason") or None,
        )
        self.queues.on_order(row, self.market.book)
        if row.get("cancelType") == exchange_mmp.CANCEL_BY_MMP:
            exchange_mmp.frozen(self, exchange_mmp.CANCEL_BY_MMP)
        if self.tracker.on_update(update, self.clock.now_ms()):
            self._dirty = True

    def on_execution(self, row: dict[str, Any]) -> None:
        """One execution of ours or a funding settlement of the symbol's position (stream
        or REST sweep), booked once by its execId."""
        if row.get("symbol") != self.config.symbol:
            return
        kind = row.get("execType", "Trade")
        now = self.clock.now_ms()
        if kind == FUNDING:
            self.on_funding(Funding.from_execution(row, now), row["execId"])
            return
        link = row.get("orderLinkId") or ""
        if kind != "Trade" or not self.owns(link):
            return
        fill = Fill(
            row["side"],
            Decimal(row["execPrice"]),
            Decimal(row["execQty"]),
            Decimal(row.get("execFee") or "0"),
            self.market.mid(),
            bool(row.get("isMaker")),
            int(row.get("execTime") or now),
            link,
        )
        if not self.journal.fill(row["execId"], fill):
            return  # seen already (stream and REST sweep overlap)
        self.ledger.apply(fill)
        self.risk.mmp.on_fill(fill.qty, now, fill.is_maker)
        self.tracker.on_fill(
            link,
            fill.side,
            fill.qty,
            now,
            position_idx=_leg_of(row) if self.config.hedge_mode else 0,
            cum_after=_cum_after(row),
        )
        self.update_inventory()
        self._dirty = True
        event = {
            "event": "fill",
            "side": fill.side,
            "price": str(fill.price),
            "qty": str(fill.qty),
            "fee": str(fill.fee),
            "maker": fill.is_maker,
            "position": str(self.inventory.position),
            "link_id": link,
        }
        self.fills_recent = [*self.fills_recent[-9:], event]
        self.emit(event)

    def on_funding(self, funding: Funding, exec_id: str) -> None:
        """A funding settlement: journaled and booked as PnL outside trading; the position,
        the orders and the fill counters are untouched."""
        if not self.journal.funding(exec_id, funding):
            return
        self.ledger.settle(funding)
        self.emit(
            {
                "event": "funding",
                "amount": str(funding.amount),
                "rate": str(funding.rate),
                "position": str(funding.qty),
                "mark": str(funding.price),
            }
        )

    def update_inventory(self) -> None:
        """The strategy's inventory from the ledger, the start offset and the tracker."""
        self.inventory = self.tracker.inventory(
            self.ledger.position + self.position_offset, self.ledger.avg_price
        )

    def _on_results(self, results: list[tuple[Action, int, str]], path: str) -> None:
        """Answers to our requests; success needs nothing (the order stream confirms), a
        refusal undoes the optimistic state, a timeout sends the engine to REST."""
        now = self.clock.now_ms()
        if any(code in RATE_CODES for _, code, _ in results):
            self.risk.budget.throttle(now)
        for action, code, message in results:
            if code == exchange_mmp.MMP_FROZEN:  # the exchange's MMP holds: no rejection
                self.tracker.on_result(action, code)
                exchange_mmp.frozen(self, str(code))
                continue
            if isinstance(action, Place) and self.risk.rejects.on_place(code, now):
                self._rejects_tripped(code, message)
            if code == 0:
                continue  # the order stream's update (journaled) is the exchange's word
            link = action.link_id
            known = link in self.tracker.orders
            self.tracker.on_result(action, code)
            if code == TIMEOUT:
                self.stats.timeouts += 1
                self.resync_due = True
            else:
                self.stats.rejects += 1
            self.journal.order_event(link, "reject", status=str(code), detail=message)
            if known and code != TIMEOUT:
                self.emit(
                    {
                        "event": "reject",
                        "link_id": link,
                        "action": type(action).__name__,
                        "code": code,
                        "message": message,
                        "path": path,
                    }
                )
        self._dirty = True

    def _rejects_tripped(self, code: int, message: str) -> None:
        """The reject breaker: end the run (`rejects:<retCode>`, exit code 1) instead of
        retrying at the rate budget for ever."""
        if self.stop_reason is not None:
            return
        self.stop_reason = f"rejects:{code}"
        self.exit_code = EXCHANGE_REJECTED
        self.emit(
            {
                "event": "rejects",
                "code": code,
                "count": self.risk.rejects.count,
                "message": message,
            }
        )

    # -- deciding --------------------------------------------------------------------------

    def _decide(self) -> None:
        """One decision on the current state; actions are sent at once."""
        assert self.params is not None
        self._dirty = False
        now = self.clock.now_ms()
        view = self.market.view(now, private_ok=self.private.up, halt=self.risk.halt(now))
        decision = decide(
            self.params, view, self.inventory, self.tracker.open_orders(), now, self.state
        )
        self.state = decision.state
        self.stats.decisions += 1
        sent, deferred = self.risk.budget.admit(decision.actions, now)
        latency = None
        if sent:
            via_ws = self.executor.submit(sent)
            done = self.clock.perf_ns()
            if via_ws and self._tick_ns:
                latency = (done - self._tick_ns) / 1000.0
                self.stats.latencies.append(latency)
            if via_ws:
                self.stats.ws_actions += len(sent)
            else:
                self.stats.http_actions += len(sent)
            self.applied(sent, now)
        self._tick_ns = 0
        self.stats.deferred += len(deferred)
        if sent or decision.reason != self.reason:
            if decision.reason != self.reason:
                self.emit({"event": "guard", "reason": decision.reason or "quoting"})
            self.reason = decision.reason
            self.journal.decision(
                decision.reason,
                view.bid,
                view.ask,
                [(q.side, q.level, str(q.price), str(q.qty)) for q in decision.quotes],
                len(sent),
                latency,
            )
        if deferred:
            self._dirty = True

    def applied(self, actions: tuple[Action, ...], now: int) -> None:
        """Actions just sent: journaled and counted, their orders in flight (a refusal
        undoes that)."""
        journal, orders, stats = self.journal, self.tracker.orders, self.stats
        for a in actions:
            if isinstance(a, Place):
                stats.orders_placed += 1
                journal.order_event(a.link_id, "place", a.side, a.price, a.qty)
            elif isinstance(a, Amend):
                stats.orders_amended += 1
                journal.order_event(a.link_id, "amend", orders[a.link_id].side, a.price, a.qty)
            else:
                stats.orders_cancelled += 1
                journal.order_event(a.link_id, "cancel", orders[a.link_id].side, detail=a.reason)
        self.tracker.sent(actions, now)

    # -- timer -----------------------------------------------------------------------------

    def _timer(self) -> None:
        now = self.clock.now_ms()
        for feed in (self.public, self.private):
            why = feed.check()
            if why is not None:
                self.emit(
                    {"event": "connection", "stream": feed.source, "state": "down", "detail": why}
                )
                self._feed_changed(feed.source, False)
        self.executor.check()
        if not self.resync_due and self.tracker.overdue(now - reconcile.UNCONFIRMED_MS):
            self.resync_due = True
            self.emit({"event": "warning", "message": "order update overdue: resync over REST"})
        if self.resync_due and self.private.up:
            self.resync_due = False
            reconcile.resync_orders(self)
        if self.mmp_coin:
            exchange_mmp.check(self)
        if self.last_timer_ms and self.tracker.two_sided():
            self.quoted_ms += now - self.last_timer_ms
        self.last_timer_ms = now
        guard = self.market.guard
        episodes = guard.stale_episodes
        if guard.stale(now) and guard.stale_episodes != episodes and guard.ts_ms:
            # connected but silent: ask for the topic again (a fresh snapshot ends it)
            self.emit({"event": "stale", "since_ms": guard.ts_ms})
            depth = book_depth(self.config.category)
            self.public.resubscribe(f"orderbook.{depth}.{self.config.symbol}")
            self._dirty = True
        before = self.risk.kill.state
        kill = self.risk.kill.update(self.ledger.total(self.market.mark_price()), now)
        if kill != before:
            # every transition is an event: a pause or cooldown must not go unnoticed
            reason = self.risk.kill.reason or ("cooled down" if kill == ARMED else "")
            self.emit({"event": "kill", "state": kill, "reason": reason})
        if kill == STOPPED and self.stop_reason is None:
            self.stop_reason = f"kill:{self.risk.kill.reason}"
            return
        if self.params is not None and self._seeing():
            self._decide()
        if now - self._last_status_ms >= STATUS_EVERY_MS:
            self._last_status_ms = now
            status.publish(self, now)

    # -- exit ------------------------------------------------------------------------------

    def _shutdown(self) -> None:
        """The exit (`shutdown.pull_and_confirm`), with the inbox held, so this thread alone
        reads the events from here on."""
        with self.inbox.held():
            shutdown.pull_and_confirm(self)


def _nothing() -> None:
    return None


def _cum_after(row: dict[str, Any]) -> Decimal | None:
    """The order's filled qty after this execution (orderQty - leavesQty), if given."""
    try:
        return Decimal(row["orderQty"]) - Decimal(row["leavesQty"])
    except (KeyError, ArithmeticError, TypeError):
        return None


def _leg_of(row: dict[str, Any]) -> int:
    """The leg a fill of an order we do not hold traded in hedge mode (the exit's market
    orders): one that closed a position (`closedSize`) is on the leg its side closes, any
    other on the leg its side opens."""
    try:
        closes = Decimal(row.get("closedSize") or "0") > 0
    except ArithmeticError:
        closes = False
    return leg_index(row.get("side", ""), closing=closes)
