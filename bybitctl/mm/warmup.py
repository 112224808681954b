"""Keeping the tick-to-quote path warm while the market is quiet.

Book messages come tens of milliseconds apart, and by the time the next one arrives the
CPU's caches hold other work: the same tick then runs two to three times slower than when
it follows another at once (`benchmarks/results_mm.txt`). The kernel's TCP send path goes
cold as well: one `send(2)` on loopback takes ~80 µs after 30 ms of silence and ~10 µs
within a millisecond of another send. So while no book message comes, a thread of its own
rehearses a tick every `warm_interval_ms`:

- a delta applied to a scratch order book (the real one only follows the exchange);
- a decision on the engine's latest inputs with the book moved past the refresh tolerance,
  so the strategy takes its acting branches (the engine supplies them, `Engine._rehearsal`,
  without a lock); the result is dropped;
- the executor building the frames of those actions (`Executor.rehearse`), sending nothing;
- one small send over a private loopback connection, whose other end is this object.

This is what low-latency trading stacks do with dummy sends on their own network path
(e.g. Onload's `ONLOAD_MSG_WARM`). The thread runs at the lowest priority, so its wake-ups
do not preempt a reader thread quoting a tick, and it gives up the GIL between steps, so a
tick arriving meanwhile waits for one step at most (tens of µs). It never takes the
engine's lock nor handles an event, so starving it (it is the first thread a busy CPU
starves) delays nothing but the warm-up. It costs a few percent of a core;
`warm_interval_ms = 0` turns it off. A failure here ends the warm-up, never the run.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from bybitctl.book import OrderBook

_LEVELS = 25
_PROBE = b"x" * 200
"""About the size of a trade-socket amend frame."""

Inputs = Callable[[], tuple[Callable[..., Any], tuple[Any, ...]] | None]
"""Returns `(decide, its arguments)` for one rehearsed decision, or None to skip a round."""


class Warmup:
    """A thread rehearsing ticks on a scratch book, the engine's strategy and executor, and
    a loopback connection."""

    def __init__(
        self,
        interval_ms: int,
        inputs: Inputs,
        rehearse: Callable[[Sequence[Any]], int],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self.interval_s = interval_ms / 1000
        self.rounds = 0
        self._inputs = inputs
        self._rehearse = rehearse
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="mm-warm")
        self._book = OrderBook("WARMUP")
        self._u = 1
        self._book.apply({"type": "snapshot", "ts": 0, "data": self._levels("1", 1)})
        with socket.create_server(("127.0.0.1", 0)) as server:
            self._tx = socket.create_connection(server.getsockname()[:2])
            self._rx, _ = server.accept()
        self._tx.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._rx.setblocking(False)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (waiting for its round to end) and close the connection."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(1.0)
        self._tx.close()
        self._rx.close()

    def _run(self) -> None:
        if sys.platform.startswith("linux"):  # where a thread id names one thread's niceness
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        try:
            while not self._stop.wait(self.interval_s):
                self.round()
        except Exception as exc:  # an optimisation failed: the run goes on without it
            self._on_error(exc)

    def round(self) -> None:
        """One rehearsed tick, giving up the GIL between its steps."""
        inputs = self._inputs()
        if inputs is None:
            return
        self.rounds += 1
        self._apply_delta()
        time.sleep(0)
        decide, args = inputs
        actions = decide(*args).actions
        time.sleep(0)
        self._rehearse(actions)
        self._send()

    def _apply_delta(self) -> None:
        """Move a few sizes on each side of the scratch book."""
        self._u += 1
        levels = self._levels(str(1 + self._u % 7), 3)
        self._book.apply({"type": "delta", "ts": self._u, "data": levels})

    def _levels(self, size: str, every: int) -> dict[str, Any]:
        return {
            "b": [[f"{1000 - i}.5", size] for i in range(0, _LEVELS, every)],
            "a": [[f"{1001 + i}.5", size] for i in range(0, _LEVELS, every)],
            "u": self._u,
            "seq": self._u,
        }

    def _send(self) -> None:
        """One send over the loopback connection, then empty its receiving end."""
        self._tx.send(_PROBE)
        with contextlib.suppress(BlockingIOError):
            while self._rx.recv(65536):
                pass
