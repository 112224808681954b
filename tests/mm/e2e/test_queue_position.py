"""The queue-ahead estimate in the engine's status, against the local exchange replaying a
still book (a one-frame recording: no synthetic crowd moves it, so every qty at our price is
known): a taker's trades at our bid's price consume the queue ahead of it, to 0 at our fill.

A third account rests a bid behind ours at the same price, so the level never shrinks below
what the estimate puts ahead of us: only the trades can bring the estimate down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bybitctl.sim import SimHandle, running_exchange

from .support import SYMBOL, own_open, rest, taker, wait_for

BID, ASK = "64999.9", "65000.0"
AHEAD = Decimal("0.3")
"""What rests at our bid's price before we join (the recorded liquidity)."""


@pytest.fixture
def still(tmp_path: Path) -> Iterator[SimHandle]:
    start = 1_765_000_000_000_000_000
    snapshot = {
        "topic": f"orderbook.50.{SYMBOL}",
        "type": "snapshot",
        "ts": 1,
        "cts": 1,
        "data": {
            "s": SYMBOL,
            "b": [[BID, str(AHEAD)], ["64999.0", "1"]],
            "a": [[ASK, "0.5"], ["65001.0", "1"]],
            "u": 1,
            "seq": 1,
        },
    }
    lines = [
        {
            "recording": "bybitctl",
            "version": 1,
            "created_ns": start,
            "channel": "public/linear",
            "topics": [],
        },
        {"recv_ns": start, "channel": "public/linear", "frame": snapshot},
    ]
    path = tmp_path / "still.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with running_exchange(replay=path, seed=5) as ex:
        http = rest(ex)
        wait_for(
            lambda: (
                http.get_orderbook(category="linear", symbol=SYMBOL)["result"]["a"][:1]
                == [[ASK, "0.500"]]
            )
        )
        yield ex


def _exact(figure: float) -> Decimal:
    """A status figure (a JSON number) as the decimal it was written from."""
    return Decimal(repr(figure))


def _our_bid(bot: Any) -> dict[str, Any] | None:
    """Our bid at BID in the latest status."""
    statuses = bot.of("status")
    for q in statuses[-1]["quotes"] if statuses else []:
        if q["side"] == "Buy" and _exact(q["price"]) == Decimal(BID):
            return q
    return None


def _ahead_is(bot: Any, want: Decimal) -> bool:
    q = _our_bid(bot)
    return q is not None and q["queue_ahead"] is not None and _exact(q["queue_ahead"]) == want


def test_taker_trades_at_our_price_bring_the_queue_ahead_down_to_0_at_our_fill(
    still, run_engine
) -> None:
    # a half-spread of a fraction of a tick: the bid joins the best bid, the ask the best
    # ask; the tolerance is wide so that the taker moving the book moves no quote
    bot = run_engine(
        still,
        spread_bps=0.005,
        fee_aware=False,
        refresh_tolerance_bps=200.0,
        min_requote_interval_ms=0,
    )
    http, flow, behind = rest(still), taker(still), taker(still, account="200003")
    wait_for(lambda: len(own_open(http)) == 2)
    assert {o["side"]: o["price"] for o in own_open(http)} == {"Buy": BID, "Sell": ASK}
    wait_for(lambda: _ahead_is(bot, AHEAD))  # all of the recorded bid is ahead of us

    sell: dict[str, Any] = {
        "category": "linear",
        "symbol": SYMBOL,
        "side": "Sell",
        "orderType": "Limit",
        "timeInForce": "IOC",
        "price": BID,
    }
    behind.place_order(**{**sell, "side": "Buy", "timeInForce": "PostOnly", "qty": "0.5"})
    wait_for(
        lambda: (q := _our_bid(bot)) is not None and _exact(q["level_qty"]) == Decimal("0.802")
    )
    assert _ahead_is(bot, AHEAD)  # joining behind us changes nothing ahead

    flow.place_order(**sell, qty="0.2")
    wait_for(lambda: _ahead_is(bot, AHEAD - Decimal("0.2")))

    flow.place_order(**sell, qty="0.101")  # the last 0.1 ahead, then half of ours
    fill = wait_for(lambda: bot.of("fill"))[0]
    assert (fill["side"], fill["price"], fill["qty"]) == ("Buy", BID, "0.001")
    wait_for(lambda: (q := _our_bid(bot)) is not None and _exact(q["qty"]) == Decimal("0.001"))
    assert _ahead_is(bot, Decimal(0))  # we were reached: nothing is ahead
    assert bot.stop() == 0
