"""What `mm start` does to its own process, and only there: the interpreter tuned for quoting,
and the signals that stop or resume the engine. The library (`bybitctl.mm`) never touches
process-wide state, so tests and other callers can run engines without it.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

SWITCH_INTERVAL_S = 0.00002
"""How long a thread waiting for the GIL lets its holder run before asking for it. Sending an
order releases the GIL; with the local exchange in this process (`--paper`) its thread, woken
by that very frame, takes the GIL, and at the default 5 ms (or 500 µs) the tick then waited
up to 1.5 ms to get it back (benchmarks/results_mm.txt). 20 µs costs nothing measurable when
the exchange is elsewhere."""


@contextlib.contextmanager
def tuned_for_quoting() -> Iterator[Callable[[], None]]:
    """While inside: the short GIL switch interval, and the cyclic GC run only between ticks.
    Objects alive on entry are frozen out of its scans and automatic collections (0.1-1 ms
    pauses that land in whichever thread allocates, often mid-tick) are off; the function
    yielded runs the collection they would have run by now, for the engine to call once a
    tick is quoted (`Engine.run(between_ticks=...)`). Everything is restored on exit."""
    switch = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    managed = gc.isenabled()
    if managed:
        gc.collect()
        gc.freeze()
        gc.disable()
    try:
        yield collect_due if managed else _nothing
    finally:
        if managed:
            gc.enable()
            gc.unfreeze()
        sys.setswitchinterval(switch)


def collect_due() -> None:
    """The collection the automatic GC would have run by now (same thresholds), if any."""
    counts, limits = gc.get_count(), gc.get_threshold()
    for generation in (2, 1, 0):
        if counts[generation] > limits[generation]:
            gc.collect(generation)
            return


def _nothing() -> None:
    return None


@contextlib.contextmanager
def engine_signals(engine: Any) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM ask `engine` to stop (`request_stop`) and SIGUSR1 to
    re-arm its kill switch (`request_resume`); wrapped round `prepare` too, so a signal
    during start-up also ends in the confirmed exit. Off the main thread (where Python allows
    no handlers) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers: dict[int, Any] = {}
    for sig, name in ((signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM")):
        handlers[sig] = signal.signal(
            sig, lambda _s, _f, name=name: engine.request_stop(f"signal:{name}")
        )
    usr1 = getattr(signal, "SIGUSR1", None)
    if usr1 is not None:
        handlers[usr1] = signal.signal(usr1, lambda _s, _f: engine.request_resume())
    try:
        yield
    finally:
        for sig, old in handlers.items():
            signal.signal(sig, old)
