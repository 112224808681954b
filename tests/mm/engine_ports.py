"""Scripted ports for driving the engine deterministically: a fake clock that moves only when
the engine waits, feeds and an executor the test drives, and a small in-memory venue behind
the executor, the REST port and the exit's REST side, answering the way Bybit does (a
retCode per action, then the order stream's word, executions with their order's update).

Nothing here runs a thread or sleeps: the engine's loop `sleep`s and `get`s on the fake clock,
which runs whatever the script (or the venue) scheduled up to the new time, in order.
"""

from __future__ import annotations

import heapq
import itertools
import queue
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from support.synthetic import LINEAR_INSTRUMENT

from bybitctl.mm.actions import Action, Amend, Place
from bybitctl.mm.config import from_mapping
from bybitctl.mm.engine import Engine
from bybitctl.mm.executor import REPLY
from bybitctl.mm.feeds import DOWN, FRAME, UP
from bybitctl.mm.inbox import Event, Inbox
from bybitctl.mm.journal import Journal
from bybitctl.mm.orders import TIMEOUT
from bybitctl.mm.ports import Ports
from bybitctl.mm.shutdown import ExitPlan, ExitResult

from .helpers import BASE, SYMBOL, book_frame

START_MS = 1_700_000_000_000
RUN = "mmaaaaaa"
"""The engine's run id in these tests (prefix `mm` + six characters, as a live one)."""


class FakeClock:
    """Time that passes only when the engine waits. `at`/`after` schedule script steps; a
    wait runs every step due up to its end, each at its own time, in order."""

    def __init__(self, start_ms: int = START_MS) -> None:
        self.ns = start_ms * 1_000_000
        self._due: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def now_ms(self) -> int:
        return self.ns // 1_000_000

    def monotonic(self) -> float:
        return self.ns / 1e9

    def perf_ns(self) -> int:
        return self.ns

    def at(self, ms: int, step: Callable[[], None]) -> None:
        """Run `step` at `ms` after the start."""
        heapq.heappush(self._due, (START_MS * 1_000_000 + ms * 1_000_000, next(self._seq), step))

    def after(self, ms: float, step: Callable[[], None]) -> None:
        """Run `step` `ms` from now."""
        heapq.heappush(self._due, (self.ns + int(ms * 1_000_000), next(self._seq), step))

    def sleep(self, seconds: float) -> None:
        self._run_until(self.ns + int(seconds * 1e9))

    def get(self, inbox: Inbox, timeout: float) -> Event:
        end = self.ns + int(timeout * 1e9)
        while True:
            try:
                return inbox.get(0)
            except queue.Empty:
                if not self._due or self._due[0][0] > end:
                    self.ns = max(self.ns, end)
                    return inbox.get(0)
                at, _, step = heapq.heappop(self._due)
                self.ns = max(self.ns, at)
                step()

    def _run_until(self, end: int) -> None:
        while self._due and self._due[0][0] <= end:
            at, _, step = heapq.heappop(self._due)
            self.ns = max(self.ns, at)
            step()
        self.ns = max(self.ns, end)


