"""Liquidation: a small account at high leverage loses its margin and the exchange takes over."""

from __future__ import annotations

from decimal import Decimal

from bybitctl.sim.api.exchange import Exchange
from bybitctl.sim.core.margin import Risk

from .conftest import Client, Clock, Recorder
from .test_positions import closed, fill

D = Decimal


def small(c: Client, usdt: str) -> None:
    """Leave the account `usdt` USDT and nothing else (Bybit's demo-money adjustment)."""
    c.post("/v5/account/demo-apply-money", adjustType=1, utaDemoApplyMoney=[
        {"coin": coin, "amountStr": "100000000"} for coin in ("USDT", "USDC", "BTC", "ETH")
    ])  # fmt: skip
    c.post("/v5/account/demo-apply-money", adjustType=0,
           utaDemoApplyMoney=[{"coin": "USDT", "amountStr": usdt}])  # fmt: skip


def move_mark(ex: Exchange, price: float, now: int) -> None:
    """The coin's fair price (and so every mark of it) moves to `price`; then what that
    brings about settles."""
    ex.paths["BTC"].price = price
    ex._update_marks()
    ex.settle(now)


def test_cross_account_is_liquidated_at_the_bankruptcy_price(
    bare: Exchange, clock: Clock, rec: Recorder, alice: Client, bob: Client
) -> None:
    small(alice, "100")
    assert alice.balance() == D(100)
    alice.post("/v5/position/set-leverage", category="linear", symbol="BTCUSDT",
               buyLeverage="100", sellLeverage="100")  # fmt: skip
    fill(alice, bob, "Buy", "0.1", "65000")  # IM 65, fee 3.575, MM 32.5
    # equity 96.425 meets MM 32.5 at 65000 - 639.25; it is gone at 65000 - 964.25
    p = alice.position()
    assert (p["liqPrice"], p["bustPrice"]) == ("64360.8", "64035.8")
    resting = alice.order(side="Buy", orderType="Limit", qty="0.01", price="60000")
    bob.order(side="Buy", orderType="Limit", qty="0.1", price="64300")
    insurance = bare.trading.insurance["USDT"]
    bare.subscribe_public("linear", "allLiquidation.BTCUSDT")
    move_mark(bare, 64400.0, clock.now)  # above the liquidation price: nothing happens
    assert alice.position()["size"] == "0.100"
    move_mark(bare, 64300.0, clock.advance(25))
    assert alice.position()["size"] == "0.000"
    assert alice.find(resting["orderId"])["cancelType"] == "CancelByLiq"
    bust = alice.get("/v5/execution/list", category="linear", execType="BustTrade")["list"]
    assert len(bust) == 1
    assert (bust[0]["execPrice"], bust[0]["execQty"], bust[0]["execFee"]) == (
        "64035.8",
        "0.100",
        "0",
    )
    liq_order = alice.find(bust[0]["orderId"])
    assert (liq_order["createType"], liq_order["orderStatus"]) == ("CreateByLiq", "Filled")
    assert closed(alice)[-1]["execType"] == "BustTrade"
    log = alice.get("/v5/account/transaction-log", type="LIQUIDATION")["list"]
    assert len(log) == 1 and D(log[0]["change"]) == D("-96.42")
    # all but the rounding of the bankruptcy price to the tick is gone
    assert alice.balance() == D("0.005")
    # the engine sold into bob's bid at 64300: 0.1 x (64300 - 64035.8) to the fund
    assert bare.trading.insurance["USDT"] - insurance == D("26.42")
    assert bob.position()["size"] == "0.000"  # bob sold alice her 0.1, then bought it back
    bare.public.publish(clock.now)
    liq = rec.topic("allLiquidation.BTCUSDT")[-1]["data"]
    assert {"s": "BTCUSDT", "S": "Buy", "v": "0.100", "p": "64035.8"}.items() <= liq[0].items()
    assert any(o["orderStatus"] == "Filled" and o["createType"] == "CreateByLiq"
               for o in rec.items("order", "1001"))  # fmt: skip


