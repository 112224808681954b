"""Frame sources for the stream pipeline: a live pybit connection, or a recording.

`LiveFeed` is a `bybitctl.stream.supervisor.Supervisor` driven from the caller's thread:
the connection is built on a helper thread, and everything else (frames, connection
changes, reconnects) happens in `poll`, so a slow connect never freezes the live view.
The caller hears of every connection change first, so it can drop its books until their
fresh snapshots. Heartbeats stay pybit's: WebSocket ping frames every 20 s with a 10 s pong
timeout, plus Bybit's `{"op": "ping"}` after every pong; a missed pong ends the socket,
which the supervisor notices.

Frames reach the queue through pybit's `callback_function` hook (`pybit_compat.raw_frames`),
which receives every decoded frame before pybit's own processing; so pybit's internal order
book and ticker merging never run.
"""

from __future__ import annotations

import json
import queue
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

from bybitctl import pybit_compat
from bybitctl.recording import iter_recording
from bybitctl.stream.supervisor import (
    CONNECTED,
    CONNECTING,
    Backoff,
    Callback,
    Connect,
    Spawn,
    Supervisor,
)
from bybitctl.stream.topics import Subscription

Frame = tuple[int, dict[str, Any]]

FRAME = "frame"
REPLAYING = "replaying"
ENDED = "ended"

LIVE_BACKOFF = Backoff(0.5, 30.0, jitter=0.2)
"""Reconnect delays of `bybitctl stream`: 0.5 s doubling to 30 s, each up to 20 % shorter."""


class LiveFeed:
    """One supervised pybit WebSocket carrying `subscriptions`.

    `connect(callback)` builds a connected pybit client that hands every decoded frame to
    `callback` (see `connector`). `on_state(state, detail)` is called on the caller's thread
    whenever the connection state changes; a "reconnecting" call means every frame before it
    is from a connection that no longer exists. A connection that never came up is given up
    after `give_up_after` attempts (NetworkError, exit 4).
    """

    def __init__(
        self,
        connect: Connect,
        subscriptions: list[Subscription],
        on_state: Callable[[str, str], None],
        *,
        backoff: Backoff = LIVE_BACKOFF,
        give_up_after: int = 5,
        stable_after: float = 10.0,
        connect_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        spawn: Spawn | None = None,
    ) -> None:
        self.subscriptions = subscriptions
        self._on_state = on_state
        self._queue: queue.Queue[tuple[str, int, int, Any]] = queue.Queue()
        self._supervisor = Supervisor(
            connect,
            self._subscribe,
            lambda kind, gen, payload: self._queue.put((kind, gen, 0, payload)),
            self._frames,
            on_state=self._state,
            backoff=backoff,
            connect_timeout=connect_timeout,
            stable_after=stable_after,
            give_up_after=give_up_after,
            clock=clock,
            rand=rand,
            spawn=spawn,
        )
        self.state = CONNECTING
        self.finished = False

    def _frames(self, gen: int) -> Callback:
        put = self._queue.put

        def on_frame(message: dict[str, Any]) -> None:
            put((FRAME, gen, time.time_ns(), message))

        return on_frame

    def _subscribe(self, manager: Any, callback: Callback) -> None:
        for sub in self.subscriptions:
            getattr(manager, sub.method)(callback=callback, **sub.kwargs)

    def _state(self, state: str, detail: str) -> None:
        self.state = state
        if state == CONNECTED:
            detail = "subscribed " + ", ".join(s.topic for s in self.subscriptions)
        self._on_state(state, detail)

    def start(self) -> None:
        """Begin the first connection attempt (returns at once)."""
        self._supervisor.start()

    def poll(self, timeout: float) -> list[Frame]:
        """Frames received since the last call (waiting up to `timeout` s for the first),
        after acting on connection changes."""
        frames: list[Frame] = []
        supervisor = self._supervisor
        try:
            item = self._queue.get(timeout=max(timeout, 0.0))
            while True:
                kind, gen, recv_ns, payload = item
                if kind != FRAME:
                    supervisor.accept(kind, gen, payload)
                elif gen == supervisor.gen:
                    frames.append((recv_ns, payload))
                item = self._queue.get_nowait()
        except queue.Empty:
            pass
        if not frames:  # report a loss only after the frames that preceded it
            supervisor.check()
        return frames

    def resubscribe(self, topic: str) -> None:
        """Ask for `topic` again, so the exchange sends a fresh snapshot (see `resubscribe`)."""
        resubscribe(self._supervisor.link, topic)

    def close(self) -> None:
        """Close the socket; pybit's threads are daemons and end with it."""
        self._supervisor.close()


