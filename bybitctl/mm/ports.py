"""What the engine talks to, passed in: the clock, the inbox, the feeds, the executor, the REST
side and the exit's REST work. `bybitctl.mm.live` builds the real ones (pybit over the
network); the engine's tests pass scripted ones and a fake clock, so a whole run (quotes,
fills, refusals, reconnects, stale books, the exit) is deterministic.

Each port is described here by what the engine calls on it; the live classes are
`bybitctl.mm.feeds.Feed`, `bybitctl.mm.executor.Executor`, `bybitctl.mm.rest.Rest` and
`bybitctl.mm.shutdown.ExitRest`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from bybitctl.mm.actions import Action
from bybitctl.mm.inbox import Event, Inbox

if TYPE_CHECKING:
    from bybitctl.mm.shutdown import ExitPlan, ExitResult


class Clock(Protocol):
    """The engine's time: wall-clock ms for what it records and decides on, a monotonic clock
    for its deadlines, a ns counter for tick-to-quote, and the waits of its main thread."""

    def now_ms(self) -> int: ...
    def monotonic(self) -> float: ...
    def perf_ns(self) -> int: ...
    def sleep(self, seconds: float) -> None: ...
    def get(self, inbox: Inbox, timeout: float) -> Event:
        """The next queued event, waiting up to `timeout` s (raises `queue.Empty`)."""
        ...


class SystemClock:
    """The system's clocks; waits block the calling thread."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()

    def perf_ns(self) -> int:
        return time.perf_counter_ns()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def get(self, inbox: Inbox, timeout: float) -> Event:
        return inbox.get(timeout)


class FeedPort(Protocol):
    """A stream whose frames and connection changes arrive in the inbox as `source`."""

    source: str
    gen: int
    up: bool

    def start(self) -> None: ...
    def accept(self, kind: str, gen: int, payload: Any) -> bool: ...
    def check(self) -> str | None: ...
    def resubscribe(self, topic: str) -> None: ...
    def close(self) -> None: ...


class ExecutorPort(Protocol):
    """Performs order actions; answers arrive in the inbox as `reply` events."""

    @property
    def ws_up(self) -> bool: ...
    @property
    def sending(self) -> bool: ...
    def connect(self, *, wait: bool = False) -> None: ...
    def accept(self, kind: str, gen: int, payload: Any) -> bool: ...
    def check(self) -> None: ...
    def submit(self, actions: Sequence[Action]) -> bool: ...
    def submit_ws(self, actions: Sequence[Action]) -> tuple[Action, ...]: ...
    def close(self) -> list[Action]: ...


class RestPort(Protocol):
    """The REST calls of start-up and resyncs (`bybitctl.mm.rest.Rest`)."""

    def instrument(self) -> dict[str, Any] | None: ...
    def last_price(self) -> Decimal | None: ...
    def maker_fee_rate(self) -> Decimal | None: ...
    def open_orders(self) -> list[dict[str, Any]]: ...
    def executions(self, since_ms: int) -> Iterator[list[dict[str, Any]]]: ...
    def positions(self) -> list[dict[str, Any]]: ...
    def cancel_batch(self, links: list[str]) -> list[str]: ...
    def cancel_one(self, link: str) -> None: ...
    def switch_to_hedge_mode(self) -> None: ...
    def set_dcp(self, window_s: int) -> None: ...
    def set_mmp(
        self, base_coin: str, window_ms: int, frozen_ms: int, qty: Decimal, delta: Decimal
    ) -> None: ...
    def mmp_state(self, base_coin: str) -> dict[str, Any] | None: ...
    def set_leverage(self, leverage: Decimal) -> None: ...
    def place_market(self, side: str, qty: Decimal, link: str, position_idx: int) -> None: ...


class ExitWork(Protocol):
    """The exit's REST side, running beside the engine's own exit steps."""

    @property
    def done(self) -> bool: ...
    def start(self) -> None: ...
    def quiet(self) -> None: ...
    def finish(self) -> ExitResult: ...


@dataclass(frozen=True)
class Ports:
    """Everything the engine performs I/O or reads time through."""

    clock: Clock
    inbox: Inbox
    rest: RestPort
    executor: ExecutorPort
    public: FeedPort
    private: FeedPort
    exit_rest: Callable[[ExitPlan], ExitWork]
