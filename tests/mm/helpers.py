"""Builders shared by the market-maker tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from support.synthetic import LINEAR_INSTRUMENT

from bybitctl.mm.actions import OPEN, OpenOrder
from bybitctl.mm.config import MMConfig, from_mapping
from bybitctl.mm.plan import QuoteParams
from bybitctl.mm.rules import MarketRules, validate
from bybitctl.mm.view import BookView

BASE: dict[str, Any] = {
    "symbol": "SIMUSDT",
    "order_qty": "0.1",
    "max_position": "1",
    "spread_bps": 10.0,
    "maker_fee_bps": 0.0,
    "min_edge_bps": 0.0,
    "min_requote_interval_ms": 0,
    "max_order_age_ms": 0,
    "inventory_skew": False,
}


def config(**over: Any) -> MMConfig:
    """A valid config for the synthetic instrument (tick 0.01, step 0.001), with overrides."""
    return from_mapping({**BASE, **over})


def rules() -> MarketRules:
    return MarketRules.from_instrument("linear", LINEAR_INSTRUMENT)


def params(**over: Any) -> QuoteParams:
    cfg = config(**over)
    return QuoteParams.build(cfg, validate(cfg, LINEAR_INSTRUMENT))


def view(bid: float = 99.99, ask: float = 100.01, **kw: Any) -> BookView:
    kw.setdefault("bid_qty", 1.0)
    kw.setdefault("ask_qty", 1.0)
    kw.setdefault("ts_ms", 1_000)
    return BookView(bid, ask, **kw)


def order(
    link_id: str,
    side: str,
    price: str,
    qty: str,
    status: str = OPEN,
    filled: str = "0",
    created_ms: int = 1_000,
    position_idx: int = 0,
) -> OpenOrder:
    return OpenOrder(
        link_id,
        side,
        Decimal(price),
        Decimal(qty),
        Decimal(filled),
        created_ms,
        status,
        position_idx,
    )


SYMBOL = "SIMUSDT"


def book_frame(
    kind: str, u: int, bids: list[tuple[str, str]], asks: list[tuple[str, str]], ts: int = 0
) -> dict[str, Any]:
    """A Bybit orderbook message (snapshot or delta)."""
    return {
        "topic": f"orderbook.50.{SYMBOL}",
        "type": kind,
        "ts": ts,
        "data": {
            "s": SYMBOL,
            "b": [list(b) for b in bids],
            "a": [list(a) for a in asks],
            "u": u,
            "seq": u,
        },
        "cts": ts,
    }


def trade_frame(side: str, price: str, qty: str, ts: int = 0) -> dict[str, Any]:
    """A publicTrade message with one trade (`side` is the taker's)."""
    return {
        "topic": f"publicTrade.{SYMBOL}",
        "type": "snapshot",
        "ts": ts,
        "data": [
            {
                "T": ts,
                "s": SYMBOL,
                "S": side,
                "v": qty,
                "p": price,
                "L": "PlusTick",
                "i": "x",
                "BT": False,
            }
        ],
    }


def line(t_ms: int, frame: dict[str, Any]) -> dict[str, Any]:
    """A recording line received at `t_ms`."""
    return {"recv_ns": t_ms * 1_000_000, "channel": "public/linear", "frame": frame}
