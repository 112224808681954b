"""The engine's one event queue, handled where the event arrives.

Every source (pybit's public and private reader threads, the trade socket's replies, the HTTP
worker, signal handlers) `put`s `(kind, source, gen, t_ns, payload)` tuples here.
Events are handled one batch at a time, in arrival order, by whichever thread brings one while
no other thread is handling: a book frame is decided on the reader thread that decoded it.
A separate decision thread would add a wake-up between the two (measured in
`benchmarks/results_mm.txt`: 60-130 µs at the median, milliseconds at p99 on a busy machine),
and it would take the GIL from the reader decoding the rest of the same burst. Handling
stays serial, so the engine's state needs no lock of its own.

A thread that finds the handler busy leaves its event queued; the handler drains the queue
before it lets go, and every release re-checks the queue, so no event waits for the next one.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Event = tuple[str, str, int, int, Any]
"""`(kind, source, gen, t_ns, payload)`: feeds put `frame`/`up`/`down`
(`bybitctl.mm.feeds`), the executor `reply` (`bybitctl.mm.executor`), and the engine's own
requests `STOP` and `RESUME` (from signal handlers and `mm resume`)."""
STOP = "stop"
RESUME = "resume"
Handler = Callable[["Event | None", "queue.SimpleQueue[Event]"], None]
"""`handler(event, queue)`: handle `event` (None: none in hand), then everything queued."""


class Inbox:
    """A queue plus the lock that makes its handler run on one thread at a time."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self.handler: Handler | None = None
        """Drains the queue; None while nobody handles events on arrival (before the run
        starts and during shutdown, whose owner reads the queue itself with `get`)."""

    def put(self, event: Event) -> None:
        """Handle `event` now if no other thread is handling and nothing waits before it
        (any thread); otherwise queue it for whoever handles next."""
        handler, q, lock = self.handler, self._queue, self._lock
        if handler is not None and q.empty() and lock.acquire(blocking=False):
            try:
                handler(event, q)
            finally:
                lock.release()
        else:
            q.put(event)
        self.pump()

    def pump(self) -> None:
        """Run the handler while events wait and the lock is free; never blocks."""
        q, lock = self._queue, self._lock
        while not q.empty():
            handler = self.handler
            if handler is None or not lock.acquire(blocking=False):
                return
            try:
                handler(None, q)
            finally:
                lock.release()

    @contextmanager
    def held(self) -> Iterator[queue.SimpleQueue[Event]]:
        """Hold the handler's lock (waiting for it), e.g. to run the timer or the shutdown;
        events arriving meanwhile are handled on release."""
        with self._lock:
            yield self._queue
        self.pump()

    def get(self, timeout: float) -> Event:
        """Take the next event, waiting up to `timeout` s (raises `queue.Empty`); for the
        owner of `held`, when the handler is off."""
        return self._queue.get(timeout=timeout)
