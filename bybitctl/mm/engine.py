"""The live market maker: one event queue, handled one batch at a time.

Inputs (public book, trades and ticker; private orders, executions, positions and wallet;
trade-socket answers; timers; stop requests) all arrive on `Engine.inbox` (see
`bybitctl.mm.inbox` and `bybitctl.mm.feeds`). Whichever thread brings an event while no
other is handling drains the queue, updates the local state, and makes one decision with
the pure `strategy.decide`, so a book frame is quoted on the reader thread that decoded it;
the rate budget admits the actions and the `Executor` sends them. The main thread runs the
timer (guards, reconnects, status) under the same lock. While the book is quiet, a thread of
`bybitctl.mm.warmup` rehearses ticks on the last decision's inputs (sending nothing) so the
next real one finds warm caches. The engine is the only owner of order state: in-flight and
resting orders (and terminal orders whose fills have not arrived yet) are all handed to the
strategy, which counts them at a full fill against the limits.

Safety: `prepare` cancels leftovers of earlier runs (confirmed over REST) or, with
`leftovers = adopt`, takes them over as its own orders, reads the position and arms Bybit's
DCP; quotes are pulled whenever a guard says so (stale, resyncing or crossed book, private
stream down, MMP, kill switch); `run` always ends in `_shutdown`, which cancels every order
we own and confirms that none remains, within `shutdown.SHUTDOWN_S` however slow or
unreachable the exchange is (what it cannot confirm is reported), on a normal end, a signal
(also one during `prepare`, under `signals`), `mm stop`, the kill switch, the reject
breaker or an uncaught error (also one raised while handling an event on another thread:
it is handed to the main thread).
"""

from __future__ import annotations

import contextlib
import gc
import math
import queue
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from bybitctl.book import BookError, OrderBook
from bybitctl.errors import (
    EXCHANGE_REJECTED,
    NETWORK,
    BybitctlError,
    ConfigError,
    UsageError,
)
from bybitctl.mm.accounting import Fill, Ledger
from bybitctl.mm.backtest import percentile
from bybitctl.mm.config import MarketRules, MMConfig, validate
from bybitctl.mm.executor import REPLY, Executor, cancel_own, open_orders, paged
from bybitctl.mm.feeds import DOWN, FRAME, UP, Feed, private_feed, public_feed
from bybitctl.mm.inbox import Inbox
from bybitctl.mm.journal import Journal, now_ms
from bybitctl.mm.queue_position import QueueTracker, level_size
from bybitctl.mm.risk import ARMED, STOPPED, Risk, StaleBookGuard
from bybitctl.mm.shutdown import DRAIN_S, FINISH_S, SHUTDOWN_S, ExitRest, ExitResult
from bybitctl.mm.strategy import (
    BUY,
    OPEN,
    PENDING_AMEND,
    PENDING_CANCEL,
    PENDING_NEW,
    Action,
    Amend,
    BookView,
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
    leg_index,
    legs_after_fill,
)
from bybitctl.mm.warmup import Warmup

STOP = "stop"
RESUME = "resume"
TIMER_S = 0.05
"""Timer period: guards (stale book, dead sockets, kill switch) are re-checked this often."""
STATUS_EVERY_MS = 500
SWITCH_INTERVAL_S = 0.00002
"""How long a thread waiting for the GIL lets its holder run before asking for it. The send
of an order releases the GIL; with the local exchange in this process (`--paper`) its thread,
woken by that very frame, takes the GIL, and at 500 µs the tick then waited up to 1.5 ms to
get it back (benchmarks/results_mm.txt, session 3). 20 µs costs nothing measurable when the
exchange is elsewhere."""
UNCONFIRMED_MS = 3_000
"""An action the exchange answered but the order stream never confirmed within this long
(a private message lost) sends the engine to REST for the truth; an order left pending
would otherwise wait for its update forever and its side would never be quoted again."""
SWEEP_WINDOW_MS = 7 * 86_400_000 - 60_000
"""Bybit answers execution queries for at most 7 days back."""
BOOK_DEPTH = 50
_LIVE = ("New", "PartiallyFilled", "Untriggered")
_GONE_CODES = (110001, 110008, 110010, 170213)
"""Cancel/amend answers meaning the order no longer exists (filled or cancelled already)."""
_TRANSIENT_CODES = frozenset({10000, 10006, 10016, 10018, 10429, 170007, 170146})
"""Rate limits and server-side timeouts/errors: they clear by themselves, so the reject
breaker neither counts them nor restarts its count on them."""
_RATE_CODES = frozenset({10006, 10018, 10429})
"""Refusals for a rate limit (per UID, per IP, system-wide): the rate budget backs off."""


def run_token() -> str:
    """Six base-36 characters from the clock: distinct per run, short enough for orderLinkId."""
    n = time.time_ns() // 1_000_000
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    for _ in range(6):
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out


def owner(link_prefix: str) -> Callable[[str], bool]:
    """Whether an orderLinkId was made by this bot (any run): prefix, run token, -seq."""
    pattern = re.compile(rf"{re.escape(link_prefix)}[0-9a-z]{{6}}-\d+")
    return lambda link_id: pattern.fullmatch(link_id) is not None


@dataclass(slots=True)
class _Meta:
    """What the engine knows of an order beyond the strategy's `OpenOrder`."""

    level: int = 0
    prev: tuple[Decimal, Decimal] | None = None  # price, qty before a pending amend
    target: tuple[Decimal, Decimal] | None = None  # price, qty a pending amend asks for
    gone: bool = False  # terminal at the exchange, fills still to arrive
    exchange_cum: Decimal = Decimal(0)
    adopted_cum: Decimal = Decimal(0)  # cumExecQty when adopted: already in `filled`
    sent_ms: int = 0  # when our last action on it was sent (0: none awaits the stream)


@dataclass(slots=True)
class Stats:
    """Live counters shown by the dashboard and `mm status`."""

    decisions: int = 0
    orders_placed: int = 0
    orders_amended: int = 0
    orders_cancelled: int = 0
    rejects: int = 0
    deferred: int = 0
    ws_actions: int = 0
    http_actions: int = 0
    timeouts: int = 0
    resyncs: int = 0
    warm_rounds: int = 0
    latencies: list[float] = field(default_factory=list)


