"""Quotes are pulled when the engine can no longer trust what it sees (exchange faults), and
the kill switch ends the run with nothing left on the book."""

from __future__ import annotations

import time

from .support import SYMBOL, TAKER_PACE_S, own_open, rest, taker, wait_for


def _pulled(bot, reasons: set[str], since_ms: int) -> None:
    """A decision pulling the quotes for one of `reasons` was journaled after `since_ms`, and
    cancels went out (how soon is for tests/mm/test_mm_engine.py, which times each guard on
    a fake clock)."""

    def pulled() -> list[int]:
        return [
            ts
            for ts, reason in bot.journal.db.execute(
                "SELECT ts_ms, reason FROM decisions WHERE ts_ms >= ? ORDER BY id", (since_ms,)
            )
            if reason in reasons
        ]

    wait_for(pulled, timeout=10)
    cancels = bot.journal.db.execute(
        "SELECT link_id FROM orders WHERE event = 'cancel' AND ts_ms >= ?", (since_ms,)
    ).fetchall()
    assert cancels, "nothing was cancelled"


def test_dropped_websockets_pull_quotes_and_the_engine_quotes_again(exchange, run_engine) -> None:
    bot = run_engine(exchange)
    http = rest(exchange)
    wait_for(lambda: len(own_open(http)) == 2)
    since = int(time.time() * 1000)
    exchange.set_faults("drop_ws")
    # without the private stream (our view of our own orders) or the book, nothing may rest
    _pulled(bot, {"guard:private_down", "guard:resyncing", "guard:no_book"}, since)
    # and the engine reconnects and quotes again by itself
    wait_for(lambda: len(own_open(http)) == 2, timeout=15)
    assert bot.stop() == 0
    assert own_open(http) == []


def test_a_book_gap_pulls_quotes_until_a_fresh_snapshot(exchange, run_engine) -> None:
    bot = run_engine(exchange)
    http = rest(exchange)
    wait_for(lambda: len(own_open(http)) == 2)
    since = int(time.time() * 1000)
    exchange.set_faults("skip_u:once")
    wait_for(lambda: bot.of("resync"), timeout=5)
    _pulled(bot, {"guard:resyncing"}, since)
    wait_for(lambda: len(own_open(http)) == 2, timeout=10)  # resubscribed, quoting again
    assert bot.stop() == 0


def test_a_lost_order_update_is_settled_over_rest(exchange, run_engine) -> None:
    # the exchange loses the order stream's word on one of our amends: the order rests at
    # its new price while the engine still waits for the confirmation, and would never
    # move it again
    bot = run_engine(exchange, refresh_tolerance_bps=0.0, min_requote_interval_ms=0)
    http = rest(exchange)
    wait_for(lambda: len(own_open(http)) == 2)
    exchange.set_faults("lose_order")
    faults = exchange._server.faults
    wait_for(lambda: exchange.call(faults.describe)["faults"][0]["fired"])
    # an update of that order either comes later anyway (a fill, say) or never: then the
    # engine asks REST after UNCONFIRMED_MS; either way both sides move again
    since = int(time.time() * 1000)

    def amended_sides() -> set[str]:
        rows = bot.journal.db.execute(
            "SELECT DISTINCT side FROM orders WHERE event = 'amend' AND ts_ms > ?", (since,)
        )
        return {side for (side,) in rows}

    wait_for(lambda: amended_sides() == {"Buy", "Sell"}, timeout=10)
    assert not bot.of("reject")
    assert bot.stop() == 0
    assert own_open(http) == []


def test_a_silent_book_is_stale_and_pulls_quotes(exchange, run_engine) -> None:
    bot = run_engine(exchange, stale_book_ms=400)
    http = rest(exchange)
    wait_for(lambda: len(own_open(http)) == 2)
    # the exchange keeps the socket open but stops sending the book (as when a topic
    # silently dies): drop our subscription on the server side
    topic = ("linear", f"orderbook.50.{SYMBOL}")
    exchange.call(lambda: exchange._server.hub.public.pop(topic, None))
    since = int(time.time() * 1000)
    wait_for(lambda: bot.of("stale"), timeout=5)
    _pulled(bot, {"guard:stale"}, since)
    # the engine asks for the topic again and quotes once the snapshot arrives
    wait_for(lambda: len(own_open(http)) == 2, timeout=10)
    assert bot.stop() == 0


def test_kill_switch_stops_with_no_order_left(exchange, run_engine) -> None:
    # a maker fill pays 2 bps: the first one takes PnL below -0.0001
    bot = run_engine(
        exchange,
        spread_bps=0.05,
        fee_aware=False,
        min_requote_interval_ms=0,
        kill_max_loss="0.0001",
    )
    http, flow = rest(exchange), taker(exchange)
    deadline = time.monotonic() + 10
    while bot._thread.is_alive() and time.monotonic() < deadline:
        flow.place_order(
            category="linear", symbol=SYMBOL, side="Sell", orderType="Market", qty="0.05"
        )
        time.sleep(0.1)
    assert bot.wait() == 0
    assert bot.engine.stop_reason == "kill:max_loss"
    assert bot.of("kill") and bot.of("stopped")[0]["open_orders"] == 0
    assert own_open(http) == []