class ScriptedFeed:
    """A public or private stream: connects when started (unless `refuse` says why not),
    delivers what the script sends, and drops when told; like the live feed it reconnects
    after a delay once its loss is accepted."""

    def __init__(self, source: str, inbox: Inbox, clock: FakeClock) -> None:
        self.source = source
        self.inbox = inbox
        self.clock = clock
        self.gen = 0
        self.up = False
        self.starts = 0
        self.refuse = ""
        self.resubscribed: list[str] = []
        self.closed = False
        self.reconnect_ms = 200
        self.on_up: list[Callable[[], None]] = []
        self._retry_at: int | None = None

    def start(self) -> None:
        self.gen += 1
        self.starts += 1
        self._retry_at = None
        kind, payload = (DOWN, f"connect failed: {self.refuse}") if self.refuse else (UP, "ok")
        self.inbox.put((kind, self.source, self.gen, 0, payload))

    def accept(self, kind: str, gen: int, payload: Any) -> bool:
        if gen != self.gen:
            return False
        if kind == UP:
            self.up = True
            for step in self.on_up:
                step()
        else:
            self.up = False
            self.gen += 1
            self._retry_at = self.clock.now_ms() + self.reconnect_ms
        return True

    def check(self) -> str | None:
        if self._retry_at is not None and self.clock.now_ms() >= self._retry_at:
            self.start()
        return None

    def resubscribe(self, topic: str) -> None:
        self.resubscribed.append(topic)

    def close(self) -> None:
        self.closed = True
        self.up = False

    def send(self, frame: dict[str, Any]) -> None:
        """A decoded frame, as pybit's callback hands it over."""
        self.inbox.put((FRAME, self.source, self.gen, self.clock.perf_ns(), frame))

    def drop(self, detail: str = "connection closed") -> None:
        self.inbox.put((DOWN, self.source, self.gen, 0, detail))


@dataclass
class VenueOrder:
    link: str
    side: str
    price: Decimal
    qty: Decimal
    cum: Decimal = Decimal(0)
    status: str = "New"
    idx: int = 0
    cancel_type: str = ""

    def row(self) -> dict[str, Any]:
        return {
            "symbol": SYMBOL,
            "orderLinkId": self.link,
            "side": self.side,
            "price": str(self.price),
            "qty": str(self.qty),
            "cumExecQty": str(self.cum),
            "orderStatus": self.status,
            "positionIdx": self.idx,
            "cancelType": self.cancel_type,
            "createdTime": str(START_MS),
            "updatedTime": str(START_MS),
        }


