"""Where the tick-to-quote time goes: per-stage stamps on the live engine's path.

Runs the engine exactly as `benchmarks/mm_latency.py` does (exchange in a subprocess, pinned
as there), with stamps added by wrapping the functions on the path: `Engine._on_public`
(handler entry), `OrderBook.apply`, `view.book_view`, `strategy.decide`,
`Executor.submit` and websocket-client's `WebSocketApp.send`. Each wrapper costs a few
microseconds, so the total here is above `mm_latency.py`'s; read the split, not the sum.
Only ticks whose decision sent something over the trade socket count.

    .venv/bin/python benchmarks/mm_stages.py [--seconds S]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mm_latency import Series, engine_run, exchange_process
from websocket import WebSocketApp

from bybitctl.book import OrderBook
from bybitctl.mm import engine as engine_module
from bybitctl.mm import market as market_module
from bybitctl.mm.executor import Executor
from bybitctl.mm.figures import percentile

STAGES = (
    ("t0", "handler", "callback -> inbox -> handler"),
    ("handler", "applied", "OrderBook.apply"),
    ("applied", "view0", "guards, then into the decision"),
    ("view0", "view1", "BookView"),
    ("view1", "decide0", ""),
    ("decide0", "decide1", "strategy.decide"),
    ("decide1", "submit0", "rate budget"),
    ("submit0", "send0", "Executor: requests, JSON"),
    ("send0", "send1", "websocket-client send (frame, mask, send(2))"),
)

clock = time.perf_counter_ns
current: dict[str, int] = {}
ticks: list[dict[str, int]] = []


def stamped(fn: Callable[..., Any], before: str | None, after: str | None) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if before:
            current[before] = clock()
        result = fn(*args, **kwargs)
        if after:
            current[after] = clock()
        return result

    return wrapper


def instrument() -> None:
    """Wrap the path's functions (this process only; nothing is written anywhere)."""
    engine = engine_module.Engine
    on_public, decide_step = engine._on_public, engine._decide

    def on_public_stamped(self: Any, frame: dict[str, Any], t_ns: int) -> None:
        if frame.get("topic", "").startswith("orderbook.") and not self._tick_ns:
            current.clear()
            current["t0"], current["handler"] = t_ns, clock()
        on_public(self, frame, t_ns)

    def decide_stamped(self: Any) -> None:
        tick, sent = self._tick_ns, len(self.stats.latencies)
        decide_step(self)
        if len(self.stats.latencies) > sent and tick and current.get("t0") == tick:
            ticks.append(dict(current))

    engine._on_public = on_public_stamped  # type: ignore[method-assign]
    engine._decide = decide_stamped  # type: ignore[method-assign]
    OrderBook.apply = stamped(OrderBook.apply, None, "applied")  # type: ignore[method-assign]
    market_module.book_view = stamped(market_module.book_view, "view0", "view1")
    engine_module.decide = stamped(engine_module.decide, "decide0", "decide1")
    Executor.submit = stamped(Executor.submit, "submit0", None)  # type: ignore[method-assign]
    WebSocketApp.send = stamped(WebSocketApp.send, "send0", "send1")  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    exchange_cpu = None
    if len(cpus) >= 2:
        os.sched_setaffinity(0, {cpus[0]})
        exchange_cpu = cpus[-1]
    instrument()
    with (
        tempfile.TemporaryDirectory() as name,
        exchange_process(Path(name), 10, exchange_cpu) as settings,
    ):
        engine_run(settings, args.seconds, Path(name), Series())
    print(f"{len(ticks)} ticks that sent; load {os.getloadavg()[0]:.2f}; µs")
    print(f"{'stage':<48}{'p50':>8}{'p90':>8}{'p99':>8}")
    for start, end, label in STAGES:
        spans = [(t[end] - t[start]) / 1000 for t in ticks if start in t and end in t]
        if spans:
            qs = "".join(f"{percentile(spans, q):>8.1f}" for q in (0.5, 0.9, 0.99))
            print(f"{label or start + ' -> ' + end:<48}{qs}")
    totals = [(t["send1"] - t["t0"]) / 1000 for t in ticks if "send1" in t]
    qs = "".join(f"{percentile(totals, q):>8.1f}" for q in (0.5, 0.9, 0.99))
    print(f"{'total (with the stamps)':<48}{qs}")


if __name__ == "__main__":
    main()
