"""Spread trading: orders on the spread book, legged into the perpetual and spot."""

from __future__ import annotations

from decimal import Decimal

from bybitctl.sim.api.exchange import Exchange

from .conftest import Client, Recorder

D = Decimal
SPREAD = "BTCUSDT_BTC/USDT"


def spread(c: Client, side: str, qty: str, price: str | None = None, **kw: str) -> dict:
    p = {"symbol": SPREAD, "side": side, "qty": qty, **kw}
    p["orderType"] = "Limit" if price is not None else "Market"
    if price is not None:
        p["price"] = price
    oid = c.post("/v5/spread/order/create", **p)["orderId"]
    return c.get("/v5/spread/order/history", orderId=oid)["list"][0]


def test_a_fill_legs_into_perp_and_spot(
    bare: Exchange, rec: Recorder, alice: Client, bob: Client
) -> None:
    mark = bare.marks["BTCUSDT"]
    btc0, usdt0 = bob.balance("BTC"), bob.balance("USDT")
    resting = spread(alice, "Sell", "0.1", "65.5", orderLinkId="s1")
    assert resting["orderStatus"] == "New" and resting["leg1Side"] == "Sell"
    assert alice.get("/v5/spread/order/realtime")["list"][0]["orderId"] == resting["orderId"]
    taken = spread(bob, "Buy", "0.1")
    assert taken["orderStatus"] == "Filled"
    # buying the spread bought the perpetual at its mark and sold spot 65.5 lower
    perp_px, spot_px = mark, mark - D("65.5")
    assert bob.position()["side"] == "Buy" and bob.position()["size"] == "0.100"
    assert D(bob.position()["avgPrice"]) == perp_px
    assert bob.balance("BTC") == btc0 - D("0.1")
    spot_fee = (spot_px * D("0.1") * D("0.001")).quantize(D("0.00000001"))
    perp_fee = perp_px * D("0.1") * D("0.00055")
    assert bob.balance("USDT") == usdt0 + spot_px * D("0.1") - spot_fee - perp_fee
    legs = bob.get("/v5/execution/list", category="linear", execType="FutureSpread")["list"]
    assert len(legs) == 1 and D(legs[0]["execPrice"]) == perp_px
    spot_legs = bob.get("/v5/execution/list", category="spot", execType="FutureSpread")["list"]
    assert spot_legs[0]["side"] == "Sell" and D(spot_legs[0]["execPrice"]) == spot_px
    fills = bob.get("/v5/spread/execution/list", symbol=SPREAD)["list"]
    assert fills[0]["execPrice"] == "65.5" and [leg["symbol"] for leg in fills[0]["legs"]] == [
        "BTCUSDT",
        "BTCUSDT",
    ]
    # alice, the maker, holds the other side
    assert alice.position()["side"] == "Sell"
    pushed = rec.items("spread.execution", "1002")
    assert [i["category"] for i in pushed] == ["combination", "future_leg", "spot_leg"]
    assert {i["parentExecId"] for i in pushed[1:]} == {pushed[0]["execId"]}
    orders = rec.items("spread.order", "1001")
    assert orders[-1]["orderStatus"] == "Filled" and orders[-1]["symbol"] == SPREAD
    assert not [m for m in rec.items("order", "1001") if m["category"] == "spread"]


def test_amend_cancel_and_cancel_all(alice: Client) -> None:
    o = spread(alice, "Buy", "0.2", "50", orderLinkId="a1")
    alice.post("/v5/spread/order/amend", symbol=SPREAD, orderLinkId="a1", qty="0.1",
               price="51")  # fmt: skip
    row = alice.get("/v5/spread/order/realtime", orderId=o["orderId"])["list"][0]
    assert (row["qty"], row["price"]) == ("0.100", "51.0")
    alice.post("/v5/spread/order/cancel", orderId=o["orderId"])
    assert alice.get("/v5/spread/order/realtime")["list"] == []
    assert (
        alice.get("/v5/spread/order/history", orderId=o["orderId"])["list"][0]["orderStatus"]
        == "Cancelled"
    )
    spread(alice, "Buy", "0.1", "40")
    spread(alice, "Sell", "0.1", "90")
    done = alice.post("/v5/spread/order/cancel-all", symbol=SPREAD)["list"]
    assert len(done) == 2 and alice.get("/v5/spread/order/realtime")["list"] == []
    alice.call("POST", "/v5/spread/order/cancel", expect=110001, orderId=o["orderId"])


def test_spread_refusals_and_max_qty(alice: Client) -> None:
    ab = D(alice.get("/v5/spread/max-qty", symbol=SPREAD, side="Buy", orderPrice="60")["ab"])
    assert ab == D(1)  # the spot leg sells BTC: the account holds 1
    alice.call("POST", "/v5/spread/order/create", expect=110007, symbol=SPREAD, side="Buy",
               orderType="Limit", qty="1.5", price="60")  # fmt: skip
    alice.call("POST", "/v5/spread/order/create", expect=10001, symbol="NOPE", side="Buy",
               orderType="Limit", qty="0.1", price="60")  # fmt: skip
    alice.post("/v5/account/set-margin-mode", setMarginMode="ISOLATED_MARGIN")
    alice.call("POST", "/v5/spread/order/create", expect=110110, symbol=SPREAD, side="Buy",
               orderType="Limit", qty="0.1", price="60")  # fmt: skip
