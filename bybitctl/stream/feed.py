"""Frame sources for the stream pipeline: a live pybit connection, or a recording.

`LiveFeed` owns the reconnect policy. pybit reconnects by itself only after an abrupt error,
at once and without backoff, and not at all when the server closes the socket cleanly (its
`_on_close` only logs; Bybit and the local exchange both close cleanly). So pybit is built
with `restart_on_error=False` and this class supervises instead: when the socket is gone it
waits a capped exponential backoff, builds a fresh pybit client and sends every subscription
again; the caller is told first, so it can drop its books until their fresh snapshots.
Heartbeats stay pybit's: WebSocket ping frames every 20 s with a 10 s pong timeout, plus
Bybit's `{"op": "ping"}` after every pong; a missed pong ends the socket, which lands here.

Frames reach the queue through pybit's `callback_function` hook, which receives every
decoded frame before pybit's own processing; so pybit's internal order book and ticker
merging never run. The connection is built on a helper thread and everything else happens
on the caller's thread in `poll`, so a slow connect never freezes the live view.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

from bybitctl.errors import NetworkError
from bybitctl.recording import iter_recording
from bybitctl.stream.topics import Subscription

Frame = tuple[int, dict[str, Any]]
Connector = Callable[[Callable[[dict[str, Any]], None]], Any]

CONNECTING = "connecting"
CONNECTED = "connected"
RECONNECTING = "reconnecting"
REPLAYING = "replaying"
ENDED = "ended"


@dataclass(frozen=True)
class Backoff:
    """Delay before reconnect attempt n (0-based): base * 2**n, at most cap seconds.

    >>> [Backoff(0.5, 4.0).delay(n) for n in range(5)]
    [0.5, 1.0, 2.0, 4.0, 4.0]
    """

    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int) -> float:
        return min(self.cap, self.base * 2 ** min(attempt, 32))


class LiveFeed:
    """One supervised pybit WebSocket carrying `subscriptions`.

    `connect(callback)` builds a connected pybit client that hands every decoded frame to
    `callback` (see `connector`). `on_state(state, detail)` is called on the caller's thread
    whenever the connection state changes; a "reconnecting" call means every frame before it
    is from a connection that no longer exists.
    """

    def __init__(
        self,
        connect: Connector,
        subscriptions: list[Subscription],
        on_state: Callable[[str, str], None],
        *,
        backoff: Backoff = Backoff(),
        give_up_after: int = 5,
        stable_after: float = 10.0,
        connect_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self.subscriptions = subscriptions
        self._on_state = on_state
        self._backoff = backoff
        self._give_up_after = give_up_after
        self._stable_after = stable_after
        self._connect_timeout = connect_timeout
        self._connect_started = 0.0
        self._clock = clock
        self._queue: queue.Queue[tuple[str, int, int, Any]] = queue.Queue()
        self._gen = 0
        self._manager: Any = None
        self._attempt = 0
        self._ever_connected = False
        self._up_since = 0.0
        self._retry_at: float | None = None
        self.state = CONNECTING
        self.finished = False

    def start(self) -> None:
        """Begin the first connection attempt (returns at once)."""
        self._spawn()

    def _spawn(self) -> None:
        self._connect_started = self._clock()
        self._gen += 1
        gen = self._gen
        self._retry_at = None
        threading.Thread(target=self._open, args=(gen,), daemon=True, name="bybitctl-ws").start()

    def _open(self, gen: int) -> None:
        """Connect and subscribe (helper thread); the outcome goes through the queue."""
        put = self._queue.put

        def on_frame(message: dict[str, Any]) -> None:
            put(("frame", gen, time.time_ns(), message))

        try:
            manager = self._connect(on_frame)
            for sub in self.subscriptions:
                getattr(manager, sub.method)(callback=on_frame, **sub.kwargs)
        except Exception as exc:  # pybit raises bare Exception types on connect failures
            put(("failed", gen, 0, exc))
        else:
            put(("up", gen, 0, manager))

    def poll(self, timeout: float) -> list[Frame]:
        """Frames received since the last call (waiting up to `timeout` s for the first),
        after acting on connection changes."""
        frames: list[Frame] = []
        try:
            item = self._queue.get(timeout=max(timeout, 0.0))
            while True:
                self._handle(item, frames)
                item = self._queue.get_nowait()
        except queue.Empty:
            pass
        if not frames:  # report a loss only after the frames that preceded it
            self._supervise()
        return frames

    def _handle(self, item: tuple[str, int, int, Any], frames: list[Frame]) -> None:
        kind, gen, recv_ns, payload = item
        if gen != self._gen:
            if kind == "up":
                close_quietly(payload)
            return
        if kind == "frame":
            frames.append((recv_ns, payload))
        elif kind == "up":
            self._manager = payload
            self._ever_connected = True
            self._up_since = self._clock()
            self._set(CONNECTED, "subscribed " + ", ".join(s.topic for s in self.subscriptions))
        else:
            self._lost(f"connect failed: {_first_sentence(payload)}")

    def _supervise(self) -> None:
        manager = self._manager
        now = self._clock()
        if self.state == CONNECTING and now - self._connect_started > self._connect_timeout:
            self._gen += 1  # the helper thread is stuck in pybit: abandon it
            self._lost("connect timed out")
        elif self.state == CONNECTED and manager is not None and not manager.is_connected():
            if now - self._up_since >= self._stable_after:
                self._attempt = 0
            self._manager = None
            close_quietly(manager)
            self._gen += 1  # frames still queued from the dead socket are dropped
            self._lost("connection closed")
        elif self._retry_at is not None and now >= self._retry_at:
            self._set(CONNECTING, "")
            self._spawn()

    def _lost(self, why: str) -> None:
        if not self._ever_connected and self._attempt + 1 >= self._give_up_after:
            raise NetworkError(f"cannot open the WebSocket ({why})")
        delay = self._backoff.delay(self._attempt)
        self._attempt += 1
        self._retry_at = self._clock() + delay
        self._set(RECONNECTING, f"{why}; retrying in {delay:g}s")

    def _set(self, state: str, detail: str) -> None:
        self.state = state
        self._on_state(state, detail)

    def resubscribe(self, topic: str) -> None:
        """Ask for `topic` again, so the exchange sends a fresh snapshot (see `resubscribe`)."""
        resubscribe(self._manager, topic)

    def close(self) -> None:
        """Close the socket; pybit's threads are daemons and end with it."""
        self._gen += 1
        manager, self._manager = self._manager, None
        if manager is not None:
            close_quietly(manager)


