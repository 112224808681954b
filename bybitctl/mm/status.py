"""The live run's counters and status: what the dashboard, the JSONL `status` events and
`mm status` (through the journal's control row) show, twice a second.

`snapshot` only reads the engine's state; `publish` also journals the run's progress and a
PnL point and emits the status event. Every figure is a JSON number, as in `mm report`
(prices, quantities and money are exact decimals converted once, here; the journal keeps
the exact values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bybitctl.mm.actions import BUY, SELL
from bybitctl.mm.figures import percentile
from bybitctl.mm.queue_position import level_size

if TYPE_CHECKING:
    from bybitctl.mm.engine import Engine

LATENCY_WINDOW = 2000
"""The status's tick-to-quote percentiles cover the latest this many samples."""


@dataclass(slots=True)
class Stats:
    """Counters of one live run."""

    decisions: int = 0
    orders_placed: int = 0
    orders_amended: int = 0
    orders_cancelled: int = 0
    rejects: int = 0
    deferred: int = 0
    ws_actions: int = 0
    http_actions: int = 0
    timeouts: int = 0
    resyncs: int = 0
    latencies: list[float] = field(default_factory=list)
    """Tick-to-quote of each decision that sent over the trade socket, µs."""


def snapshot(engine: Engine, now: int) -> dict[str, Any]:
    """The live state as plain data (dashboard, `mm status`, JSONL status events)."""
    book, tracker, stats = engine.market.book, engine.tracker, engine.stats
    bid, ask = book.best_bid(), book.best_ask()
    mark = engine.market.mark_price()
    lat = stats.latencies[-LATENCY_WINDOW:]
    quotes = []
    levels = {BUY: book.bids(), SELL: book.asks()}
    engine.queues.refresh(book, tracker.orders)  # the level-shrink part, here not per tick
    for o in sorted(tracker.orders.values(), key=lambda o: (o.side, -o.price)):
        # our order is part of this size; prices compare as numbers ("100.10" is 100.1)
        size = level_size(levels[o.side], o.price, bids=o.side == BUY)
        ahead = engine.queues.ahead(o.link_id, o.price)
        quotes.append(
            {
                "side": o.side,
                "price": float(o.price),
                "qty": float(o.remaining),
                "status": o.status,
                "level_qty": float(size) if size else None,
                "queue_ahead": number(ahead),
                "level": tracker.level(o.link_id),
            }
        )
    elapsed = max(1, now - engine.started_ms)
    ledger, risk = engine.ledger, engine.risk
    return {
        "run_id": engine.run_id,
        "symbol": engine.config.symbol,
        "uptime_s": round(elapsed / 1000, 1),
        "guard": engine.reason or "quoting",
        "kill": risk.kill.state,
        "kill_resumes": risk.kill.resumes,
        "mmp": risk.mmp.active(now),
        "mmp_until_ms": risk.mmp.frozen_until if risk.mmp.active(now) else None,
        "mmp_trips": risk.mmp.trips,
        "public": engine.public.up,
        "private": engine.private.up,
        "trade_ws": engine.executor.ws_up,
        "bid": [number(x) for x in bid] if bid else None,
        "ask": [number(x) for x in ask] if ask else None,
        "quotes": quotes,
        "position": float(engine.inventory.position),
        "exchange_position": number(engine.exchange_position),
        "realized_pnl": float(ledger.realized),
        "unrealized_pnl": float(ledger.unrealized(mark)) if mark else 0.0,
        "fees": float(ledger.fees),
        "funding": float(ledger.funding),
        "fills": ledger.fills,
        "equity": number(engine.equity),
        "orders_placed": stats.orders_placed,
        "orders_amended": stats.orders_amended,
        "orders_cancelled": stats.orders_cancelled,
        "rejects": stats.rejects,
        "latency_us": {
            "p50": round(percentile(lat, 0.5), 1),
            "p99": round(percentile(lat, 0.99), 1),
            "n": len(lat),
        },
        "quote_uptime_pct": round(100.0 * engine.quoted_ms / elapsed, 1),
        "recent_fills": [
            {k: number(v) if k in _FILL_FIGURES else v for k, v in fill.items()}
            for fill in engine.fills_recent
        ],
    }


_FILL_FIGURES = frozenset({"price", "qty", "fee", "position"})
"""The figures of a `fill` event (exact strings there) that the status gives as numbers."""


def number(value: Decimal | str | float | None) -> float | None:
    """A figure as a JSON number (None stays None: not known).

    >>> number("0.00001"), number(Decimal("65000.1")), number(None)
    (1e-05, 65000.1, None)
    """
    return None if value is None or value == "" else float(value)


def publish(engine: Engine, now: int) -> None:
    """The status: journaled (run progress, control row, a PnL point) and emitted."""
    state = snapshot(engine, now)
    journal = engine.journal
    journal.update_run(now - engine.started_ms, engine.quoted_ms)
    journal.heartbeat("running", state)
    mid = engine.market.mid()
    if mid:
        journal.pnl(mid, engine.ledger.summary(mid))
    engine.emit({"event": "status", **state})
