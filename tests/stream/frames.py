"""Bybit-shaped frames for the stream tests, as the exchange sends them after JSON decoding."""

from __future__ import annotations

from typing import Any

TOPIC = "orderbook.50.BTCUSDT"


def book(
    kind: str,
    u: int,
    bids: list[list[str]],
    asks: list[list[str]],
    *,
    topic: str = TOPIC,
    seq: int | None = None,
) -> dict[str, Any]:
    """An orderbook snapshot or delta."""
    symbol = topic.rsplit(".", 1)[-1]
    return {
        "topic": topic,
        "type": kind,
        "ts": 1_700_000_000_000 + u,
        "data": {"s": symbol, "b": bids, "a": asks, "u": u, "seq": seq or 1000 + u},
        "cts": 1_700_000_000_000 + u - 1,
    }


def snapshot(u: int = 10, topic: str = TOPIC) -> dict[str, Any]:
    """A three-level book around 100."""
    return book(
        "snapshot",
        u,
        [["100.0", "1"], ["99.5", "2"], ["99.0", "3"]],
        [["100.5", "1.5"], ["101.0", "2.5"], ["101.5", "3.5"]],
        topic=topic,
    )


def trade(price: str = "100.2") -> dict[str, Any]:
    """One publicTrade message."""
    return {
        "topic": "publicTrade.BTCUSDT",
        "type": "snapshot",
        "ts": 1_700_000_000_500,
        "data": [
            {
                "T": 1_700_000_000_499,
                "s": "BTCUSDT",
                "S": "Buy",
                "v": "0.010",
                "p": price,
                "L": "PlusTick",
                "i": "t-1",
                "BT": False,
                "seq": 5,
            }
        ],
    }