def _first_sentence(exc: BaseException) -> str:
    """pybit's connect errors go on about retries it will not make; keep what failed."""
    text = str(exc).strip() or type(exc).__name__
    return text.split(". ")[0].rstrip(".")


def close_quietly(manager: Any) -> None:
    """Close a pybit client whatever state its socket is in."""
    try:
        manager.exit()
    except Exception:  # closing a half-dead socket must not mask why we are closing
        return


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
            manager.ws.send(json.dumps({"op": op, "req_id": str(uuid4()), "args": [topic]}))
    except Exception:  # the socket died meanwhile
        return


def connector(settings: Any, channel: str, *, debug: bool = False) -> Connector:
    """Build pybit clients for `channel` ("public/linear", "private", "public/spread", ...)
    on the profile's host, each handing raw frames to the given callback."""
    from bybitctl.client import make_ws

    options: dict[str, Any] = {"restart_on_error": False, "retries": 2}

    def connect(callback: Callable[[dict[str, Any]], None]) -> Any:
        channel_type = channel.removeprefix("public/")
        return make_ws(settings, channel_type, debug=debug, callback_function=callback, **options)

    return connect


class ReplayFeed:
    """Frames from a recording, paced by their receive times (`speed` x real time), or as
    fast as the pipeline takes them (`speed=None`)."""

    def __init__(
        self,
        path: str | Path,
        speed: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        batch: int = 512,
    ) -> None:
        self._lines: Iterator[dict[str, Any]] = iter_recording(path)
        self._speed = speed
        self._clock = clock
        self._sleep = sleep
        self._batch = batch
        self._pending: dict[str, Any] | None = None
        self._start: tuple[float, int] | None = None
        self.state = REPLAYING
        self.finished = False

    def start(self) -> None:
        """Nothing to open: the file is read as `poll` asks."""

    def poll(self, timeout: float) -> list[Frame]:
        """The frames due now (at most `batch`), waiting up to `timeout` s for the next."""
        frames: list[Frame] = []
        while len(frames) < self._batch:
            line = self._pending or next(self._lines, None)
            self._pending = None
            if line is None:
                self.finished = True
                self.state = ENDED
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