class Engine:
    """One market-making run on one symbol against one target (Bybit or the local exchange).

    `emit` receives plain-dict events (start, guard, fill, connection, status, stop) for the
    JSONL stream or the dashboard; it runs on the handling thread and must be quick.
    """

    def __init__(
        self,
        config: MMConfig,
        settings: Any,
        journal: Journal,
        *,
        target: str,
        emit: Callable[[dict[str, Any]], None] | None = None,
        debug: bool = False,
        use_ws_trading: bool = True,
        http: Any = None,
    ) -> None:
        from bybitctl.client import make_http

        self.config = config
        self.settings = settings
        self.journal = journal
        self.target = target
        self.emit = emit or (lambda event: None)
        self.debug = debug
        self.http = http if http is not None else make_http(settings, auth=True, debug=debug)
        self.inbox = Inbox()
        self.run_id = f"{config.link_prefix}{run_token()}"
        self.owns = owner(config.link_prefix)
        self.state = StrategyState(self.run_id)
        self.orders: dict[str, OpenOrder] = {}
        self.meta: dict[str, _Meta] = {}
        self.queues = QueueTracker()  # queue ahead of our resting orders (status only)
        self.book = OrderBook(config.symbol, depth=BOOK_DEPTH)
        self.guard = StaleBookGuard(config.stale_book_ms)
        self.vol = VolEstimator(config.vol_window_ms)
        self.risk = Risk(config)
        self.stats = Stats()
        self.ledger = Ledger()
        self.position_offset = Decimal(0)
        self.inventory = Inventory()
        self.exchange_position: Decimal | None = None
        self._legs: dict[int, Decimal] = {}  # positionIdx -> signed size (hedge: 1 and 2)
        # hedge mode: (long, short) as read at start and moved by each of our fills since,
        # so a leg and the filled qty of the order that moved it change in the same event
        self.hedge_legs = (Decimal(0), Decimal(0))
        self._adopted_hold_ms = 0  # see `_seeing`
        self.equity: str | None = None
        self.last: float | None = None
        self.mark: float | None = None
        self.reason = "starting"
        self.stop_reason: str | None = None
        self.exit_code = 0
        self.remaining: list[dict[str, Any]] = []
        """Our orders the exit could not confirm gone (neither the stream nor REST did)."""
        self.confirmed_over_rest = False
        self.reconciled = False
        """The exit read our executions from the exchange and booked the missing ones."""
        self.exit_error = ""
        self.dcp_armed = False
        self.rules: MarketRules | None = None
        self.params: QuoteParams | None = None
        self.public: Feed | None = None
        self.private: Feed | None = None
        self.executor = Executor(
            settings,
            config.category,
            config.symbol,
            self.http,
            self.inbox,
            debug=debug,
            use_ws=use_ws_trading,
            req_prefix=self.run_id,
        )
        self.started_ms = 0
        self.quoted_ms = 0
        self._tick_ns = 0
        self._dirty = False
        self._last_timer_ms = 0
        self._last_status_ms = 0
        self._sweep_from_ms = 0
        self._resync_due = False
        self._fills_recent: list[dict[str, Any]] = []
        self._stop_asked: str | None = None
        self._signals_on = False
        self._rejects: list[int] = []  # times of the current same-code place-reject streak
        self._reject_code = 0
        self._failure: BaseException | None = None
        self._warm_sign = 1
        self._basis: tuple[BookView, Inventory, tuple[OpenOrder, ...], StrategyState] | None = None
        self._warmup_error = ""

    # -- start ----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Everything before the first quote: instrument checks, fees, journal and
        accounting resume, reconciliation with the exchange, DCP and leverage."""
        self._check_on_exchange()
        c = self.config
        previous = self.journal.previous_runs(self.target)
        self.journal.start_run(
            self.run_id, self.target, c.symbol, c.category, c.link_prefix, _config_dict(c)
        )
        self.started_ms = now_ms()
        try:
            self._reconcile(previous)
        except BaseException as exc:
            self.journal.end_run(f"error: {exc}", 0, 0, 0)
            self.journal.heartbeat("stopped", {"reason": f"error: {exc}"})
            raise

    def _check_on_exchange(self) -> None:
        """The config against the instrument (and the maker fee when unset). A stop asked
        meanwhile skips the requests still to come: the run then only confirms its exit."""
        c = self.config
        info = self.http.get_instruments_info(category=c.category, symbol=c.symbol)["result"]
        rows = info.get("list") or []
        if not rows:
            raise UsageError(f"mm config: symbol: no {c.category} instrument {c.symbol}")
        if self._stop_asked is not None:
            return
        ticker = self.http.get_tickers(category=c.category, symbol=c.symbol)["result"]["list"]
        price = Decimal(ticker[0]["lastPrice"]) if ticker else None
        self.rules = validate(c, rows[0], price)
        if c.fee_aware and c.maker_fee_bps is None and self._stop_asked is None:
            fees = self.http.get_fee_rates(category=c.category, symbol=c.symbol)["result"]
            rate = (fees.get("list") or [{}])[0].get("makerFeeRate")
            if rate is not None:
                self.config = c = replace(c, maker_fee_bps=float(Decimal(rate) * 10000))
        self.params = QuoteParams.build(c, self.rules)

    def _reconcile(self, previous: list[str]) -> None:
        """Resume the accounting, clear leftovers, and learn the position before quoting."""
        c = self.config
        if previous:
            self.ledger = self.journal.ledger(previous)
            last_fill = max((f.ts_ms for f in self.journal.fills(previous)), default=0)
            first = self.journal.runs(previous)[0]["started_ms"]
            self._sweep_from_ms = (last_fill or first) - 1000
        else:
            self._sweep_from_ms = self.started_ms
        if self._stop_asked is not None:
            return  # a signal during start-up: `run` goes straight to the REST-confirmed exit
        adopt = self._adoptable() if c.leftovers == "adopt" else {}
        leftovers = cancel_own(
            self.http,
            c.category,
            c.symbol,
            lambda link: self.owns(link) and link not in adopt,
            on_cancel=self._leftover_cancelled,
        )
        if leftovers:
            raise BybitctlError(
                f"{len(leftovers)} order(s) of an earlier run could not be cancelled; "
                "not quoting on top of them"
            )
        if adopt:
            self._adopt(adopt)
        try:
            if c.hedge_mode:
                self._switch_to_hedge_mode()
            self._book_and_read_position()
        except BaseException:
            if adopt:  # no run will watch them: leave nothing behind, as any failed start
                cancel_own(self.http, c.category, c.symbol, self.owns)
            raise
        if self.exchange_position is not None:
            self.position_offset = self.exchange_position - self.ledger.position
        if c.hedge_mode:
            self.hedge_legs = (
                max(self._legs.get(1, Decimal(0)), Decimal(0)),
                max(-self._legs.get(2, Decimal(0)), Decimal(0)),
            )
        self._update_inventory()
        if self._stop_asked is not None:
            return
        self._arm_dcp()
        if c.leverage is not None and c.category == "linear":
            with contextlib.suppress(Exception):  # 110043: leverage not modified
                self.http.set_leverage(
                    category=c.category,
                    symbol=c.symbol,
                    buyLeverage=str(c.leverage),
                    sellLeverage=str(c.leverage),
                )
        self.emit(
            {
                "event": "start",
                "run_id": self.run_id,
                "symbol": c.symbol,
                "category": c.category,
                "target": self.target,
                "resumed_runs": len(previous),
                "position": str(self.inventory.position),
                "maker_fee_bps": c.maker_fee_bps,
            }
        )

    def _adoptable(self) -> dict[str, dict[str, Any]]:
        """`leftovers = adopt`: the open orders of earlier runs this run takes over, by
        orderLinkId. One on a position index this run's mode cannot trade (one-way 0,
        hedge 1/2) is left out, so it is cancelled like any other leftover."""
        hedge = self.config.hedge_mode
        return {
            row["orderLinkId"]: row
            for row in open_orders(self.http, self.config.category, self.config.symbol)
            if self.owns(row.get("orderLinkId") or "")
            and row.get("orderStatus") in _LIVE
            and (int(row.get("positionIdx") or 0) in (1, 2)) == hedge
        }

    def _adopt(self, rows: dict[str, dict[str, Any]]) -> None:
        """Make leftovers this run's own, as the exchange listed them: open, at their price,
        qty and filled qty, so the first decision counts them against the limits and then
        keeps, amends or cancels them like its own quotes. Fills up to that filled qty are
        part of the position read next; `_on_execution` adds only later ones."""
        for link, row in rows.items():
            price = Decimal(row.get("price") or "0")
            qty = Decimal(row.get("qty") or "0")
            cum = Decimal(row.get("cumExecQty") or "0")
            self.orders[link] = OpenOrder(
                link,
                row.get("side", BUY),
                price,
                qty,
                cum,
                int(row.get("createdTime") or 0) or now_ms(),
                OPEN,
                int(row.get("positionIdx") or 0),
            )
            self.meta[link] = _Meta(exchange_cum=cum, adopted_cum=cum)
            self.journal.order_event(
                link, "adopt", row.get("side"), price, qty, row.get("orderStatus")
            )
            self.emit({"event": "reconcile", "adopted": link})
        if rows:
            self._adopted_hold_ms = now_ms() + self.config.stale_book_ms

    def _book_and_read_position(self) -> None:
        """Book our executions the journal lacks, then read the position, until a sweep
        right after the read books nothing new. Orders may fill meanwhile (adopted ones
        rest through start-up), and a fill booked on the wrong side of the read would be
        counted twice or never (the position offset is fixed from this read)."""
        self._sweep_executions()
        for _ in range(5):
            if self._stop_asked is not None:
                return
            booked = self.ledger.fills
            self.exchange_position = self._read_position()
            self._sweep_executions()
            if self.ledger.fills == booked:
                return

    def _leftover_cancelled(self, row: dict[str, Any]) -> None:
        self.journal.order_event(
            row.get("orderLinkId") or "",
            "leftover_cancel",
            row.get("side"),
            row.get("price"),
            row.get("qty"),
        )
        self.emit({"event": "reconcile", "cancelled": row.get("orderLinkId")})

    def _switch_to_hedge_mode(self) -> None:
        """Quotes on positionIdx 1/2 are refused in one-way mode (every place would be
        rejected), so the symbol is switched first; one that cannot switch (a position or
        other orders on it) is refused before anything is quoted."""
        symbol = self.config.symbol
        try:
            self.http.switch_position_mode(category="linear", symbol=symbol, mode=3)
        except Exception as exc:  # pybit raises InvalidRequestError with the retCode
            if getattr(exc, "status_code", None) == 110025:
                return  # already in hedge mode
            message = getattr(exc, "message", None) or str(exc)
            raise UsageError(
                f"mm config: hedge_mode: cannot switch {symbol} to hedge mode: {message}"
            ) from None
        self.emit({"event": "warning", "message": f"switched {symbol} to hedge mode"})

    def _arm_dcp(self) -> None:
        """Bybit's disconnect-cancel-all: if our private connection dies and stays dead
        for the window, the exchange cancels our orders itself. Not every account may."""
        product = "SPOT" if self.config.category == "spot" else "DERIVATIVES"
        try:
            self.http.set_dcp(timeWindow=10, product=product)
        except Exception as exc:  # unsupported on this account: the other guards remain
            self.emit({"event": "warning", "message": f"DCP not enabled: {exc}"})
        else:
            self.dcp_armed = True

    def _read_position(self) -> Decimal | None:
        if self.config.category == "spot":
            return None
        rows = self.http.get_positions(category="linear", symbol=self.config.symbol)["result"]
        self._legs = {}  # the position stream then updates one leg at a time
        for row in rows.get("list") or []:
            size = Decimal(row.get("size") or "0")
            self._legs[int(row.get("positionIdx") or 0)] = (
                -size if row.get("side") == "Sell" else size
            )
        return sum(self._legs.values(), Decimal(0))

    # -- run ------------------------------------------------------------------------------

    def run(self, duration_s: float | None = None) -> int:
        """Quote until `duration_s`, a stop request, a signal, the kill switch or the reject
        breaker; always end by pulling every order. Returns the exit code (1 if orders
        remain or the reject breaker stopped the run)."""
        # pybit's reader threads and this one share the GIL; a waiting thread gets it back
        # only at the switch interval (5 ms by default), which would be the latency tail
        # (see SWITCH_INTERVAL_S)
        switch = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        try:
            with self.signals():
                try:
                    if self._stop_asked is None:
                        with _gc_between_ticks():
                            self._start_feeds()
                            self._loop(duration_s)
                    else:  # asked to stop during start-up: nothing to quote, still confirm
                        self.stop_reason = self._stop_asked
                except BaseException as exc:
                    self.stop_reason = self.stop_reason or f"error: {type(exc).__name__}: {exc}"
                    self._shutdown()
                    raise
                self._shutdown()  # still under our handlers: a second signal cannot cut it short
        finally:
            sys.setswitchinterval(switch)
        return self.exit_code

    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        """SIGINT/SIGTERM ask for a stop and SIGUSR1 for a resume while inside; `mm start`
        wraps `prepare` too, so a signal during start-up also ends in the confirmed exit.
        Nested use (then `run`) keeps the outer handlers; off the main thread it does
        nothing (Python allows handlers only there)."""
        if self._signals_on or threading.current_thread() is not threading.main_thread():
            yield
            return
        handlers = self._install_signals()
        self._signals_on = True
        try:
            yield
        finally:
            self._signals_on = False
            for sig, old in handlers.items():
                signal.signal(sig, old)

    def request_stop(self, reason: str) -> None:
        """Ask the loop to stop (any thread; signal handlers use it). Before the loop runs
        (during `prepare`) it also cuts start-up short."""
        if self._stop_asked is None:
            self._stop_asked = reason
        self.inbox.put((STOP, "", 0, 0, reason))

    def request_resume(self) -> None:
        """Ask the loop to re-arm a paused (or cooling) kill switch (any thread; `mm resume`
        sends SIGUSR1, whose handler calls this)."""
        self.inbox.put((RESUME, "", 0, 0, None))

    def _install_signals(self) -> dict[int, Any]:
        handlers = {}
        for sig, name in ((signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM")):
            handlers[sig] = signal.signal(
                sig, lambda _s, _f, name=name: self.request_stop(f"signal:{name}")
            )
        usr1 = getattr(signal, "SIGUSR1", None)
        if usr1 is not None:
            handlers[usr1] = signal.signal(usr1, lambda _s, _f: self.request_resume())
        return handlers

    def _start_feeds(self) -> None:
        c = self.config
        self.public = public_feed(
            self.settings, c.category, c.symbol, BOOK_DEPTH, self.inbox, debug=self.debug
        )
        dcp_product = "spot" if self.config.category == "spot" else "future"
        self.private = private_feed(
            self.settings, self.inbox, dcp_product=dcp_product, debug=self.debug
        )
        self.executor.connect(wait=True)  # its answer is first on the queue
        self.public.start()
        self.private.start()

    def _loop(self, duration_s: float | None) -> None:
        """Hand events to whichever thread brings them, and run the timer every TIMER_S
        here until something sets `stop_reason`."""
        deadline = time.monotonic() + duration_s if duration_s else None
        warmup = None
        if self.config.warm_interval_ms:
            warmup = Warmup(
                self.config.warm_interval_ms,
                self._rehearsal,
                self.executor.rehearse,
                self._warmup_failed,
            )
        self.inbox.handler = self._on_events
        try:
            if warmup is not None:
                warmup.start()
            while self.stop_reason is None:
                with self.inbox.held() as q:
                    self._on_events(None, q)
                    self._timer()
                    mono = time.monotonic()
                    if deadline is not None and mono >= deadline and self.stop_reason is None:
                        self.stop_reason = "duration"
                time.sleep(TIMER_S)
        finally:
            if warmup is not None:
                warmup.stop()
                self.stats.warm_rounds = warmup.rounds
            self.inbox.handler = None
        if self._failure is not None:
            raise self._failure

    def _on_events(
        self,
        event: tuple[str, str, int, int, Any] | None,
        q: queue.SimpleQueue[tuple[str, str, int, int, Any]],
    ) -> None:
        """The inbox handler: `event`, then the queue, then one decision. Consecutive book
        messages are coalesced into one decision, but once a book message is waiting for
        its decision nothing else (private updates and their journal writes) goes first.
        An error ends the run: it is kept for the main thread and handling stops."""
        try:
            if event is not None:
                self._handle(event)
            while not q.empty():  # only the lock's holder takes from the queue
                item = q.get_nowait()
                if self._tick_ns and (item[0] != FRAME or item[1] != "public"):
                    self._decide_if_due()
                self._handle(item)
            self._decide_if_due()
            _collect_garbage()  # the tick just handled is quoted; the next is likely far
        except BaseException as exc:
            self._failure = self._failure or exc
            self.stop_reason = self.stop_reason or f"error: {type(exc).__name__}: {exc}"
            self.inbox.handler = None

    def _decide_if_due(self) -> None:
        if (
            self._dirty
            and self.stop_reason is None
            and self.params is not None
            and (not self._adopted_hold_ms or self._seeing())
        ):
            self._decide()

    def _seeing(self) -> bool:
        """Whether decisions may run. With adopted leftovers resting, the first one waits
        until the private stream is up and a book has arrived (else its guards would pull
        the orders just taken over only because nothing is seen yet; they rested unwatched
        since the earlier run ended), at most `stale_book_ms` from their adoption."""
        until = self._adopted_hold_ms
        if not until:
            return True
        private_up = self.private is not None and self.private.up
        if (private_up and self.guard.ts_ms) or now_ms() >= until:
            self._adopted_hold_ms = 0
            return True
        return False

    # -- events ---------------------------------------------------------------------------

    def _handle(self, item: tuple[str, str, int, int, Any]) -> None:
        kind, source, gen, t_ns, payload = item
        if kind == FRAME:
            feed = self.public if source == "public" else self.private
            if feed is None or gen != feed.gen:
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
        kill.resume(self.ledger.total(self._mark_decimal()))
        self.emit({"event": "kill", "state": kill.state, "reason": "resumed"})
        self._dirty = True
        self._status(now_ms())  # `mm resume` waits for kill_resumes to count this one

    def _on_connection(self, kind: str, source: str, gen: int, payload: Any) -> None:
        if source == "trade":
            accepted = self.executor.accept(kind, gen, payload)
        else:
            feed = self.public if source == "public" else self.private
            accepted = feed is not None and feed.accept(kind, gen, payload)
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
            self.book = OrderBook(self.config.symbol, depth=BOOK_DEPTH)
            self.guard.on_gap()
        if source == "private" and up:
            self._resync_due = True  # what happened while we could not hear it
        self._dirty = True

    def _on_public(self, frame: dict[str, Any], t_ns: int) -> None:
        topic = frame.get("topic")
        if topic is None:
            if frame.get("success") is False:
                raise BybitctlError(f"public subscription refused: {frame.get('ret_msg')}")
            return
        if topic.startswith("orderbook."):
            try:
                self.book.apply(frame)
            except BookError as exc:
                self.guard.on_gap()
                self.stats.resyncs += 1
                self.emit({"event": "resync", "reason": str(exc)})
                if self.public is not None:
                    self.public.resubscribe(topic)
                self._dirty = True
                return
            now = now_ms()
            if frame.get("type") == "snapshot":
                self.guard.on_snapshot(now)
            else:
                self.guard.on_message(now)
            if not self._tick_ns:
                self._tick_ns = t_ns
            self._dirty = True
            if self.params is not None and self.params.vol_multiplier:
                bid, ask = self.book.best_bid(), self.book.best_ask()
                if bid and ask:
                    self.vol.update((float(bid[0]) + float(ask[0])) * 0.5, now)
        elif topic.startswith("publicTrade."):
            data = frame.get("data") or []
            if data:
                self.last = float(data[-1]["p"])
                self.queues.on_trade_frame(data)
        elif topic.startswith("tickers."):
            mark = (frame.get("data") or {}).get("markPrice")
            if mark:
                self.mark = float(mark)

    def _on_private(self, frame: dict[str, Any]) -> None:
        topic = frame.get("topic")
        if topic is None:
            if frame.get("success") is False:
                raise ConfigError(f"private stream refused: {frame.get('ret_msg')}")
            return
        data = frame.get("data") or []
        if topic.startswith("execution"):
            for row in data:
                self._on_execution(row)
        elif topic.startswith("order"):
            for row in data:
                if row.get("symbol") == self.config.symbol:
                    self._on_order(row)
        elif topic.startswith("position"):
            for row in data:
                if row.get("symbol") == self.config.symbol:
                    size = Decimal(row.get("size") or "0")
                    idx = int(row.get("positionIdx") or 0)
                    self._legs[idx] = -size if row.get("side") == "Sell" else size
                    self.exchange_position = sum(self._legs.values(), Decimal(0))
        elif topic.startswith("wallet") and data:
            self.equity = data[0].get("totalEquity")

    def _on_order(self, row: dict[str, Any]) -> None:
        """The exchange's word on one of our orders (the authority on its state)."""
        link = row.get("orderLinkId") or ""
        if not self.owns(link):
            return
        status = row.get("orderStatus", "")
        price = Decimal(row.get("price") or "0")
        qty = Decimal(row.get("qty") or "0")
        cum = Decimal(row.get("cumExecQty") or "0")
        order = self.orders.get(link)
        self.journal.order_event(
            link, "update", row.get("side"), price, qty, status, row.get("rejectReason") or None
        )
        self.queues.on_order(row, self.book)
        if order is None:
            if status in _LIVE and link.startswith(self.run_id + "-"):
                # placed by a request whose answer timed out: adopt it
                self.orders[link] = OpenOrder(
                    link,
                    row.get("side", BUY),
                    price,
                    qty,
                    Decimal(0),
                    now_ms(),
                    OPEN,
                    int(row.get("positionIdx") or 0),
                )
                self.meta[link] = _Meta(exchange_cum=cum)
                self._dirty = True
            return
        meta = self.meta.setdefault(link, _Meta())
        meta.exchange_cum = cum
        if status in _LIVE:
            if order.status == PENDING_CANCEL:
                return
            if (
                order.status == PENDING_AMEND
                and meta.target is not None
                and (price, qty) != meta.target
            ):
                return  # an update from before our amend landed
            meta.prev = meta.target = None
            self.orders[link] = replace(order, price=price, qty=qty, status=OPEN)
        else:
            self._retire(link, cum)
        self._dirty = True

    def _retire(self, link: str, cum: Decimal) -> None:
        """The order is terminal at the exchange; it keeps counting for the qty whose fills
        have not reached us yet, then goes."""
        self.queues.forget(link)
        order = self.orders.get(link)
        if order is None:
            return
        if order.filled >= cum:
            del self.orders[link]
            self.meta.pop(link, None)
            return
        self.orders[link] = replace(order, qty=cum, status=PENDING_CANCEL)
        self.meta.setdefault(link, _Meta()).gone = True

    def _on_execution(self, row: dict[str, Any]) -> None:
        link = row.get("orderLinkId") or ""
        if row.get("symbol") != self.config.symbol or not self.owns(link):
            return
        if row.get("execType", "Trade") != "Trade":
            return
        fill = Fill(
            row["side"],
            Decimal(row["execPrice"]),
            Decimal(row["execQty"]),
            Decimal(row.get("execFee") or "0"),
            self._mid_decimal(),
            bool(row.get("isMaker")),
            int(row.get("execTime") or now_ms()),
            link,
        )
        if not self.journal.fill(row["execId"], fill):
            return  # seen already (stream and REST sweep overlap)
        self.ledger.apply(fill)
        now = now_ms()
        self.risk.mmp.on_fill(fill.qty, now, fill.is_maker)
        order = self.orders.get(link)
        meta = self.meta.get(link)
        if order is not None and not _before_adoption(meta, row):
            filled = order.filled + fill.qty
            if meta is not None and meta.gone and filled >= order.qty:
                del self.orders[link]
                del self.meta[link]
            else:
                self.orders[link] = replace(order, filled=filled)
        if self.config.hedge_mode:
            idx = _fill_position_idx(row, order)
            self.hedge_legs = legs_after_fill(*self.hedge_legs, fill.side, fill.qty, idx)
        self._update_inventory(fill.side, now)
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
        self._fills_recent = [*self._fills_recent[-9:], event]
        self.emit(event)

    def _update_inventory(self, side: str | None = None, at_ms: int = 0) -> None:
        inv = self.inventory
        self.inventory = Inventory(
            position=self.ledger.position + self.position_offset,
            avg_price=self.ledger.avg_price,
            last_buy_fill_ms=at_ms if side == "Buy" else inv.last_buy_fill_ms,
            last_sell_fill_ms=at_ms if side == "Sell" else inv.last_sell_fill_ms,
            long=self.hedge_legs[0],
            short=self.hedge_legs[1],
        )

    def _on_results(self, results: list[tuple[Action, int, str]], path: str) -> None:
        """Answers to our requests; success needs nothing (the order stream confirms),
        a refusal undoes the optimistic state."""
        if any(code in _RATE_CODES for _, code, _ in results):
            self.risk.budget.throttle(now_ms())
        for action, code, message in results:
            link = action.link_id
            if isinstance(action, Place) and code != -1 and code not in _TRANSIENT_CODES:
                self._count_place_result(code, message)
            if code == 0:
                continue  # the order stream's update (journaled) is the exchange's word
            if code == -1:
                self.stats.timeouts += 1
                self._resync_due = True
            else:
                self.stats.rejects += 1
            self.journal.order_event(link, "reject", status=str(code), detail=message)
            order = self.orders.get(link)
            if order is None or code == -1:
                continue
            meta = self.meta.setdefault(link, _Meta())
            if isinstance(action, Place):
                if order.status == PENDING_NEW:
                    del self.orders[link]
                    self.meta.pop(link, None)
            elif code in _GONE_CODES:
                self._retire(link, meta.exchange_cum)
            elif isinstance(action, Amend) and order.status == PENDING_AMEND:
                price, qty = meta.prev or (order.price, order.qty)
                self.orders[link] = replace(order, price=price, qty=qty, status=OPEN)
                meta.prev = meta.target = None
            elif isinstance(action, Cancel) and order.status == PENDING_CANCEL and not meta.gone:
                self.orders[link] = replace(order, status=OPEN)
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

    def _count_place_result(self, code: int, message: str) -> None:
        """The reject breaker: `reject_limit` place rejects in a row with one retCode, all
        within `reject_window_s`, end the run (`rejects:<retCode>`) instead of retrying at
        the rate budget forever (no margin, a price band, a closed market: a condition the
        bot cannot fix). An accepted place or another code starts the count again."""
        limit = self.config.reject_limit
        if not limit:
            return
        if code == 0 or code != self._reject_code:
            self._rejects = []
            self._reject_code = code
            if code == 0:
                return
        now = now_ms()
        horizon = now - int(self.config.reject_window_s * 1000)
        self._rejects = [t for t in self._rejects if t > horizon]
        self._rejects.append(now)
        if len(self._rejects) >= limit and self.stop_reason is None:
            self.stop_reason = f"rejects:{code}"
            self.exit_code = EXCHANGE_REJECTED
            self.emit(
                {
                    "event": "rejects",
                    "code": code,
                    "count": len(self._rejects),
                    "message": message,
                }
            )

    # -- deciding -------------------------------------------------------------------------

    def _view(self, now: int) -> BookView:
        return book_view(
            self.book,
            self.guard.ts_ms,
            resyncing=self.guard.resyncing,
            last=self.last,
            mark=self.mark,
            vol_bps=self.vol.value(now) if self.config.vol_scaling else 0.0,
            private_ok=self.private is not None and self.private.up,
            halt=self.risk.halt(now),
        )

    def _decide(self) -> None:
        """One decision on the current state; actions are sent at once."""
        assert self.params is not None
        self._dirty = False
        now = now_ms()
        view = self._view(now)
        decision = decide(
            self.params, view, self.inventory, tuple(self.orders.values()), now, self.state
        )
        self.state = decision.state
        self.stats.decisions += 1
        sent, deferred = self.risk.budget.admit(decision.actions, now)
        latency = None
        if sent:
            via_ws = self.executor.submit(sent)
            done = time.perf_counter_ns()
            if via_ws and self._tick_ns:
                latency = (done - self._tick_ns) / 1000.0
                self.stats.latencies.append(latency)
            if via_ws:
                self.stats.ws_actions += len(sent)
            else:
                self.stats.http_actions += len(sent)
            self._applied(sent, now)
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
        self._basis = (view, self.inventory, tuple(self.orders.values()), self.state)

    def _rehearsal(self) -> tuple[Callable[..., Decision], tuple[Any, ...]] | None:
        """The inputs of one rehearsed decision, for the warm-up thread (`bybitctl.mm.warmup`):
        the last decision's inputs with the book (and the last and mark prices) moved past
        the refresh tolerance, alternately up and down, so the strategy acts whatever its
        reference. None within `warm_interval_ms` of the last book message and while nothing
        is quoted. Reads only what `_decide` published (one attribute), so it takes no lock
        and never handles an event on the warm-up thread."""
        basis, params = self._basis, self.params
        if basis is None or params is None or self.stop_reason is not None:
            return None
        now = now_ms()
        if now - self.guard.ts_ms < self.config.warm_interval_ms:
            return None
        view, inventory, orders, state = basis
        if view.bid <= 0 or view.ask <= 0:
            return None
        ticks = 1 + math.ceil(params.tol_bps * view.ask * 1e-4 / params.tick)
        self._warm_sign = -self._warm_sign
        move = self._warm_sign * ticks * params.tick
        view = view._replace(
            bid=view.bid + move,
            ask=view.ask + move,
            last=view.last + move if view.last else view.last,
            mark=view.mark + move if view.mark else view.mark,
        )
        return decide, (params, view, inventory, orders, now, state)

    def _warmup_failed(self, exc: BaseException) -> None:
        """The warm-up thread stopped on an error; the timer reports it (on its thread)."""
        self._warmup_error = f"warm-up stopped: {type(exc).__name__}: {exc}"

    def _applied(self, actions: tuple[Action, ...], now: int) -> None:
        """Optimistic state for actions just sent (undone by a refusal)."""
        journal = self.journal
        for a in actions:
            if isinstance(a, Place):
                self.stats.orders_placed += 1
                self.orders[a.link_id] = OpenOrder(
                    a.link_id, a.side, a.price, a.qty, Decimal(0), now, PENDING_NEW, a.position_idx
                )
                self.meta[a.link_id] = _Meta(level=a.level, sent_ms=now)
                journal.order_event(a.link_id, "place", a.side, a.price, a.qty)
            elif isinstance(a, Amend):
                self.stats.orders_amended += 1
                old = self.orders[a.link_id]
                meta = self.meta.setdefault(a.link_id, _Meta())
                meta.prev = (old.price, old.qty)
                meta.target = (a.price, a.qty)
                meta.sent_ms = now
                self.orders[a.link_id] = replace(
                    old, price=a.price, qty=max(old.qty, a.qty), status=PENDING_AMEND
                )
                journal.order_event(a.link_id, "amend", old.side, a.price, a.qty)
            else:
                self.stats.orders_cancelled += 1
                old = self.orders[a.link_id]
                self.orders[a.link_id] = replace(old, status=PENDING_CANCEL)
                self.meta.setdefault(a.link_id, _Meta()).sent_ms = now
                journal.order_event(a.link_id, "cancel", old.side, detail=a.reason)

    # -- timer ----------------------------------------------------------------------------

    def _timer(self) -> None:
        now = now_ms()
        if self._warmup_error:
            self.emit({"event": "warning", "message": self._warmup_error})
            self._warmup_error = ""
        for feed in (self.public, self.private):
            if feed is not None:
                why = feed.check()
                if why is not None:
                    self.emit(
                        {
                            "event": "connection",
                            "stream": feed.source,
                            "state": "down",
                            "detail": why,
                        }
                    )
                    self._feed_changed(feed.source, False)
        self.executor.check()
        if not self._resync_due and self._unconfirmed(now):
            self._resync_due = True
            self.emit({"event": "warning", "message": "order update overdue: resync over REST"})
        if self._resync_due and self.private is not None and self.private.up:
            self._resync_due = False
            self._resync_orders()
        if self._last_timer_ms and self._two_sided():
            self.quoted_ms += now - self._last_timer_ms
        self._last_timer_ms = now
        episodes = self.guard.stale_episodes
        if self.guard.stale(now) and self.guard.stale_episodes != episodes and self.guard.ts_ms:
            # connected but silent: ask for the topic again (a fresh snapshot ends it)
            self.emit({"event": "stale", "since_ms": self.guard.ts_ms})
            if self.public is not None:
                self.public.resubscribe(f"orderbook.{BOOK_DEPTH}.{self.config.symbol}")
            self._dirty = True
        before = self.risk.kill.state
        kill = self.risk.kill.update(self.ledger.total(self._mark_decimal()), now)
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
            self._status(now)

    def _unconfirmed(self, now: int) -> bool:
        """Whether an order still waits for the stream's word on an action sent more than
        UNCONFIRMED_MS ago."""
        horizon = now - UNCONFIRMED_MS
        meta = self.meta
        return any(
            o.status != OPEN and 0 < meta[link].sent_ms < horizon
            for link, o in self.orders.items()
            if link in meta
        )

    def _two_sided(self) -> bool:
        sides = {o.side for o in self.orders.values() if o.status in (OPEN, PENDING_AMEND)}
        return len(sides) == 2

    def _status(self, now: int) -> None:
        snapshot = self.snapshot(now)
        self.journal.update_run(now - self.started_ms, self.quoted_ms)
        self.journal.heartbeat("running", snapshot)
        mid = self._mid_decimal()
        if mid:
            self.journal.pnl(mid, self.ledger.summary(mid))
        self.emit({"event": "status", **snapshot})

    def snapshot(self, now: int | None = None) -> dict[str, Any]:
        """The live state as plain data (dashboard, `mm status`, JSONL status events)."""
        now = now if now is not None else now_ms()
        bid, ask = self.book.best_bid(), self.book.best_ask()
        mark = self._mark_decimal()
        lat = self.stats.latencies[-2000:]
        quotes = []
        levels = {BUY: self.book.bids(), "Sell": self.book.asks()}
        self.queues.refresh(self.book, self.orders)  # the level-shrink part, here not per tick
        for o in sorted(self.orders.values(), key=lambda o: (o.side, -o.price)):
            # our order is part of this size; prices compare as numbers ("100.10" is 100.1)
            size = level_size(levels[o.side], o.price, bids=o.side == BUY)
            book_qty = str(size) if size else None
            ahead = self.queues.ahead(o.link_id, o.price)
            quotes.append(
                {
                    "side": o.side,
                    "price": str(o.price),
                    "qty": str(o.remaining),
                    "status": o.status,
                    "level_qty": book_qty,
                    "queue_ahead": None if ahead is None else str(ahead),
                    "level": self.meta.get(o.link_id, _Meta()).level,
                }
            )
        elapsed = max(1, now - self.started_ms)
        return {
            "run_id": self.run_id,
            "symbol": self.config.symbol,
            "uptime_s": round(elapsed / 1000, 1),
            "guard": self.reason or "quoting",
            "kill": self.risk.kill.state,
            "kill_resumes": self.risk.kill.resumes,
            "mmp": self.risk.mmp.active(now),
            "public": bool(self.public and self.public.up),
            "private": bool(self.private and self.private.up),
            "trade_ws": self.executor.ws_up,
            "bid": list(bid) if bid else None,
            "ask": list(ask) if ask else None,
            "quotes": quotes,
            "position": str(self.inventory.position),
            "exchange_position": None
            if self.exchange_position is None
            else str(self.exchange_position),
            "realized_pnl": str(self.ledger.realized),
            "unrealized_pnl": str(self.ledger.unrealized(mark)) if mark else "0",
            "fees": str(self.ledger.fees),
            "fills": self.ledger.fills,
            "equity": self.equity,
            "orders_placed": self.stats.orders_placed,
            "orders_amended": self.stats.orders_amended,
            "orders_cancelled": self.stats.orders_cancelled,
            "rejects": self.stats.rejects,
            "latency_us": {
                "p50": round(percentile(lat, 0.5), 1),
                "p99": round(percentile(lat, 0.99), 1),
                "n": len(lat),
            },
            "quote_uptime_pct": round(100.0 * self.quoted_ms / elapsed, 1),
            "recent_fills": self._fills_recent,
        }

    # -- reconciliation -------------------------------------------------------------------

    def _resync_orders(self) -> None:
        """After a private-stream gap or an unanswered request: read the open orders and
        our executions over REST and make the local state match."""
        try:
            rows = open_orders(self.http, self.config.category, self.config.symbol)
            if self._stop_asked is not None:
                return  # stopping: the exit settles every order within its bound
            self._sweep_executions()
        except Exception as exc:  # REST unreachable: try again on the next timer
            self._resync_due = True
            self.emit({"event": "warning", "message": f"order resync failed: {exc}"})
            return
        live = {r["orderLinkId"]: r for r in rows if self.owns(r.get("orderLinkId") or "")}
        horizon = now_ms() - UNCONFIRMED_MS
        for link, order in list(self.orders.items()):
            meta = self.meta.setdefault(link, _Meta())
            overdue = 0 < meta.sent_ms < horizon  # answered long ago: REST settles it
            if overdue:
                meta.sent_ms = 0
            if link in live:
                if overdue and order.status in (PENDING_AMEND, PENDING_CANCEL):
                    meta.prev = meta.target = None
                    self.orders[link] = replace(order, status=OPEN)
                self._on_order(live.pop(link))
            elif order.status != PENDING_NEW or overdue:
                self._retire(link, max(meta.exchange_cum, order.filled))
        for row in live.values():
            self._on_order(row)
        self._dirty = True

    def _sweep_executions(self) -> None:
        """Book every execution of ours since the sweep mark that the journal lacks."""
        since = max(self._sweep_from_ms, now_ms() - SWEEP_WINDOW_MS)
        c = self.config
        pages = paged(
            self.http.get_executions,
            category=c.category,
            symbol=c.symbol,
            startTime=since,
            limit=100,
        )
        for rows in pages:
            if self._stop_asked is not None:
                return  # the exit sweeps again, within its bound
            for row in reversed(rows):  # oldest first, as the ledger expects
                if self.owns(row.get("orderLinkId") or "") and not self.journal.has_fill(
                    row["execId"]
                ):
                    self._on_execution(row)

    # -- shutdown -------------------------------------------------------------------------

    def _shutdown(self) -> None:
        """Pull everything, confirm, flatten if asked, book the last fills; with the inbox
        held, so this thread alone reads the events from here on."""
        with self.inbox.held():
            self._pull_and_confirm()

    def _pull_and_confirm(self) -> None:
        """The exit, bounded by SHUTDOWN_S however slow or unreachable the exchange is.

        Every order we know is cancelled over the trade socket and, in parallel, over REST
        (`bybitctl.mm.shutdown`). The order stream's answers are heard until each order is
        confirmed gone (at most DRAIN_S); then the trade socket closes and unsent HTTP jobs
        are dropped, so once the HTTP request in progress (if any) has returned, nothing of
        ours can land any more, and a REST listing that shows none of our orders confirms the
        exit. The stream is still heard while REST works. What neither the stream nor REST
        confirmed gone is `remaining` (reported, exit code 1; DCP cancels it on the exchange
        once our connections are gone); the executions read at the end reconcile the fills
        (`reconciled`), and the position is flattened only after a confirmed exit."""
        reason = self.stop_reason or "stopped"
        deadline = time.monotonic() + SHUTDOWN_S
        self.emit({"event": "stopping", "reason": reason})
        with contextlib.suppress(Exception):
            self.journal.heartbeat("stopping", {"reason": reason})
        c = self.config
        cancels = tuple(
            Cancel(link, "exit") for link, o in self.orders.items() if o.status != PENDING_CANCEL
        )
        with contextlib.suppress(Exception):  # a dead socket: REST covers every order
            self._applied(self.executor.submit_ws(cancels), now_ms())
        from bybitctl.client import make_http

        rest = ExitRest(
            lambda: make_http(self.settings, auth=True, debug=self.debug),
            c.category,
            c.symbol,
            self.owns,
            list(self.orders),
            deadline - FINISH_S,
            timeout_s=float(self.settings.timeout),
            sweep_since_ms=max(self._sweep_from_ms, now_ms() - SWEEP_WINDOW_MS),
            flatten=self._flatten if c.flatten_on_exit else None,
        )
        rest.start()
        self._drain(min(deadline, time.monotonic() + DRAIN_S), lambda: not self.orders)
        for action in self.executor.close():
            if isinstance(action, Place) and self.orders.get(action.link_id) is not None:
                self._forget(action.link_id)  # never sent: no such order exists
        while not rest.done and time.monotonic() < deadline - FINISH_S:
            if not self.executor.sending:
                rest.quiet()
            self._drain(min(deadline - FINISH_S, time.monotonic() + TIMER_S), lambda: rest.done)
        result = rest.finish()
        for feed in (self.public, self.private):
            if feed is not None:
                threading.Thread(target=feed.close, daemon=True).start()
        self._book_exit(result)
        if self._last_timer_ms and self._two_sided():
            self.quoted_ms += now_ms() - self._last_timer_ms
        elapsed = now_ms() - self.started_ms if self.started_ms else 0
        mid = self._mid_decimal()
        if mid:
            self.journal.pnl(mid, self.ledger.summary(mid))
        self.journal.end_run(
            reason, len(self.remaining), elapsed, self.quoted_ms, reconciled=self.reconciled
        )
        self.journal.heartbeat(
            "stopped",
            {
                "reason": reason,
                "open_orders": len(self.remaining),
                "reconciled": self.reconciled,
            },
        )
        if self.remaining:
            self.exit_code = EXCHANGE_REJECTED
        elif not self.exit_code and (not self.confirmed_over_rest or not self.reconciled):
            self.exit_code = NETWORK
        self.emit(
            {
                "event": "stopped",
                "reason": reason,
                "open_orders": len(self.remaining),
                "reconciled": self.reconciled,
            }
        )

    def _book_exit(self, result: ExitResult) -> None:
        """Take in what the exit's REST side achieved: its cancels (journaled), its
        executions (booked, as by any sweep), and which orders are not confirmed gone."""
        for row in result.cancelled:
            self.stats.orders_cancelled += 1
            self.journal.order_event(
                row.get("orderLinkId") or "", "cancel", row.get("side"), detail="exit:rest"
            )
        for event in result.events:
            self.emit(event)
        if result.executions is not None:
            for row in result.executions:
                if not self.journal.has_fill(row.get("execId") or ""):
                    self._on_execution(row)
        self.reconciled = result.executions is not None
        self.confirmed_over_rest = result.confirmed
        self.exit_error = result.error
        if result.confirmed:
            self.remaining = []
        elif result.listed is not None:
            # listed after the exit went quiet, and its cancel did not take (yet): still
            # open, unless the stream confirmed one of this run's own gone since
            mine = self.run_id + "-"
            self.remaining = [
                row
                for row in result.listed
                if row.get("orderLinkId") in self.orders
                or not str(row.get("orderLinkId")).startswith(mine)
            ]
        else:  # REST never listed: what the order stream did not confirm gone
            self.remaining = [
                {"orderLinkId": link, "orderStatus": o.status, "reason": "unconfirmed"}
                for link, o in self.orders.items()
            ]
        for row in self.remaining:
            self.journal.order_event(
                row.get("orderLinkId") or "",
                "unconfirmed",
                row.get("side"),
                status=row.get("orderStatus"),
            )

    def exit_notes(self) -> list[str]:
        """What the exit could not do, one line each, for stderr (empty after a clean
        exit): the orders not confirmed gone, and a REST confirmation or reconciliation
        that the exchange's silence prevented."""
        notes = []
        why = f" ({self.exit_error})" if self.exit_error else ""
        if self.remaining:
            links = ", ".join(
                f"{o.get('orderLinkId', '?')} (last known: {o.get('orderStatus') or 'open'})"
                for o in self.remaining[:5]
            )
            more = f" and {len(self.remaining) - 5} more" if len(self.remaining) > 5 else ""
            notes.append(
                f"error: {len(self.remaining)} order(s) not confirmed cancelled at exit{why}: "
                f"{links}{more}"
            )
            notes.append(
                "  DCP is armed: the exchange cancels them itself once this bot's connection "
                "has been gone for 10 s"
                if self.dcp_armed
                else "  DCP is not armed on this account: check them on the exchange"
            )
        elif not self.confirmed_over_rest and self.started_ms:
            notes.append(
                f"warning: the exit could not list open orders over REST{why}; the order "
                "stream confirmed every order of this run gone"
            )
        if not self.reconciled and self.started_ms:
            notes.append(
                f"warning: fills not reconciled with the exchange's executions{why}: the "
                "report counts the fills received over the stream only (the next run on "
                "this journal books any that are missing)"
            )
        return notes

    def _forget(self, link: str) -> None:
        self.orders.pop(link, None)
        self.meta.pop(link, None)
        self.queues.forget(link)

    def _drain(self, until: float, done: Callable[[], bool]) -> None:
        """Handle what arrives (answers, order updates, fills; no decisions) until `done()`
        or the monotonic time `until`."""
        while not done() and time.monotonic() < until:
            try:
                item = self.inbox.get(timeout=min(TIMER_S, max(0.0, until - time.monotonic())))
            except queue.Empty:
                continue
            if item[0] != STOP:
                with contextlib.suppress(Exception):
                    self._handle(item)

    def _flatten(self, http: Any) -> list[dict[str, Any]]:
        """`flatten_on_exit` (on the exit's REST thread, with its client): close the position
        with a reduce-only market order (the only market order the bot ever sends); in hedge
        mode one per leg, on its positionIdx. Returns the events to emit."""
        events: list[dict[str, Any]] = []
        for n, (side, qty, idx) in enumerate(self._legs_to_close(http)):
            kwargs: dict[str, Any] = {
                "category": self.config.category,
                "symbol": self.config.symbol,
                "side": side,
                "orderType": "Market",
                "qty": str(qty),
                # ours, unlike any strategy id (those count from 1): the fill is booked
                "orderLinkId": f"{self.run_id}-{'0' * (n + 1)}",
            }
            if self.config.category == "linear":
                kwargs["reduceOnly"] = True
            if idx:
                kwargs["positionIdx"] = idx
            try:
                http.place_order(**kwargs)
                events.append({"event": "flatten", "side": side, "qty": str(qty)})
            except Exception as exc:  # report it; the position stays for the user to handle
                events.append({"event": "warning", "message": f"flatten failed: {exc}"})
        return events

    def _legs_to_close(self, http: Any) -> list[tuple[str, Decimal, int]]:
        """(closing side, qty, positionIdx) per open leg: the net position, or in hedge mode
        the long leg (idx 1) and the short leg (idx 2) separately (read over REST; spot has
        no position there, its inventory is ours)."""
        if self.config.category != "linear":
            position = self.inventory.position
            return [("Sell" if position > 0 else "Buy", abs(position), 0)] if position else []
        rows = http.get_positions(category="linear", symbol=self.config.symbol)["result"]
        legs = []
        net = Decimal(0)
        for row in rows.get("list") or []:
            size = Decimal(row.get("size") or "0")
            if size:
                closing = "Sell" if row.get("side") == "Buy" else "Buy"
                legs.append((closing, size, int(row.get("positionIdx") or 0)))
                net += size if row.get("side") == "Buy" else -size
        if self.config.hedge_mode:
            return legs
        return [("Sell" if net > 0 else "Buy", abs(net), 0)] if net else []

    # -- prices ---------------------------------------------------------------------------

    def _mid_decimal(self) -> Decimal:
        bid, ask = self.book.best_bid(), self.book.best_ask()
        if bid and ask:
            return (Decimal(bid[0]) + Decimal(ask[0])) / 2
        return Decimal(str(self.last)) if self.last else Decimal(0)

    def _mark_decimal(self) -> Decimal:
        return Decimal(str(self.mark)) if self.mark else self._mid_decimal()