def resubscribe(manager: Any, topic: str) -> None:
    """Unsubscribe and subscribe `topic` again on `manager` (None: nothing to do, the next
    connection subscribes afresh), so the exchange sends a fresh snapshot.

    Sent as our own requests rather than through pybit's `unsubscribe`, which finds the
    topic by substring (`orderbook.50.BTCUSDT` also matches `...BTCUSDT-26DEC25`) and
    drops its callback when the answer arrives, racing the subscribe that follows. A socket
    that dies meanwhile is left to the caller's supervision to notice.
    """
    if manager is None:
        return
    try:
        for op in ("unsubscribe", "subscribe"):
            pybit_compat.send_text(
                manager, json.dumps({"op": op, "req_id": str(uuid4()), "args": [topic]})
            )
    except Exception:  # the socket died meanwhile
        return


def connector(settings: Any, channel: str, *, debug: bool = False) -> Connect:
    """Build pybit clients for `channel` ("public/linear", "private", "public/spread", ...)
    on the profile's host, each handing raw frames to the given callback, with pybit's own
    reconnects off (the supervisor reconnects)."""
    from bybitctl.client import make_ws

    def connect(callback: Callback) -> Any:
        channel_type = channel.removeprefix("public/")
        options = {**pybit_compat.raw_frames(callback), **pybit_compat.no_reconnects(retries=2)}
        return make_ws(settings, channel_type, debug=debug, **options)

    return connect


class ReplayFeed:
    """Frames from a recording, paced by their receive times (`speed` x real time), or as
    fast as the pipeline takes them (`speed=None`); `on_state` hears REPLAYING, then ENDED,
    as a live feed's listener hears its connection."""

    def __init__(
        self,
        path: str | Path,
        speed: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        batch: int = 512,
        on_state: Callable[[str, str], None] = lambda state, detail: None,
    ) -> None:
        self._lines: Iterator[dict[str, Any]] = iter_recording(path)
        self._on_state = on_state
        self._speed = speed
        self._clock = clock
        self._sleep = sleep
        self._batch = batch
        self._pending: dict[str, Any] | None = None
        self._start: tuple[float, int] | None = None
        self.state = REPLAYING
        self.finished = False

    def start(self) -> None:
        """Nothing to open (the file is read as `poll` asks): say the replay is on."""
        self._on_state(REPLAYING, "")

    def poll(self, timeout: float) -> list[Frame]:
        """The frames due now (at most `batch`), waiting up to `timeout` s for the next."""
        frames: list[Frame] = []
        while len(frames) < self._batch:
            line = self._pending or next(self._lines, None)
            self._pending = None
            if line is None:
                self.finished = True
                self.state = ENDED
                self._on_state(ENDED, "")
                break
            wait = self._due_in(line["recv_ns"])
            if wait > 0:
                self._pending = line
                if not frames:
                    self._sleep(min(wait, timeout))
                break
            frames.append((line["recv_ns"], line["frame"]))
        return frames

    def _due_in(self, recv_ns: int) -> float:
        if self._speed is None:
            return 0.0
        now = self._clock()
        if self._start is None:
            self._start = (now, recv_ns)
        t0, ns0 = self._start
        return t0 + (recv_ns - ns0) / 1e9 / self._speed - now

    def resubscribe(self, topic: str) -> None:
        """A recording cannot be asked again: the book waits for the next recorded snapshot."""

    def close(self) -> None:
        """Nothing to release: the file is closed when its iterator ends."""
