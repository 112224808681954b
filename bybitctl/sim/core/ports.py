"""Where the core pushes: the one listener every WebSocket message leaves through.

The core builds each message (its full Bybit envelope) and hands it to a `Listener`; the
network layer's hub is the real one, a test's recorder another.
"""

from __future__ import annotations

from typing import Any, Protocol


class Listener(Protocol):
    """Receives every message the core wants pushed over WebSockets."""

    def on_public(self, category: str, topic: str, message: dict[str, Any]) -> None:
        """A public message (full Bybit envelope: topic, type, ts, data, ...) for one topic."""

    def on_private(self, account: str, topic: str, message: dict[str, Any]) -> None:
        """A private message (Bybit envelope: id, topic, creationTime, data) for one account."""