@dataclass
class Venue:
    """The exchange behind the scripted ports: our orders, executions and position. Actions
    are answered `latency_ms` after they are sent: the retCode (a `refusals` entry for the
    action's kind, if any, else 0), then the order's update on the private stream (unless
    `lose_updates`). `silent` answers nothing (the executor's timeout then answers -1)."""

    clock: FakeClock
    inbox: Inbox
    private: ScriptedFeed
    latency_ms: int = 2
    orders: dict[str, VenueOrder] = field(default_factory=dict)
    executions: list[dict[str, Any]] = field(default_factory=list)
    refusals: dict[type, deque[int]] = field(default_factory=dict)
    lose_updates: bool = False
    silent: bool = False
    rest_down: bool = False
    listings: int = 0
    mmp: dict[str, Any] | None = None
    """The exchange's MMP as armed (settings, `frozen_until` ms; options)."""
    _exec_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def refuse(self, kind: type, *codes: int) -> None:
        """Answer the next actions of `kind` with `codes`, one each."""
        self.refusals.setdefault(kind, deque()).extend(codes)

    def receive(self, actions: Sequence[Action]) -> None:
        if self.silent:
            return
        self.clock.after(self.latency_ms, lambda: self._answer(tuple(actions)))

    def _answer(self, actions: tuple[Action, ...]) -> None:
        results = []
        updates = []
        for a in actions:
            code = self._code(a)
            results.append((a, code, "refused" if code else "OK"))
            if code == 0:
                updates.append(self._apply(a))
        self.inbox.put((REPLY, "ws", 0, self.clock.perf_ns(), results))
        if not self.lose_updates:
            for order in updates:
                self.update(order)

    def _code(self, a: Action) -> int:
        if isinstance(a, Place) and self.mmp and self.clock.now_ms() < self.mmp["frozen_until"]:
            return 110066  # MMP frozen: new MMP orders refused
        queued = self.refusals.get(type(a))
        if queued:
            return queued.popleft()
        if not isinstance(a, Place) and a.link_id not in self.orders:
            return 110001
        return 0

    def _apply(self, a: Action) -> VenueOrder:
        if isinstance(a, Place):
            order = VenueOrder(a.link_id, a.side, a.price, a.qty, idx=a.position_idx)
            self.orders[a.link_id] = order
            return order
        order = self.orders[a.link_id]
        if isinstance(a, Amend):
            order.price, order.qty = a.price, a.qty
        else:
            order.status = "Cancelled"
            del self.orders[a.link_id]
        return order

    def update(self, order: VenueOrder) -> None:
        self.private.send({"topic": "order", "data": [order.row()]})

    def fill(
        self,
        link: str,
        qty: str,
        *,
        fee: str = "0",
        stream: bool = True,
        update_first: bool = False,
    ) -> None:
        """Our order `link` trades `qty` at its price, as maker: the execution, then the
        order's update (`update_first`: the other way round; `stream` off: the exchange
        booked it, we never heard)."""
        order = self.orders[link]
        amount = Decimal(qty)
        order.cum += amount
        order.status = "Filled" if order.cum >= order.qty else "PartiallyFilled"
        if order.status == "Filled":
            del self.orders[link]
        row = {
            "symbol": SYMBOL,
            "orderLinkId": link,
            "execId": f"e{next(self._exec_ids)}",
            "side": order.side,
            "execPrice": str(order.price),
            "execQty": qty,
            "execFee": fee,
            "isMaker": True,
            "execTime": str(self.clock.now_ms()),
            "execType": "Trade",
            "orderQty": str(order.qty),
            "leavesQty": str(order.qty - order.cum),
        }
        self.executions.append(row)
        if not stream:
            return
        if update_first:
            self.update(order)
        self.private.send({"topic": "execution", "data": [row]})
        if not update_first:
            self.update(order)

    def trip_mmp(self) -> None:
        """The exchange's MMP fires: every open order cancelled (`CancelByMmp`, in one order
        message) and new ones refused until the frozen period ends."""
        assert self.mmp is not None
        self.mmp["frozen_until"] = self.clock.now_ms() + int(self.mmp["frozenPeriod"])
        rows = []
        for link in list(self.orders):
            order = self.orders.pop(link)
            order.status, order.cancel_type = "Cancelled", "CancelByMmp"
            rows.append(order.row())
        self.private.send({"topic": "order", "data": rows})

    def settle_funding(self, paid: str, position: str, *, stream: bool = True) -> dict[str, Any]:
        """A funding settlement of the position, as Bybit reports it: an execution of type
        Funding with no orderLinkId, `execFee` what was paid (`stream` off: never heard)."""
        size = Decimal(position)
        row = {
            "symbol": SYMBOL,
            "orderLinkId": "",
            "execId": f"e{next(self._exec_ids)}",
            "side": "Buy" if size > 0 else "Sell",
            "execPrice": "100",
            "execQty": str(abs(size)),
            "execFee": paid,
            "feeRate": "0.0001" if size > 0 else "-0.0001",
            "isMaker": False,
            "execTime": str(self.clock.now_ms()),
            "execType": "Funding",
            "orderQty": "0",
            "leavesQty": "0",
        }
        self.executions.append(row)
        if stream:
            self.private.send({"topic": "execution", "data": [row]})
        return row

    def open_rows(self) -> list[dict[str, Any]]:
        return [o.row() for o in self.orders.values()]


