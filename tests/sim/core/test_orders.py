"""Order entry on the core: types, time in force, validation codes, amend, cancel, batches."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bybitctl.sim.api.exchange import Exchange

from .conftest import Client, Clock, Recorder

CREATE = "/v5/order/create"


def rest(c: Client, side: str, qty: str, price: str, **kw: str) -> dict:
    return c.order(side=side, orderType="Limit", qty=qty, price=price, **kw)


def test_limit_gtc_rests_then_fills_when_taken(alice: Client, bob: Client) -> None:
    o = rest(alice, "Sell", "0.010", "65000")
    assert (o["orderStatus"], o["leavesQty"], o["timeInForce"]) == ("New", "0.010", "GTC")
    t = bob.order(side="Buy", orderType="Market", qty="0.004")
    assert t["orderStatus"] == "Filled" and t["avgPrice"] == "65000"
    o = alice.find(o["orderId"])
    assert (o["orderStatus"], o["cumExecQty"], o["leavesQty"]) == (
        "PartiallyFilled",
        "0.004",
        "0.006",
    )


def test_price_time_priority_within_a_level(alice: Client, bob: Client, bare: Exchange) -> None:
    first = rest(alice, "Sell", "0.010", "65000")
    second = rest(bob, "Sell", "0.010", "65000")
    carol = Client(bare, "1003")
    carol.order(side="Buy", orderType="Market", qty="0.015")
    assert alice.find(first["orderId"])["orderStatus"] == "Filled"
    assert bob.find(second["orderId"])["cumExecQty"] == "0.005"


def test_better_price_fills_first(alice: Client, bob: Client) -> None:
    rest(alice, "Sell", "0.010", "65001")
    cheap = rest(alice, "Sell", "0.010", "65000")
    t = bob.order(side="Buy", orderType="Limit", qty="0.010", price="65001", timeInForce="IOC")
    assert t["avgPrice"] == "65000"
    assert alice.find(cheap["orderId"])["orderStatus"] == "Filled"


def test_market_sweeps_levels_and_averages(alice: Client, bob: Client) -> None:
    rest(alice, "Sell", "0.010", "65000")
    rest(alice, "Sell", "0.030", "65010")
    t = bob.order(side="Buy", orderType="Market", qty="0.020")
    assert t["cumExecQty"] == "0.020"
    assert Decimal(t["avgPrice"]) == Decimal("65005")
    assert Decimal(t["cumExecValue"]) == Decimal("1300.1")


def test_ioc_partial_fill_cancels_the_rest(alice: Client, bob: Client) -> None:
    rest(alice, "Sell", "0.010", "65000")
    t = bob.order(side="Buy", orderType="Limit", qty="0.025", price="65000", timeInForce="IOC")
    assert (t["orderStatus"], t["cumExecQty"], t["leavesQty"]) == ("Cancelled", "0.010", "0.000")
    assert bob.get("/v5/order/realtime", category="linear")["list"] == []


def test_fok_all_or_nothing(alice: Client, bob: Client) -> None:
    rest(alice, "Sell", "0.010", "65000")
    t = bob.order(side="Buy", orderType="Limit", qty="0.011", price="65000", timeInForce="FOK")
    assert (t["orderStatus"], t["cumExecQty"]) == ("Cancelled", "0.000")
    t = bob.order(side="Buy", orderType="Limit", qty="0.010", price="65000", timeInForce="FOK")
    assert (t["orderStatus"], t["cumExecQty"]) == ("Filled", "0.010")


def test_post_only_that_would_take_is_cancelled_unfilled(alice: Client, bob: Client) -> None:
    rest(alice, "Sell", "0.010", "65000")
    t = bob.order(side="Buy", orderType="Limit", qty="0.010", price="65000", timeInForce="PostOnly")
    assert t["orderStatus"] == "Cancelled"
    assert t["rejectReason"] == "EC_PostOnlyWillTakeLiquidity"
    assert t["cumExecQty"] == "0.000"
    ok = bob.order(
        side="Buy", orderType="Limit", qty="0.010", price="64999.9", timeInForce="PostOnly"
    )
    assert ok["orderStatus"] == "New"


def test_market_on_empty_book_is_cancelled(alice: Client) -> None:
    t = alice.order(side="Buy", orderType="Market", qty="0.010")
    assert (t["orderStatus"], t["cumExecQty"]) == ("Cancelled", "0.000")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"qty": "0.0005"}, 10001),  # not a multiple of qtyStep
        ({"qty": "0"}, 10001),
        ({"price": "65000.05"}, 10001),  # not a multiple of tickSize
        ({"price": "90000"}, 110003),  # buy far above the price limit
        ({"qty": "0.001", "price": "4000"}, 110094),  # 4 USDT < minNotionalValue 5
        ({"side": "Up"}, 10001),
        ({"orderType": "Stop"}, 10001),
        ({"timeInForce": "GTD"}, 10001),
        ({"symbol": "NOPEUSDT"}, 10001),
        ({"category": "inverse", "symbol": "BTCUSD"}, 10001),
        ({"qty": "5000"}, 10001),  # above maxOrderQty
        ({"qty": "100"}, 110007),  # 6.4M notional / 10x > 100k USDT
    ],
)
def test_linear_validation_codes(alice: Client, params: dict, code: int) -> None:
    p = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.010",
        "price": "64000",
        **params,
    }
    env = alice.call("POST", CREATE, expect=code, **p)
    assert env["retMsg"]


@pytest.mark.parametrize(
    ("params", "code", "msg"),
    [
        ({"qty": "0.0000001"}, 170137, "Order volume decimal too long"),
        ({"qty": "0.000001"}, 170136, "Order quantity lower than the minimum."),
        ({"price": "64000.001"}, 170134, "Order price decimal too long."),
        ({"qty": "0.0001", "price": "5000"}, 170140, "Order value exceeded lower limit"),
        ({"qty": "10"}, 170131, "Balance insufficient"),
        ({"symbol": "FOOUSDT"}, 170121, "Invalid symbol."),
    ],
)
def test_spot_validation_codes(alice: Client, params: dict, code: int, msg: str) -> None:
    p = {
        "category": "spot",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.01",
        "price": "64000",
        **params,
    }
    env = alice.call("POST", CREATE, expect=code, **p)
    assert env["retMsg"] == msg


def test_order_link_id_is_unique_per_account(alice: Client, bob: Client) -> None:
    rest(alice, "Buy", "0.010", "64000", orderLinkId="q-1")
    env = alice.call(
        "POST",
        CREATE,
        expect=110072,
        category="linear",
        symbol="BTCUSDT",
        side="Buy",
        orderType="Limit",
        qty="0.010",
        price="64000",
        orderLinkId="q-1",
    )
    assert env["retMsg"] == "OrderLinkedID is duplicate"
    rest(bob, "Buy", "0.010", "64000", orderLinkId="q-1")


def test_reduce_only_needs_a_position_and_is_capped(alice: Client, bob: Client) -> None:
    env = alice.call(
        "POST",
        CREATE,
        expect=110017,
        category="linear",
        symbol="BTCUSDT",
        side="Sell",
        orderType="Limit",
        qty="0.010",
        price="66000",
        reduceOnly=True,
    )
    assert env["retMsg"] == "orderQty will be truncated to zero"
    rest(bob, "Sell", "0.010", "65000")
    alice.order(side="Buy", orderType="Market", qty="0.010")
    o = rest(alice, "Sell", "0.050", "66000", reduceOnly=True)
    assert (o["qty"], o["reduceOnly"]) == ("0.010", True)


def test_reduce_only_shrinks_when_the_position_does(alice: Client, bob: Client) -> None:
    rest(bob, "Sell", "0.010", "65000")
    alice.order(side="Buy", orderType="Market", qty="0.010")
    ro = rest(alice, "Sell", "0.010", "66000", reduceOnly=True)
    rest(bob, "Buy", "0.006", "64000")
    alice.order(side="Sell", orderType="Market", qty="0.006")
    ro = alice.find(ro["orderId"])
    assert (ro["orderStatus"], ro["leavesQty"]) == ("New", "0.004")


def test_amend_qty_down_keeps_priority_and_price_change_requeues(
    alice: Client, bob: Client, bare: Exchange
) -> None:
    a = rest(alice, "Sell", "0.010", "65000")
    b = rest(bob, "Sell", "0.010", "65000")
    alice.post(
        "/v5/order/amend", category="linear", symbol="BTCUSDT", orderId=a["orderId"], qty="0.008"
    )
    carol = Client(bare, "1003")
    carol.order(side="Buy", orderType="Market", qty="0.008")
    assert alice.find(a["orderId"])["orderStatus"] == "Filled"
    assert bob.find(b["orderId"])["cumExecQty"] == "0.000"
    bob.post(
        "/v5/order/amend", category="linear", symbol="BTCUSDT", orderId=b["orderId"], price="65100"
    )
    assert bob.find(b["orderId"])["price"] == "65100.0"
    book = bare.handle(
        "GET", "/v5/market/orderbook", {"category": "linear", "symbol": "BTCUSDT"}, None
    )
    assert book is not None and book["result"]["a"][0] == ["65100.0", "0.010"]


def test_amend_that_crosses_trades(alice: Client, bob: Client) -> None:
    rest(alice, "Sell", "0.010", "65000")
    b = rest(bob, "Buy", "0.010", "64000")
    bob.post(
        "/v5/order/amend",
        category="linear",
        symbol="BTCUSDT",
        orderLinkId="",
        orderId=b["orderId"],
        price="65000",
    )
    assert bob.find(b["orderId"])["orderStatus"] == "Filled"


def test_amend_and_cancel_unknown_order(alice: Client) -> None:
    for path in ("/v5/order/amend", "/v5/order/cancel"):
        env = alice.call(
            "POST", path, expect=110001, category="linear", symbol="BTCUSDT", orderId="x", qty="1"
        )
        assert env["retMsg"] == "Order does not exist"
    alice.call("POST", "/v5/order/cancel", expect=10001, category="linear", symbol="BTCUSDT")


def test_cancel_by_link_id_and_filled_order_cannot_be_cancelled(alice: Client, bob: Client) -> None:
    o = rest(alice, "Buy", "0.010", "64000", orderLinkId="mine")
    alice.post("/v5/order/cancel", category="linear", symbol="BTCUSDT", orderLinkId="mine")
    assert alice.find(o["orderId"])["orderStatus"] == "Cancelled"
    rest(bob, "Sell", "0.010", "65000")
    t = alice.order(side="Buy", orderType="Market", qty="0.010")
    alice.call(
        "POST",
        "/v5/order/cancel",
        expect=110001,
        category="linear",
        symbol="BTCUSDT",
        orderId=t["orderId"],
    )


def test_cancel_all_by_symbol_base_and_settle_coin(alice: Client) -> None:
    for sym, price in (("BTCUSDT", "64000"), ("ETHUSDT", "3100")):
        alice.order(
            symbol=sym,
            side="Buy",
            orderType="Limit",
            qty="0.010" if sym == "BTCUSDT" else "0.10",
            price=price,
        )
    alice.call("POST", "/v5/order/cancel-all", expect=10001, category="linear")
    r = alice.post("/v5/order/cancel-all", category="linear", symbol="ETHUSDT")
    assert len(r["list"]) == 1 and r["success"] == "1"
    alice.order(symbol="ETHUSDT", side="Buy", orderType="Limit", qty="0.10", price="3100")
    assert len(alice.post("/v5/order/cancel-all", category="linear", baseCoin="ETH")["list"]) == 1
    assert (
        len(alice.post("/v5/order/cancel-all", category="linear", settleCoin="USDT")["list"]) == 1
    )
    assert alice.get("/v5/order/realtime", category="linear")["list"] == []


def test_batch_create_amend_cancel_report_per_item(alice: Client) -> None:
    good = {
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.010",
        "price": "64000",
    }
    res = alice.call(
        "POST",
        "/v5/order/create-batch",
        category="linear",
        request=[
            {**good, "orderLinkId": "b1"},
            {**good, "price": "64000.05"},
            {**good, "orderLinkId": "b1"},
        ],
    )
    codes = [x["code"] for x in res["retExtInfo"]["list"]]
    assert codes == [0, 10001, 110072]
    rows = res["result"]["list"]
    assert rows[0]["orderId"] and rows[0]["createAt"] and rows[1]["orderId"] == ""
    oid = rows[0]["orderId"]
    res = alice.call(
        "POST",
        "/v5/order/amend-batch",
        category="linear",
        request=[
            {"symbol": "BTCUSDT", "orderId": oid, "qty": "0.020"},
            {"symbol": "BTCUSDT", "orderId": "nope", "qty": "1"},
        ],
    )
    assert [x["code"] for x in res["retExtInfo"]["list"]] == [0, 110001]
    assert alice.find(oid)["qty"] == "0.020"
    res = alice.call(
        "POST",
        "/v5/order/cancel-batch",
        category="linear",
        request=[{"symbol": "BTCUSDT", "orderLinkId": "b1"}],
    )
    assert res["retExtInfo"]["list"] == [{"code": 0, "msg": "OK"}]
    assert alice.find(oid)["orderStatus"] == "Cancelled"
    too_many = [dict(good) for _ in range(21)]
    alice.call("POST", "/v5/order/create-batch", expect=10001, category="linear", request=too_many)


def test_open_orders_and_history_page_by_cursor(alice: Client) -> None:
    ids = [rest(alice, "Buy", "0.010", str(60000 + i))["orderId"] for i in range(7)]
    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        r = alice.get("/v5/order/realtime", category="linear", limit="3", cursor=cursor)
        seen += [o["orderId"] for o in r["list"]]
        pages += 1
        cursor = r["nextPageCursor"]
        if not cursor:
            break
    assert pages == 3 and seen == ids[::-1]
    alice.post("/v5/order/cancel-all", category="linear", symbol="BTCUSDT")
    h = alice.get("/v5/order/history", category="linear", limit="50", orderStatus="Cancelled")
    assert [o["orderId"] for o in h["list"]] == ids[::-1]


def test_executions_list_pages_and_filters(alice: Client, bob: Client) -> None:
    for i in range(5):
        rest(bob, "Sell", "0.010", str(65000 + i))
    t = alice.order(side="Buy", orderType="Market", qty="0.050")
    r = alice.get("/v5/execution/list", category="linear", limit="2")
    assert len(r["list"]) == 2 and r["nextPageCursor"]
    r2 = alice.get("/v5/execution/list", category="linear", limit="10", cursor=r["nextPageCursor"])
    assert len(r2["list"]) == 3
    prices = [e["execPrice"] for e in r["list"] + r2["list"]]
    assert prices == ["65004.0", "65003.0", "65002.0", "65001.0", "65000.0"]
    mine = alice.get("/v5/execution/list", category="linear", orderId=t["orderId"])["list"]
    assert {e["isMaker"] for e in mine} == {False}
    assert {e["isMaker"] for e in bob.get("/v5/execution/list", category="linear")["list"]} == {
        True
    }


def test_spot_buy_and_sell_move_both_coins_and_lock_funds(alice: Client, bob: Client) -> None:
    bob.order(category="spot", side="Sell", orderType="Limit", qty="0.5", price="65000")
    usdt, btc = alice.balance("USDT"), alice.balance("BTC")
    t = alice.order(category="spot", side="Buy", orderType="Market", qty="6500")  # quote coin
    assert t["orderStatus"] == "Filled" and t["cumExecQty"] == "0.100000"
    assert alice.balance("USDT") == usdt - Decimal(6500)
    assert alice.balance("BTC") == btc + Decimal("0.1") - Decimal("0.0001")  # fee in BTC
    o = alice.order(category="spot", side="Sell", orderType="Limit", qty="1", price="70000")
    w = alice.get("/v5/account/wallet-balance", accountType="UNIFIED", coin="BTC")["list"][0][
        "coin"
    ][0]
    assert Decimal(w["locked"]) == 1
    alice.call(
        "POST",
        CREATE,
        expect=170131,
        category="spot",
        symbol="BTCUSDT",
        side="Sell",
        orderType="Limit",
        qty="0.5",
        price="70000",
    )
    alice.post("/v5/order/cancel", category="spot", symbol="BTCUSDT", orderId=o["orderId"])


def test_private_pushes_follow_each_action(alice: Client, bob: Client, rec: Recorder) -> None:
    o = rest(alice, "Sell", "0.010", "65000")
    assert rec.items("order", alice.uid)[-1]["orderStatus"] == "New"
    assert rec.topic("position", alice.uid) and rec.topic("wallet", alice.uid)
    bob.order(side="Buy", orderType="Market", qty="0.010")
    ex_a = rec.items("execution", alice.uid)
    assert ex_a[-1]["orderId"] == o["orderId"] and ex_a[-1]["isMaker"] is True
    fast = rec.items("execution.fast", alice.uid)[-1]
    assert set(fast) == {
        "category",
        "symbol",
        "execId",
        "execPrice",
        "execQty",
        "orderId",
        "isMaker",
        "orderLinkId",
        "side",
        "execTime",
        "seq",
    }
    assert rec.items("order", alice.uid)[-1]["orderStatus"] == "Filled"
    assert rec.items("position", alice.uid)[-1]["size"] == "0.010"
    assert rec.items("position", alice.uid)[-1]["side"] == "Sell"
    msg = rec.topic("wallet", bob.uid)[-1]
    assert set(msg) == {"id", "topic", "creationTime", "data"}
    assert msg["data"][0]["coin"][0]["coin"] == "USDT"


def test_trade_ws_ops_use_the_rest_routes(alice: Client, bare: Exchange) -> None:
    r = bare.trade_op(
        "order.create",
        [
            {
                "category": "linear",
                "symbol": "BTCUSDT",
                "side": "Buy",
                "orderType": "Limit",
                "qty": "0.010",
                "price": "64000",
            }
        ],
        alice.uid,
    )
    assert r["retCode"] == 0 and r["data"]["orderId"]
    r = bare.trade_op(
        "order.cancel",
        [{"category": "linear", "symbol": "BTCUSDT", "orderId": r["data"]["orderId"]}],
        alice.uid,
    )
    assert r["retCode"] == 0
    assert bare.trade_op("order.fly", [{}], alice.uid)["retCode"] == 10404


def test_synthetic_crowd_fills_passive_orders_and_keeps_the_book_sane(
    ex: Exchange, clock: Clock
) -> None:
    """Against the live synthetic market: quotes at the touch fill at a realistic rate, a far
    one rests untouched while the book stays near 1,000 levels, and invariants hold."""
    c = Client(ex, "1001")
    book = ex.engines[("linear", "BTCUSDT")].book
    far = c.order(side="Buy", orderType="Limit", qty="0.010", price="62000")
    filled = 0
    for _ in range(20):
        bid = book.bids.best()
        assert bid is not None
        price = str(Decimal(bid) / 10)
        o = c.order(side="Buy", orderType="Limit", qty="0.010", price=price, timeInForce="PostOnly")
        for _ in range(60):
            ex.step(clock.advance(100))
        if c.find(o["orderId"])["cumExecQty"] != "0.000":
            filled += 1
        if c.find(o["orderId"])["orderStatus"] in ("New", "PartiallyFilled"):
            c.post("/v5/order/cancel", category="linear", symbol="BTCUSDT", orderId=o["orderId"])
        book.check()
    assert 5 <= filled < 20
    assert c.find(far["orderId"])["orderStatus"] == "New"
    assert book.bids.qty_at(620000) >= 10
    assert len(book.bids) <= 1051 and len(book.asks) <= 1051


def test_trade_ws_batch_op_reports_per_item(alice: Client, bare: Exchange) -> None:
    good = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.010"}
    r = bare.trade_op(
        "order.create-batch",
        [
            {
                "category": "linear",
                "request": [{**good, "price": "64000"}, {**good, "price": "1.05"}],
            }
        ],
        alice.uid,
    )
    assert r["retCode"] == 0
    assert [x["code"] for x in r["retExtInfo"]["list"]] == [0, 10001]
    assert r["data"]["list"][0]["orderId"]


def test_new_account_is_funded_and_logged(bare: Exchange) -> None:
    c = Client(bare, "2001")
    assert c.balance("USDT") == 100000 and c.balance("BTC") == 1
    log = c.get("/v5/account/transaction-log", currency="ETH")["list"]
    assert [(r["type"], r["change"], r["cashBalance"]) for r in log] == [
        ("TRANSFER_IN", "10", "10")
    ]
    info = c.get("/v5/account/info")
    assert info["unifiedMarginStatus"] == 5 and info["dcpStatus"] == "OFF"