@contextlib.contextmanager
def _gc_between_ticks() -> Iterator[None]:
    """Run the cyclic GC only where it delays no tick: objects from start-up are frozen out
    of its scans and automatic collections (0.1-1 ms pauses that land in whichever thread
    allocates, often mid-tick) give way to `_collect_garbage` after each decision."""
    if not gc.isenabled():
        yield
        return
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def _collect_garbage() -> None:
    """The collection the automatic GC would have run by now (same thresholds), if any."""
    counts, limits = gc.get_count(), gc.get_threshold()
    for generation in (2, 1, 0):
        if counts[generation] > limits[generation]:
            gc.collect(generation)
            return


def _before_adoption(meta: _Meta | None, row: dict[str, Any]) -> bool:
    """Whether an execution is part of the filled qty its order had when adopted (counted
    already): the order's cumulative fill after it, orderQty - leavesQty, is within it."""
    if meta is None or not meta.adopted_cum:
        return False
    try:
        return Decimal(row["orderQty"]) - Decimal(row["leavesQty"]) <= meta.adopted_cum
    except (KeyError, ArithmeticError):  # fields missing: count it, as for any fill
        return False


def _fill_position_idx(row: dict[str, Any], order: OpenOrder | None) -> int:
    """The leg a fill traded in hedge mode: its order's; for an order we do not hold (the
    exit's market orders), a fill that closed a position (`closedSize`) is on the leg its
    side closes, any other on the leg its side opens."""
    if order is not None:
        return order.position_idx
    try:
        closes = Decimal(row.get("closedSize") or "0") > 0
    except ArithmeticError:
        closes = False
    return leg_index(row.get("side", ""), closing=closes)


def _config_dict(config: MMConfig) -> dict[str, Any]:
    from dataclasses import fields

    return {f.name: getattr(config, f.name) for f in fields(config)}
