"""Client text frames (RFC 6455 §5.2) written straight to an open websocket-client socket.

websocket-client's `send` builds an `ABNF` object, validates it, draws a mask key with a
`getrandom` system call and masks through `array` conversions: 50-120 µs of the tick on a
machine whose caches went cold since the previous book message (`benchmarks/mm_stages.py`).
The same frame costs a fraction of that here: mask keys come from a pool filled with
`os.urandom` (so they stay unpredictable, as the RFC asks) off the hot path, and the payload
is masked as one big integer. The frame goes out under the connection's own send lock, so it
never interleaves with the pings websocket-client sends from its own thread.
"""

from __future__ import annotations

import os
import struct
from typing import Any

from websocket import WebSocketConnectionClosedException

_POOL_KEYS = 1024
_FIN_TEXT = 0x81
_MASKED = 0x80


class FrameWriter:
    """Masked text frames from a pool of random mask keys."""

    __slots__ = ("_keys", "_next")

    def __init__(self) -> None:
        self._keys = b""
        self._next = 0
        self.refill()

    def refill(self) -> None:
        """Draw a fresh pool of mask keys (one system call for `_POOL_KEYS` frames)."""
        self._keys = os.urandom(4 * _POOL_KEYS)
        self._next = 0

    def frame(self, payload: bytes) -> bytes:
        """One final, masked text frame carrying `payload` (UTF-8 JSON)."""
        at = self._next
        if at >= len(self._keys):
            self.refill()
            at = 0
        self._next = at + 4
        key = self._keys[at : at + 4]
        n = len(payload)
        if n < 126:
            header = bytes((_FIN_TEXT, _MASKED | n))
        elif n < 65536:
            header = struct.pack("!BBH", _FIN_TEXT, _MASKED | 126, n)
        else:
            header = struct.pack("!BBQ", _FIN_TEXT, _MASKED | 127, n)
        mask = key * (n >> 2) + key[: n & 3]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(n, "big")
        return header + key + masked


def send_frame(app: Any, frame: bytes) -> None:
    """Write `frame` on a `websocket.WebSocketApp`'s open connection, under its send lock.
    Raises `WebSocketConnectionClosedException` when there is no open connection."""
    conn = app.sock
    sock = conn.sock if conn is not None else None
    if sock is None:
        raise WebSocketConnectionClosedException("socket is already closed.")
    with conn.lock:
        sock.sendall(frame)
