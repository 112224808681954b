"""Funding: every interval each open perpetual pays or receives value at the mark x the rate."""

from __future__ import annotations

from decimal import Decimal

from bybitctl.sim.api.exchange import Exchange
from bybitctl.sim.core.positions import money

from .conftest import Client, Clock, Recorder
from .test_positions import closed, fill

D = Decimal


def settle_next(ex: Exchange, clock: Clock) -> int:
    """Move the clock to the next funding time and settle it; returns that time."""
    t = ex.next_funding
    clock.now = t
    ex.settle(t)
    return t


def test_long_pays_short_receives_value_at_mark_times_rate(
    bare: Exchange, clock: Clock, rec: Recorder, alice: Client, bob: Client
) -> None:
    fill(alice, bob, "Buy", "0.1", "65000")
    a0, b0 = alice.balance(), bob.balance()
    t = ex_time = bare.next_funding
    rate = bare.funding_rate("BTCUSDT", t)
    mark = bare.marks["BTCUSDT"]
    settle_next(bare, clock)
    paid = money(mark * D("0.1") * rate)
    assert paid != 0
    assert alice.balance() == a0 - paid
    assert bob.balance() == b0 + paid
    # the transaction log and the execution list say the same, with Bybit's signs
    row = alice.get("/v5/account/transaction-log", type="SETTLEMENT")["list"][0]
    assert (row["symbol"], row["side"], D(row["funding"]), D(row["change"])) == (
        "BTCUSDT",
        "Buy",
        paid,
        -paid,
    )
    assert row["transactionTime"] == str(ex_time)
    ex = alice.get("/v5/execution/list", category="linear", execType="Funding")["list"]
    assert len(ex) == 1 and D(ex[0]["execFee"]) == paid and D(ex[0]["feeRate"]) == rate
    short = bob.get("/v5/execution/list", category="linear", execType="Funding")["list"][0]
    assert (short["side"], D(short["execFee"]), D(short["feeRate"])) == ("Sell", -paid, -rate)
    # the position's realised PnL carries it
    assert D(alice.position()["cumRealisedPnl"]) == D("-3.575") - paid
    # pushed on the private streams
    assert [e["execType"] for e in rec.items("execution", "1001")][-1] == "Funding"
    assert rec.topic("wallet", "1001") and rec.topic("position", "1001")
    # the public history lists the settled rate at its time
    hist = alice.get("/v5/market/funding/history", category="linear", symbol="BTCUSDT")["list"]
    assert hist[0] == {
        "symbol": "BTCUSDT",
        "fundingRate": str(rate.normalize()),
        "fundingRateTimestamp": str(t),
    }


def test_no_position_no_settlement_and_ticker_predicts_the_next_rate(
    bare: Exchange, clock: Clock, alice: Client
) -> None:
    settle_next(bare, clock)
    assert alice.get("/v5/account/transaction-log", type="SETTLEMENT")["list"] == []
    row = alice.get("/v5/market/tickers", category="linear", symbol="BTCUSDT")["list"][0]
    nxt = bare.next_funding
    assert row["nextFundingTime"] == str(nxt)
    assert D(row["fundingRate"]) == bare.funding_rate("BTCUSDT", nxt)


def test_a_clock_jump_settles_every_missed_time(
    bare: Exchange, clock: Clock, alice: Client, bob: Client
) -> None:
    fill(alice, bob, "Buy", "0.1", "65000")
    first = bare.next_funding
    clock.now = first + 2 * bare.funding_interval
    bare.settle(clock.now)
    rows = alice.get("/v5/account/transaction-log", type="SETTLEMENT")["list"]
    times = sorted(int(r["transactionTime"]) for r in rows)
    assert times == [first, first + bare.funding_interval, first + 2 * bare.funding_interval]
    assert bare.next_funding == first + 3 * bare.funding_interval


def test_funding_is_in_closed_pnl_and_the_ledger_adds_up(
    bare: Exchange, clock: Clock, alice: Client, bob: Client
) -> None:
    start = alice.balance()
    fill(alice, bob, "Buy", "0.1", "65000")
    settle_next(bare, clock)
    settle_next(bare, clock)
    fill(alice, bob, "Sell", "0.1", "65100")
    assert alice.position()["size"] == "0.000"
    total = sum(D(r["closedPnl"]) for r in closed(alice))
    assert alice.balance() - start == total
    log = alice.get("/v5/account/transaction-log", currency="USDT", limit="50")["list"]
    assert sum(D(r["change"]) for r in log if r["type"] != "TRANSFER_IN") == total


def test_inverse_positions_settle_in_their_coin(
    bare: Exchange, clock: Clock, alice: Client, bob: Client
) -> None:
    bob.order(category="inverse", symbol="BTCUSD", side="Sell", orderType="Limit", qty="1000",
              price="65000")  # fmt: skip
    alice.order(category="inverse", symbol="BTCUSD", side="Buy", orderType="Market", qty="1000")
    before = alice.balance("BTC")
    t = bare.next_funding
    mark = bare.marks["BTCUSD"]
    settle_next(bare, clock)
    paid = money(money(D(1000) / mark) * bare.funding_rate("BTCUSD", t))
    assert alice.balance("BTC") == before - paid


def test_interval_is_configurable_and_shown(clock: Clock, rec: Recorder) -> None:
    ex = Exchange(clock=clock, seed=7, funding_interval_ms=60_000)
    try:
        info = ex.handle("GET", "/v5/market/instruments-info", {"category": "linear"}, None)
        assert info is not None and info["result"]["list"][0]["fundingInterval"] == 1
        assert ex.next_funding - clock.now <= 60_000 and ex.next_funding % 60_000 == 0
    finally:
        ex.close()
