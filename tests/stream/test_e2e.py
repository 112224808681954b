"""The installed `bybitctl stream` against the local exchange over loopback.

Order-book correctness is checked against the exchange's own REST book: a sampler thread
reads `/v5/market/orderbook` (limit 50) over and over while the stream runs. Every depth
stream of one symbol shares the cross sequence `seq` with the REST book, so the stream's
book after its last event with seq <= S must equal the REST book taken at seq S, whenever
the stream went on past S without a resync in between. Every emitted book is also checked
for the invariants (sorted, uncrossed, positive sizes).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from pybit.unified_trading import HTTP

from bybitctl import pybit_compat
from bybitctl.recording import iter_recording
from bybitctl.sim import SimHandle, running_exchange
from bybitctl.stream.feed import LIVE_BACKOFF

pytestmark = pytest.mark.e2e

LEVELS = 50
SYMBOL = "BTCUSDT"


def binary() -> str:
    """The installed console script next to this interpreter."""
    found = shutil.which("bybitctl", path=str(Path(sys.executable).parent))
    assert found, "bybitctl is not installed in this venv (pip install -e .)"
    return found


@pytest.fixture
def exchange() -> Iterator[SimHandle]:
    """A fresh exchange per test: faults and connections never leak between tests."""
    with running_exchange(symbols=(SYMBOL, "ETHUSDT"), seed=11) as ex:
        yield ex


class StreamProcess:
    """A running `bybitctl ... stream ...` whose stdout events and stderr lines are
    collected as they arrive."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [binary(), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.events: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._cond = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, True), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, False), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, pipe: Any, is_stdout: bool) -> None:
        for line in pipe:
            with self._cond:
                if is_stdout:
                    self.events.append(json.loads(line))
                else:
                    self.stderr.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_for(self, what: Callable[[], bool], timeout: float = 30.0) -> None:
        """Block until `what()` holds (checked on every new line)."""
        with self._cond:
            assert self._cond.wait_for(what, timeout), (
                f"timed out; stderr={self.stderr[-5:]}, last events={self.events[-3:]}"
            )

    def finish(self, timeout: float = 60.0) -> int:
        """The exit code, once the process ended and both pipes are read."""
        code = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        return code

    def books(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == "book"]


class RestSampler:
    """Reads the exchange's REST order book in a loop: (seq, u, bids, asks) samples."""

    def __init__(self, exchange: SimHandle) -> None:
        self.http = HTTP(max_retries=1)
        pybit_compat.set_base_url(self.http, exchange.base_url)
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                result = self.http.get_orderbook(category="linear", symbol=SYMBOL, limit=LEVELS)
            except requests.ConnectionError:  # the `refuse` fault closes REST too
                time.sleep(0.1)
                continue
            self.samples.append(result["result"])
            time.sleep(0.02)

    def stop(self) -> list[dict[str, Any]]:
        self._stop.set()
        self._thread.join(timeout=10)
        return self.samples


def stream_args(exchange: SimHandle, *extra: str) -> list[str]:
    return [
        "--base-url",
        exchange.base_url,
        "stream",
        "orderbook",
        "--symbol",
        SYMBOL,
        "--category",
        "linear",
        "--depth",
        "50",
        "--levels",
        str(LEVELS),
        "-o",
        "jsonl",
        *extra,
    ]


def check_invariants(event: dict[str, Any]) -> None:
    """What every emitted book must satisfy, whatever the feed did."""
    bids = [(Decimal(p), Decimal(q)) for p, q in event["bids"]]
    asks = [(Decimal(p), Decimal(q)) for p, q in event["asks"]]
    assert [p for p, _ in bids] == sorted({p for p, _ in bids}, reverse=True), event["u"]
    assert [p for p, _ in asks] == sorted({p for p, _ in asks}), event["u"]
    assert all(q > 0 for _, q in bids + asks), f"a zero-size level at u={event['u']}"
    if bids and asks:
        assert bids[0][0] < asks[0][0], f"crossed at u={event['u']}"


def check_against_rest(events: list[dict[str, Any]], samples: list[dict[str, Any]]) -> int:
    """Compare the stream's book with every REST sample it can be matched with; return how
    many matched. A sample at seq S matches the last book event with seq <= S when the
    next event is a book event with seq > S (the stream saw past S, with no resync)."""
    compared = 0
    for sample in samples:
        seq = sample["seq"]
        index = None
        for i, event in enumerate(events):
            if event["event"] == "book" and event["seq"] <= seq:
                index = i
            elif event["event"] == "book" and event["seq"] > seq:
                break
        if index is None or index + 1 >= len(events):
            continue
        after = events[index + 1]
        if after["event"] != "book" or after["seq"] <= seq:
            continue
        book = events[index]
        assert book["bids"] == sample["b"][:LEVELS], f"bids differ at seq {seq}, u={book['u']}"
        assert book["asks"] == sample["a"][:LEVELS], f"asks differ at seq {seq}, u={book['u']}"
        compared += 1
    return compared


