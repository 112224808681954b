"""The exit, bounded in time: every order pulled and its end confirmed, the position
flattened when asked, the fills reconciled, all within `SHUTDOWN_S` however slow or
unreachable the exchange is. Every path out of a run ends here: a duration, a stop or
signal, the kill switch, the reject breaker, an error.

`pull_and_confirm` runs on the engine's main thread with the inbox held (so it alone reads
the events from then on):

1. every order the engine knows is cancelled over the trade socket and, at the same time,
   over REST by orderLinkId (`ExitRest`, on clients of its own), so either path can be the
   one that gets through;
2. the order stream's answers are heard until each order is confirmed gone (at most
   `DRAIN_S`); then the executor closes (the trade socket, and the HTTP requests not sent
   yet: a dropped place made no order), so once the request in progress, if any, has
   returned, nothing of ours can land any more (`quiet`);
3. REST lists the symbol's open orders, cancels any of ours and lists again until none is
   left, the stream still heard meanwhile;
4. only then the position is flattened, if `flatten_on_exit` asks (reduce-only market
   orders, one per leg in hedge mode: the only market orders the bot ever sends);
5. our executions are read and the missing ones booked (`reconciled`).

What neither the stream nor REST confirmed gone is `remaining` (journaled, reported, exit
code 1; the DCP the engine armed then cancels it on the exchange once our connections are
gone); an exit that could not list or reconcile over REST says so (exit code 4).

`ExitRest` touches neither the engine's state nor its journal: its results are collected under
a lock and booked by `book_exit` on the engine's thread. At the deadline its threads are
abandoned (daemon threads: they end with the process) and the result says what could not be
confirmed. The engine gets its `ExitRest` through a port (`Ports.exit_rest`), so its tests run
the exit against a script.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bybitctl import pybit_compat
from bybitctl.errors import EXCHANGE_REJECTED, NETWORK
from bybitctl.mm.accounting import booked
from bybitctl.mm.actions import PENDING_CANCEL, Cancel, Place
from bybitctl.mm.inbox import STOP
from bybitctl.mm.rest import SWEEP_WINDOW_MS, Rest, cancel_links

if TYPE_CHECKING:
    from bybitctl.mm.engine import Engine

SHUTDOWN_S = 10.0
"""The exit's bound: from the moment the stop is handled to the run's end (report written
within a fraction of a second after). A signal is handled once the request in progress, if
any, has returned: each REST request is bounded by the HTTP timeout (10 s by default)."""
DRAIN_S = 1.5
"""How long the exit waits for the order stream to confirm the trade socket's cancels before
it closes the socket: they take milliseconds when the exchange is well."""
FINISH_S = 0.5
"""Kept at the end of `SHUTDOWN_S` for the engine's own bookkeeping (journal, feeds)."""
SETTLE_S = 0.3
"""After a flattening market order, the wait before the executions are read, so its fill is
among them."""
STEP_S = 0.05
"""The longest single wait for an event while the exit hears the stream."""


@dataclass(frozen=True)
class ExitPlan:
    """What the exit's REST side is to do: cancel `known` at once; once quiet, confirm none
    of ours is left, `flatten` if given, read our executions since `sweep_since_ms`; all by
    the monotonic time `deadline`."""

    known: list[str]
    deadline: float
    sweep_since_ms: int
    flatten: Callable[[Any], list[dict[str, Any]]] | None = None


