"""One WebSocket client's connection: its identity, subscriptions and outgoing queue.

Pushes are queued already serialised and written by one task per connection, so a slow
reader never stalls the exchange or the other subscribers; one that falls too far behind is
cut off.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from bybitctl.sim.core.clock import wall_ms
from bybitctl.sim.net.auth import ApiKey
from bybitctl.sim.net.dialects import Dialect

MAX_QUEUED_FRAMES = 20_000
_conn_seq = itertools.count(1)


class Conn:
    """One WebSocket client: its channel, subscriptions, identity and outgoing queue."""

    __slots__ = (
        "_queue",
        "_transport",
        "_wake",
        "account",
        "api_key",
        "channel",
        "conn_id",
        "dialect",
        "idle_ms",
        "last_rx_ms",
        "req_ids",
        "topics",
        "ws",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: Any,
        channel: str,
        dialect: Dialect,
        idle_ms: int,
    ) -> None:
        self.ws = ws
        self._transport = transport
        self.channel = channel
        self.dialect = dialect
        self.conn_id = f"sim{next(_conn_seq):08x}-{wall_ms() // 1000:x}"
        self.topics: set[str] = set()
        self.account: str | None = None
        self.api_key: ApiKey | None = None
        self.idle_ms = idle_ms
        self.last_rx_ms = wall_ms()
        self.req_ids: set[str] = set()
        self._queue: deque[bytes] = deque()
        self._wake = asyncio.Event()

    def push(self, frame: bytes) -> None:
        """Queue an already-serialised text frame.

        A client that lets `MAX_QUEUED_FRAMES` pile up is cut off, as Bybit drops readers that
        cannot keep up, rather than growing memory without bound.
        """
        if len(self._queue) >= MAX_QUEUED_FRAMES:
            self._queue.clear()
            if self._transport is not None:
                self._transport.abort()
            return
        self._queue.append(frame)
        self._wake.set()

    def send(self, message: dict[str, Any]) -> None:
        """Queue a message (serialised here)."""
        self.push(orjson.dumps(message))

    def wake(self) -> None:
        """Let the writer notice that the socket closed."""
        self._wake.set()

    async def drain(self) -> None:
        """Write queued frames in order until the socket closes."""
        ws, queue = self.ws, self._queue
        with contextlib.suppress(ConnectionError):
            while not ws.closed:
                await self._wake.wait()
                self._wake.clear()
                while queue and not ws.closed:
                    await ws.send_frame(queue.popleft(), WSMsgType.TEXT)