def test_isolated_position_loses_its_margin_only(
    bare: Exchange, clock: Clock, alice: Client, bob: Client
) -> None:
    alice.post("/v5/account/set-margin-mode", setMarginMode="ISOLATED_MARGIN")
    assert alice.get("/v5/account/info")["marginMode"] == "ISOLATED_MARGIN"
    fill(alice, bob, "Buy", "0.1", "65000")  # 10x: margin 650, MM 32.5
    p = alice.position()
    assert (p["tradeMode"], p["positionBalance"], p["liqPrice"], p["bustPrice"]) == (
        1,
        "650",
        "58825.0",
        "58500.0",
    )
    alice.post("/v5/position/add-margin", category="linear", symbol="BTCUSDT", margin="100")
    assert alice.position()["liqPrice"] == "57825.0"
    before = alice.balance()
    bob.order(side="Buy", orderType="Limit", qty="0.1", price="57800")
    move_mark(bare, 57900.0, clock.now)
    assert alice.position()["size"] == "0.100"
    move_mark(bare, 57800.0, clock.advance(25))
    assert alice.position()["size"] == "0.000"
    # exactly its margin is lost; the 99,000-odd USDT beside it are untouched
    assert before - alice.balance() == D(750)


def test_cross_with_the_same_position_survives_that_move(
    bare: Exchange, clock: Clock, alice: Client, bob: Client
) -> None:
    fill(alice, bob, "Buy", "0.1", "65000")
    move_mark(bare, 57800.0, clock.now)
    assert alice.position()["size"] == "0.100"
    assert alice.position()["liqPrice"] == ""  # the account's equity covers any price


def test_margin_mode_errors(alice: Client) -> None:
    assert alice.call("POST", "/v5/account/set-margin-mode", expect=10001, setMarginMode="X")
    alice.post("/v5/account/demo-apply-money", adjustType=1, utaDemoApplyMoney=[
        {"coin": c, "amountStr": "1000000"} for c in ("USDT", "USDC", "BTC", "ETH")
    ])  # fmt: skip
    env = alice.call("POST", "/v5/account/set-margin-mode", expect=3400045,
                     setMarginMode="PORTFOLIO_MARGIN")  # fmt: skip
    assert env["result"]["reasons"][0]["reasonCode"] == "3400000"
    alice.call("POST", "/v5/position/add-margin", expect=110015, category="linear",
               symbol="BTCUSDT", margin="1")  # fmt: skip


def test_portfolio_margin_charges_net_exposure(bare: Exchange, alice: Client, bob: Client) -> None:
    fill(alice, bob, "Buy", "0.1", "65000")
    bob.order(category="inverse", symbol="BTCUSD", side="Buy", orderType="Limit", qty="6500",
              price="65000")  # fmt: skip
    alice.order(category="inverse", symbol="BTCUSD", side="Sell", orderType="Market", qty="6500")
    acct = bare.accounts["1001"]
    cross = Risk(acct, bare.marks, bare.usd).mm
    alice.post("/v5/account/set-margin-mode", setMarginMode="PORTFOLIO_MARGIN")
    hedged = Risk(acct, bare.marks, bare.usd).mm
    assert cross > 60 and hedged < cross / 10


def test_demo_money_adds_and_takes_away(alice: Client) -> None:
    alice.post("/v5/account/demo-apply-money", adjustType=0,
               utaDemoApplyMoney=[{"coin": "SOL", "amountStr": "12.5"}])  # fmt: skip
    assert alice.balance("SOL") == D("12.5")
    alice.post("/v5/account/demo-apply-money", adjustType=1,
               utaDemoApplyMoney=[{"coin": "SOL", "amountStr": "100"}])  # fmt: skip
    assert alice.balance("SOL") == 0
    coins = [r["coin"] for r in alice.get("/v5/asset/coin/query-info")["rows"]]
    assert {"BTC", "ETH", "USDT", "USDC", "SOL"} <= set(coins)
    assert alice.get("/v5/asset/coin/query-info", coin="ETH")["rows"][0]["coin"] == "ETH"
    alice.call("POST", "/v5/account/demo-apply-money", expect=10001, adjustType=0,
               utaDemoApplyMoney=[{"coin": "SOL", "amountStr": "-1"}])  # fmt: skip