def pull_and_confirm(engine: Engine) -> None:
    """The exit (see the module docstring); the engine's inbox is held by the caller."""
    clock, tracker, executor = engine.clock, engine.tracker, engine.executor
    reason = engine.stop_reason or "stopped"
    deadline = clock.monotonic() + SHUTDOWN_S
    engine.emit({"event": "stopping", "reason": reason})
    with contextlib.suppress(Exception):
        engine.journal.heartbeat("stopping", {"reason": reason})
    cancels = tuple(
        Cancel(link, "exit") for link, o in tracker.orders.items() if o.status != PENDING_CANCEL
    )
    with contextlib.suppress(Exception):  # a dead socket: REST covers every order
        engine.applied(executor.submit_ws(cancels), clock.now_ms())
    plan = ExitPlan(
        list(tracker.orders),
        deadline - FINISH_S,
        max(engine.sweep_from_ms, clock.now_ms() - SWEEP_WINDOW_MS),
        (lambda rest: flatten(engine, rest)) if engine.config.flatten_on_exit else None,
    )
    rest = engine.exit_rest(plan)
    rest.start()
    hear(engine, min(deadline, clock.monotonic() + DRAIN_S), lambda: not tracker.orders)
    for action in executor.close():
        if isinstance(action, Place) and action.link_id in tracker.orders:
            tracker.forget(action.link_id)  # never sent: no such order exists
    while not rest.done and clock.monotonic() < deadline - FINISH_S:
        if not executor.sending:
            rest.quiet()
        hear(engine, min(deadline - FINISH_S, clock.monotonic() + STEP_S), lambda: rest.done)
    result = rest.finish()
    for feed in (engine.public, engine.private):  # a hung peer must not hold the exit
        threading.Thread(target=feed.close, daemon=True).start()
    book_exit(engine, result)
    now = clock.now_ms()
    if engine.last_timer_ms and tracker.two_sided():
        engine.quoted_ms += now - engine.last_timer_ms
    elapsed = now - engine.started_ms if engine.started_ms else 0
    mid = engine.market.mid()
    if mid:
        engine.journal.pnl(mid, engine.ledger.summary(mid))
    left = len(engine.remaining)
    engine.journal.end_run(reason, left, elapsed, engine.quoted_ms, reconciled=engine.reconciled)
    outcome = {"reason": reason, "open_orders": left, "reconciled": engine.reconciled}
    engine.journal.heartbeat("stopped", outcome)
    if engine.remaining:
        engine.exit_code = EXCHANGE_REJECTED
    elif not engine.exit_code and (not engine.confirmed_over_rest or not engine.reconciled):
        engine.exit_code = NETWORK
    engine.emit({"event": "stopped", **outcome})


def hear(engine: Engine, until: float, done: Callable[[], bool]) -> None:
    """Handle what arrives (answers, order updates, fills; no decisions, no stop requests)
    until `done()` or the monotonic time `until`."""
    clock = engine.clock
    while not done() and clock.monotonic() < until:
        try:
            item = clock.get(engine.inbox, min(STEP_S, max(0.0, until - clock.monotonic())))
        except queue.Empty:
            continue
        if item[0] != STOP:
            with contextlib.suppress(Exception):
                engine.handle(item)


def book_exit(engine: Engine, result: ExitResult) -> None:
    """Take in what the exit's REST side achieved: its cancels (journaled), its
    executions (booked, as by any sweep), and which orders are not confirmed gone."""
    journal, tracker = engine.journal, engine.tracker
    for row in result.cancelled:
        engine.stats.orders_cancelled += 1
        journal.order_event(
            row.get("orderLinkId") or "", "cancel", row.get("side"), detail="exit:rest"
        )
    for event in result.events:
        engine.emit(event)
    if result.executions is not None:
        for row in result.executions:
            if not journal.has_fill(row.get("execId") or ""):
                engine.on_execution(row)
    engine.reconciled = result.executions is not None
    engine.confirmed_over_rest = result.confirmed
    engine.exit_error = result.error
    if result.confirmed:
        engine.remaining = []
    elif result.listed is not None:
        # listed after the exit went quiet, and its cancel did not take (yet): still
        # open, unless the stream confirmed one of this run's own gone since
        mine = engine.run_id + "-"
        engine.remaining = [
            row
            for row in result.listed
            if row.get("orderLinkId") in tracker.orders
            or not str(row.get("orderLinkId")).startswith(mine)
        ]
    else:  # REST never listed: what the order stream did not confirm gone
        engine.remaining = [
            {"orderLinkId": link, "orderStatus": o.status, "reason": "unconfirmed"}
            for link, o in tracker.orders.items()
        ]
    for row in engine.remaining:
        journal.order_event(
            row.get("orderLinkId") or "",
            "unconfirmed",
            row.get("side"),
            status=row.get("orderStatus"),
        )


