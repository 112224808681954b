"""One supervised connection: the reconnect policy of `bybitctl stream` and the market maker.

pybit's own reconnect runs at once, without backoff, inside its reader thread, and only
when websocket-client reports the end as an error; it resubscribes but tells nobody that
frames were lost. So every socket is built with pybit's reconnects off (see
`bybitctl.pybit_compat.no_reconnects`) and a `Supervisor` decides instead:

    IDLE -start-> CONNECTING -up-> CONNECTED -drop/silence-> RECONNECTING -due-> CONNECTING
                  CONNECTING -failed/timed out-> RECONNECTING (or give up: NetworkError)
    any -close-> CLOSED

An attempt (connect, then subscribe) runs off the owner's thread through the injected
`spawn`, and its outcome comes back through the owner's own queue (`post`), so every state
change happens on one thread, in `accept` and `check`. Each attempt gets a new generation;
frames and outcomes of an older one belong to a socket that no longer exists and are ignored
(`accept` returns False; the owner drops frames whose generation is not `gen`). Reconnects
wait a capped exponential backoff, jittered so sockets dropped together do not come back
together; the attempt count restarts only after a connection that stayed up `stable_after`
seconds, so a server that accepts and drops at once is retried ever more slowly.

Time comes from the injected `clock` (monotonic seconds) and the jitter from `rand`; with a
fake clock and an inline `spawn` the whole policy runs deterministically
(`tests/stream/test_supervisor.py`).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bybitctl.errors import NetworkError

IDLE = "idle"
CONNECTING = "connecting"
CONNECTED = "connected"
RECONNECTING = "reconnecting"
CLOSED = "closed"

UP = "up"
DOWN = "down"
"""Kinds of an attempt's outcome, as `post` hands them back to `accept`."""

Callback = Callable[[dict[str, Any]], None]


class Link(Protocol):
    """What the supervisor needs of an open connection (a pybit WebSocket is one)."""

    def is_connected(self) -> bool: ...
    def exit(self) -> None: ...


Connect = Callable[[Callback], Link]
"""Open a connection whose every decoded frame goes to the callback (blocks; may raise)."""
Subscribe = Callable[[Any, Callback], None]
"""Send the subscriptions on a fresh connection, their frames to the callback."""
Post = Callable[[str, int, Any], None]
"""Hand `(kind, gen, payload)` to the owner's thread, which passes it to `accept`."""
Spawn = Callable[..., None]
"""Run `fn(*args)` off the owner's thread."""


def spawn_thread(name: str) -> Spawn:
    """A `Spawn` on daemon threads named `name`."""

    def spawn(fn: Callable[..., Any], *args: Any) -> None:
        threading.Thread(target=fn, args=args, daemon=True, name=name).start()

    return spawn


@dataclass(frozen=True)
class Backoff:
    """Delay before reconnect attempt n (0-based): base * 2**n, at most cap seconds, less
    up to `jitter` of it for a uniform `draw` in [0, 1).

    >>> [Backoff(0.5, 4.0).delay(n) for n in range(5)]
    [0.5, 1.0, 2.0, 4.0, 4.0]
    >>> Backoff(0.5, 4.0, jitter=0.5).delay(3, draw=0.5)
    3.0
    """

    base: float = 0.5
    cap: float = 30.0
    jitter: float = 0.0

    def delay(self, attempt: int, draw: float = 0.0) -> float:
        return min(self.cap, self.base * 2 ** min(attempt, 32)) * (1.0 - self.jitter * draw)


def first_sentence(exc: BaseException) -> str:
    """pybit's connect errors go on about retries it will not make; keep what failed."""
    text = str(exc).strip() or type(exc).__name__
    return text.split(". ")[0].rstrip(".")


def close_quietly(link: Any) -> None:
    """Close a connection whatever state its socket is in."""
    try:
        link.exit()
    except Exception:  # closing a half-dead socket must not mask why we are closing
        return


