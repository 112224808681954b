"""Positions and money: hand-computed PnL and fees, hedge mode, TP/SL, the ledger identity."""

from __future__ import annotations

from decimal import Decimal

from bybitctl.sim.api.exchange import Exchange

from .conftest import Client, Recorder

D = Decimal


def fill(taker: Client, maker: Client, side: str, qty: str, price: str, **kw: str) -> dict:
    """`taker` trades `qty` at exactly `price` against a resting order of `maker`."""
    opp = "Sell" if side == "Buy" else "Buy"
    maker.order(
        side=opp, orderType="Limit", qty=qty, price=price, positionIdx=kw.pop("makerIdx", 0)
    )
    return taker.order(side=side, orderType="Market", qty=qty, **kw)


def closed(c: Client) -> list[dict]:
    return c.get("/v5/position/closed-pnl", category="linear", limit="100")["list"][::-1]


def test_open_add_reduce_flip_close_by_hand(alice: Client, bob: Client) -> None:
    start = alice.balance()
    fill(alice, bob, "Buy", "0.1", "65000")  # fee 6500 * 0.00055 = 3.575
    p = alice.position()
    assert (p["side"], p["size"], p["avgPrice"], p["curRealisedPnl"]) == (
        "Buy",
        "0.100",
        "65000",
        "-3.575",
    )
    fill(alice, bob, "Buy", "0.1", "66000")  # fee 3.63
    p = alice.position()
    assert (p["size"], p["avgPrice"], p["positionValue"]) == ("0.200", "65500", "13100")
    fill(alice, bob, "Sell", "0.15", "67000")  # closes 0.15: cost 9825, exit 10050, fee 5.5275
    p = alice.position()
    assert (p["size"], p["avgPrice"]) == ("0.050", "65500")
    rec = closed(alice)
    assert len(rec) == 1
    # 225 gross - 5.5275 close fee - 0.75 * (3.575 + 3.63) open fees
    assert D(rec[0]["closedPnl"]) == D("214.06875")
    assert (rec[0]["avgEntryPrice"], rec[0]["avgExitPrice"], rec[0]["closedSize"]) == (
        "65500",
        "67000",
        "0.150",
    )
    fill(alice, bob, "Sell", "0.1", "64000")  # flip: close 0.05 (-75), open short 0.05 @ 64000
    p = alice.position()
    assert (p["side"], p["size"], p["avgPrice"]) == ("Sell", "0.050", "64000")
    # -75 gross - half of the 3.52 fee - the remaining open fee 1.80125
    assert D(closed(alice)[1]["closedPnl"]) == D("-78.56125")
    fill(alice, bob, "Buy", "0.05", "63000")  # close short: +50, fee 1.7325, open fee 1.76
    assert alice.position()["size"] == "0.000"
    pnls = [D(r["closedPnl"]) for r in closed(alice)]
    assert pnls[2] == D("46.5075")
    assert alice.balance() - start == sum(pnls) == D("182.015")
    assert D(alice.position()["cumRealisedPnl"]) == D("182.015")


def test_fees_maker_and_taker_on_every_execution(alice: Client, bob: Client) -> None:
    fill(alice, bob, "Buy", "0.1", "65000")
    a = alice.get("/v5/execution/list", category="linear")["list"][0]
    b = bob.get("/v5/execution/list", category="linear")["list"][0]
    assert (a["isMaker"], a["feeRate"], a["execFee"]) == (False, "0.00055", "3.575")
    assert (b["isMaker"], b["feeRate"], b["execFee"]) == (True, "0.0002", "1.3")
    fee = alice.get("/v5/account/fee-rate", category="linear", symbol="BTCUSDT")["list"][0]
    assert (fee["makerFeeRate"], fee["takerFeeRate"]) == ("0.0002", "0.00055")


