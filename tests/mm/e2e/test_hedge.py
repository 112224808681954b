"""Hedge mode against the local exchange: the two legs never net, so the quotes close the open
leg instead of growing the other one, and each leg and the gross stay within the limit."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from .support import SYMBOL, executions, own_open, rest, taker, wait_for

LIMIT = Decimal("0.007")


def _legs(http: Any) -> tuple[Decimal, Decimal]:
    """(long, short) sizes of the exchange's positionIdx 1 and 2."""
    rows = http.get_positions(category="linear", symbol=SYMBOL)["result"]["list"]
    size = {int(r["positionIdx"]): Decimal(r["size"]) for r in rows}
    return size.get(1, Decimal(0)), size.get(2, Decimal(0))


def test_one_sided_flows_keep_each_leg_and_the_gross_within_the_limit(exchange, run_engine) -> None:
    # quotes at the touch, so the taker's market orders reach ours first
    bot = run_engine(
        exchange,
        hedge_mode=True,
        spread_bps=0.05,
        fee_aware=False,
        order_qty="0.003",
        max_position=str(LIMIT),
        min_requote_interval_ms=0,
    )
    http, flow = rest(exchange), taker(exchange)
    wait_for(lambda: len(own_open(http)) == 2)
    # sell until the long leg sits at the limit, then buy: the buys must first close the long
    # leg (asks on positionIdx 1) before any short opens, never open one beside it
    for side in ("Sell", "Buy"):
        seen = [Decimal(0), Decimal(0)]  # the largest long and short leg seen in the phase
        pressed = 0
        deadline = time.monotonic() + 30
        while pressed < 5 and time.monotonic() < deadline:
            flow.place_order(
                category="linear", symbol=SYMBOL, side=side, orderType="Market", qty="0.05"
            )
            legs = _legs(http)
            assert max(legs) <= LIMIT and sum(legs) <= LIMIT, legs
            seen = [max(seen[0], legs[0]), max(seen[1], legs[1])]
            pressed += legs[side == "Buy"] >= LIMIT - Decimal("0.001")
            time.sleep(0.1)  # under 10 orders/s: pybit's retry of a 10006 can sleep < 0
        if side == "Sell":  # the long leg pressed against the limit; the asks close it
            assert seen[0] >= LIMIT - Decimal("0.001"), seen

            def closing() -> bool:
                asks = [o for o in own_open(http) if o["side"] == "Sell"]
                return bool(asks) and all(o["positionIdx"] == 1 for o in asks)

            wait_for(closing, timeout=5)
    assert seen[1] > 0, "the buys never closed the long leg and opened a short one"
    assert bot.stop() == 0
    assert own_open(http) == []
    # every execution of ours, replayed: closing fills shrink a leg, the others grow one
    long = short = Decimal(0)
    for row in executions(http):
        qty, closed = Decimal(row["execQty"]), Decimal(row["closedSize"] or "0")
        if row["side"] == "Buy":
            short -= closed
            long += qty - closed
        else:
            long -= closed
            short += qty - closed
        assert long <= LIMIT and short <= LIMIT and long + short <= LIMIT, row
    assert (long, short) == _legs(http)  # the replay is the exchange's account
