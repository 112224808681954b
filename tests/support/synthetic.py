"""A seeded synthetic market recording (books, trades, tickers) in the `stream --record` line
format, for backtest tests and the decision benchmark where no network exists.

The mid takes a random walk on the tick grid; the book around it is redrawn each step and
sent as a Bybit delta against the previous one (sizes changed, levels added, "0" deletes),
and takers trade at the touch, sometimes sweeping more than the best level holds. Same seed,
same lines.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any


def synthetic_recording(
    seed: int = 1,
    messages: int = 2_000,
    symbol: str = "SIMUSDT",
    start_price: str = "100.00",
    tick: str = "0.01",
    levels: int = 20,
    step_ms: tuple[int, int] = (5, 60),
) -> list[dict[str, Any]]:
    """Recording lines {recv_ns, channel, frame} (no header line), deterministic in `seed`."""
    rng = random.Random(seed)
    tick_d = Decimal(tick)
    center = int(Decimal(start_price) / tick_d)
    now_ns = 1_700_000_000_000 * 1_000_000
    u = 0
    seq = 1_000

    def px(ticks: int) -> str:
        return str(tick_d * ticks)

    def size() -> str:
        return str(Decimal(rng.randint(1, 400)) / 1000)

    def draw(center: int, old_b: dict[int, str], old_a: dict[int, str]) -> tuple[dict, dict]:
        spread = rng.choice((1, 1, 1, 2, 3))
        bids = {
            center - i: old_b.get(center - i) if rng.random() < 0.8 else None for i in range(levels)
        }
        asks = {
            center + spread + i: old_a.get(center + spread + i) if rng.random() < 0.8 else None
            for i in range(levels)
        }
        return (
            {p: s or size() for p, s in bids.items()},
            {p: s or size() for p, s in asks.items()},
        )

    def frame(kind: str, b: dict[int, str], a: dict[int, str]) -> dict[str, Any]:
        nonlocal u, seq
        u += 1
        seq += rng.randint(1, 5)
        return {
            "topic": f"orderbook.50.{symbol}",
            "type": kind,
            "ts": now_ns // 1_000_000,
            "data": {
                "s": symbol,
                "b": [[px(p), s] for p, s in sorted(b.items(), reverse=True)],
                "a": [[px(p), s] for p, s in sorted(a.items())],
                "u": u,
                "seq": seq,
            },
            "cts": now_ns // 1_000_000 - 1,
        }

    def diff(old: dict[int, str], new: dict[int, str]) -> dict[int, str]:
        changes = {p: s for p, s in new.items() if old.get(p) != s}
        changes.update({p: "0" for p in old if p not in new})
        return changes

    bids, asks = draw(center, {}, {})
    lines = [
        {"recv_ns": now_ns, "channel": "public/linear", "frame": frame("snapshot", bids, asks)}
    ]
    for _ in range(messages):
        now_ns += rng.randint(*step_ms) * 1_000_000
        if rng.random() < 0.35:
            taker = rng.choice(("Buy", "Sell"))
            book = asks if taker == "Buy" else bids
            best = min(book) if taker == "Buy" else max(book)
            available = Decimal(book[best])
            qty = available * Decimal(rng.choice((1, 1, 2, 3))) / 4
            qty = max(Decimal("0.001"), qty.quantize(Decimal("0.001")))
            trade = {
                "T": now_ns // 1_000_000,
                "s": symbol,
                "S": taker,
                "v": str(qty),
                "p": px(best),
                "L": "ZeroPlusTick",
                "i": f"t{u}",
                "BT": False,
                "seq": seq,
            }
            lines.append(
                {
                    "recv_ns": now_ns,
                    "channel": "public/linear",
                    "frame": {
                        "topic": f"publicTrade.{symbol}",
                        "type": "snapshot",
                        "ts": now_ns // 1_000_000,
                        "data": [trade],
                    },
                }
            )
            if qty >= available:
                center += 1 if taker == "Buy" else -1
            else:
                book[best] = str(available - qty)
        if rng.random() < 0.3:
            center += rng.choice((-1, 1))
        new_bids, new_asks = draw(center, bids, asks)
        now_ns += 1_000_000
        delta = frame("delta", diff(bids, new_bids), diff(asks, new_asks))
        bids, asks = new_bids, new_asks
        lines.append({"recv_ns": now_ns, "channel": "public/linear", "frame": delta})
        if rng.random() < 0.05:
            lines.append(
                {
                    "recv_ns": now_ns,
                    "channel": "public/linear",
                    "frame": {
                        "topic": f"tickers.{symbol}",
                        "type": "delta",
                        "ts": now_ns // 1_000_000,
                        "data": {"symbol": symbol, "markPrice": px(center)},
                    },
                }
            )
    return lines


LINEAR_INSTRUMENT: dict[str, Any] = {
    "symbol": "SIMUSDT",
    "status": "Trading",
    "priceFilter": {"minPrice": "0.01", "maxPrice": "19999.98", "tickSize": "0.01"},
    "lotSizeFilter": {
        "maxOrderQty": "1000.000",
        "minOrderQty": "0.001",
        "qtyStep": "0.001",
        "postOnlyMaxOrderQty": "1000.000",
        "minNotionalValue": "0.1",
    },
    "leverageFilter": {"minLeverage": "1", "maxLeverage": "50.00", "leverageStep": "0.01"},
}
"""An instruments-info row (linear shape) matching the recording's defaults: a tick is 1 bps
at the start price, so quotes a few bps wide meet the synthetic takers."""