def test_unrealised_pnl_follows_the_mark(alice: Client, bob: Client, bare: Exchange) -> None:
    fill(alice, bob, "Buy", "0.1", "65000")
    mark = bare.marks["BTCUSDT"]
    p = alice.position()
    assert D(p["unrealisedPnl"]) == (mark - D(65000)) * D("0.1")
    assert D(p["markPrice"]) == mark


def test_hedge_mode_holds_long_and_short_apart(alice: Client, bob: Client) -> None:
    alice.post("/v5/position/switch-mode", category="linear", symbol="BTCUSDT", mode=3)
    alice.call(
        "POST",
        "/v5/position/switch-mode",
        expect=110025,
        category="linear",
        symbol="BTCUSDT",
        mode=3,
    )
    env = alice.call(
        "POST",
        "/v5/order/create",
        expect=10001,
        category="linear",
        symbol="BTCUSDT",
        side="Buy",
        orderType="Limit",
        qty="0.1",
        price="64000",
    )
    assert env["retMsg"] == "position idx not match position mode"
    fill(alice, bob, "Buy", "0.1", "65000", positionIdx=1)
    fill(alice, bob, "Sell", "0.2", "65100", positionIdx=2)
    long, short = alice.position(idx=1), alice.position(idx=2)
    assert (long["side"], long["size"], short["side"], short["size"]) == (
        "Buy",
        "0.100",
        "Sell",
        "0.200",
    )
    # closing the long is a Sell on idx 1, capped at the long's size
    fill(alice, bob, "Sell", "0.1", "65200", positionIdx=1)
    assert alice.position(idx=1)["size"] == "0.000"
    assert alice.position(idx=2)["size"] == "0.200"
    assert D(closed(alice)[0]["closedPnl"]) == D(20) - D("3.5860") - D("3.575")
    alice.call(
        "POST",
        "/v5/position/switch-mode",
        expect=110024,
        category="linear",
        symbol="BTCUSDT",
        mode=0,
    )


def test_leverage_changes_margin(alice: Client, bob: Client) -> None:
    alice.call(
        "POST",
        "/v5/position/set-leverage",
        expect=110043,
        category="linear",
        symbol="BTCUSDT",
        buyLeverage="10",
        sellLeverage="10",
    )
    alice.post(
        "/v5/position/set-leverage",
        category="linear",
        symbol="BTCUSDT",
        buyLeverage="5",
        sellLeverage="5",
    )
    fill(alice, bob, "Buy", "0.1", "65000")
    p = alice.position()
    assert (p["leverage"], p["positionIM"]) == ("5", "1300")
    alice.call(
        "POST",
        "/v5/position/set-leverage",
        expect=10001,
        category="linear",
        symbol="BTCUSDT",
        buyLeverage="500",
        sellLeverage="500",
    )


def test_trading_stop_closes_on_mark(
    alice: Client, bob: Client, bare: Exchange, rec: Recorder
) -> None:
    fill(alice, bob, "Buy", "0.1", "65000")
    mark = bare.marks["BTCUSDT"]
    alice.call(
        "POST",
        "/v5/position/trading-stop",
        expect=10001,
        category="linear",
        symbol="BTCUSDT",
        tpslMode="Full",
        positionIdx=0,
        takeProfit=str(mark - 100),
    )
    alice.post(
        "/v5/position/trading-stop",
        category="linear",
        symbol="BTCUSDT",
        tpslMode="Full",
        positionIdx=0,
        takeProfit=str(mark + 1000),
        stopLoss=str(mark - 50),
    )
    p = alice.position()
    assert (D(p["takeProfit"]), D(p["stopLoss"])) == (mark + 1000, mark - 50)
    bob.order(side="Buy", orderType="Limit", qty="0.1", price=str(mark - 60))
    bare.marks["BTCUSDT"] = mark - 51  # the mark falls through the stop
    bare.trading.check_tpsl(bare.clock())
    bare.step(bare.clock())
    assert alice.position()["size"] == "0.000"
    sl = [o for o in rec.items("order", alice.uid) if o["stopOrderType"] == "StopLoss"]
    assert sl and sl[-1]["orderStatus"] == "Filled" and sl[-1]["createType"] == "CreateByStopLoss"


