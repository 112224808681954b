"""What open orders and positions hold, coin by coin, in the wallet balance: each coin's
figures come out of one pass over the account, so every kind of hold is checked in one state."""

from __future__ import annotations

from typing import Any

from bybitctl.sim.api.exchange import Exchange

from .conftest import Client

FIGURES = ("walletBalance", "equity", "unrealisedPnl", "totalPositionIM", "totalPositionMM",
           "totalOrderIM", "locked", "availableToWithdraw")  # fmt: skip


def rows(client: Client, **params: Any) -> dict[str, dict[str, str]]:
    w = client.get("/v5/account/wallet-balance", accountType="UNIFIED", **params)["list"][0]
    return {r["coin"]: {k: r[k] for k in FIGURES} for r in w["coin"]}


def test_each_coin_counts_only_its_own_holds(alice: Client, bob: Client, bare: Exchange) -> None:
    assert bare.marks["BTCUSDT"] == 65000  # never stepped: the mark is the start price
    eth = {"category": "linear", "symbol": "ETHUSDT"}
    alice.post("/v5/position/set-leverage", **eth, buyLeverage="5", sellLeverage="5")
    bob.order(side="Sell", orderType="Limit", qty="0.02", price="65000")
    alice.order(side="Buy", orderType="Market", qty="0.02")  # long 1300 USDT, fee 0.715
    spot = {"category": "spot", "orderType": "Limit"}
    alice.order(**spot, symbol="BTCUSDT", side="Buy", qty="0.1", price="60000")  # 6000 USDT
    alice.order(**spot, symbol="BTCUSDT", side="Sell", qty="0.25", price="70000")  # 0.25 BTC
    alice.order(**spot, symbol="ETHUSDT", side="Sell", qty="1", price="5000")  # 1 ETH
    alice.order(side="Buy", orderType="Limit", qty="0.01", price="60000")  # IM 600 / 10
    alice.order(**eth, side="Sell", orderType="Limit", qty="0.1", price="4000")  # IM 400 / 5
    inverse = {"category": "inverse", "symbol": "BTCUSD"}
    alice.order(**inverse, side="Buy", orderType="Limit", qty="100", price="50000")  # 0.002 / 10
    # neither holds anything: a reduce-only order, and a conditional one until it triggers
    alice.order(side="Sell", orderType="Limit", qty="0.01", price="70000", reduceOnly=True)
    alice.order(side="Buy", orderType="Market", qty="0.1", triggerPrice="70000",
                triggerDirection=1)  # fmt: skip
    got = rows(alice)
    assert list(got) == ["BTC", "ETH", "USDC", "USDT"]
    assert got["USDT"] == {
        "walletBalance": "99999.285",
        "equity": "99999.285",
        "unrealisedPnl": "0",
        "totalPositionIM": "130",
        "totalPositionMM": "6.5",
        "totalOrderIM": "140",
        "locked": "6000",
        "availableToWithdraw": "93729.285",  # 99999.285 - 130 - 140 - 6000
    }
    assert got["BTC"] == {
        "walletBalance": "1",
        "equity": "1",
        "unrealisedPnl": "0",
        "totalPositionIM": "0",
        "totalPositionMM": "0",
        "totalOrderIM": "0.0002",
        "locked": "0.25",
        "availableToWithdraw": "0.7498",
    }
    assert (got["ETH"]["locked"], got["ETH"]["availableToWithdraw"]) == ("1", "9")
    assert (got["USDC"]["locked"], got["USDC"]["totalOrderIM"]) == ("0", "0")
    assert rows(alice, coin="BTC,USDT") == {c: got[c] for c in ("BTC", "USDT")}
    # the same figures gate new orders: 0.7498 BTC is all a spot sell may still spend
    alice.call("POST", "/v5/order/create", expect=170131, **spot, symbol="BTCUSDT",
               side="Sell", qty="0.75", price="70000")  # fmt: skip
    alice.order(**spot, symbol="BTCUSDT", side="Sell", qty="0.7498", price="70000")
