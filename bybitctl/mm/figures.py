"""The figures every report states, from one place: a live run's report (`bybitctl.mm.report`,
from the journal), a backtest's and the live status all compute them here, so they cannot
drift apart. `REPORT_KEYS` are exactly the keys of `--report-json`, in order."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from bybitctl.mm.accounting import Ledger

REPORT_KEYS = (
    "orders_placed",
    "orders_amended",
    "orders_cancelled",
    "fills",
    "maker_fills",
    "volume_base",
    "volume_quote",
    "fees_quote",
    "realized_pnl",
    "unrealized_pnl",
    "funding",
    "total_pnl",
    "max_abs_position",
    "final_position",
    "open_orders_at_exit",
    "quote_uptime_pct",
    "tick_to_quote_us",
)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values).

    >>> percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5)
    3.0
    """
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def report_figures(
    *,
    placed: int,
    amended: int,
    cancelled: int,
    ledger: Ledger,
    unrealized: Decimal,
    open_orders: int,
    uptime_pct: float,
    latencies: list[float],
) -> dict[str, Any]:
    """The REPORT_KEYS figures in order, as JSON numbers: a live run's report and a
    backtest's both come from here, so the two cannot drift apart."""
    return {
        "orders_placed": placed,
        "orders_amended": amended,
        "orders_cancelled": cancelled,
        "fills": ledger.fills,
        "maker_fills": ledger.maker_fills,
        "volume_base": float(ledger.volume_base),
        "volume_quote": float(ledger.volume_quote),
        "fees_quote": float(ledger.fees),
        "realized_pnl": float(ledger.realized),
        "unrealized_pnl": float(unrealized),
        "funding": float(ledger.funding),
        "total_pnl": float(ledger.realized + unrealized + ledger.funding),
        "max_abs_position": float(ledger.max_abs_position),
        "final_position": float(ledger.position),
        "open_orders_at_exit": open_orders,
        "quote_uptime_pct": uptime_pct,
        "tick_to_quote_us": {
            "p50": round(percentile(latencies, 0.5), 1),
            "p99": round(percentile(latencies, 0.99), 1),
        },
    }
