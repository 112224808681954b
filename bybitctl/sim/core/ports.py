"""The seam between the local exchange's network layer and its synchronous core.

The aiohttp server (`bybitctl.sim.net.server`) owns sockets, signatures, rate limits, faults and
the WebSocket protocol; the core (`bybitctl.sim.core.exchange.Exchange`) owns instruments, the
synthetic market, matching, accounts and positions. The server calls the core from its one
event-loop thread only, so the core needs no locks.
"""

from __future__ import annotations

from typing import Any, Protocol


class Listener(Protocol):
    """Receives every message the core wants pushed over WebSockets."""

    def on_public(self, category: str, topic: str, message: dict[str, Any]) -> None:
        """A public message (full Bybit envelope: topic, type, ts, data, ...) for one topic."""

    def on_private(self, account: str, topic: str, message: dict[str, Any]) -> None:
        """A private message (Bybit envelope: id, topic, creationTime, data) for one account."""


class ExchangeCore(Protocol):
    """What the server needs from the core."""

    def set_listener(self, listener: Listener) -> None:
        """Register where pushes go (one listener; the server fans out)."""

    def ensure_account(self, account: str) -> None:
        """Create a funded UNIFIED account for `account` (a uid string) if it does not exist."""

    def handle(
        self, http_method: str, path: str, params: dict[str, Any], account: str | None
    ) -> dict[str, Any] | None:
        """Answer a modelled REST route.

        Returns an envelope {"retCode", "retMsg", "result", "retExtInfo"} (the server adds
        "time"), or None when the route is not modelled (the server then answers with the
        documented example). `account` is None for public routes. `params` is the very
        object the server logged the request with, every catalogued parameter already of its
        catalogue type (`bybitctl.sim.api.params`): read it, never change it.
        """

    def trade_op(self, op: str, args: list[dict[str, Any]], account: str) -> dict[str, Any]:
        """Run a trade-WebSocket op (order.create, order.amend, order.cancel and the -batch
        forms) and return {"retCode", "retMsg", "data", "retExtInfo"}; the server adds
        reqId, op, header and connId."""

    def subscribe_public(self, category: str, topic: str) -> list[dict[str, Any]]:
        """Start publishing `topic` on `category` and return the initial messages a new
        subscriber gets (an orderbook snapshot, a ticker snapshot; may be empty).
        Raises KeyError for an unknown topic."""

    def unsubscribe_public(self, category: str, topic: str) -> None:
        """The last subscriber left; the core may stop producing that topic."""

    def step(self, now_ms: int) -> None:
        """Advance the synthetic market and matching to `now_ms`, pushing what changed."""

    def dcp_connected(self, account: str, product: str) -> None:
        """A private connection of `account` subscribed to the DCP topic of `product`
        (DERIVATIVES, SPOT, OPTIONS): that product's DCP clock stops."""

    def dcp_disconnected(self, account: str, product: str, now_ms: int) -> None:
        """The last connection of `account` subscribed to `product`'s DCP topic closed: DCP
        cancels the product's orders once it stays gone longer than the window."""

    def close(self) -> None:
        """Flush and close persistent state."""