class ScriptedExecutor:
    """The engine's executor over the venue: every batch it submits is recorded and handed
    to the venue; a request unanswered for `timeout_ms` is answered -1, as the live one."""

    def __init__(self, inbox: Inbox, clock: FakeClock, venue: Venue) -> None:
        self.inbox = inbox
        self.clock = clock
        self.venue = venue
        self.batches: list[tuple[Action, ...]] = []
        self.gen = 0
        self.ws = False
        self.closed = False
        self.sending = False
        self.timeout_ms = 5_000
        self._pending: list[tuple[int, tuple[Action, ...]]] = []

    @property
    def ws_up(self) -> bool:
        return self.ws

    def connect(self, *, wait: bool = False) -> None:
        self.gen += 1
        self.inbox.put((UP, "trade", self.gen, 0, "ws"))

    def accept(self, kind: str, gen: int, payload: Any) -> bool:
        if gen != self.gen:
            return False
        self.ws = kind == UP
        return True

    def check(self) -> None:
        now = self.clock.now_ms()
        late = [p for p in self._pending if now - p[0] > self.timeout_ms]
        for entry in late:
            self._pending.remove(entry)
            self.inbox.put((REPLY, "timeout", 0, 0, [(a, TIMEOUT, "no answer") for a in entry[1]]))

    def submit(self, actions: Sequence[Action]) -> bool:
        batch = tuple(actions)
        self.batches.append(batch)
        if self.venue.silent:
            self._pending.append((self.clock.now_ms(), batch))
        self.venue.receive(batch)
        return self.ws

    def submit_ws(self, actions: Sequence[Action]) -> tuple[Action, ...]:
        if not self.ws or not actions:
            return ()
        self.submit(actions)
        return tuple(actions)

    def close(self) -> list[Action]:
        self.closed = True
        self.ws = False
        return []

    def sent(self, kind: type | None = None) -> list[Action]:
        return [a for batch in self.batches for a in batch if kind is None or type(a) is kind]


class VenueRest:
    """The REST port over the venue (`rest_down`: every call fails as unreachable)."""

    def __init__(self, venue: Venue, positions: list[dict[str, Any]] | None = None) -> None:
        self.venue = venue
        self.rows = positions or []
        self.dcp = 0

    def _reach(self) -> None:
        if self.venue.rest_down:
            raise ConnectionError("unreachable")

    def instrument(self) -> dict[str, Any] | None:
        self._reach()
        return {**LINEAR_INSTRUMENT, "baseCoin": "SIM"}

    def last_price(self) -> Decimal | None:
        return Decimal(100)

    def maker_fee_rate(self) -> Decimal | None:
        return Decimal("0.0002")

    def open_orders(self) -> list[dict[str, Any]]:
        self._reach()
        self.venue.listings += 1
        return self.venue.open_rows()

    def executions(self, since_ms: int) -> Iterator[list[dict[str, Any]]]:
        self._reach()
        yield list(reversed(self.venue.executions))

    def positions(self) -> list[dict[str, Any]]:
        self._reach()
        return self.rows

    def cancel_batch(self, links: list[str]) -> list[str]:
        self._reach()
        gone = [link for link in links if link in self.venue.orders]
        for link in gone:
            order = self.venue.orders.pop(link)
            order.status = "Cancelled"
            self.venue.update(order)  # the order stream reports it, as for any cancel
        return gone

    def cancel_one(self, link: str) -> None:
        if not self.cancel_batch([link]):
            raise LookupError("110001 order does not exist")

    def switch_to_hedge_mode(self) -> None:
        self._reach()

    def set_dcp(self, window_s: int) -> None:
        self.dcp = window_s

    def set_leverage(self, leverage: Decimal) -> None:
        return None

    def set_mmp(
        self, base_coin: str, window_ms: int, frozen_ms: int, qty: Decimal, delta: Decimal
    ) -> None:
        self._reach()
        old = self.venue.mmp or {"frozen_until": 0}
        self.venue.mmp = {
            "baseCoin": base_coin,
            "window": window_ms,
            "frozenPeriod": frozen_ms,
            "qtyLimit": qty,
            "deltaLimit": delta,
            "frozen_until": old["frozen_until"],  # new settings keep a freeze, as Bybit
        }

    def mmp_state(self, base_coin: str) -> dict[str, Any] | None:
        self._reach()
        mmp = self.venue.mmp
        if mmp is None:
            return None
        frozen = self.venue.clock.now_ms() < mmp["frozen_until"]
        until = str(mmp["frozen_until"]) if frozen else "0"
        return {"baseCoin": base_coin, "mmpFrozen": frozen, "mmpFrozenUntil": until}

    def place_market(self, side: str, qty: Decimal, link: str, position_idx: int) -> None:
        raise NotImplementedError("no flattening in these tests")


