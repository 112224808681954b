"""Options: the chain, order entry, positions and greeks, delivery at expiry, and MMP."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bybitctl.sim.api.exchange import Exchange
from bybitctl.sim.core.option_desk import MMP_FROZEN
from bybitctl.sim.core.options import option_greeks
from bybitctl.sim.core.orders import fmt

from .conftest import Client, Clock, Recorder

D = Decimal


def chain(c: Client, base: str = "BTC") -> list[dict]:
    return c.get("/v5/market/instruments-info", category="option", baseCoin=base)["list"]


def strike_of(row: dict) -> int:
    return int(row["symbol"].split("-")[2])


def first_expiry(c: Client) -> list[dict]:
    rows = chain(c)
    soonest = min(int(r["deliveryTime"]) for r in rows)
    return [r for r in rows if int(r["deliveryTime"]) == soonest]


def opt(c: Client, symbol: str, side: str, qty: str, price: str, link: str, **kw: str) -> dict:
    return c.order(category="option", symbol=symbol, side=side, orderType="Limit", qty=qty,
                   price=price, orderLinkId=link, **kw)  # fmt: skip


def usdc(c: Client) -> Decimal:
    return c.balance("USDC")


def test_chain_has_expiries_strikes_and_a_smile(alice: Client) -> None:
    rows = chain(alice)
    expiries = sorted({int(r["deliveryTime"]) for r in rows})
    assert len(expiries) == 3 and len(rows) == 30
    tickers = {
        t["symbol"]: t
        for t in alice.get("/v5/market/tickers", category="option", baseCoin="BTC")["list"]
    }
    near = [r for r in rows if int(r["deliveryTime"]) == expiries[-1] and r["optionsType"] == "Put"]
    ivs = {strike_of(r): D(tickers[r["symbol"]]["markIv"]) for r in near}
    low, *_, high = sorted(ivs)
    atm = sorted(ivs)[2]
    assert ivs[low] > ivs[atm] and ivs[low] > ivs[high]  # smile, puts skewed up


def test_trade_positions_fees_and_greeks(
    bare: Exchange, clock: Clock, rec: Recorder, alice: Client, bob: Client
) -> None:
    call = next(r["symbol"] for r in first_expiry(alice) if r["optionsType"] == "Call")
    inst = bare.catalogue.get("option", call)
    assert inst is not None
    a0, b0 = usdc(alice), usdc(bob)
    opt(alice, call, "Sell", "0.5", "2000", "a1")
    done = opt(bob, call, "Buy", "0.5", "2000", "b1")
    assert done["orderStatus"] == "Filled"
    index = bare.trading.index("BTC")
    premium = D(1000)
    taker_fee = min(D("0.0003") * index * D("0.5"), premium * D("0.125"))
    assert usdc(bob) == b0 - premium - taker_fee.quantize(D("0.00000001"))
    assert usdc(alice) > a0 + premium - 20  # the premium, less the maker's fee
    pos = bob.get("/v5/position/list", category="option")["list"]
    assert [(p["symbol"], p["side"], p["size"]) for p in pos] == [(call, "Buy", "0.50")]
    delta = option_greeks(inst, float(index), clock.now)["delta"]
    assert D(pos[0]["delta"]) == pytest.approx(D(repr(delta)) * D("0.5"), abs=D("1e-6"))
    greeks = bob.get("/v5/asset/coin-greeks", baseCoin="BTC")["list"][0]
    assert D(greeks["totalDelta"]) == D(pos[0]["delta"])
    short = alice.get("/v5/asset/coin-greeks")["list"][0]
    assert D(short["totalDelta"]) == -D(greeks["totalDelta"])
    pushed = rec.items("greeks", "1002")
    assert pushed and pushed[-1]["baseCoin"] == "BTC"
    # a short option holds margin; the long's value counts in its equity
    wallet = alice.get("/v5/account/wallet-balance", accountType="UNIFIED", coin="USDC")
    assert D(wallet["list"][0]["coin"][0]["totalPositionIM"]) > 0


def test_option_orders_need_a_link_id_and_are_not_conditional(alice: Client) -> None:
    call = first_expiry(alice)[0]["symbol"]
    alice.call("POST", "/v5/order/create", expect=10001, category="option", symbol=call,
               side="Buy", orderType="Limit", qty="0.1", price="100")  # fmt: skip
    alice.call("POST", "/v5/order/create", expect=10001, category="option", symbol=call,
               side="Buy", orderType="Limit", qty="0.1", price="100", orderLinkId="x",
               triggerPrice="200", triggerDirection=1)  # fmt: skip


def test_delivery_at_expiry(bare: Exchange, clock: Clock, alice: Client, bob: Client) -> None:
    rows = first_expiry(alice)
    index = bare.trading.index("BTC")
    call = min((r for r in rows if r["optionsType"] == "Call"), key=strike_of)["symbol"]
    strike = strike_of({"symbol": call})
    assert index > strike  # in the money
    b0 = usdc(bob)
    opt(alice, call, "Sell", "1", "3000", "a1")
    opt(bob, call, "Buy", "1", "3000", "b1")
    resting = opt(bob, call, "Buy", "0.1", "100", "b2")
    expiry = int(rows[0]["deliveryTime"])
    clock.now = expiry
    bare.settle(expiry)
    index = bare.trading.index("BTC")
    payout = (index - strike).quantize(D("0.00000001"))
    fee = min(D("0.00015") * index, payout * D("0.125")).quantize(D("0.00000001"))
    record = bob.get("/v5/asset/delivery-record", category="option")["list"]
    assert record[0]["symbol"] == call and D(record[0]["deliveryPrice"]) == index
    assert D(record[0]["fee"]) == fee
    log = bob.get("/v5/account/transaction-log", type="DELIVERY")["list"]
    assert D(log[0]["cashFlow"]) == payout and D(log[0]["change"]) == payout - fee
    assert bob.get("/v5/position/list", category="option")["list"] == []
    assert bob.find(resting["orderId"], "option")["cancelType"] == "CancelBySettle"
    # closed PnL of the round trip is the wallet's change
    pnl = sum(D(r["closedPnl"]) for r in
              bob.get("/v5/position/closed-pnl", category="option")["list"])  # fmt: skip
    assert usdc(bob) - b0 == pnl
    assert call not in {r["symbol"] for r in chain(alice)}
    prices = alice.get("/v5/market/delivery-price", category="option")["list"]
    assert {"symbol": call, "deliveryPrice": fmt(index),
            "deliveryTime": str(expiry)} in prices  # fmt: skip
    late = {"side": "Buy", "orderType": "Limit", "qty": "0.1", "price": "100", "orderLinkId": "z"}
    alice.call("POST", "/v5/order/create", expect=110074, category="option", symbol=call, **late)


def arm(c: Client, frozen: int, qty: str = "0.5", delta: str = "100") -> None:
    c.post("/v5/account/mmp-modify", baseCoin="BTC", window="5000", frozenPeriod=str(frozen),
           qtyLimit=qty, deltaLimit=delta)  # fmt: skip


def test_mmp_cancels_the_coins_mmp_orders_and_freezes(
    bare: Exchange, clock: Clock, rec: Recorder, alice: Client, bob: Client
) -> None:
    rows = first_expiry(alice)
    s1, s2, s3 = (r["symbol"] for r in rows[:3])
    arm(alice, frozen=10_000)
    opt(alice, s1, "Sell", "0.3", "2000", "m1", mmp="true")
    opt(alice, s2, "Sell", "0.3", "2000", "m2", mmp=True)
    third = opt(alice, s3, "Sell", "0.3", "2000", "m3", mmp=True)
    plain = opt(alice, s3, "Sell", "0.3", "2100", "p1")
    opt(bob, s1, "Buy", "0.3", "2000", "b1")  # 0.3 filled: within the 0.5 limit
    assert alice.find(third["orderId"], "option")["orderStatus"] == "New"
    opt(bob, s2, "Buy", "0.3", "2000", "b2")  # 0.6 > 0.5: MMP trips
    assert alice.find(third["orderId"], "option")["cancelType"] == "CancelByMmp"
    assert alice.find(plain["orderId"], "option")["orderStatus"] == "New"
    pushed = [o for o in rec.items("order", "1001") if o["orderId"] == third["orderId"]]
    assert (pushed[-1]["orderStatus"], pushed[-1]["cancelType"]) == ("Cancelled", "CancelByMmp")
    state = alice.get("/v5/account/mmp-state", baseCoin="BTC")["result"][0]
    assert state["mmpFrozen"] is True and state["mmpFrozenUntil"] == str(clock.now + 10_000)
    env = alice.call("POST", "/v5/order/create", expect=MMP_FROZEN, category="option", symbol=s1,
                     side="Sell", orderType="Limit", qty="0.1", price="2500", orderLinkId="m4",
                     mmp=True)  # fmt: skip
    assert "frozen" in env["retMsg"]
    opt(alice, s1, "Sell", "0.1", "2500", "p2")  # orders without MMP still go in
    clock.advance(10_000)
    opt(alice, s1, "Sell", "0.1", "2500", "m5", mmp=True)
    assert alice.get("/v5/account/mmp-state", baseCoin="BTC")["result"][0]["mmpFrozen"] is False


def test_mmp_window_delta_limit_and_reset(
    bare: Exchange, clock: Clock, alice: Client, bob: Client
) -> None:
    rows = first_expiry(alice)
    call = next(r["symbol"] for r in rows if r["optionsType"] == "Call")
    arm(alice, frozen=0, qty="0.5")
    opt(alice, call, "Sell", "0.3", "2000", "m1", mmp=True)
    opt(bob, call, "Buy", "0.3", "2000", "b1")
    clock.advance(5_000)  # the first fill leaves the window
    opt(alice, call, "Sell", "0.3", "2000", "m2", mmp=True)
    standing = opt(alice, call, "Sell", "0.1", "2500", "m3", mmp=True)
    opt(bob, call, "Buy", "0.3", "2000", "b2")
    assert alice.find(standing["orderId"], "option")["orderStatus"] == "New"
    # the delta limit: |net delta| of the fills, a call sold counting -qty x its delta
    inst = bare.catalogue.get("option", call)
    assert inst is not None
    d = D(repr(option_greeks(inst, float(bare.trading.index("BTC")), clock.now)["delta"]))
    arm(alice, frozen=0, qty="100", delta=fmt((d * D("0.2")).quantize(D("0.0001"))))
    opt(bob, call, "Buy", "0.1", "2500", "b3")  # fills m3: 0.1 x delta, under the limit
    rest = opt(alice, call, "Sell", "0.2", "2000", "m4", mmp=True)
    other = opt(alice, call, "Sell", "0.2", "2200", "m5", mmp=True)
    assert alice.find(other["orderId"], "option")["orderStatus"] == "New"
    opt(bob, call, "Buy", "0.2", "2000", "b4")  # 0.3 x delta: over it
    assert alice.find(rest["orderId"], "option")["orderStatus"] == "Filled"
    assert alice.find(other["orderId"], "option")["cancelType"] == "CancelByMmp"
    state = alice.get("/v5/account/mmp-state", baseCoin="BTC")["result"][0]
    assert state["mmpFrozen"] is True and state["mmpFrozenUntil"] == "0"  # until a reset
    clock.advance(3_600_000)
    alice.call("POST", "/v5/order/create", expect=MMP_FROZEN, category="option", symbol=call,
               side="Sell", orderType="Limit", qty="0.1", price="2500", orderLinkId="m6",
               mmp=True)  # fmt: skip
    alice.post("/v5/account/mmp-reset", baseCoin="BTC")
    opt(alice, call, "Sell", "0.1", "2500", "m7", mmp=True)


def test_mmp_settings_are_checked(alice: Client) -> None:
    alice.call("POST", "/v5/account/mmp-reset", expect=110062, baseCoin="BTC")
    assert alice.get("/v5/account/mmp-state", baseCoin="BTC") == {"result": []}
    alice.call("POST", "/v5/account/mmp-modify", expect=10001, baseCoin="DOGE", window="5000",
               frozenPeriod="0", qtyLimit="1", deltaLimit="1")  # fmt: skip
    alice.call("POST", "/v5/account/mmp-modify", expect=10001, baseCoin="BTC", window="0",
               frozenPeriod="0", qtyLimit="1", deltaLimit="1")  # fmt: skip
    arm(alice, frozen=100)
    state = alice.get("/v5/account/mmp-state", baseCoin="BTC")["result"][0]
    assert (state["window"], state["frozenPeriod"], state["qtyLimit"]) == ("5000", "100", "0.5")


@pytest.mark.parametrize("symbol", ["XRPUSDT", "DOGEUSDT", "ABCUSDC", "SOLUSDT"])
def test_any_listed_coin_trades_and_only_option_coins_have_a_chain(symbol: str) -> None:
    """A coin worth a few dollars (or one the exchange has no profile for) lists and moves
    like the others; a chain exists only where Bybit lists options."""
    clock = Clock()
    ex = Exchange(symbols=(symbol,), clock=clock, seed=3)
    try:
        for _ in range(20):
            ex.step(clock.advance(250))
        c = Client(ex, "1001")
        base = symbol[:-4]
        listed = chain(c, base)
        assert bool(listed) == (base == "SOL") and len(listed) % 10 == 0  # 5 strikes x C/P
        book = c.get("/v5/market/orderbook", category="linear", symbol=symbol, limit=5)
        assert book["b"] and book["a"] and D(book["b"][0][0]) < D(book["a"][0][0])
    finally:
        ex.close()
