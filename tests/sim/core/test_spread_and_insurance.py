"""Spread market data (orderbook.25, publicTrade, tickers and their REST routes) and the
insurance pool stream of the core."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bybitctl.sim.api.exchange import Exchange

from .conftest import Clock, Recorder
from .test_market_data import LocalBook, run

SPREAD = "BTCUSDT_BTC/USDT"


def get(ex: Exchange, path: str, **params: Any) -> dict[str, Any]:
    env = ex.handle("GET", path, params, None)
    assert env is not None and env["retCode"] == 0, env
    return env["result"]


def test_spread_book_streams_deltas_that_rebuild_the_rest_book(
    ex: Exchange, clock: Clock, rec: Recorder
) -> None:
    (snap,) = ex.subscribe_public("spread", f"orderbook.25.{SPREAD}")
    assert snap["topic"] == f"orderbook.25.{SPREAD}" and snap["data"]["s"] == SPREAD
    assert len(snap["data"]["b"]) == len(snap["data"]["a"]) == 25
    local = LocalBook(snap)
    run(ex, clock, 60, every=100)
    msgs = rec.topic(f"orderbook.25.{SPREAD}")
    assert len(msgs) > 10 and all(m["type"] == "delta" for m in msgs)
    for m in msgs:
        local.apply(m)  # u rises by exactly 1, seq rises, deletes name a known level
    rest = get(ex, "/v5/spread/orderbook", symbol=SPREAD, limit="25")
    assert rest["u"] == local.u
    assert local.top(25) == (rest["b"], rest["a"])
    assert Decimal(rest["b"][0][0]) < Decimal(rest["a"][0][0])
    # the basis of a funding-rate arb (perp minus spot): a small share of the coin's price
    assert 0 < Decimal(rest["b"][0][0]) < Decimal(650)


def test_spread_book_is_not_a_category_of_the_market_routes(ex: Exchange) -> None:
    env = ex.handle("GET", "/v5/market/orderbook", {"category": "spread", "symbol": SPREAD}, None)
    assert env is not None and env["retCode"] == 10001
    env = ex.handle("GET", "/v5/spread/orderbook", {"symbol": "BTCUSDT", "limit": "1"}, None)
    assert env is not None and env["retCode"] == 10001
    env = ex.handle("GET", "/v5/spread/orderbook", {"symbol": SPREAD, "limit": "26"}, None)
    assert env is not None and env["retCode"] == 10001


def test_spread_trades_and_recent_trades(ex: Exchange, clock: Clock, rec: Recorder) -> None:
    assert ex.subscribe_public("spread", f"publicTrade.{SPREAD}") == []
    run(ex, clock, 300, every=100)
    trades = [t for m in rec.topic(f"publicTrade.{SPREAD}") for t in m["data"]]
    assert trades and set(trades[0]) == {"T", "s", "S", "v", "p", "L", "i", "seq"}
    assert all(t["s"] == SPREAD and t["S"] in ("Buy", "Sell") for t in trades)
    recent = get(ex, "/v5/spread/recent-trade", symbol=SPREAD, limit="3")["list"]
    assert [r["execId"] for r in recent] == [t["i"] for t in trades[-3:]][::-1]
    assert set(recent[0]) == {"execId", "symbol", "price", "size", "side", "time", "seq"}


def test_spread_ticker_is_snapshot_only_and_matches_rest(
    ex: Exchange, clock: Clock, rec: Recorder
) -> None:
    (snap,) = ex.subscribe_public("spread", f"tickers.{SPREAD}")
    keys = {"symbol", "bidPrice", "bidSize", "askPrice", "askSize", "lastPrice",
            "highPrice24h", "lowPrice24h", "prevPrice24h", "volume24h"}  # fmt: skip
    assert snap["type"] == "snapshot" and set(snap["data"]) == keys and "cs" not in snap
    run(ex, clock, 100, every=100)
    pushes = rec.topic(f"tickers.{SPREAD}")
    assert pushes and all(m["type"] == "snapshot" and set(m["data"]) == keys for m in pushes)
    (row,) = get(ex, "/v5/spread/tickers", symbol=SPREAD)["list"]
    book = get(ex, "/v5/spread/orderbook", symbol=SPREAD, limit="1")
    assert (row["bidPrice"], row["askPrice"]) == (book["b"][0][0], book["a"][0][0])


@pytest.mark.parametrize("topic", [f"allLiquidation.{SPREAD}", f"kline.1.{SPREAD}", "x.y"])
def test_spread_channel_has_only_its_three_topics(ex: Exchange, topic: str) -> None:
    with pytest.raises(KeyError):
        ex.subscribe_public("spread", topic)


def test_insurance_pushes_the_pool_then_only_changes(
    ex: Exchange, clock: Clock, rec: Recorder
) -> None:
    assert ex.subscribe_public("linear", "insurance.USDT") == []
    run(ex, clock, 12, every=100)
    (first,) = rec.topic("insurance.USDT")
    (pool,) = first["data"]
    assert first["type"] == "delta" and pool["coin"] == "USDT"
    assert set(pool) == {"coin", "symbols", "balance", "updateTime"}
    assert set(pool["symbols"].split(",")) == {"BTCUSDT", "ETHUSDT"}
    ex.subscribe_public("linear", "allLiquidation.BTCUSDT")
    ex.subscribe_public("linear", "allLiquidation.ETHUSDT")
    run(ex, clock, 600, every=100)
    liqs = rec.topic("allLiquidation.BTCUSDT") + rec.topic("allLiquidation.ETHUSDT")
    pushes = rec.topic("insurance.USDT")
    assert liqs and len(pushes) > 1
    assert len(pushes) <= 1 + len(liqs)  # quiet while no liquidation feeds the pool
    balances = [Decimal(m["data"][0]["balance"]) for m in pushes]
    assert balances == sorted(balances) and balances[-1] > balances[0]
    (row,) = get(ex, "/v5/market/insurance", coin="USDT")["list"]
    assert Decimal(row["balance"]) == balances[-1]
