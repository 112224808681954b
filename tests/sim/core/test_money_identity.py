"""The ledger identity over random trading against the synthetic market (hypothesis)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.examples import examples

from bybitctl.sim.api.exchange import Exchange

from .conftest import Client, Clock

D = Decimal

action = st.one_of(
    st.tuples(st.just("market"), st.sampled_from(["Buy", "Sell"]), st.integers(1, 40)),
    st.tuples(
        st.just("limit"), st.sampled_from(["Buy", "Sell"]), st.integers(1, 40), st.integers(-30, 30)
    ),
    st.tuples(st.just("cancel_all")),
    st.tuples(st.just("step"), st.integers(50, 3000)),
    st.tuples(st.just("spot"), st.sampled_from(["Buy", "Sell"]), st.integers(1, 40)),
    st.tuples(st.just("inverse"), st.sampled_from(["Buy", "Sell"]), st.integers(1, 5000)),
)


@settings(max_examples=examples(20), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(1, 1000), actions=st.lists(action, min_size=5, max_size=40))
def test_wallet_change_is_pnl_minus_fees_to_the_last_decimal(seed: int, actions: list) -> None:
    clock = Clock()
    ex = Exchange(clock=clock, seed=seed, noise_rate=20.0)
    c = Client(ex, "1001")
    starts = {coin: c.balance(coin) for coin in ("USDT", "BTC")}
    for a in actions:
        kind = a[0]
        if kind == "market":
            c.order(side=a[1], orderType="Market", qty=str(D(a[2]) / 1000))
        elif kind == "limit":
            mid = ex.marks["BTCUSDT"]
            price = (mid + a[3] if a[1] == "Buy" else mid - a[3]).quantize(D("0.1"))
            ex.handle(
                "POST",
                "/v5/order/create",
                {
                    "category": "linear",
                    "symbol": "BTCUSDT",
                    "side": a[1],
                    "orderType": "Limit",
                    "qty": str(D(a[2]) / 1000),
                    "price": str(price),
                },
                c.uid,
            )
        elif kind == "cancel_all":
            c.post("/v5/order/cancel-all", category="linear", symbol="BTCUSDT")
        elif kind == "spot":
            ex.handle(
                "POST",
                "/v5/order/create",
                {
                    "category": "spot",
                    "symbol": "BTCUSDT",
                    "side": a[1],
                    "orderType": "Market",
                    "marketUnit": "baseCoin",
                    "qty": str(D(a[2]) / 1000),
                },
                c.uid,
            )
        elif kind == "inverse":
            c.order(
                category="inverse", symbol="BTCUSD", side=a[1], orderType="Market", qty=str(a[2])
            )
        else:
            ex.step(clock.advance(a[1]))
    # flatten: cancel everything and close the positions at market
    c.post("/v5/order/cancel-all", category="linear", symbol="BTCUSDT")
    for cat, sym in (("linear", "BTCUSDT"), ("inverse", "BTCUSD")):
        pos = c.get("/v5/position/list", category=cat, symbol=sym)["list"][0]
        if D(pos["size"]):
            side = "Sell" if pos["side"] == "Buy" else "Buy"
            c.order(category=cat, symbol=sym, side=side, orderType="Market", qty=pos["size"])
        assert D(c.get("/v5/position/list", category=cat, symbol=sym)["list"][0]["size"]) == 0

    acct = ex.accounts[c.uid]
    for cat, coin in (("linear", "USDT"), ("inverse", "BTC")):
        execs = [e for e in acct.executions if e["category"] == cat]
        pnl = sum((D(e["execPnl"]) for e in execs), D(0))
        fees = sum((D(e["execFee"]) for e in execs), D(0))
        spot = sum(
            (
                D(r["change"])
                for r in acct.tx_log
                if r["category"] == "spot" and r["currency"] == coin
            ),
            D(0),
        )
        change = c.balance(coin) - starts[coin]
        assert change == pnl - fees + spot
        closed = sum(
            (D(r["closedPnl"]) for r in acct.closed_pnl if ex.catalogue.get(cat, r["symbol"])),
            D(0),
        )
        assert change - spot == closed
        pos = c.get(
            "/v5/position/list", category=cat, symbol="BTCUSDT" if coin == "USDT" else "BTCUSD"
        )
        assert change - spot == D(pos["list"][0]["cumRealisedPnl"])
    for coin, bal in acct.wallet.items():
        assert bal == sum((D(r["change"]) for r in acct.tx_log if r["currency"] == coin), D(0))
    for eng in ex.engines.values():
        eng.book.check()
    ex.close()