def _placed_since(bot, since_ms: int) -> int:
    return bot.journal.db.execute(
        "SELECT COUNT(*) FROM orders WHERE event = 'place' AND ts_ms >= ?", (since_ms,)
    ).fetchone()[0]


def _trip_by_selling(bot, flow, http) -> None:
    """Hit our bid with market sells until the kill switch pulls every quote."""
    deadline = time.monotonic() + 10
    while not bot.of("kill") and time.monotonic() < deadline:
        flow.place_order(
            category="linear", symbol=SYMBOL, side="Sell", orderType="Market", qty="0.05"
        )
        time.sleep(0.1)
    assert bot.of("kill"), "the kill switch never tripped"
    wait_for(lambda: own_open(http) == [], timeout=5)


def test_kill_switch_pause_holds_until_resumed(exchange, run_engine) -> None:
    # a drawdown of one maker fee trips it; resuming resets the peak, so quoting goes on
    bot = run_engine(
        exchange,
        spread_bps=0.05,
        fee_aware=False,
        min_requote_interval_ms=0,
        kill_max_drawdown="0.0001",
        kill_action="pause",
    )
    http, flow = rest(exchange), taker(exchange)
    _trip_by_selling(bot, flow, http)
    assert bot.of("kill")[0]["state"] == "paused"
    # paused means paused: nothing comes back by itself over two more status rounds
    statuses = len(bot.of("status"))
    wait_for(lambda: len(bot.of("status")) >= statuses + 2)
    assert bot._thread.is_alive() and own_open(http) == []
    assert [k["state"] for k in bot.of("kill")] == ["paused"]
    since = int(time.time() * 1000)
    bot.engine.request_resume()
    wait_for(lambda: _placed_since(bot, since), timeout=5)  # quoting again
    assert {"event": "kill", "state": "armed", "reason": "resumed"} in bot.of("kill")
    assert bot.stop() == 0
    assert own_open(http) == []


def test_kill_switch_cooldown_resumes_by_itself(exchange, run_engine) -> None:
    bot = run_engine(
        exchange,
        spread_bps=0.05,
        fee_aware=False,
        min_requote_interval_ms=0,
        kill_max_drawdown="0.0001",
        kill_action="cooldown",
        kill_cooldown_s=1,
    )
    http, flow = rest(exchange), taker(exchange)
    _trip_by_selling(bot, flow, http)
    assert bot.of("kill")[0]["state"] == "cooling"
    since = int(time.time() * 1000)
    wait_for(lambda: _placed_since(bot, since), timeout=5)  # re-armed after the cooldown
    assert {"event": "kill", "state": "armed", "reason": "cooled down"} in bot.of("kill")
    assert bot._thread.is_alive()
    assert bot.stop() == 0


def test_client_side_mmp_pulls_quotes_for_the_freeze_then_quotes_again(
    exchange, run_engine
) -> None:
    # two maker fills of 0.002 inside the window exceed 0.003: quotes pulled for 2 s
    bot = run_engine(
        exchange,
        spread_bps=0.05,
        fee_aware=False,
        min_requote_interval_ms=0,
        mmp_window_ms=5000,
        mmp_max_qty="0.003",
        mmp_freeze_s=2,
    )
    http, flow = rest(exchange), taker(exchange)
    deadline = time.monotonic() + 10
    while not any(e["reason"] == "mmp" for e in bot.of("guard")):
        assert time.monotonic() < deadline, "MMP never fired"
        flow.place_order(
            category="linear", symbol=SYMBOL, side="Sell", orderType="Market", qty="0.05"
        )
        time.sleep(TAKER_PACE_S)
    wait_for(lambda: own_open(http) == [], timeout=5)
    assert bot.engine.risk.mmp.trips >= 1
    since = int(time.time() * 1000)
    wait_for(lambda: _placed_since(bot, since), timeout=10)  # back after the freeze
    assert bot.stop() == 0
    assert own_open(http) == []


def test_persistent_place_rejects_stop_the_run_with_nothing_left(exchange, run_engine) -> None:
    # 20 BTC at the default 10x needs ~130k USDT of margin: every place is 110007
    bot = run_engine(exchange, order_qty="20", max_position="40", reject_limit=5)
    http = rest(exchange)
    assert bot.wait(timeout=20) == 1
    assert bot.engine.stop_reason == "rejects:110007"
    (tripped,) = bot.of("rejects")
    assert tripped["code"] == 110007 and tripped["count"] == 5
    assert bot.of("stopped")[0]["open_orders"] == 0
    rejects = bot.journal.db.execute(
        "SELECT COUNT(*) FROM orders WHERE event = 'reject' AND status = '110007'"
    ).fetchone()[0]
    assert rejects >= 5
    assert own_open(http) == []
