"""The engine's inputs: supervised pybit WebSockets whose frames all land in one inbox.

Every source (public book/trades/ticker, private order/execution/position/wallet, trade-socket
replies, timers, signals) puts `(kind, source, gen, t_ns, payload)` tuples in the engine's
`Inbox`, which handles them one batch at a time in arrival order. `t_ns` is
`time.perf_counter_ns()` taken the moment pybit hands over the decoded frame: the start of
the tick-to-quote measurement.

pybit is built with `restart_on_error=False` (it reconnects only after some errors, without
backoff, and never after a clean close): `Feed.check`, called from the engine's
timer, notices a dead socket, reports it (`down`, so the engine pulls its quotes) and
reconnects with a capped backoff on a helper thread. A generation number drops frames still
queued from a socket that no longer exists.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from bybitctl.mm.inbox import Inbox
from bybitctl.stream.feed import Backoff, Connector, close_quietly, connector, resubscribe

FRAME = "frame"
UP = "up"
DOWN = "down"

Callback = Callable[[dict[str, Any]], None]
Subscribe = Callable[[Any, Callback], None]
RECONNECT = Backoff(0.2, 5.0)
"""Reconnect delays: quick first retries (quotes are pulled meanwhile), capped at 5 s."""


class Feed:
    """One pybit WebSocket (public or private) feeding the engine's inbox as `source`.

    `stream.feed.LiveFeed` supervises the same way for `bybitctl stream`, but on its
    caller's thread through `poll`; here supervision runs from the engine's timer and
    connection changes are inbox events, so both can live in the engine's one-at-a-time
    handling."""

    def __init__(
        self,
        source: str,
        connect: Connector,
        subscribe: Subscribe,
        sink: Inbox,
        backoff: Backoff = RECONNECT,
        connect_timeout_s: float = 15.0,
    ) -> None:
        self.source = source
        self._connect = connect
        self._subscribe = subscribe
        self._sink = sink
        self._backoff = backoff
        self._connect_timeout_s = connect_timeout_s
        self.gen = 0
        self.up = False
        self.connects = 0
        self.drops = 0
        self._manager: Any = None
        self._attempt = 0
        self._connecting_since: float | None = None
        self._retry_at: float | None = None

    def start(self) -> None:
        """Begin connecting on a helper thread (returns at once)."""
        self.gen += 1
        self._connecting_since = time.monotonic()
        self._retry_at = None
        threading.Thread(
            target=self._open, args=(self.gen,), daemon=True, name=f"mm-{self.source}"
        ).start()

    def _open(self, gen: int) -> None:
        sink, source, clock = self._sink, self.source, time.perf_counter_ns

        def on_frame(message: dict[str, Any]) -> None:
            sink.put((FRAME, source, gen, clock(), message))

        try:
            manager = self._connect(on_frame)
            self._subscribe(manager, on_frame)
        except Exception as exc:  # pybit raises bare Exception types on connect failures
            sink.put((DOWN, source, gen, 0, f"connect failed: {exc}"))
        else:
            sink.put((UP, source, gen, 0, manager))

    def accept(self, kind: str, gen: int, payload: Any) -> bool:
        """Apply a connection event from the queue; False when it belongs to an old socket
        (the caller then ignores it)."""
        if gen != self.gen:
            if kind == UP:
                close_quietly(payload)
            return False
        if kind == UP:
            self._manager = payload
            self.up = True
            self.connects += 1
            self._connecting_since = None
        elif kind == DOWN:
            self._lost()
        return True

    def check(self) -> str | None:
        """Timer duty: notice a dead socket or a stuck connect, start due reconnects.
        Returns a reason when the feed just went down."""
        now = time.monotonic()
        manager = self._manager
        if self.up and manager is not None and not manager.is_connected():
            self._lost()
            return "connection closed"
        if (
            self._connecting_since is not None
            and now - self._connecting_since > self._connect_timeout_s
        ):
            self._lost()
            return "connect timed out"
        if self._retry_at is not None and now >= self._retry_at:
            self.start()
        return None

    def _lost(self) -> None:
        if self.up:
            self.drops += 1
            self._attempt = 0
        self.up = False
        manager, self._manager = self._manager, None
        if manager is not None:
            threading.Thread(target=close_quietly, args=(manager,), daemon=True).start()
        self.gen += 1  # frames still queued from the dead socket are dropped
        self._connecting_since = None
        self._retry_at = time.monotonic() + self._backoff.delay(self._attempt)
        self._attempt += 1

    def resubscribe(self, topic: str) -> None:
        """Ask for `topic` again, so the exchange sends a fresh snapshot."""
        resubscribe(self._manager, topic)

    def close(self) -> None:
        """Close the socket; later events from it are ignored."""
        self.gen += 1
        self.up = False
        self._retry_at = None
        manager, self._manager = self._manager, None
        if manager is not None:
            close_quietly(manager)


def public_feed(
    settings: Any,
    category: str,
    symbol: str,
    depth: int,
    sink: Inbox,
    *,
    debug: bool = False,
) -> Feed:
    """Book (`orderbook.{depth}`), public trades and ticker of one symbol."""

    def subscribe(manager: Any, callback: Callback) -> None:
        manager.orderbook_stream(depth=depth, symbol=symbol, callback=callback)
        manager.trade_stream(symbol=symbol, callback=callback)
        manager.ticker_stream(symbol=symbol, callback=callback)

    return Feed("public", connector(settings, category, debug=debug), subscribe, sink)


def private_feed(
    settings: Any,
    sink: Inbox,
    *,
    dcp_product: str,
    debug: bool = False,
) -> Feed:
    """Our orders, executions, positions and wallet, and the `dcp.{dcp_product}` topic:
    Bybit counts only connections holding it when deciding that DCP should fire."""

    def subscribe(manager: Any, callback: Callback) -> None:
        manager.order_stream(callback=callback)
        manager.execution_stream(callback=callback)
        manager.position_stream(callback=callback)
        manager.wallet_stream(callback=callback)
        manager.subscribe(topic="dcp.{symbol}", callback=callback, symbol=dcp_product)

    return Feed("private", connector(settings, "private", debug=debug), subscribe, sink)