def test_auto_add_margin_flag(alice: Client) -> None:
    alice.post(
        "/v5/position/set-auto-add-margin", category="linear", symbol="BTCUSDT", autoAddMargin=1
    )
    assert alice.position()["autoAddMargin"] == 1


def test_transaction_log_sums_to_the_balance(alice: Client, bob: Client) -> None:
    fill(alice, bob, "Buy", "0.1", "65000")
    fill(alice, bob, "Sell", "0.1", "65500")
    rows = alice.get("/v5/account/transaction-log", currency="USDT", limit="50")["list"]
    assert sum(D(r["change"]) for r in rows) == alice.balance()
    assert D(rows[0]["cashBalance"]) == alice.balance()
    trade = rows[0]
    assert (trade["type"], trade["cashFlow"], trade["fee"]) == ("TRADE", "50", "3.6025")


def test_inverse_contracts_settle_in_the_coin_by_hand(alice: Client, bob: Client) -> None:
    start = alice.balance("BTC")
    inv = {"category": "inverse", "symbol": "BTCUSD"}
    bob.order(**inv, side="Sell", orderType="Limit", qty="13200", price="64000")
    t = alice.order(**inv, side="Buy", orderType="Market", qty="13200")
    assert (t["avgPrice"], t["cumExecValue"]) == ("64000", "0.20625")  # 13200 USD / 64000
    rows = alice.get("/v5/position/list", **inv)["list"]
    p = rows[0]
    assert (p["side"], p["size"], p["avgPrice"], p["positionValue"]) == (
        "Buy",
        "13200",
        "64000",
        "0.20625",
    )
    bob.order(**inv, side="Buy", orderType="Limit", qty="13200", price="66000")
    alice.order(**inv, side="Sell", orderType="Market", qty="13200")
    rec = alice.get("/v5/position/closed-pnl", **inv)["list"][0]
    # long gains as the price rises: 0.20625 - 13200/66000 = 0.00625 BTC,
    # minus fees 0.2 * 0.00055 and 0.20625 * 0.00055 (rounded to 8 decimals)
    assert D(rec["closedPnl"]) == D("0.00625") - D("0.00011") - D("0.00011344")
    assert (rec["avgEntryPrice"], rec["avgExitPrice"]) == ("64000", "66000")
    assert alice.balance("BTC") - start == D(rec["closedPnl"])
    assert not alice.get("/v5/position/closed-pnl", category="linear")["list"]


def test_transfers_move_money_through_the_ledger(alice: Client) -> None:
    start = alice.balance()
    t = {"coin": "USDT", "fromAccountType": "UNIFIED", "toAccountType": "FUND"}
    alice.post("/v5/asset/transfer/inter-transfer", transferId="t1", amount="250.5", **t)
    alice.call("POST", "/v5/asset/transfer/inter-transfer", expect=131214, transferId="t1",
               amount="1", **t)  # fmt: skip
    back = {"coin": "USDT", "fromAccountType": "FUND", "toAccountType": "UNIFIED"}
    alice.post("/v5/asset/transfer/inter-transfer", transferId="t2", amount="50", **back)
    alice.call("POST", "/v5/asset/transfer/inter-transfer", expect=131212, transferId="t3",
               amount="500", **back)  # fmt: skip
    assert alice.balance() == start - D("200.5")
    rows = alice.get("/v5/account/transaction-log", currency="USDT", limit="50")["list"]
    assert sum(D(r["change"]) for r in rows) == alice.balance()
    listed = alice.get("/v5/asset/transfer/query-inter-transfer-list")["list"]
    assert [x["transferId"] for x in listed] == ["t2", "t1"]