def exit_notes(engine: Engine) -> list[str]:
    """What the exit could not do, one line each, for stderr (empty after a clean exit):
    the orders not confirmed gone, and a REST confirmation or reconciliation that the
    exchange's silence prevented."""
    notes = []
    why = f" ({engine.exit_error})" if engine.exit_error else ""
    remaining = engine.remaining
    if remaining:
        links = ", ".join(
            f"{o.get('orderLinkId', '?')} (last known: {o.get('orderStatus') or 'open'})"
            for o in remaining[:5]
        )
        more = f" and {len(remaining) - 5} more" if len(remaining) > 5 else ""
        notes.append(
            f"error: {len(remaining)} order(s) not confirmed cancelled at exit{why}: {links}{more}"
        )
        notes.append(
            "  DCP is armed: the exchange cancels them itself once this bot's connection "
            "has been gone for 10 s"
            if engine.dcp_armed
            else "  DCP is not armed on this account: check them on the exchange"
        )
    elif not engine.confirmed_over_rest and engine.started_ms:
        notes.append(
            f"warning: the exit could not list open orders over REST{why}; the order "
            "stream confirmed every order of this run gone"
        )
    if not engine.reconciled and engine.started_ms:
        notes.append(
            f"warning: fills not reconciled with the exchange's executions{why}: the "
            "report counts the fills received over the stream only (the next run on "
            "this journal books any that are missing)"
        )
    return notes


def flatten(engine: Engine, rest: Any) -> list[dict[str, Any]]:
    """`flatten_on_exit` (on the exit's REST thread, with its client): close the position
    with a reduce-only market order (the only market order the bot ever sends); in hedge
    mode one per leg, on its positionIdx. Returns the events to emit."""
    events: list[dict[str, Any]] = []
    for n, (side, qty, idx) in enumerate(_legs_to_close(engine, rest)):
        # ours, unlike any strategy id (those count from 1): the fill is booked
        link = f"{engine.run_id}-{'0' * (n + 1)}"
        try:
            rest.place_market(side, qty, link, idx)
            events.append({"event": "flatten", "side": side, "qty": str(qty)})
        except Exception as exc:  # report it; the position stays for the user to handle
            events.append({"event": "warning", "message": f"flatten failed: {exc}"})
    return events


def _legs_to_close(engine: Engine, rest: Any) -> list[tuple[str, Decimal, int]]:
    """(closing side, qty, positionIdx) per open leg: the net position, or in hedge mode
    the long leg (idx 1) and the short leg (idx 2) separately (read over REST; spot has
    no position there, its inventory is ours)."""
    if engine.config.category != "linear":
        position = engine.inventory.position
        return [("Sell" if position > 0 else "Buy", abs(position), 0)] if position else []
    legs = []
    net = Decimal(0)
    for row in rest.positions():
        size = Decimal(row.get("size") or "0")
        if size:
            closing = "Sell" if row.get("side") == "Buy" else "Buy"
            legs.append((closing, size, int(row.get("positionIdx") or 0)))
            net += size if row.get("side") == "Buy" else -size
    if engine.config.hedge_mode:
        return legs
    return [("Sell" if net > 0 else "Buy", abs(net), 0)] if net else []


@dataclass
class ExitResult:
    """What the exit's REST work achieved by the time it finished or ran out of time."""

    cancelled: list[dict[str, Any]] = field(default_factory=list)
    """Orders whose REST cancel the exchange accepted."""
    confirmed: bool = False
    """A listing made once nothing of ours could land any more showed none of our orders."""
    listed: list[dict[str, Any]] | None = None
    """Our open orders in the last such listing (None: no listing succeeded then)."""
    executions: list[dict[str, Any]] | None = None
    """Our executions since the sweep mark, oldest first (None: they could not be read)."""
    events: list[dict[str, Any]] = field(default_factory=list)
    """Events for the engine to emit (the flattening's)."""
    error: str = ""
    """The last REST failure, for the report."""