def run_with_fault(
    exchange: SimHandle, spec: str, count: int = 120, extra: tuple[str, ...] = ()
) -> tuple[StreamProcess, list[dict[str, Any]]]:
    """Stream, inject `spec` after five books, sample REST throughout, validate."""
    proc = StreamProcess(stream_args(exchange, "--count", str(count), *extra))
    sampler = RestSampler(exchange)
    proc.wait_for(lambda: len(proc.events) >= 5)
    if spec:
        exchange.set_faults(spec)
    assert proc.finish() == 0, proc.stderr
    samples = sampler.stop()
    for event in proc.books():
        check_invariants(event)
    mine = [e for e in proc.events if e["symbol"] == SYMBOL]
    assert check_against_rest(mine, samples) >= 20
    return proc, samples


def test_book_matches_the_rest_book_at_the_same_sequence(exchange: SimHandle) -> None:
    proc, _ = run_with_fault(exchange, "")
    books = proc.books()
    assert len(books) == 120
    assert books[0]["type"] == "snapshot"
    assert [b["u"] for b in books] == list(range(books[0]["u"], books[0]["u"] + 120))
    assert all(e["event"] == "book" for e in proc.events)
    assert {b["symbol"] for b in books} == {SYMBOL}
    assert all(len(b["bids"]) <= LEVELS and {"ts", "cts", "seq"} <= b.keys() for b in books)


def test_depth_1000_book_equals_the_rest_book_at_the_same_u(exchange: SimHandle) -> None:
    """The REST book's `u` is the orderbook.1000 stream's update id: match on it exactly."""
    args = stream_args(exchange, "--count", "80")
    args[args.index("--depth") + 1] = "1000"
    proc = StreamProcess(args)
    sampler = RestSampler(exchange)
    assert proc.finish() == 0, proc.stderr
    samples = sampler.stop()
    by_u = {e["u"]: e for e in proc.books()}
    matched = [s for s in samples if s["u"] in by_u]
    assert len(matched) >= 20
    for sample in matched:
        book = by_u[sample["u"]]
        check_invariants(book)
        assert (book["bids"], book["asks"]) == (sample["b"], sample["a"]), sample["u"]
        assert book["seq"] == sample["seq"]


def test_dropped_connection_reconnects_to_a_correct_book(exchange: SimHandle) -> None:
    proc, _ = run_with_fault(exchange, "drop_ws")
    kinds = [e["event"] for e in proc.events]
    first_resync = kinds.index("resync")
    assert proc.events[first_resync]["reason"] == "disconnected"
    after = proc.events[first_resync + 1]
    assert after["event"] == "book"
    assert after["type"] == "snapshot"
    assert any("reconnecting" in line for line in proc.stderr)
    assert sum("connected: subscribed" in line for line in proc.stderr) >= 2


def test_refused_reconnects_back_off_until_the_exchange_is_back(exchange: SimHandle) -> None:
    proc, _ = run_with_fault(exchange, "refuse:2s", count=150)
    delays = [
        float(line.rsplit("retrying in ", 1)[1].removesuffix("s"))
        for line in proc.stderr
        if line.startswith("stream: reconnecting")
    ]
    assert len(delays) >= 2
    for attempt, delay in enumerate(delays[:3]):  # doubling from 0.5 s, less the jitter
        shortest, longest = LIVE_BACKOFF.delay(attempt, draw=1.0), LIVE_BACKOFF.delay(attempt)
        assert round(shortest, 2) <= delay <= longest, delays
    assert proc.events[-1]["event"] == "book"


@pytest.mark.parametrize("spec", ["skip_u:1", "reorder:1"])
def test_skipped_or_reordered_delta_resyncs(exchange: SimHandle, spec: str) -> None:
    proc, _ = run_with_fault(exchange, spec)
    resyncs = [e for e in proc.events if e["event"] == "resync"]
    assert len(resyncs) == 1
    assert resyncs[0]["reason"].startswith("gap:")
    index = proc.events.index(resyncs[0])
    assert proc.events[index + 1]["type"] == "snapshot"


def test_a_resync_renews_only_its_own_topic(exchange: SimHandle) -> None:
    proc, _ = run_with_fault(exchange, "skip_u:1", count=200, extra=("--symbol", "ETHUSDT"))
    (resync,) = [e for e in proc.events if e["event"] == "resync"]
    other = "ETHUSDT" if resync["symbol"] == SYMBOL else SYMBOL
    index = proc.events.index(resync)
    before = [e for e in proc.events[:index] if e["symbol"] == other]
    after = [e for e in proc.events[index:] if e["symbol"] == other]
    assert before and after
    assert after[0]["type"] == "delta"  # the other book was not resubscribed
    assert after[0]["u"] == before[-1]["u"] + 1


