"""Order-book apply throughput: pybit 5.17's own book vs a plain SortedDict book vs bybitctl.book.

One seeded synthetic Bybit stream (a 200-level snapshot, then deltas of ~10 level changes:
~80% size updates, ~10% deletes, ~10% new levels, prices like "65000.10") is fed through
each implementation in the same run. Each timed pass starts from a fresh book holding the
snapshot and gets freshly decoded messages (new strings with no cached hashes, as off the
wire); passes are interleaved across implementations, warmed up, repeated, and the
median is reported. Passes are timed in process CPU time, so other work on a shared machine
does not skew the ratios. Run: ``.venv/bin/python benchmarks/book_bench.py [--deltas N]``.
"""

from __future__ import annotations

import argparse
import copy
import gc
import platform
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import pybit
from pybit._websocket_stream import _V5WebSocketManager
from sortedcontainers import SortedDict

from bybitctl.book import OrderBook

TOPIC = "orderbook.200.BTCUSDT"
Message = dict[str, Any]


def _price(ticks: int) -> str:
    """Ticks of 0.10 as Bybit prints a 0.10-tick BTC price: 650001 -> "65000.10"."""
    return f"{ticks // 10}.{ticks % 10}0"


def make_stream(
    seed: int, deltas: int, levels: int = 200
) -> tuple[Message, list[Message], Counter[str]]:
    """A valid, never-crossed Bybit orderbook stream: (snapshot, deltas, change mix)."""
    mix: Counter[str] = Counter()
    rng = random.Random(seed)
    mid = 650000  # 65000.00 in ticks
    bids = {t: rng.randint(1, 50000) for t in rng.sample(range(mid - 400, mid), levels)}
    asks = {t: rng.randint(1, 50000) for t in rng.sample(range(mid + 1, mid + 401), levels)}

    def qty() -> str:
        return f"{rng.randint(1, 50000) / 1000:.3f}"

    def rows(side: dict[int, int], reverse: bool) -> list[list[str]]:
        return [[_price(t), f"{side[t] / 1000:.3f}"] for t in sorted(side, reverse=reverse)]

    u, seq, ts = 1000, 900000, 1_700_000_000_000
    snapshot = {
        "topic": TOPIC,
        "type": "snapshot",
        "ts": ts,
        "data": {"s": "BTCUSDT", "b": rows(bids, True), "a": rows(asks, False), "u": u, "seq": seq},
        "cts": ts - 2,
    }
    books = {"b": {t: _price(t) for t in bids}, "a": {t: _price(t) for t in asks}}
    stream = []
    for _ in range(deltas):
        u += 1
        seq += rng.randint(1, 20)
        ts += 100
        changes: dict[str, dict[int, str]] = {"b": {}, "a": {}}
        for _ in range(rng.randint(8, 12)):
            name = rng.choice("ba")
            side, other = books[name], books["a" if name == "b" else "b"]
            done = changes[name]
            roll = rng.random()
            # 80% updates; the rest delete or add so that a side never exceeds `levels`
            # (a depth-200 topic never shows more) and hovers just below it.
            if roll < 0.8 or (len(side) == levels and roll < 0.9):
                t = rng.choice([t for t in side if t not in done])
                done[t] = qty()
                mix["update"] += 1
                continue
            if len(side) >= levels or (roll < 0.9 and len(side) > levels - 5):
                t = rng.choice([t for t in side if t not in done])
                done[t] = "0"
                mix["delete"] += 1
                del side[t]
                continue
            if name == "b":
                top = min(other)
                candidates = range(top - 400, top)
            else:
                top = max(other)
                candidates = range(top + 1, top + 401)
            t = rng.choice([t for t in candidates if t not in side and t not in done])
            side[t] = _price(t)
            done[t] = qty()
            mix["new"] += 1
        stream.append(
            {
                "topic": TOPIC,
                "type": "delta",
                "ts": ts,
                "data": {
                    "s": "BTCUSDT",
                    "b": [[_price(t), q] for t, q in changes["b"].items()],
                    "a": [[_price(t), q] for t, q in changes["a"].items()],
                    "u": u,
                    "seq": seq,
                },
                "cts": ts - 2,
            }
        )
    return snapshot, stream, mix


class SortedDictBook:
    """The plain baseline: one SortedDict per side keyed by float price (bids negated so both
    iterate best first), holding the exchange's level lists, with an update-id gap check."""

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self.u = 0

    def apply(self, message: Message) -> None:
        data = message["data"]
        u = data["u"]
        if message["type"] == "snapshot":
            self.bids = SortedDict({-float(lv[0]): lv for lv in data["b"]})
            self.asks = SortedDict({float(lv[0]): lv for lv in data["a"]})
        else:
            if u != self.u + 1:
                raise RuntimeError(f"gap at u={u}")
            for sign, side, levels in ((-1.0, self.bids, data["b"]), (1.0, self.asks, data["a"])):
                for lv in levels:
                    key = sign * float(lv[0])
                    if lv[1] == "0":
                        if key in side:
                            del side[key]
                    else:
                        side[key] = lv
        self.u = u

    def top(self, n: int) -> tuple[Any, Any, list[Any], list[Any]]:
        bids, asks = self.bids, self.asks
        return bids.peekitem(0)[1], asks.peekitem(0)[1], bids.values()[:n], asks.values()[:n]


def pybit_manager() -> _V5WebSocketManager:
    """pybit's V5 manager, never connected: only what `_process_normal_message` reads."""
    manager = object.__new__(_V5WebSocketManager)
    manager.data = {}
    manager.callback_directory = {TOPIC: lambda message: None}
    return manager