class ExitRest:
    """The exit's REST side for one symbol, carrying out an `ExitPlan` on two threads with a
    pybit client each, whose every request times out by the plan's deadline: *cancel* (the
    known orders, at once) and *confirm* (once `quiet`: list and cancel until none of ours is
    left, flatten, read the executions)."""

    def __init__(
        self,
        make_http: Callable[[], Any],
        category: str,
        symbol: str,
        owns: Callable[[str], bool],
        plan: ExitPlan,
        *,
        timeout_s: float,
    ) -> None:
        self._make_http = make_http
        self._category = category
        self._symbol = symbol
        self._owns = owns
        self._plan = plan
        self._timeout_s = timeout_s
        self._result = ExitResult()
        self._lock = threading.Lock()
        self._quiet = threading.Event()
        self._over = threading.Event()
        self._threads = [
            threading.Thread(target=self._guarded, args=(work,), daemon=True, name=f"mm-exit-{n}")
            for n, work in (("cancel", self._cancel_known), ("confirm", self._confirm))
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def quiet(self) -> None:
        """No request of ours can land any more: listings from now on can confirm."""
        self._quiet.set()

    @property
    def done(self) -> bool:
        return not any(thread.is_alive() for thread in self._threads)

    def finish(self) -> ExitResult:
        """Stop waiting: the result so far (threads still running are abandoned)."""
        self._over.set()
        silent = "" if self.done else "no answer from the exchange in time"
        with self._lock:
            result = self._result
            return ExitResult(
                list(result.cancelled),
                result.confirmed,
                None if result.listed is None else list(result.listed),
                None if result.executions is None else list(result.executions),
                list(result.events),
                result.error or silent,
            )

    # -- the threads ----------------------------------------------------------------------

    def _guarded(self, work: Callable[[Rest], None]) -> None:
        try:
            http = _Bounded(self._make_http(), self._plan.deadline, self._timeout_s)
            work(Rest(http, self._category, self._symbol))
        except Exception as exc:  # out of time, or unreachable: the result says so
            self._failed(exc)

    def _cancel_known(self, rest: Rest) -> None:
        if self._plan.known:
            self._cancel(rest, [{"orderLinkId": link} for link in self._plan.known])

    def _confirm(self, rest: Rest) -> None:
        deadline = self._plan.deadline
        self._quiet.wait(max(0.0, deadline - time.monotonic()))
        attempt = 0
        while not self._quiet_listing(rest):
            attempt += 1
            if self._over.wait(min(0.2 * attempt, 1.0)) or time.monotonic() >= deadline:
                return
        if self._plan.flatten is not None:
            events = self._plan.flatten(rest)
            with self._lock:
                self._result.events.extend(events)
            if events:
                self._over.wait(SETTLE_S)
        rows = [
            row
            for page in rest.executions(self._plan.sweep_since_ms)
            for row in page
            if booked(self._owns, row)
        ]
        with self._lock:
            self._result.executions = rows[::-1]  # the exchange lists newest first

    def _quiet_listing(self, rest: Rest) -> bool:
        """One round: list (once quiet), cancel ours; True when the listing showed none."""
        if not self._quiet.is_set():
            return False
        try:
            own = [row for row in rest.open_orders() if self._owns(row.get("orderLinkId") or "")]
        except Exception as exc:  # unreachable or slow: try again while time remains
            self._failed(exc)
            return False
        with self._lock:
            self._result.listed = own
            self._result.confirmed = not own
        if own:
            self._cancel(rest, own)
        return not own

    def _cancel(self, rest: Rest, rows: list[dict[str, Any]]) -> None:
        """Cancel `rows` by orderLinkId; records those the exchange accepted."""
        accepted = set(cancel_links(rest, [r["orderLinkId"] for r in rows], self._failed))
        with self._lock:
            self._result.cancelled.extend(r for r in rows if r["orderLinkId"] in accepted)

    def _failed(self, exc: BaseException) -> None:
        """Keep why the exchange could not be reached (its refusals, e.g. of a cancel for an
        order gone already, say it was reached)."""
        text = _unreached(exc)
        if text:
            with self._lock:
                self._result.error = text


class _Bounded:
    """A pybit HTTP client whose every request times out by `deadline` (at most `cap` s);
    past the deadline a request is not even sent."""

    def __init__(self, http: Any, deadline: float, cap: float) -> None:
        self._http = http
        self._deadline = deadline
        self._cap = cap

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._http, name)

        def call(**kwargs: Any) -> Any:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the exit's time ran out")
            pybit_compat.set_timeout(self._http, min(self._cap, left))
            return method(**kwargs)

        return call


def _unreached(exc: BaseException) -> str:
    """One line for a request that did not get an answer from the exchange ("" when the
    exchange answered, refusing it): pybit's and requests' errors as the CLI says them."""
    from bybitctl.cli import translate
    from bybitctl.errors import ExchangeError

    error = translate(exc) if isinstance(exc, Exception) else None
    if isinstance(error, ExchangeError):
        return ""
    if error is not None:
        return error.message
    return f"{type(exc).__name__}: {exc}".splitlines()[0]
