"""The network layer's two ports: what the server needs from the exchange behind it, and
what the WebSocket hub needs from the server around it.

The aiohttp server (`bybitctl.sim.net.server`) owns sockets, signatures, rate limits, faults
and the WebSocket protocol; the exchange (`bybitctl.sim.api.exchange.Exchange`, or a test's
stand-in) owns instruments, the synthetic market, matching, accounts and positions. The
server calls it from its one event-loop thread only, so the exchange needs no locks.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol

from bybitctl.sim.core.ports import Listener
from bybitctl.sim.net.auth import ApiKey
from bybitctl.sim.net.ratelimit import Verdict


class ExchangeCore(Protocol):
    """What the server needs from the exchange."""

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
        """The last subscriber left; the exchange may stop producing that topic."""

    def step(self, now_ms: int) -> None:
        """Advance the synthetic market and matching to `now_ms`, pushing what changed."""

    def advance_clock(self, ms: int) -> None:
        """Move the exchange's time `ms` ahead (ValueError for a negative `ms`)."""

    def set_price(self, coin: str, price: float) -> None:
        """Move a coin's fair price at once (KeyError: not listed; ValueError: not above 0)."""

    def dcp_connected(self, account: str, product: str) -> None:
        """A private connection of `account` subscribed to the DCP topic of `product`
        (DERIVATIVES, SPOT, OPTIONS): that product's DCP clock stops."""

    def dcp_disconnected(self, account: str, product: str, now_ms: int) -> None:
        """The last connection of `account` subscribed to `product`'s DCP topic closed: DCP
        cancels the product's orders once it stays gone longer than the window."""

    def close(self) -> None:
        """Flush and close persistent state."""


class HubPort(Protocol):
    """What the WebSocket hub needs from the server: the clients' clock, key checks, rate
    limits, the exchange's topics and order ops, and somewhere to run and report work."""

    def now_ms(self) -> int:
        """The exchange's clock as clients see it (wall time plus any `skew` fault)."""

    def authenticate(self, args: Any) -> ApiKey:
        """The key an `auth` request's args sign for; AuthError when they do not."""

    def admit(self, account: str, path: str, category: Any) -> Verdict:
        """Count one request of `account` on `path` against its rate limit."""

    def trade_op(self, op: str, args: list[dict[str, Any]], account: str) -> dict[str, Any]:
        """Run an order op (`ExchangeCore.trade_op`); an exchange bug answers 10016."""

    def subscribe_public(self, category: str, topic: str) -> list[dict[str, Any]]:
        """`ExchangeCore.subscribe_public`."""

    def unsubscribe_public(self, category: str, topic: str) -> None:
        """`ExchangeCore.unsubscribe_public`."""

    def dcp_connected(self, account: str, product: str) -> None:
        """`ExchangeCore.dcp_connected`."""

    def dcp_disconnected(self, account: str, product: str, now_ms: int) -> None:
        """`ExchangeCore.dcp_disconnected`."""

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run `coro` in the background."""

    def report_failure(self, what: str, exc: BaseException) -> None:
        """Log an unexpected exception of the exchange's own."""
