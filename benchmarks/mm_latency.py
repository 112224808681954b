"""Tick-to-quote latency of the live engine (target: p99 <= 500 µs, exchange in a subprocess).

What is timed: from `t_ns`, `time.perf_counter_ns()` taken in our pybit callback the moment
the decoded book message is handed over (`bybitctl.mm.feeds`), to the engine's clock read
right after `Executor.submit` returns, i.e. every order request of that decision is handed
to the trade socket (`Engine._decide`). Both stamps are taken in our code, in this process;
only ticks whose decision sent something over the trade WebSocket count. The engine runs
exactly as `mm start` runs it (`bybitctl.mm.live`, under `tuned_for_quoting`), with a config
that requotes on every book change (zero tolerance, no minimum interval), so nearly every
book message produces an amend.

Three variants run in alternating rounds in this one process, so all see the same load:

- floor: what any pybit bot pays at the least. pybit's public callback, on a book message,
  sends a prebuilt amend frame (for an order that does not exist: the exchange refuses it)
  on a pybit trade socket, timed the same way. Compare the engine with it as a ratio.
- engine, exchange in a subprocess (the headline figure): `bybitctl sim serve` in its own
  interpreter, as Bybit is on its own machine, at a lower priority (`--exchange-nice`).
- engine, exchange in-process (as `mm start --paper` runs it, on every CPU): the exchange's
  market generator, matching and replies are Python on threads of this interpreter and take
  the GIL from the engine. Printed for completeness; its tail measures the simulator sharing
  our interpreter rather than the engine, which is why the subprocess variant is the headline.

CPU placement (`--pin`, the default with two or more CPUs): for the subprocess variants,
this process on CPU 0 and the exchange subprocess on the last CPU, as a latency-minded
deployment runs a bot with `taskset` (docs/mm.md "Latency"): the engine's threads then
share warm caches, and the exchange's work, woken by every request we send, does not
preempt the engine mid-step.

Per variant: sample count and p50/p90/p99/max in µs; for the engine also the process's CPU
share and involuntary context switches, the part of the tail the machine, not the engine,
adds.

    .venv/bin/python benchmarks/mm_latency.py [--rounds R] [--seconds S] [--no-pin]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from mm_bench import baseline_us

from bybitctl.commands.mm.process import SWITCH_INTERVAL_S, tuned_for_quoting
from bybitctl.config import Settings
from bybitctl.mm.config import from_mapping
from bybitctl.mm.figures import percentile
from bybitctl.mm.journal import Journal
from bybitctl.mm.live import live_engine
from bybitctl.sim.net.auth import generate_key_pair

CONFIG = {
    "symbol": "BTCUSDT",
    "order_qty": "0.001",
    "max_position": "0.01",
    "spread_bps": 1.0,
    "fee_aware": False,
    "refresh_tolerance_bps": 0.0,
    "min_requote_interval_ms": 0,
    "max_order_age_ms": 0,
    "inventory_skew": False,
    "rate_limit": 1000.0,
}
BASELINE = "floor (pybit callback -> send)"
SUBPROCESS = "tick-to-quote, exchange in subprocess"
IN_PROCESS = "tick-to-quote, exchange in-process"


@dataclass
class Series:
    """Samples (µs) of one variant over all rounds, plus the process's counters."""

    samples: list[float] = field(default_factory=list)
    ticks: int = 0
    wall_ns: int = 0
    cpu_ns: int = 0
    involuntary: int = 0
    ws_actions: int = 0
    http_actions: int = 0
    timeouts: int = 0


