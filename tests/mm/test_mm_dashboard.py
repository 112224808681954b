"""The live dashboard's quote table: book size at each quote's price and the qty ahead of it
in the queue ("-" when unknown)."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from bybitctl.mm.dashboard import Dashboard


def status(**over: Any) -> dict[str, Any]:
    """A status event as `Engine.snapshot` builds it (the fields the dashboard reads)."""
    quote = {"side": "Buy", "price": "64999.9", "qty": "0.002", "status": "open", "level": 0}
    return {
        "event": "status",
        "symbol": "BTCUSDT",
        "run_id": "mmabc123",
        "uptime_s": 1.0,
        "guard": "quoting",
        "kill": "armed",
        "mmp": False,
        "public": True,
        "private": True,
        "trade_ws": True,
        "bid": ["64999.9", "0.302"],
        "ask": ["65000.0", "0.5"],
        "quotes": [
            {**quote, "level_qty": "0.302", "queue_ahead": "0.3"},
            {**quote, "side": "Sell", "price": "65001.0", "level_qty": None, "queue_ahead": None},
        ],
        "position": "0",
        "realized_pnl": "0",
        "unrealized_pnl": "0",
        "fees": "0",
        "fills": 0,
        "orders_placed": 2,
        "orders_amended": 0,
        "orders_cancelled": 0,
        "rejects": 0,
        "quote_uptime_pct": 100.0,
        "latency_us": {"p50": 0.0, "p99": 0.0, "n": 0},
        **over,
    }


def rows(dashboard: Dashboard) -> dict[str, list[str]]:
    """The quote table's rows by their first cell, as printed."""
    console = Console(record=True, width=160)
    console.print(dashboard._render())
    out: dict[str, list[str]] = {}
    for line in console.export_text().splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells and cells[0].startswith(("our ", "best ")):
            out[cells[0]] = cells[1:]
    return out


def test_quotes_show_the_book_size_at_their_price_and_the_queue_ahead() -> None:
    dashboard = Dashboard()
    dashboard(status())
    table = rows(dashboard)
    assert table["our bid"] == ["64999.9", "0.002", "open", "0.302", "0.3"]
    assert table["our ask"] == ["65001.0", "0.002", "open", "-", "-"]
    assert table["best bid"][:2] == ["64999.9", "0.302"]
