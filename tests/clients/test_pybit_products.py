"""Funding, liquidation, options with MMP and spread trading, end to end: unmodified pybit
(REST and WebSockets) against the running exchange, the market moved through the fixture."""

from __future__ import annotations

import queue
from collections.abc import Callable
from decimal import Decimal

import pytest
from pybit.exceptions import InvalidRequestError

from bybitctl.testing import LocalBybit

D = Decimal


class Pushes:
    """Every item a pybit stream callback received, kept so each wait sees all of them."""

    def __init__(self) -> None:
        self.queue: queue.Queue[dict] = queue.Queue()
        self.seen: list[dict] = []

    def put(self, message: dict) -> None:
        self.queue.put(message)

    def wait_for(self, match: Callable[[dict], bool], limit: float = 15) -> dict:
        """The first item (of any message's data) for which `match` holds."""
        while True:
            found = next((item for item in self.seen if match(item)), None)
            if found is not None:
                return found
            data = self.queue.get(timeout=limit)["data"]
            self.seen.extend(data if isinstance(data, list) else [data])


@pytest.mark.local_bybit(balances={"USDT": "100"}, funding_interval=60)
def test_small_account_at_100x_is_liquidated(local_bybit: LocalBybit) -> None:
    http = local_bybit.pybit_http()
    http.set_leverage(category="linear", symbol="BTCUSDT", buyLeverage="100", sellLeverage="100")
    orders = Pushes()
    liquidations = Pushes()
    private, public = local_bybit.pybit_ws("private"), local_bybit.pybit_ws("linear")
    try:
        private.order_stream(orders.put)
        public.all_liquidation_stream("BTCUSDT", liquidations.put)
        private.wait_subscribed(1)
        public.wait_subscribed(1)
        http.place_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Market",
                         qty="0.1")  # fmt: skip
        pos = http.get_positions(category="linear", symbol="BTCUSDT")["result"]["list"][0]
        entry, liq = D(pos["avgPrice"]), D(pos["liqPrice"])
        assert entry * D("0.985") < liq < entry * D("0.995")
        low = str(int(entry * D("0.96")))
        resting = http.place_order(category="linear", symbol="BTCUSDT", side="Buy",
                                   orderType="Limit", qty="0.01", price=low)  # fmt: skip
        pool = D(http.get_insurance(coin="USDT")["result"]["list"][0]["balance"])
        local_bybit.set_price("BTC", liq * D("0.999"))
        oid = resting["result"]["orderId"]
        cancelled = orders.wait_for(lambda o: o["orderId"] == oid and o["orderStatus"] != "New")
        assert cancelled["cancelType"] == "CancelByLiq"
        orders.wait_for(lambda o: o["createType"] == "CreateByLiq" and o["orderStatus"] == "Filled")
        liq_push = liquidations.wait_for(lambda d: d["s"] == "BTCUSDT" and d["S"] == "Buy")
        assert liq_push["v"] == "0.100"
    finally:
        private.exit()
        public.exit()
    pos = http.get_positions(category="linear", symbol="BTCUSDT")["result"]["list"][0]
    assert pos["size"] == "0.000"
    bust = http.get_executions(category="linear", execType="BustTrade")["result"]["list"]
    assert len(bust) == 1 and bust[0]["execPrice"] == liq_push["p"]
    wallet = http.get_wallet_balance(accountType="UNIFIED", coin="USDT")["result"]["list"][0]
    assert D(wallet["coin"][0]["walletBalance"]) < 1  # the margin is gone
    assert D(http.get_insurance(coin="USDT")["result"]["list"][0]["balance"]) != pool


@pytest.mark.local_bybit(funding_interval=60)
def test_funding_settles_on_the_streams(local_bybit: LocalBybit) -> None:
    http = local_bybit.pybit_http()
    executions = Pushes()
    private = local_bybit.pybit_ws("private")
    try:
        private.execution_stream(executions.put)
        private.wait_subscribed(1)
        http.place_order(category="linear", symbol="ETHUSDT", side="Sell", orderType="Market",
                         qty="1")  # fmt: skip
        local_bybit.advance(60_000)
        funding = executions.wait_for(lambda e: e["execType"] == "Funding")
    finally:
        private.exit()
    assert funding["symbol"] == "ETHUSDT" and funding["side"] == "Sell"
    log = http.get_transaction_log(type="SETTLEMENT")["result"]["list"]
    assert D(log[0]["funding"]) == D(funding["execFee"])


