"""The stream loop: a frame source -> the normaliser -> a sink (JSONL or the live view).

One thread does all of it, so the book and the view are never read while being written.
Each turn takes every frame that has arrived, applies them all, writes their events, and
redraws at most every 1/20 s: the view shows the newest state and skips the frames in
between, so it never falls behind the feed.

Resync reporting: in JSONL mode the `resync` event is a line on stdout (the consumer must
know its last book is void) and the connection diary goes to stderr; on a terminal both are
notices inside the live view (`bybitctl.stream.views.LiveView`) and the ladder says
RESYNCING until the fresh snapshot.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from bybitctl.recording import RecordingWriter, RotatingWriter, Rotation
from bybitctl.stream.pipeline import LIVE, RESYNCING, Event, Pipeline, control_error
from bybitctl.stream.supervisor import RECONNECTING

FRAME_INTERVAL = 1 / 20
RESYNC_RETRY_S = 10.0


class Source(Protocol):
    """What the loop needs from `LiveFeed` and `ReplayFeed`."""

    state: str
    finished: bool

    def start(self) -> None: ...
    def poll(self, timeout: float) -> list[tuple[int, dict[str, Any]]]: ...
    def resubscribe(self, topic: str) -> None: ...
    def close(self) -> None: ...


class Sink(Protocol):
    """Where events go: JSONL lines or a live view."""

    def emit(self, event: Event) -> None: ...
    def connection(self, state: str, detail: str) -> None: ...
    def tick(self, now: float, frames: int) -> None: ...
    def close(self) -> None: ...


class Done(Exception):
    """The sink cannot take more (stdout closed by `head`, say): stop quietly."""


@dataclass
class LoopResult:
    """How the loop ended, for the exit code and the tests."""

    events: int
    frames: int
    reason: str


class JsonlSink:
    """One JSON object per line, flushed per line; exchange strings stay strings."""

    def __init__(self, out: IO[str], err: IO[str]) -> None:
        self._out = out
        self._err = err

    def emit(self, event: Event) -> None:
        try:
            self._out.write(orjson.dumps(event).decode() + "\n")
            self._out.flush()
        except BrokenPipeError as exc:
            _silence_stdout()
            raise Done from exc

    def connection(self, state: str, detail: str) -> None:
        self._err.write(_state_line(state, detail) + "\n")
        self._err.flush()

    def tick(self, now: float, frames: int) -> None:
        """Nothing to redraw."""

    def close(self) -> None:
        """Every line is already flushed."""


def _state_line(state: str, detail: str) -> str:
    """The stderr note for a connection change, the same under both sinks."""
    return f"stream: {state}{': ' + detail if detail else ''}"


def _silence_stdout() -> None:
    """After EPIPE, point fd 1 at /dev/null so the interpreter's final flush stays quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


class Loop:
    """Drives a source into a pipeline and a sink until a limit, the end, or an error."""

    def __init__(
        self,
        pipeline: Pipeline,
        sink: Sink,
        *,
        count: int | None = None,
        duration: float | None = None,
        recorder: RecordingWriter | RotatingWriter | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.source: Source | None = None
        self.pipeline = pipeline
        self.sink = sink
        self.count = count
        self.duration = duration
        self.recorder = recorder
        self._clock = clock
        self._wall = wall
        self._events = 0
        self._frames = 0
        self._resync_at: dict[str, float] = {}

    def on_state(self, state: str, detail: str) -> None:
        """Connection changes from the source: a lost socket voids every book."""
        self.sink.connection(state, detail)
        if state == RECONNECTING:
            for event in self.pipeline.lose_books("disconnected", time.time_ns()):
                self.sink.emit(event)

    def run(self, source: Source) -> LoopResult:
        """Loop until --count events, --duration seconds, the recording's end, or Done."""
        self.source = source
        deadline = None if self.duration is None else self._clock() + self.duration
        source.start()
        try:
            while True:
                now = self._clock()
                if deadline is not None and now >= deadline:
                    return self._result("duration")
                timeout = (
                    FRAME_INTERVAL if deadline is None else min(FRAME_INTERVAL, deadline - now)
                )
                frames = source.poll(timeout)
                for recv_ns, frame in frames:
                    if self._frame(recv_ns, frame):
                        return self._result("count")
                self._retry_stuck_resyncs(now)
                self.sink.tick(self._wall(), len(frames))
                if source.finished:
                    return self._result("end")
        except Done:
            return self._result("closed")
        finally:
            source.close()
            self.sink.close()
            if self.recorder is not None:
                self.recorder.close()

    def _frame(self, recv_ns: int, frame: dict[str, Any]) -> bool:
        """Process one frame; True when --count is reached."""
        self._frames += 1
        if self.recorder is not None:
            self.recorder.write(frame, recv_ns)
        if "topic" not in frame:
            error = control_error(frame)
            if error is not None:
                raise error
            return False
        for event in self.pipeline.feed(frame, recv_ns):
            self.sink.emit(event)
            if event["event"] == "resync":
                self._resync_at[event["topic"]] = self._clock()
                self._resubscribe(event["topic"])
                continue
            self._events += 1
            if self.count is not None and self._events >= self.count:
                return True
        return False

    def _retry_stuck_resyncs(self, now: float) -> None:
        """Ask again for a snapshot that has not come after RESYNC_RETRY_S seconds."""
        for topic, since in list(self._resync_at.items()):
            state = self.pipeline.books.get(topic)
            if state is None or state.status != RESYNCING:
                del self._resync_at[topic]
            elif now - since >= RESYNC_RETRY_S:
                self._resync_at[topic] = now
                self._resubscribe(topic)

    def _resubscribe(self, topic: str) -> None:
        if self.source is not None:
            self.source.resubscribe(topic)

    def _result(self, reason: str) -> LoopResult:
        return LoopResult(self._events, self._frames, reason)


def open_sink(live_view: bool, kind: str, title: str, pipeline: Pipeline, levels: int) -> Sink:
    """The live view on a terminal, JSONL otherwise."""
    if live_view:
        from bybitctl.stream.views import LiveView

        return LiveView(kind, title, pipeline, levels)
    return JsonlSink(sys.stdout, sys.stderr)


def open_recorder(
    path: Path | None,
    channel: str,
    topics: list[str],
    rotation: Rotation | None = None,
    pipeline: Pipeline | None = None,
) -> RecordingWriter | RotatingWriter | None:
    """A recording of the raw frames when --record was given; with `rotation`, cut into
    files that each start from the pipeline's live books."""
    if path is None:
        return None
    if rotation is None:
        return RecordingWriter(path, channel=channel, topics=topics)
    return RotatingWriter(
        path,
        rotation,
        channel=channel,
        topics=topics,
        restate=None if pipeline is None else lambda: live_books(pipeline, channel),
    )


def live_books(pipeline: Pipeline, channel: str) -> list[tuple[str, dict[str, Any]]]:
    """Each book the pipeline trusts, as a snapshot frame of `channel`."""
    return [
        (channel, state.book.to_snapshot())
        for state in pipeline.books.values()
        if state.status == LIVE
    ]


class QuietSink:
    """No events on stdout (a recorder's): connection changes go to stderr."""

    def __init__(self, err: IO[str]) -> None:
        self._err = err

    def emit(self, event: Event) -> None:
        """Recorded, not printed."""

    def connection(self, state: str, detail: str) -> None:
        self._err.write(_state_line(state, detail) + "\n")
        self._err.flush()

    def tick(self, now: float, frames: int) -> None:
        """Nothing to redraw."""

    def close(self) -> None:
        """Nothing buffered."""