@contextmanager
def exchange_process(tmp: Path, nice: int, cpu: int | None) -> Iterator[Settings]:
    """`bybitctl sim serve` on a free port with our own key, at `nice` (and on `cpu`);
    yields settings."""
    key, secret = generate_key_pair()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp), "XDG_CONFIG_HOME": str(tmp), "HOME": str(tmp)}
    binary = str(Path(sys.executable).parent / "bybitctl")
    args = ["sim", "serve", "--port", "0", "--symbols", "BTCUSDT", "--api-key", key]
    proc = subprocess.Popen(
        [binary, *args, "--api-secret-stdin", "--no-profile", "--no-rate-limits"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        preexec_fn=lambda: _place(nice, cpu),
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(secret + "\n")
    proc.stdin.close()
    base_url = proc.stdout.readline().strip()
    try:
        yield Settings(profile="bench", api_key=key, api_secret=secret, base_url=base_url)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _place(nice: int, cpu: int | None) -> None:
    os.nice(nice)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


@contextmanager
def every_cpu(cpus: list[int]) -> Iterator[None]:
    """Let this thread and the threads it starts meanwhile run on every CPU in `cpus`, then
    put this thread back where it was."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(cpus))
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def baseline(settings: Settings, seconds: float, into: Series) -> None:
    """µs from pybit's public callback to a prebuilt amend frame sent on pybit's trade socket."""
    from bybitctl.client import make_ws, make_ws_trading

    trade = make_ws_trading(settings, restart_on_error=False)
    deadline = time.monotonic() + 5
    while not trade.auth and time.monotonic() < deadline:
        time.sleep(0.005)
    amend = {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "none", "price": "1"}
    frames = iter(
        orjson.dumps(
            {
                "reqId": str(uuid.uuid4()),
                "header": {"X-BAPI-TIMESTAMP": int(time.time() * 1000)},
                "op": "order.amend",
                "args": [amend],
            }
        )
        for _ in range(int(seconds * 200))
    )
    send = trade.ws.send
    clock = time.perf_counter_ns

    def on_frame(message: dict[str, Any]) -> None:
        t0 = clock()
        if message.get("topic", "").startswith("orderbook."):
            send(next(frames))
            into.samples.append((clock() - t0) / 1000)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)  # as `mm start` runs the engine
    ws = make_ws(settings, "linear", callback_function=on_frame, restart_on_error=False)
    try:
        ws.orderbook_stream(depth=50, symbol="BTCUSDT", callback=on_frame)
        time.sleep(seconds)
    finally:
        ws.exit()
        trade.exit()
        sys.setswitchinterval(switch)


def engine_run(
    settings: Settings, seconds: float, tmp: Path, into: Series, **overrides: Any
) -> None:
    """One engine run of `seconds` (its timer on this thread) with CONFIG and `overrides`
    (None: the config's default), tuned as `mm start` tunes it; adds to `into`."""
    journal = Journal(tmp / f"bench-{time.monotonic_ns()}.sqlite")
    given = {k: v for k, v in overrides.items() if v is not None}
    engine = live_engine(from_mapping({**CONFIG, **given}), settings, journal, target="bench")
    try:
        engine.prepare()
        timer = threading.Timer(seconds, engine.request_stop, args=("bench",))
        timer.start()
        wall, cpu = time.monotonic_ns(), time.process_time_ns()
        switches = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
        with tuned_for_quoting() as between_ticks:
            engine.run(between_ticks=between_ticks)
        into.wall_ns += time.monotonic_ns() - wall
        into.cpu_ns += time.process_time_ns() - cpu
        into.involuntary += resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw - switches
    finally:
        journal.close()
    stats = engine.stats
    into.samples.extend(stats.latencies)
    into.ticks += stats.decisions
    into.ws_actions += stats.ws_actions
    into.http_actions += stats.http_actions
    into.timeouts += stats.timeouts


def line(name: str, s: Series) -> str:
    x = s.samples
    mean = statistics.fmean(x) if x else 0.0
    return (
        f"{name:<40} n={len(x):>6} p50={percentile(x, 0.5):>6.0f} p90={percentile(x, 0.9):>6.0f} "
        f"p99={percentile(x, 0.99):>6.0f} max={max(x, default=0):>7.0f} mean={mean:>6.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--seconds", type=float, default=20.0, help="engine run per round")
    parser.add_argument("--baseline-seconds", type=float, default=6.0)
    parser.add_argument("--exchange-nice", type=int, default=10, help="exchange niceness")
    parser.add_argument("--no-in-process", action="store_true", help="skip that variant")
    parser.add_argument(
        "--no-pin", dest="pin", action="store_false", help="leave CPU placement to the OS"
    )
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    exchange_cpu = None
    if args.pin and len(cpus) >= 2:
        os.sched_setaffinity(0, {cpus[0]})  # before any thread starts: all inherit it
        exchange_cpu = cpus[-1]
    from bybitctl.sim import running_exchange

    series = {BASELINE: Series(), SUBPROCESS: Series(), IN_PROCESS: Series()}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for _ in range(args.rounds):
            with exchange_process(tmp, args.exchange_nice, exchange_cpu) as settings:
                baseline(settings, args.baseline_seconds, series[BASELINE])
                engine_run(settings, args.seconds, tmp, series[SUBPROCESS])
            if not args.no_in_process:
                with (
                    every_cpu(cpus),
                    running_exchange(symbols=("BTCUSDT",), rate_limits=False) as ex,
                ):
                    settings = Settings(
                        profile="bench",
                        api_key=ex.api_key,
                        api_secret=ex.api_secret,
                        base_url=ex.base_url,
                    )
                    engine_run(settings, args.seconds, tmp, series[IN_PROCESS])
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, a 1000-iteration loop "
        f"{baseline_us():.0f} µs (mm_bench's machine speed), load "
        f"{os.getloadavg()[0]:.2f}; {args.rounds} rounds x {args.seconds:.0f} s; "
        f"switch interval {SWITCH_INTERVAL_S * 1e6:.0f} µs; exchange nice {args.exchange_nice}; "
        + (f"pinned: us cpu {cpus[0]}, exchange cpu {exchange_cpu}" if exchange_cpu else "unpinned")
    )
    print("µs from book message decoded to order request handed to the socket (target p99 <= 500)")
    base = series[BASELINE]
    print(line(BASELINE, base))
    for name in (SUBPROCESS, IN_PROCESS):
        s = series[name]
        if not s.samples:
            continue
        print(line(name, s))
        ratio50 = percentile(s.samples, 0.5) / max(percentile(base.samples, 0.5), 1e-9)
        ratio99 = percentile(s.samples, 0.99) / max(percentile(base.samples, 0.99), 1e-9)
        wall = max(s.wall_ns, 1)
        print(
            f"{'':<40} vs floor p50 x{ratio50:.1f}, p99 x{ratio99:.2f}; decisions {s.ticks}, "
            f"ws/http actions {s.ws_actions}/{s.http_actions}, timeouts {s.timeouts}"
        )
        print(
            f"{'':<40} process: cpu {100 * s.cpu_ns / wall:.0f}% of one core, "
            f"{1e9 * s.involuntary / wall:.1f} involuntary switches/s"
        )


if __name__ == "__main__":
    main()