class VenueExit:
    """The exit's REST side over the venue, synchronous: the known orders are cancelled when
    it starts; once quiet it lists, cancels what is left, and reads the executions. With
    `rest_down` it never finishes (the engine's bound ends the exit)."""

    def __init__(self, venue: Venue, rest: VenueRest, plan: ExitPlan) -> None:
        self.venue = venue
        self.rest = rest
        self.plan = plan
        self.result = ExitResult()
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    def start(self) -> None:
        if self.venue.rest_down:
            return
        cancelled = self.rest.cancel_batch([link for link in self.plan.known])
        self.result.cancelled.extend({"orderLinkId": link} for link in cancelled)

    def quiet(self) -> None:
        if self.venue.rest_down or self._done:
            return
        left = self.rest.open_orders()
        self.rest.cancel_batch([row["orderLinkId"] for row in left])
        self.result.listed = []
        self.result.confirmed = True
        self.result.executions = list(self.venue.executions)
        self._done = True

    def finish(self) -> ExitResult:
        if not self._done:
            self.result.error = "no answer from the exchange in time"
        return self.result


@dataclass
class Harness:
    """One engine on scripted ports, and what it emitted."""

    clock: FakeClock
    inbox: Inbox
    venue: Venue
    public: ScriptedFeed
    private: ScriptedFeed
    executor: ScriptedExecutor
    rest: VenueRest
    engine: Engine
    journal: Journal
    events: list[dict[str, Any]] = field(default_factory=list)
    times: list[int] = field(default_factory=list)
    """When (ms after the start) each of `events` was emitted."""
    _u: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.times.append(self.clock.now_ms() - START_MS)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]

    def when(self, kind: str, **fields: Any) -> list[int]:
        """The times of the events of `kind` (with `fields`)."""
        return [
            t
            for e, t in zip(self.events, self.times, strict=True)
            if e["event"] == kind and all(e.get(k) == v for k, v in fields.items())
        ]

    def book(self, bid: str, ask: str, size: str = "1", kind: str = "snapshot") -> None:
        """A book message with one level a side."""
        self.public.send(book_frame(kind, next(self._u), [(bid, size)], [(ask, size)]))

    def gap(self) -> None:
        """A delta whose update id skips one: the book can no longer be trusted."""
        next(self._u)
        self.public.send(book_frame("delta", next(self._u), [("99.50", "1")], []))

    def book_at(self, ms: int, bid: str = "99.99", ask: str = "100.01") -> None:
        self.clock.at(ms, lambda: self.book(bid, ask))

    def resting(self) -> dict[str, tuple[str, Decimal]]:
        """Our orders at the venue: link -> (side, price)."""
        return {o.link: (o.side, o.price) for o in self.venue.orders.values()}

    def run(self, seconds: float) -> int:
        """Prepare and run the engine for `seconds` of fake time (its exit included)."""
        self.engine.prepare()
        return self.engine.run(seconds)


def harness(
    tmp_path: Path, *, positions: list[dict[str, Any]] | None = None, **over: Any
) -> Harness:
    """An engine quoting SIMUSDT (tick 0.01, step 0.001) on scripted ports."""
    clock = FakeClock()
    inbox = Inbox()
    public = ScriptedFeed("public", inbox, clock)
    private = ScriptedFeed("private", inbox, clock)
    venue = Venue(clock, inbox, private)
    executor = ScriptedExecutor(inbox, clock, venue)
    rest = VenueRest(venue, positions)
    journal = Journal(tmp_path / "journal.sqlite")
    ports = Ports(
        clock=clock,
        inbox=inbox,
        rest=rest,
        executor=executor,
        public=public,
        private=private,
        exit_rest=lambda plan: VenueExit(venue, rest, plan),
    )
    config = from_mapping({**BASE, "stale_book_ms": 1_000, "rate_limit": 100, **over})
    engine = Engine(config, journal, ports, target="script", run_id=RUN)
    h = Harness(clock, inbox, venue, public, private, executor, rest, engine, journal)
    engine.emit = h.emit
    return h