Timed = Callable[[Message, list[Message]], float]


def _time_applies(apply: Callable[[Message], object], stream: list[Message]) -> float:
    """CPU seconds of `apply` over the stream, nothing else in the loop."""
    gc.collect()
    start = time.process_time()
    for message in stream:
        apply(message)
    return time.process_time() - start


def time_pybit(snapshot: Message, stream: list[Message]) -> float:
    manager = pybit_manager()
    manager._process_normal_message(snapshot)
    return _time_applies(manager._process_normal_message, stream)


def time_sorteddict(snapshot: Message, stream: list[Message]) -> float:
    book = SortedDictBook()
    book.apply(snapshot)
    return _time_applies(book.apply, stream)


def time_sorteddict_reads(snapshot: Message, stream: list[Message]) -> float:
    book = SortedDictBook()
    book.apply(snapshot)
    apply, top = book.apply, book.top
    gc.collect()
    start = time.process_time()
    for message in stream:
        apply(message)
        top(25)
    return time.process_time() - start


def time_bybitctl(snapshot: Message, stream: list[Message]) -> float:
    book = OrderBook("BTCUSDT", depth=200)
    book.apply(snapshot)
    return _time_applies(book.apply, stream)


def time_bybitctl_reads(snapshot: Message, stream: list[Message]) -> float:
    book = OrderBook("BTCUSDT", depth=200)
    book.apply(snapshot)
    apply = book.apply
    best_bid, best_ask, bids, asks = book.best_bid, book.best_ask, book.bids, book.asks
    gc.collect()
    start = time.process_time()
    for message in stream:
        apply(message)
        best_bid()
        best_ask()
        bids(25)
        asks(25)
    return time.process_time() - start


def verify(snapshot: Message, stream: list[Message]) -> None:
    """All three implementations must end with the same book, or the figures mean nothing."""
    manager = pybit_manager()
    for message in [copy.deepcopy(snapshot), *stream]:
        manager._process_normal_message(message)
    plain = SortedDictBook()
    ours = OrderBook("BTCUSDT", depth=200)
    for message in [snapshot, *stream]:
        plain.apply(message)
        ours.apply(message)
    ours._check()
    pybit_book = manager.data[TOPIC]
    for side, rows in (("b", ours.bids()), ("a", ours.asks())):
        want = [list(level) for level in rows]
        got = sorted(pybit_book[side], key=lambda lv: float(lv[0]), reverse=side == "b")
        sd = plain.bids if side == "b" else plain.asks
        assert got == want, f"pybit disagrees on side {side}"
        assert list(sd.values()) == want, f"SortedDict book disagrees on side {side}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--deltas", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=15, help="timed passes per fast book")
    parser.add_argument("--repeat-pybit", type=int, default=7, help="timed passes for pybit")
    args = parser.parse_args()

    snapshot, stream, mix = make_stream(args.seed, args.deltas)
    changes = mix.total()
    verify(snapshot, stream)

    wire = [orjson.dumps(message) for message in [snapshot, *stream]]
    runs: dict[str, tuple[Timed, int]] = {
        "pybit 5.17 (apply)": (time_pybit, args.repeat_pybit),
        "SortedDict (apply)": (time_sorteddict, args.repeat),
        "bybitctl.book (apply)": (time_bybitctl, args.repeat),
        "SortedDict (apply+reads)": (time_sorteddict_reads, args.repeat),
        "bybitctl.book (apply+reads)": (time_bybitctl_reads, args.repeat),
    }

    def timed(run: Timed) -> float:
        fresh = [orjson.loads(line) for line in wire]  # new objects each pass, as off the wire
        return run(fresh[0], fresh[1:])

    times: dict[str, list[float]] = {name: [] for name in runs}
    for run, _ in runs.values():
        timed(run)  # warm-up
    for i in range(max(n for _, n in runs.values())):
        for name, (run, n) in runs.items():
            if i < n:
                times[name].append(timed(run))
    median = {name: statistics.median(values) for name, values in times.items()}

    print(f"book_bench: python {platform.python_version()} ({sys.platform}), pybit {pybit.VERSION}")
    print(
        f"stream: seed {args.seed}, 200-level snapshot, {len(stream)} deltas, "
        f"{changes} level changes ({changes / len(stream):.1f} per delta); "
        "all books verified identical at the end"
    )
    shares = ", ".join(f"{mix[k] / changes:.0%} {k}" for k in ("update", "delete", "new"))
    print(f"changes: {shares}")
    print("reads = best bid + best ask + top-25 of both sides after every message")
    print(
        f"median process CPU time of {args.repeat} passes ({args.repeat_pybit} for pybit), "
        "interleaved, after a warm-up\n"
    )
    print(f"{'implementation':<30}{'level updates/s':>18}{'us/message':>13}")
    for name, seconds in median.items():
        print(f"{name:<30}{changes / seconds:>18,.0f}{seconds / len(stream) * 1e6:>13.2f}")
    ours, plain = median["bybitctl.book (apply)"], median["SortedDict (apply)"]
    ours_r, plain_r = median["bybitctl.book (apply+reads)"], median["SortedDict (apply+reads)"]
    print()
    print(f"apply: bybitctl.book vs SortedDict  {plain / ours:6.2f}x  (target >= 1.6x)")
    print(
        f"apply: bybitctl.book vs pybit       {median['pybit 5.17 (apply)'] / ours:6.1f}x  "
        "(target >= 40x)"
    )
    print(f"apply+reads: bybitctl.book vs SortedDict  {plain_r / ours_r:6.2f}x  (target >= 1.0x)")


if __name__ == "__main__":
    main()