def test_options_greeks_and_mmp_through_pybit(local_bybit: LocalBybit) -> None:
    """MMP armed on BTC; two MMP asks get picked off when the index jumps (the crowd's
    arbitrage takes stale quotes): the qty limit trips, the third MMP ask is cancelled with
    its reason on the order stream, and new MMP orders are refused until a reset."""
    http = local_bybit.pybit_http()
    rows = http.get_instruments_info(category="option", baseCoin="BTC")["result"]["list"]
    soonest = min(int(r["deliveryTime"]) for r in rows)
    near = [r["symbol"] for r in rows
            if int(r["deliveryTime"]) == soonest and r["optionsType"] == "Call"]  # fmt: skip
    calls = sorted(near, key=lambda s: int(s.split("-")[2]))
    http.set_mmp(baseCoin="BTC", window="60000", frozenPeriod="0", qtyLimit="0.5",
                 deltaLimit="1000")  # fmt: skip
    orders = Pushes()
    greeks = Pushes()
    private = local_bybit.pybit_ws("private")
    try:
        private.order_stream(orders.put)
        private.greek_stream(greeks.put)
        private.wait_subscribed(2)
        placed = []
        for i, sym in enumerate(calls[:2]):
            ask = D(
                http.get_tickers(category="option", symbol=sym)["result"]["list"][0]["ask1Price"]
            )
            placed.append(http.place_order(category="option", symbol=sym, side="Sell",
                                           orderType="Limit", qty="0.3", price=str(ask),
                                           orderLinkId=f"mmp-{i}", mmp=True))  # fmt: skip
        far = http.place_order(category="option", symbol=calls[2], side="Sell",
                               orderType="Limit", qty="0.3", price="60000",
                               orderLinkId="mmp-far", mmp=True)  # fmt: skip
        spot = D(http.get_tickers(category="spot", symbol="BTCUSDT")["result"]["list"][0][
            "lastPrice"])  # fmt: skip
        local_bybit.set_price("BTC", spot * D("1.05"))
        far_id = far["result"]["orderId"]
        gone = orders.wait_for(lambda o: o["orderId"] == far_id and o["orderStatus"] == "Cancelled")
        assert gone["cancelType"] == "CancelByMmp"
        assert greeks.wait_for(lambda g: g["baseCoin"] == "BTC")["totalDelta"].startswith("-")
    finally:
        private.exit()
    state = http.get_mmp_state(baseCoin="BTC")["result"]["result"][0]
    assert state["mmpFrozen"] is True
    with pytest.raises(InvalidRequestError, match="110066"):
        http.place_order(category="option", symbol=calls[2], side="Sell", orderType="Limit",
                         qty="0.1", price="60000", orderLinkId="mmp-late", mmp=True)  # fmt: skip
    http.reset_mmp(baseCoin="BTC")
    http.place_order(category="option", symbol=calls[2], side="Sell", orderType="Limit",
                     qty="0.1", price="60000", orderLinkId="mmp-after", mmp=True)  # fmt: skip
    positions = http.get_positions(category="option")["result"]["list"]
    assert {p["symbol"] for p in positions} == set(calls[:2])
    coin = http.get_coin_greeks(baseCoin="BTC")["result"]["list"][0]
    assert D(coin["totalDelta"]) < 0


def test_spread_order_legs_and_streams_through_pybit(local_bybit: LocalBybit) -> None:
    http = local_bybit.pybit_http()
    symbol = "BTCUSDT_BTC/USDT"
    orders = Pushes()
    fills = Pushes()
    private = local_bybit.pybit_ws("private")
    try:
        private.spread_order_stream(orders.put)
        private.spread_execution_stream(fills.put)
        private.wait_subscribed(2)
        placed = http.spread_place_order(symbol=symbol, side="Buy", orderType="Market",
                                         qty="0.01")  # fmt: skip
        oid = placed["result"]["orderId"]
        combo = fills.wait_for(lambda e: e["category"] == "combination")
        assert combo["orderId"] == oid
        leg = fills.wait_for(lambda e: e["category"] == "spot_leg")
        assert leg["parentExecId"] == combo["execId"] and leg["side"] == "Sell"
        assert orders.wait_for(lambda o: o["orderId"] == oid)["symbol"] == symbol
    finally:
        private.exit()
    history = http.spread_get_order_history(orderId=oid)["result"]["list"][0]
    assert history["orderStatus"] == "Filled" and history["leg1Symbol"] == "BTCUSDT"
    pos = http.get_positions(category="linear", symbol="BTCUSDT")["result"]["list"][0]
    assert (pos["side"], pos["size"]) == ("Buy", "0.010")
    trades = http.spread_get_trade_history(symbol=symbol)["result"]["list"]
    assert len(trades[0]["legs"]) == 2


def test_an_option_is_delivered_when_the_clock_reaches_its_expiry(local_bybit: LocalBybit) -> None:
    http = local_bybit.pybit_http()
    rows = http.get_instruments_info(category="option", baseCoin="BTC")["result"]["list"]
    row = min(rows, key=lambda r: (int(r["deliveryTime"]), r["symbol"]))
    ask = http.get_tickers(category="option", symbol=row["symbol"])["result"]["list"][0][
        "ask1Price"
    ]
    http.place_order(category="option", symbol=row["symbol"], side="Buy", orderType="Limit",
                     qty="0.1", price=ask, orderLinkId="expiring")  # fmt: skip
    held = http.get_positions(category="option")["result"]["list"]
    assert [(p["symbol"], p["size"]) for p in held] == [(row["symbol"], "0.10")]
    now = int(http.get_server_time()["result"]["timeNano"]) // 1_000_000
    local_bybit.advance(int(row["deliveryTime"]) - now + 1)
    assert http.get_positions(category="option")["result"]["list"] == []
    record = http.get_option_delivery_record(category="option")["result"]["list"][0]
    assert record["symbol"] == row["symbol"] and record["position"] == "0.1"
    log = http.get_transaction_log(type="DELIVERY")["result"]["list"]
    assert len(log) == 1 and D(log[0]["cashFlow"]) >= 0
    listed = http.get_instruments_info(category="option", baseCoin="BTC")["result"]["list"]
    assert row["symbol"] not in {r["symbol"] for r in listed}
