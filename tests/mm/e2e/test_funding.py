"""Funding against the local exchange: a position held across settlements every second, and
the report's funding checked against the exchange's own transaction log (read with pybit)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from bybitctl.mm.report import build_report
from bybitctl.sim import SimHandle, running_exchange

from .support import SYMBOL, TAKER_PACE_S, rest, taker, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def exchange() -> Iterator[SimHandle]:
    """Funding every second, so a run of a few seconds holds its position across several."""
    with running_exchange(symbols=(SYMBOL,), seed=3, funding_interval_ms=1_000) as ex:
        yield ex


def settlements(http: Any) -> list[dict[str, Any]]:
    """The account's SETTLEMENT rows of the symbol in the transaction log, every page."""
    rows: list[dict[str, Any]] = []
    cursor = ""
    while True:
        kw: dict[str, Any] = {"accountType": "UNIFIED", "category": "linear", "limit": 50}
        kw["type"] = "SETTLEMENT"
        if cursor:
            kw["cursor"] = cursor
        result = http.get_transaction_log(**kw)["result"]
        rows.extend(r for r in result["list"] if r["symbol"] == SYMBOL)
        cursor = result.get("nextPageCursor") or ""
        if not cursor or not result["list"]:
            return rows


def test_the_report_funding_is_the_exchange_settlements(exchange, run_engine) -> None:
    # quotes at the touch; a taker sells into the bid until the bot is long, and the bot
    # flattens on exit, so no settlement comes after its exit read the executions
    bot = run_engine(
        exchange,
        spread_bps=0.05,
        fee_aware=False,
        min_requote_interval_ms=0,
        flatten_on_exit=True,
    )
    http, flow = rest(exchange), taker(exchange)

    def settled_twice() -> bool:
        if len(bot.of("funding")) >= 2:
            return True
        if bot.engine.inventory.position <= 0:
            flow.place_order(
                category="linear", symbol=SYMBOL, side="Sell", orderType="Market", qty="0.01"
            )
            time.sleep(TAKER_PACE_S)
        return False

    wait_for(settled_twice, timeout=30, every=0.02)
    assert bot.stop() == 0
    rows = settlements(http)
    assert len(rows) >= 2
    paid = sum(Decimal(r["funding"]) for r in rows)
    report = build_report(bot.journal, bot.journal.chain())
    assert report["funding_settlements"] == len(rows)
    assert Decimal(str(report["funding"])) == -paid
    assert bot.engine.ledger.funding == -paid  # exact, not only as a float
    # funding is no fill: the fills are exactly the exchange's trades of our orders
    position = http.get_positions(category="linear", symbol=SYMBOL)["result"]["list"][0]
    cum = Decimal(position["cumRealisedPnl"])
    assert cum == bot.engine.ledger.realized + bot.engine.ledger.funding  # Bybit books both
    assert report["total_pnl"] == pytest.approx(
        report["realized_pnl"] + report["unrealized_pnl"] + report["funding"]
    )
