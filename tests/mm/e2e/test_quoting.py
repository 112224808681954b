"""Where the engine quotes and how it moves: checked over REST on the local exchange."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from bybitctl.mm.accounting import Fill, Ledger
from bybitctl.mm.report import build_report

from .support import SYMBOL, TAKER_PACE_S, executions, own_open, rest, taker, wait_for


def _mid(http: Any) -> Decimal:
    book = http.get_orderbook(category="linear", symbol=SYMBOL, limit=1)["result"]
    return (Decimal(book["b"][0][0]) + Decimal(book["a"][0][0])) / 2


def test_quotes_both_sides_at_the_configured_distance(exchange, run_engine) -> None:
    bot = run_engine(exchange, spread_bps=6.0, refresh_tolerance_bps=0.5)
    http = rest(exchange)
    orders = wait_for(lambda: len(own_open(http)) == 2 and own_open(http), timeout=10)
    mid = _mid(http)
    by_side = {o["side"]: o for o in orders}
    assert set(by_side) == {"Buy", "Sell"}
    for side, sign in (("Buy", -1), ("Sell", 1)):
        distance_bps = sign * (Decimal(by_side[side]["price"]) - mid) / mid * 10000
        # 6 bps away, give or take the requote tolerance, a tick of rounding and the mid's
        # move between the quote and this check
        assert abs(distance_bps - 6) < Decimal("1.5"), (side, distance_bps)
        assert by_side[side]["qty"] == "0.002"
        assert by_side[side]["timeInForce"] == "PostOnly"
        assert by_side[side]["orderLinkId"].startswith(bot.engine.run_id + "-")
    assert bot.stop() == 0
    assert own_open(http) == []


def test_http_only_trading_quotes_and_stops_clean(exchange, run_engine) -> None:
    bot = run_engine(exchange, ws_trading=False, refresh_tolerance_bps=0.3)
    http = rest(exchange)
    wait_for(lambda: len(own_open(http)) == 2)
    wait_for(lambda: bot.engine.stats.http_actions >= 4, timeout=30)  # requoted too
    assert bot.stop() == 0
    assert own_open(http) == []
    assert bot.engine.stats.ws_actions == 0 and bot.engine.stats.http_actions >= 2
    assert not bot.of("reject")


def _moves(bot: Any) -> list[tuple[Decimal, Decimal]]:
    """(price the exchange had confirmed, price asked for) of every amend the engine sent."""
    confirmed: dict[str, Decimal] = {}
    moves = []
    for link, event, price in bot.journal.db.execute(
        "SELECT link_id, event, price FROM orders WHERE event IN ('update', 'amend') ORDER BY id"
    ):
        if event == "amend":
            moves.append((confirmed[link], Decimal(price)))
        else:
            confirmed[link] = Decimal(price)
    return moves


def test_requotes_only_beyond_the_tolerance(exchange, run_engine) -> None:
    tight = run_engine(exchange, refresh_tolerance_bps=0.3, min_requote_interval_ms=0)
    wait_for(lambda: len(_moves(tight)) >= 3, timeout=30)
    assert tight.stop() == 0
    for old, new in _moves(tight):
        assert abs(new - old) / old * 10000 > Decimal("0.3") - Decimal("0.02"), (old, new)

    # a tolerance the market does not cross here: the quotes rest where they were placed
    # (50 bps from the mid, beyond the reach of the exchange's noise takers, so no fill
    # replaces one either)
    wide = run_engine(
        exchange, spread_bps=50.0, refresh_tolerance_bps=200.0, min_requote_interval_ms=0
    )
    wait_for(lambda: len(own_open(rest(exchange))) == 2)
    decided = wide.engine.stats.decisions
    wait_for(lambda: wide.engine.stats.decisions >= decided + 40, timeout=30)  # book moves
    assert wide.stop() == 0
    assert _moves(wide) == []
    report = build_report(wide.journal, wide.journal.chain())
    assert report["orders_placed"] == 2 and report["orders_amended"] == 0
    history = rest(exchange).get_order_history(category="linear", symbol=SYMBOL, limit=50)
    ours = [o for o in history["result"]["list"] if o["orderLinkId"].startswith(wide.engine.run_id)]
    placed = wide.journal.db.execute("SELECT price FROM orders WHERE event = 'place'").fetchall()
    assert sorted(Decimal(o["price"]) for o in ours) == sorted(Decimal(p) for (p,) in placed)


def test_one_sided_taker_flow_never_pushes_position_past_max(exchange, run_engine) -> None:
    # quotes at the touch, so the taker's market sells reach our bid first
    bot = run_engine(
        exchange,
        spread_bps=0.05,
        fee_aware=False,
        order_qty="0.003",
        max_position="0.007",
        min_requote_interval_ms=0,
        rate_limit=100.0,
    )
    http, flow = rest(exchange), taker(exchange)
    wait_for(lambda: len(own_open(http)) == 2)
    worst = Decimal(0)
    at_limit = 0  # sells sent while the position sat at the limit
    deadline = time.monotonic() + 15
    while at_limit < 15 and time.monotonic() < deadline:
        # each sell sweeps a few levels, ours among them
        flow.place_order(
            category="linear", symbol=SYMBOL, side="Sell", orderType="Market", qty="0.05"
        )
        row = http.get_positions(category="linear", symbol=SYMBOL)["result"]["list"][0]
        size = Decimal(row["size"]) * (-1 if row["side"] == "Sell" else 1)
        worst = max(worst, abs(size))
        at_limit += size >= Decimal("0.006")
        time.sleep(TAKER_PACE_S)
    assert at_limit, "the flow never pressed against the limit"
    assert bot.stop() == 0
    fills = executions(http)
    assert fills, "the taker flow never reached our quotes"
    position = Decimal(0)
    for row in fills:
        position += Decimal(row["execQty"]) * (1 if row["side"] == "Buy" else -1)
        assert abs(position) <= Decimal("0.007"), row
    assert worst <= Decimal("0.007")
    assert all(r["orderType"] == "Limit" and r["isMaker"] for r in fills)  # never a taker
    report = build_report(bot.journal, bot.journal.chain())
    assert report["max_abs_position"] <= 0.007


def test_report_fees_and_realised_pnl_equal_the_exchange_executions(exchange, run_engine) -> None:
    bot = run_engine(
        exchange,
        spread_bps=0.05,
        fee_aware=False,
        order_qty="0.002",
        max_position="0.004",
        min_requote_interval_ms=0,
        rate_limit=100.0,
    )
    http, flow = rest(exchange), taker(exchange)
    wait_for(lambda: len(own_open(http)) == 2)
    for i in range(30):
        flow.place_order(
            category="linear",
            symbol=SYMBOL,
            side="Sell" if i % 4 < 2 else "Buy",
            orderType="Market",
            qty="0.003",
        )
        time.sleep(TAKER_PACE_S)
    assert bot.stop() == 0
    fills = executions(http)
    assert len(fills) >= 4
    ledger = Ledger()
    for row in fills:
        ledger.apply(
            Fill(
                row["side"],
                Decimal(row["execPrice"]),
                Decimal(row["execQty"]),
                Decimal(row["execFee"]),
                Decimal(row["execPrice"]),
                row["isMaker"],
            )
        )
    report = build_report(bot.journal, bot.journal.chain())
    assert report["fills"] == len(fills)
    assert Decimal(str(report["fees_quote"])) == sum(Decimal(r["execFee"]) for r in fills)
    assert report["fees_quote"] == float(ledger.fees)
    assert report["realized_pnl"] == float(ledger.realized)
    position = http.get_positions(category="linear", symbol=SYMBOL)["result"]["list"][0]
    assert Decimal(str(report["realized_pnl"])) == Decimal(position["cumRealisedPnl"])
    signed = Decimal(position["size"]) * (-1 if position["side"] == "Sell" else 1)
    assert Decimal(str(report["final_position"])) == signed


def test_flatten_on_exit_closes_the_position_with_one_market_order(exchange, run_engine) -> None:
    bot = run_engine(
        exchange,
        spread_bps=0.05,
        fee_aware=False,
        min_requote_interval_ms=0,
        flatten_on_exit=True,
    )
    http, flow = rest(exchange), taker(exchange)
    wait_for(lambda: len(own_open(http)) == 2)
    deadline = time.monotonic() + 10

    def long() -> Decimal:
        row = http.get_positions(category="linear", symbol=SYMBOL)["result"]["list"][0]
        return Decimal(row["size"]) if row["side"] == "Buy" else Decimal(0)

    # a clear long (two of our bids filled), so the crowd lifting one ask cannot flatten it
    while long() < Decimal("0.004"):
        assert time.monotonic() < deadline, "no position to flatten"
        flow.place_order(
            category="linear", symbol=SYMBOL, side="Sell", orderType="Market", qty="0.05"
        )
        time.sleep(TAKER_PACE_S)
    assert bot.stop() == 0
    position = http.get_positions(category="linear", symbol=SYMBOL)["result"]["list"][0]
    assert Decimal(position["size"]) == 0
    fills = executions(http)
    market = [r for r in fills if r["orderType"] == "Market"]
    assert len({r["orderLinkId"] for r in market}) == 1
    assert market[0]["orderLinkId"] == bot.engine.run_id + "-0"
    report = build_report(bot.journal, bot.journal.chain())
    assert report["final_position"] == 0 and report["fills"] == len(fills)
    assert report["maker_fills"] == len(fills) - len(market)


def test_hedge_mode_switches_quotes_on_both_legs_and_flattens_each(exchange, run_engine) -> None:
    # the account starts in one-way mode: the engine switches the symbol, sets the leverage,
    # quotes on positionIdx 1/2 (flat: bids open the long leg on 1, asks the short leg on 2;
    # once a leg is open the other side closes it, see tests/mm/e2e/test_hedge.py) and
    # closes each leg on exit
    bot = run_engine(
        exchange,
        spread_bps=0.05,
        fee_aware=False,
        min_requote_interval_ms=0,
        hedge_mode=True,
        leverage=7,
        flatten_on_exit=True,
    )
    http, flow = rest(exchange), taker(exchange)
    wait_for(lambda: len(own_open(http)) == 2, timeout=10)
    first = [  # the first quotes, placed flat (filled by now or not)
        http.get_open_orders(category="linear", symbol=SYMBOL, orderLinkId=link)["result"]["list"]
        for link in (bot.engine.run_id + "-1", bot.engine.run_id + "-2")
    ]
    assert {o[0]["side"]: o[0]["positionIdx"] for o in first} == {"Buy": 1, "Sell": 2}
    legs = http.get_positions(category="linear", symbol=SYMBOL)["result"]["list"]
    assert {int(p["positionIdx"]) for p in legs} == {1, 2}
    assert {p["leverage"] for p in legs} == {"7"}
    deadline = time.monotonic() + 15
    for side in ("Sell", "Buy"):  # fill our bid, then our ask
        want = "Buy" if side == "Sell" else "Sell"
        while not any(f["side"] == want for f in executions(http)):
            assert time.monotonic() < deadline, f"no {want} fill"
            flow.place_order(
                category="linear", symbol=SYMBOL, side=side, orderType="Market", qty="0.05"
            )
            time.sleep(TAKER_PACE_S)
    assert not bot.of("reject") or all(r["code"] != 10001 for r in bot.of("reject"))

    def net() -> Decimal:
        rows = http.get_positions(category="linear", symbol=SYMBOL)["result"]["list"]
        return sum(
            (Decimal(p["size"]) * (-1 if p["side"] == "Sell" else 1) for p in rows), Decimal(0)
        )

    wait_for(lambda: bot.engine.exchange_position == net(), timeout=5)  # both legs, netted
    assert bot.stop() == 0
    legs = http.get_positions(category="linear", symbol=SYMBOL)["result"]["list"]
    assert all(Decimal(p["size"]) == 0 for p in legs), legs
    market = [r for r in executions(http) if r["orderType"] == "Market"]
    assert {r["orderLinkId"] for r in market} <= {
        bot.engine.run_id + "-0",
        bot.engine.run_id + "-00",
    }
    assert own_open(http) == []