class Supervisor:
    """Connects, subscribes, notices a dead, stuck or silent socket and reconnects.

    `frames(gen)` gives the callback for generation `gen`'s frames (the owner stamps and
    queues them). `on_state(state, detail)` hears every transition, on the owner's thread;
    a RECONNECTING one means every frame before it is from a connection that is gone.
    `give_up_after`: attempts before a connection that never came up raises NetworkError
    (None: never). `stale_after`: seconds without a frame after which a connected socket
    counts as dead (None: a silent socket is fine).
    """

    def __init__(
        self,
        connect: Connect,
        subscribe: Subscribe,
        post: Post,
        frames: Callable[[int], Callback],
        *,
        on_state: Callable[[str, str], None] = lambda state, detail: None,
        backoff: Backoff = Backoff(),
        connect_timeout: float = 30.0,
        stable_after: float = 10.0,
        give_up_after: int | None = None,
        stale_after: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        spawn: Spawn | None = None,
    ) -> None:
        self._connect = connect
        self._subscribe = subscribe
        self._post = post
        self._frames = frames
        self._on_state = on_state
        self._backoff = backoff
        self._connect_timeout = connect_timeout
        self._stable_after = stable_after
        self._give_up_after = give_up_after
        self._stale_after = stale_after
        self._clock = clock
        self._rand = rand
        self._spawn = spawn or spawn_thread("bybitctl-ws")
        self.state = IDLE
        self.gen = 0
        self.link: Any = None
        """The open connection while CONNECTED, else None."""
        self.connects = 0
        self.drops = 0
        self._attempt = 0
        self._ever_connected = False
        self._since = 0.0  # when the current attempt started, or the connection came up
        self._retry_at = 0.0
        self._heard = 0  # frames of this generation so far (counted only with stale_after)
        self._heard_checked = 0
        self._quiet_since = 0.0

    @property
    def up(self) -> bool:
        return self.state == CONNECTED

    def start(self) -> None:
        """Begin a connection attempt (returns at once; its outcome comes through `post`)."""
        self.gen += 1
        self._since = self._clock()
        self._set(CONNECTING, "")
        self._spawn(self._open, self.gen)

    def _open(self, gen: int) -> None:
        """Connect and subscribe (off the owner's thread)."""
        callback = self._frames(gen)
        if self._stale_after is not None:
            callback = self._counting(gen, callback)
        try:
            link = self._connect(callback)
            self._subscribe(link, callback)
        except Exception as exc:  # pybit raises bare Exception types on connect failures
            self._post(DOWN, gen, f"connect failed: {first_sentence(exc)}")
        else:
            self._post(UP, gen, link)

    def _counting(self, gen: int, callback: Callback) -> Callback:
        def counted(message: dict[str, Any]) -> None:
            if gen == self.gen:
                self._heard += 1
            callback(message)

        return counted

    def accept(self, kind: str, gen: int, payload: Any) -> bool:
        """Apply an attempt's outcome; False when it belongs to an older generation (an
        abandoned attempt's connection is closed)."""
        if gen != self.gen:
            if kind == UP:
                self._spawn(close_quietly, payload)
            return False
        if kind == UP:
            self.link = payload
            self.connects += 1
            self._ever_connected = True
            self._since = self._quiet_since = self._clock()
            self._heard = self._heard_checked = 0
            self._set(CONNECTED, "")
        else:
            self._lost(str(payload))
        return True

    def check(self) -> str | None:
        """Timer duty: notice a dead socket, a stuck attempt or a silent socket, and start a
        due reconnect. Returns why, when the connection was just found lost."""
        now = self._clock()
        why = None
        if self.state == CONNECTING and now - self._since > self._connect_timeout:
            why = "connect timed out"  # the attempt is stuck in pybit: abandon it
        elif self.state == CONNECTED:
            if not self.link.is_connected():
                why = "connection closed"
            elif self._stale_after is not None:
                why = self._silence(now)
        elif self.state == RECONNECTING and now >= self._retry_at:
            self.start()
        if why is not None:
            self._lost(why)
        return why

    def _silence(self, now: float) -> str | None:
        assert self._stale_after is not None
        heard = self._heard
        if heard != self._heard_checked:
            self._heard_checked = heard
            self._quiet_since = now
            return None
        if now - self._quiet_since >= self._stale_after:
            return f"no frames for {self._stale_after:g}s"
        return None

    def _lost(self, why: str) -> None:
        now = self._clock()
        if self.state == CONNECTED:
            self.drops += 1
            if now - self._since >= self._stable_after:
                self._attempt = 0
        link, self.link = self.link, None
        if link is not None:
            self._spawn(close_quietly, link)  # a hung peer must not hold the owner's thread
        self.gen += 1  # frames still queued from the dead socket are dropped
        limit = self._give_up_after
        if not self._ever_connected and limit is not None and self._attempt + 1 >= limit:
            self._set(CLOSED, why)
            raise NetworkError(f"cannot open the WebSocket ({why})")
        delay = self._backoff.delay(self._attempt, self._rand())
        self._attempt += 1
        self._retry_at = now + delay
        self._set(RECONNECTING, f"{why}; retrying in {round(delay, 2):g}s")

    def _set(self, state: str, detail: str) -> None:
        self.state = state
        self._on_state(state, detail)

    def close(self) -> None:
        """Close the connection; nothing more is attempted and later outcomes are ignored."""
        self.gen += 1
        self.state = CLOSED
        link, self.link = self.link, None
        if link is not None:
            close_quietly(link)
