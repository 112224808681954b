"""The stream loop with the replay source: JSONL output, limits, pacing, resync requests."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from bybitctl.errors import BybitctlError, ConfigError, NetworkError
from bybitctl.recording import RecordingWriter
from bybitctl.stream.feed import LiveFeed, ReplayFeed
from bybitctl.stream.pipeline import Pipeline
from bybitctl.stream.runner import JsonlSink, Loop
from bybitctl.stream.supervisor import CONNECTING, RECONNECTING, Backoff
from stream.frames import book, snapshot, trade


def _record(path: Path, frames: list[tuple[int, dict[str, Any]]]) -> Path:
    with RecordingWriter(path, channel="public/linear", topics=["orderbook.50.BTCUSDT"]) as rec:
        for recv_ns, frame in frames:
            rec.write(frame, recv_ns)
    return path


class ListSource:
    """A scripted source: batches of frames, then the end; remembers resubscribe requests."""

    def __init__(self, batches: list[list[dict[str, Any]]]) -> None:
        self._batches = list(batches)
        self.state = "connected"
        self.finished = False
        self.resubscribed: list[str] = []
        self.closed = False

    def start(self) -> None:
        """Nothing to open."""

    def poll(self, timeout: float) -> list[tuple[int, dict[str, Any]]]:
        if not self._batches:
            self.finished = True
            return []
        return [(i, frame) for i, frame in enumerate(self._batches.pop(0))]

    def resubscribe(self, topic: str) -> None:
        self.resubscribed.append(topic)

    def close(self) -> None:
        self.closed = True


def _run(source: Any, **kw: Any) -> tuple[list[dict[str, Any]], str, Any]:
    out, err = io.StringIO(), io.StringIO()
    loop = Loop(Pipeline(levels=2), JsonlSink(out, err), **kw)
    result = loop.run(source)
    return [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue(), result


def test_jsonl_events_in_order_and_resync_asks_for_a_fresh_snapshot() -> None:
    source = ListSource(
        [
            [snapshot(10), trade()],
            [book("delta", 12, [["99.7", "4"]], [])],
            [book("delta", 13, [["99.8", "4"]], []), snapshot(20)],
        ]
    )
    events, _, result = _run(source)
    assert [e["event"] for e in events] == ["book", "message", "resync", "book"]
    assert events[0]["bids"] == [["100.0", "1"], ["99.5", "2"]]
    assert events[3]["u"] == 20
    assert source.resubscribed == ["orderbook.50.BTCUSDT"]
    assert (result.events, result.frames, result.reason) == (3, 5, "end")
    assert source.closed


def test_count_stops_after_n_data_events_not_counting_resyncs() -> None:
    source = ListSource([[book("delta", 3, [], []), snapshot(10), trade(), trade(), trade()]])
    events, _, result = _run(source, count=2)
    assert [e["event"] for e in events] == ["resync", "book", "message"]
    assert result.reason == "count"


def test_duration_stops_the_loop() -> None:
    ticks = iter([0.0, 0.0, 0.5, 2.0, 3.0])
    source = ListSource([[trade()]] * 10)
    _, _, result = _run(source, duration=1.0, clock=lambda: next(ticks))
    assert result.reason == "duration"


def test_lost_connection_emits_resync_lines_and_diary_on_stderr() -> None:
    out, err = io.StringIO(), io.StringIO()
    loop = Loop(Pipeline(), JsonlSink(out, err))
    source = ListSource([[snapshot(10)]])
    loop.source = source
    loop._frame(1, snapshot(10))
    loop.on_state(RECONNECTING, "connection closed; retrying in 0.5s")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[-1]["event"] == "resync"
    assert lines[-1]["reason"] == "disconnected"
    assert "reconnecting: connection closed; retrying in 0.5s" in err.getvalue()
    assert source.resubscribed == []  # the reconnect itself subscribes afresh


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ({"success": False, "ret_msg": "Invalid apikey", "op": "auth"}, ConfigError),
        ({"success": False, "ret_msg": "handler not found", "op": "subscribe"}, BybitctlError),
    ],
)
def test_refusals_end_the_stream(frame: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error, match="refused"):
        _run(ListSource([[frame]]))


def test_recording_replays_to_the_same_events(tmp_path: Path) -> None:
    frames = [
        snapshot(10),
        book("delta", 11, [["99.7", "4"]], []),
        trade(),
        book("delta", 13, [], []),
        snapshot(30),
    ]
    path = _record(tmp_path / "r.jsonl.gz", list(enumerate(frames)))
    live, _, _ = _run(ListSource([frames]))
    replayed, _, result = _run(ReplayFeed(path, None))
    assert replayed == live
    assert result.reason == "end"


def test_replay_paces_by_receive_time(tmp_path: Path) -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(round(s, 6))
        now[0] += s

    times = [0, 0, 1_000_000_000, 3_000_000_000]
    path = _record(tmp_path / "r.jsonl", [(t, {"n": i}) for i, t in enumerate(times)])
    states: list[str] = []
    feed = ReplayFeed(
        path, 2.0, clock=lambda: now[0], sleep=sleep, on_state=lambda s, _: states.append(s)
    )
    feed.start()
    got = []
    while not feed.finished:
        got.extend(frame["n"] for _, frame in feed.poll(10.0))
    assert got == [0, 1, 2, 3]
    assert slept == [0.5, 1.0]  # 1 s and then 2 s of recording at speed 2
    assert states == ["replaying", "ended"]  # what the view's header shows, never CONNECTING


def test_backoff_is_exponential_and_capped() -> None:
    backoff = Backoff(0.25, 2.0)
    assert [backoff.delay(n) for n in range(6)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]


def test_live_feed_backs_off_then_gives_up_when_it_never_connected() -> None:
    now = [0.0]
    states: list[tuple[str, str]] = []

    def refuse(callback: Any) -> Any:
        raise ConnectionRefusedError("connection refused. retrying is pointless")

    feed = LiveFeed(
        refuse,
        [],
        lambda s, d: states.append((s, d)),
        backoff=Backoff(1.0, 4.0),
        give_up_after=4,
        clock=lambda: now[0],
    )
    feed.start()
    with pytest.raises(NetworkError, match="cannot open the WebSocket"):
        for _ in range(1000):
            feed.poll(0.05)
            now[0] += 0.5
    delays = [d.rsplit("retrying in ", 1)[1] for s, d in states if s == RECONNECTING]
    assert delays == ["1s", "2s", "4s"]
    assert states[:2] == [
        (CONNECTING, ""),
        (RECONNECTING, "connect failed: connection refused; retrying in 1s"),
    ]
