"""Tick-to-quote latency of the live engine, in-process: from the moment pybit hands over a
decoded book message to the moment the resulting order request is handed to the trade
WebSocket (issue 5 §5 target: p99 <= 500 µs).

The local exchange runs as a separate process (`bybitctl sim serve`, rate limits off), so
its market generator does not share this interpreter's GIL; the engine runs here exactly as
`mm start` runs it, with a config that requotes on every book change (zero tolerance, no
minimum interval) so nearly every book message produces an amend. A baseline in the same
run times the bare hop the design adds — pybit's callback thread -> the engine's queue ->
the decision thread — with a consumer that does nothing else, so figures from busy and idle
machines compare as ratios.

    .venv/bin/python benchmarks/mm_latency.py [--seconds S]
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bybitctl.config import Settings
from bybitctl.mm.config import from_mapping
from bybitctl.mm.engine import Engine
from bybitctl.mm.journal import Journal
from bybitctl.sim.auth import generate_key_pair

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


def start_exchange(tmp: Path) -> tuple[subprocess.Popen[str], Settings]:
    """`bybitctl sim serve` on a free port with our own key; returns it and the settings."""
    key, secret = generate_key_pair()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp), "XDG_CONFIG_HOME": str(tmp), "HOME": str(tmp)}
    binary = str(Path(sys.executable).parent / "bybitctl")
    proc = subprocess.Popen(
        [
            binary,
            "sim",
            "serve",
            "--port",
            "0",
            "--symbols",
            "BTCUSDT",
            "--api-key",
            key,
            "--api-secret-stdin",
            "--no-profile",
            "--no-rate-limits",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(secret + "\n")
    proc.stdin.close()
    base_url = proc.stdout.readline().strip()
    return proc, Settings(profile="bench", api_key=key, api_secret=secret, base_url=base_url)


def baseline(settings: Settings, seconds: float) -> list[float]:
    """µs from pybit's callback to a waiting consumer thread, for book messages."""
    from bybitctl.client import make_ws

    hop: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
    samples: list[float] = []
    done = threading.Event()

    def consume() -> None:
        while not done.is_set():
            try:
                t0, _ = hop.get(timeout=0.1)
            except queue.Empty:
                continue
            samples.append((time.perf_counter_ns() - t0) / 1000)

    def on_frame(message: dict[str, Any]) -> None:
        hop.put((time.perf_counter_ns(), message))

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    ws = make_ws(settings, "linear", callback_function=on_frame, restart_on_error=False)
    ws.orderbook_stream(depth=50, symbol="BTCUSDT", callback=on_frame)
    time.sleep(seconds)
    done.set()
    ws.exit()
    consumer.join()
    return samples


def engine_latencies(settings: Settings, seconds: float, tmp: Path) -> tuple[list[float], Any]:
    """Run the engine for `seconds`; its tick-to-quote samples (µs) and its stats."""
    journal = Journal(tmp / "bench.sqlite")
    engine = Engine(from_mapping(CONFIG), settings, journal, target="bench")
    engine.prepare()
    timer = threading.Timer(seconds, engine.request_stop, args=("bench",))
    timer.start()
    engine.run()
    journal.close()
    return engine.stats.latencies, engine.stats


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="engine run length")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        proc, settings = start_exchange(tmp)
        try:
            base = baseline(settings, min(5.0, args.seconds))
            lat, stats = engine_latencies(settings, args.seconds, tmp)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    print(
        f"baseline queue hop (pybit callback -> decision thread): n={len(base)} "
        f"p50={quantile(base, 0.5):.0f} µs p99={quantile(base, 0.99):.0f} µs"
    )
    print(
        f"tick-to-quote (book decoded -> order request on the socket): n={len(lat)} "
        f"p50={quantile(lat, 0.5):.0f} µs p99={quantile(lat, 0.99):.0f} µs "
        f"mean={statistics.fmean(lat) if lat else 0:.0f} µs  (target p99 <= 500 µs)"
    )
    print(
        f"ratio p50 tick-to-quote / baseline hop: "
        f"{quantile(lat, 0.5) / max(quantile(base, 0.5), 1e-9):.1f}x; decisions="
        f"{stats.decisions} ws actions={stats.ws_actions} http actions={stats.http_actions}"
    )


if __name__ == "__main__":
    main()
