"""Decision-step timing of the market maker: p50/p90/p99/max µs of `decide` on realistic inputs.

The inputs come from replaying a seeded synthetic recording through the backtest (the same
views, inventories, open orders and states the strategy saw there), captured once; the timed
loop then calls `decide` alone on each captured input, after a warm-up, several times over.
That is the decision step with warm caches. Live, ticks are ~20 ms apart and a busy machine
runs other work in between, so each decision starts with cold caches: the "cold" rows time
a sample of the same calls after writing to every cache line of a buffer twice the size of
a core's L2 cache (the shared last-level cache may keep some of the working set).
A machine baseline (a fixed pure-Python loop) is timed in the same run so figures from busy
and idle machines can be compared as ratios. Target: decision step p50 <= 50 µs.

    .venv/bin/python benchmarks/mm_bench.py [--messages N] [--repeat R] [--cold N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import mm_tests_path  # noqa: F401  (the seeded recording lives with the tests)
from support.synthetic import LINEAR_INSTRUMENT, synthetic_recording

import bybitctl.mm.backtest as backtest
from bybitctl.mm.config import from_mapping
from bybitctl.mm.figures import percentile
from bybitctl.mm.plan import quote_plan
from bybitctl.mm.rules import validate
from bybitctl.mm.strategy import decide, settle

CONFIGS: dict[str, dict[str, Any]] = {
    "1 level": {"levels": 1},
    "3 levels": {"levels": 3, "level_spacing_bps": 2.0},
    "3 levels, skew + vol": {
        "levels": 3,
        "level_spacing_bps": 2.0,
        "inventory_skew": True,
        "vol_scaling": True,
    },
}
EVICT_BYTES = 8 << 20
"""Touched (one byte per 64-byte cache line) before each cold call: twice a core's L2."""
BASE = {
    "symbol": "SIMUSDT",
    "order_qty": "0.1",
    "max_position": "0.5",
    "spread_bps": 1.0,
    "refresh_tolerance_bps": 1.0,
    "min_requote_interval_ms": 20,
    "rate_limit": 200,
    "maker_fee_bps": 0.0,
    "min_edge_bps": 0.0,
}


def capture(config: Any, lines: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Every decision of one backtest replay (deciding at every point, as live), as the
    argument tuple `decide` takes: the view the plan was made from, then settle's inputs."""
    calls: list[tuple[Any, ...]] = []
    views: list[Any] = []

    def recording_plan(p: Any, view: Any, inventory: Any, now: int) -> Any:
        views.append(view)
        return quote_plan(p, view, inventory, now)

    def recording_settle(
        p: Any, plan: Any, inventory: Any, orders: Any, now: int, state: Any
    ) -> Any:
        calls.append((p, views[-1], inventory, orders, now, state))
        return settle(p, plan, inventory, orders, now, state)

    backtest.quote_plan = recording_plan  # type: ignore[assignment]
    backtest.settle = recording_settle  # type: ignore[assignment]
    try:
        rules = validate(config, LINEAR_INSTRUMENT)
        backtest.Backtest(config, rules, reuse=False).run(lines)
    finally:
        backtest.quote_plan = quote_plan  # type: ignore[assignment]
        backtest.settle = settle  # type: ignore[assignment]
    return calls


def time_calls(calls: list[tuple[Any, ...]], repeat: int) -> list[float]:
    """Per-call µs over `repeat` passes (the first pass is a discarded warm-up)."""
    clock = time.perf_counter_ns
    samples: list[float] = []
    for rep in range(repeat + 1):
        for args in calls:
            start = clock()
            decide(*args)
            elapsed = clock() - start
            if rep:
                samples.append(elapsed / 1000.0)
    return samples


def time_cold(calls: list[tuple[Any, ...]], count: int) -> list[float]:
    """Per-call µs of `count` calls spread over `calls`, each after evicting the caches."""
    clock = time.perf_counter_ns
    junk = bytearray(EVICT_BYTES)
    lines = len(junk[::64])
    patterns = [bytes([n]) * lines for n in (1, 2)]
    samples: list[float] = []
    step = max(1, len(calls) // count)
    for n, args in enumerate(calls[::step][:count]):
        junk[::64] = patterns[n % 2]
        start = clock()
        decide(*args)
        samples.append((clock() - start) / 1000.0)
    return samples


def baseline_us() -> float:
    """Median µs of a fixed pure-Python loop: the machine's speed right now."""
    runs = []
    for _ in range(50):
        start = time.perf_counter_ns()
        total = 0
        for i in range(1000):
            total += i * i
        runs.append((time.perf_counter_ns() - start) / 1000.0)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cold", type=int, default=400, help="cold-cache samples per config")
    args = parser.parse_args()
    lines = synthetic_recording(seed=7, messages=args.messages)
    base = baseline_us()
    print(
        f"synthetic stream: {args.messages} book messages (seed 7); "
        f"machine baseline {base:.1f} µs per 1000-iteration loop"
    )
    print(
        f"{'config':<30}{'decisions':>10}{'acting %':>10}{'samples':>9}{'p50 µs':>9}"
        f"{'p90 µs':>9}{'p99 µs':>9}{'max µs':>9}{'p50/baseline':>14}"
    )
    for name, over in CONFIGS.items():
        config = from_mapping({**BASE, **over})
        calls = capture(config, lines)
        acting = sum(bool(decide(*c).actions) for c in calls) / len(calls) * 100
        for label, samples in (
            (name, time_calls(calls, args.repeat)),
            (f"{name}, cold", time_cold(calls, args.cold)),
        ):
            p50, p90, p99 = (percentile(samples, q) for q in (0.5, 0.9, 0.99))
            print(
                f"{label:<30}{len(calls):>10}{acting:>10.1f}{len(samples):>9}{p50:>9.1f}"
                f"{p90:>9.1f}{p99:>9.1f}{max(samples):>9.1f}{p50 / base:>14.3f}"
            )


if __name__ == "__main__":
    main()
