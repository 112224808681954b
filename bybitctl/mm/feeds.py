"""The engine's inputs: supervised pybit WebSockets whose frames all land in one inbox.

Every source (public book/trades/ticker, private order/execution/position/wallet, trade-socket
replies, timers, signals) puts `(kind, source, gen, t_ns, payload)` tuples in the engine's
`Inbox`, which handles them one batch at a time in arrival order. `t_ns` is
`time.perf_counter_ns()` taken the moment pybit hands over the decoded frame: the start of
the tick-to-quote measurement.

Each `Feed` is a `bybitctl.stream.supervisor.Supervisor` (the one reconnect policy, shared
with `bybitctl stream`) whose attempts report through the inbox: `Feed.check`, called from
the engine's timer, notices a dead, stuck or silent socket, reports it (`down`, so the engine
pulls its quotes) and reconnects with a jittered, capped backoff on a helper thread. The
generation number `gen` drops frames still queued from a socket that no longer exists.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from bybitctl.mm.inbox import Inbox
from bybitctl.stream.feed import connector, resubscribe
from bybitctl.stream.supervisor import (
    DOWN,
    UP,
    Backoff,
    Callback,
    Connect,
    Spawn,
    Supervisor,
    spawn_thread,
)

__all__ = ["DOWN", "FRAME", "UP", "Feed", "private_feed", "public_feed"]
"""`UP`/`DOWN` are the supervisor's outcome kinds, re-exported for the engine's inbox."""

FRAME = "frame"

Subscribe = Callable[[Any, Callback], None]
RECONNECT = Backoff(0.2, 5.0, jitter=0.2)
"""Reconnect delays: quick first retries (quotes are pulled meanwhile), capped at 5 s."""
STABLE_S = 10.0
"""A connection up this long counts as good: the next loss starts the backoff afresh."""
PUBLIC_SILENT_S = 60.0
"""A public socket that brought nothing for this long is replaced. The engine's stale-book
guard asks for a fresh snapshot long before (stale_book_ms), so only a socket that stays
silent even then, open but no longer fed, gets here."""


class Feed:
    """One pybit WebSocket (public or private) feeding the engine's inbox as `source`.

    Supervision runs from the engine's timer (`check`) and connection changes are inbox
    events the engine hands back to `accept`, so both live in the engine's one-at-a-time
    handling. `stale_after_s`: seconds without a frame after which the socket is replaced
    (None: a silent socket is fine). `clock`, `rand` and `spawn` are the supervisor's.
    """

    def __init__(
        self,
        source: str,
        connect: Connect,
        subscribe: Subscribe,
        sink: Inbox,
        backoff: Backoff = RECONNECT,
        connect_timeout_s: float = 15.0,
        *,
        stale_after_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        spawn: Spawn | None = None,
    ) -> None:
        self.source = source
        self._sink = sink
        self._supervisor = Supervisor(
            connect,
            subscribe,
            lambda kind, gen, payload: sink.put((kind, source, gen, 0, payload)),
            self._frames,
            backoff=backoff,
            connect_timeout=connect_timeout_s,
            stable_after=STABLE_S,
            stale_after=stale_after_s,
            clock=clock,
            rand=rand,
            spawn=spawn or spawn_thread(f"mm-{source}"),
        )

    def _frames(self, gen: int) -> Callback:
        put, source, clock = self._sink.put, self.source, time.perf_counter_ns

        def on_frame(message: dict[str, Any]) -> None:
            put((FRAME, source, gen, clock(), message))

        return on_frame

    @property
    def gen(self) -> int:
        """The live socket's generation: a frame carrying another one is stale."""
        return self._supervisor.gen

    @property
    def up(self) -> bool:
        return self._supervisor.up

    @property
    def connects(self) -> int:
        return self._supervisor.connects

    @property
    def drops(self) -> int:
        return self._supervisor.drops

    def start(self) -> None:
        """Begin connecting on a helper thread (returns at once)."""
        self._supervisor.start()

    def accept(self, kind: str, gen: int, payload: Any) -> bool:
        """Apply a connection event from the queue; False when it belongs to an old socket
        (the caller then ignores it)."""
        return self._supervisor.accept(kind, gen, payload)

    def check(self) -> str | None:
        """Timer duty: notice a dead, stuck or silent socket, start due reconnects.
        Returns a reason when the feed just went down."""
        return self._supervisor.check()

    def resubscribe(self, topic: str) -> None:
        """Ask for `topic` again, so the exchange sends a fresh snapshot."""
        resubscribe(self._supervisor.link, topic)

    def close(self) -> None:
        """Close the socket; later events from it are ignored."""
        self._supervisor.close()


def public_feed(
    settings: Any,
    category: str,
    symbol: str,
    depth: int,
    sink: Inbox,
    *,
    debug: bool = False,
) -> Feed:
    """Book (`orderbook.{depth}`), public trades and ticker of one symbol (an option's
    trades stream per base coin, `publicTrade.BTC`: the engine keeps its symbol's)."""
    trades = symbol.split("-")[0] if category == "option" else symbol

    def subscribe(manager: Any, callback: Callback) -> None:
        manager.orderbook_stream(depth=depth, symbol=symbol, callback=callback)
        manager.trade_stream(symbol=trades, callback=callback)
        manager.ticker_stream(symbol=symbol, callback=callback)

    return Feed(
        "public",
        connector(settings, category, debug=debug),
        subscribe,
        sink,
        stale_after_s=PUBLIC_SILENT_S,
    )


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
