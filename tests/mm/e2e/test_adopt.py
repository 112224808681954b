"""`leftovers = adopt`: a restart takes the orders of an earlier run over as its own instead of
cancelling them, and they count against the limits from its first decision. Checked over
REST and in the journal against the local exchange."""

from __future__ import annotations

import subprocess
from decimal import Decimal
from typing import Any

from .support import SYMBOL, binary, cli_env, config_flags, own_open, rest, wait_for


def _journal(bot: Any, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return bot.journal.db.execute(sql, args).fetchall()


def _mid(http: Any) -> Decimal:
    book = http.get_orderbook(category="linear", symbol=SYMBOL, limit=1)["result"]
    return (Decimal(book["b"][0][0]) + Decimal(book["a"][0][0])) / 2


def test_restart_with_adopt_amends_the_old_orders_in_place(exchange, run_engine, tmp_path) -> None:
    # a first run (the binary) quotes 4 bps from the mid and dies by kill -9
    first = subprocess.Popen(
        [binary(), "mm", "start", *config_flags(), "--journal", str(tmp_path / "first.sqlite")],
        env=cli_env(exchange, tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    http = rest(exchange)
    try:
        old = wait_for(lambda: len(own_open(http)) == 2 and own_open(http), timeout=20)
    finally:
        first.kill()
        first.wait(timeout=10)
    old_links = {o["orderLinkId"] for o in old}
    # the restart wants 8 bps: the adopted orders are moved there by amends of their ids
    bot = run_engine(exchange, leftovers="adopt", spread_bps=8.0, refresh_tolerance_bps=2.0)
    assert {e["adopted"] for e in bot.of("reconcile")} == old_links
    assert not _journal(bot, "SELECT 1 FROM orders WHERE event = 'leftover_cancel'")

    def moved() -> list[dict[str, Any]] | None:
        rows = own_open(http)
        mid = _mid(http)
        far = all(abs(Decimal(o["price"]) - mid) / mid * 10000 > 6 for o in rows)
        return rows if len(rows) == 2 and far else None

    rows = wait_for(moved, timeout=10)
    assert {o["orderLinkId"] for o in rows} == old_links  # the same orders, moved in place
    amended = {
        link for (link,) in _journal(bot, "SELECT link_id FROM orders WHERE event = 'amend'")
    }
    assert amended == old_links
    assert _journal(bot, "SELECT COUNT(*) FROM orders WHERE event = 'place'") == [(0,)]
    assert bot.engine.stats.orders_cancelled == 0  # nothing cancelled while quoting
    assert bot.stop() == 0
    assert own_open(http) == []
    cancels = _journal(bot, "SELECT link_id, detail FROM orders WHERE event = 'cancel'")
    assert {link for link, _ in cancels} == old_links
    assert all(detail.startswith("exit") for _, detail in cancels)


def test_adopted_orders_beyond_the_limit_are_cut_before_anything_is_placed(
    exchange, run_engine
) -> None:
    # an earlier run (same prefix, another run id) left three bids of 0.004 near the levels
    # the restart wants (4, 9 and 14 bps under the mid): 0.012 of exposure under a 0.01 limit
    http = rest(exchange)
    mid = _mid(http)
    links = [f"mmzzzzzz-{n}" for n in (1, 2, 3)]
    for bps, link in zip((4, 9, 14), links, strict=True):
        http.place_order(
            category="linear",
            symbol=SYMBOL,
            side="Buy",
            orderType="Limit",
            qty="0.004",
            price=str((mid * (1 - Decimal(bps) / 10000)).quantize(Decimal("0.1"))),
            timeInForce="PostOnly",
            orderLinkId=link,
        )
    # three levels of 0.002 with a tolerance wide enough that every bid keeps its level
    bot = run_engine(
        exchange,
        leftovers="adopt",
        levels=3,
        level_spacing_bps=5.0,
        refresh_tolerance_bps=50.0,
        max_position="0.01",
    )
    assert {e["adopted"] for e in bot.of("reconcile")} == set(links)

    def exposure() -> Decimal | None:
        """Long position + remaining qty of our bids, if no fill landed between the reads."""
        before = _long(http)
        rows = [o for o in own_open(http) if o["side"] == "Buy"]
        if _long(http) != before:
            return None
        return before + sum((Decimal(o["qty"]) - Decimal(o["cumExecQty"]) for o in rows), 0)

    def within() -> bool:
        seen = exposure()
        return seen is not None and seen <= Decimal("0.01")

    wait_for(within, timeout=10)
    until = bot.engine.stats.decisions + 40

    def stays_within() -> bool:
        seen = exposure()
        assert seen is None or seen <= Decimal("0.01"), seen
        return bot.engine.stats.decisions >= until

    wait_for(stays_within, timeout=30)  # over the next 40 decisions
    # the first action of the run cut the farthest bid to what fits, by an amend of its id
    first = _journal(
        bot,
        "SELECT event, link_id, qty FROM orders WHERE event IN ('place', 'amend', 'cancel')"
        " ORDER BY id LIMIT 1",
    )
    assert first == [("amend", links[2], "0.002")]
    assert bot.stop() == 0
    assert own_open(http) == []


def _long(http: Any) -> Decimal:
    row = http.get_positions(category="linear", symbol=SYMBOL)["result"]["list"][0]
    return Decimal(row["size"]) if row["side"] == "Buy" else Decimal(0)