def test_duplicate_delta_is_ignored(exchange: SimHandle) -> None:
    proc, _ = run_with_fault(exchange, "dup_delta:1")
    assert all(e["event"] == "book" for e in proc.events)
    us = [b["u"] for b in proc.books()]
    assert us == sorted(set(us))


def test_mid_stream_snapshot_keeps_a_correct_book(exchange: SimHandle, tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    proc, _ = run_with_fault(exchange, "snapshot", extra=("--record", str(path)))
    assert all(e["event"] == "book" for e in proc.events)
    frames = [line["frame"] for line in iter_recording(path)]
    snapshots = [f for f in frames if f.get("type") == "snapshot"]
    assert len(snapshots) == 2  # the subscription's, and the one pushed mid-stream


def test_restart_with_u_1_rebuilds_the_book(exchange: SimHandle) -> None:
    proc, _ = run_with_fault(exchange, "restart_u")
    assert all(e["event"] == "book" for e in proc.events)
    us = [b["u"] for b in proc.books()]
    restart = us.index(1, 1)  # the stream itself may have started at u=1
    assert us[restart:] == list(range(1, len(us) - restart + 1))


def test_recording_replays_to_the_same_events(exchange: SimHandle, tmp_path: Path) -> None:
    path = tmp_path / "btc.jsonl.gz"
    proc, _ = run_with_fault(exchange, "skip_u:1", count=60, extra=("--record", str(path)))
    with gzip.open(path, "rt") as fh:
        header = json.loads(fh.readline())
        first = json.loads(fh.readline())
    assert header["topics"] == [f"orderbook.50.{SYMBOL}"]
    assert header["channel"] == "public/linear"
    assert {"recv_ns", "channel", "frame"} <= first.keys()
    replay = subprocess.run(
        [
            binary(),
            "stream",
            "replay",
            str(path),
            "--max-speed",
            "--levels",
            str(LEVELS),
            "-o",
            "jsonl",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert replay.returncode == 0, replay.stderr
    replayed = [json.loads(line) for line in replay.stdout.splitlines()]
    assert replayed == proc.events
    assert replayed[-1]["event"] == "book"


def test_private_streams_see_the_order_placed_with_the_cli(exchange: SimHandle) -> None:
    env = {"BYBIT_API_KEY": exchange.api_key, "BYBIT_API_SECRET": exchange.api_secret}
    streams = {
        verb: StreamProcess(
            ["--base-url", exchange.base_url, "stream", verb, "-o", "jsonl", "--duration", "60"],
            env,
        )
        for verb in ("order", "execution", "position", "wallet")
    }
    for proc in streams.values():
        proc.wait_for(lambda proc=proc: any("connected: subscribed" in s for s in proc.stderr))
    placed = subprocess.run(
        [
            binary(),
            "--base-url",
            exchange.base_url,
            "-o",
            "json",
            "trade",
            "place-order",
            "--category",
            "linear",
            "--symbol",
            SYMBOL,
            "--side",
            "Buy",
            "--order-type",
            "Market",
            "--qty",
            "0.01",
            "--order-link-id",
            "stream-e2e-1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert placed.returncode == 0, placed.stderr
    order_id = json.loads(placed.stdout)["orderId"]

    def saw(verb: str, pred: Callable[[dict[str, Any]], bool]) -> None:
        proc = streams[verb]
        proc.wait_for(
            lambda: any(
                e["event"] == "message" and any(pred(d) for d in e["data"]) for e in proc.events
            )
        )

    saw("order", lambda d: d.get("orderId") == order_id and d.get("orderStatus") == "Filled")
    saw("execution", lambda d: d.get("orderId") == order_id and Decimal(d["execQty"]) > 0)
    saw("position", lambda d: d.get("symbol") == SYMBOL and Decimal(d["size"]) > 0)
    saw("wallet", lambda d: d.get("accountType") == "UNIFIED")
    for verb, proc in streams.items():
        proc.proc.terminate()
        proc.finish()
        event = next(e for e in proc.events if e["event"] == "message")
        assert event["topic"] == verb
        assert isinstance(event["ts"], int)
        for line in proc.stderr:
            assert exchange.api_secret not in line


def test_ctrl_c_exits_130_without_a_traceback(exchange: SimHandle) -> None:
    proc = StreamProcess(stream_args(exchange))
    proc.wait_for(lambda: len(proc.events) >= 3)
    proc.proc.send_signal(2)
    assert proc.finish() == 130
    assert not any("Traceback" in line for line in proc.stderr)


def test_duration_exits_0(exchange: SimHandle) -> None:
    proc = StreamProcess(stream_args(exchange, "--duration", "1.5"))
    assert proc.finish() == 0
    assert proc.books()
