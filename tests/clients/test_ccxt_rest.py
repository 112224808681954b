"""ccxt's bybit class, unmodified, against the local exchange: the REST calls its users make."""

from __future__ import annotations

import ccxt
import pytest

from bybitctl.testing import LocalBybit

from .conftest import FUNDING_S

PERP, SPOT, INVERSE = "BTC/USDT:USDT", "BTC/USDT", "BTC/USD:BTC"


@pytest.fixture(scope="module")
def bybit(shared: LocalBybit) -> ccxt.bybit:
    client = ccxt.bybit(shared.ccxt_config())
    client.load_markets()
    return client


def test_markets_and_currencies(bybit: ccxt.bybit) -> None:
    m = bybit.markets
    assert m[PERP]["swap"] and m[PERP]["linear"] and m[PERP]["precision"]["price"] == 0.1
    assert m[SPOT]["spot"] and m[INVERSE]["inverse"]
    options = [s for s, v in m.items() if v["option"] and v["base"] == "BTC"]
    assert len(options) >= 20
    # the coin list names every coin the exchange holds (ccxt's ledger needs it)
    assert {"BTC", "ETH", "USDT", "USDC"} <= set(bybit.currencies)


def test_market_data(bybit: ccxt.bybit) -> None:
    t = bybit.fetch_ticker(PERP)
    assert t["last"] > 0 and t["bid"] < t["ask"]
    assert set(bybit.fetch_tickers([PERP, "ETH/USDT:USDT"])) == {PERP, "ETH/USDT:USDT"}
    book = bybit.fetch_order_book(PERP, 50)
    assert len(book["bids"]) == 50 and book["bids"][0][0] < book["asks"][0][0]
    candles = bybit.fetch_ohlcv(PERP, "1m", limit=5)
    assert len(candles) == 5 and [c[0] for c in candles] == sorted(c[0] for c in candles)
    rate = bybit.fetch_funding_rate(PERP)
    assert rate["fundingRate"] is not None and rate["fundingTimestamp"] > rate["timestamp"]
    chain = bybit.fetch_option_chain("BTC")
    assert len(chain) >= 20


def test_balance_fees_leverage_margin_mode(bybit: ccxt.bybit) -> None:
    bal = bybit.fetch_balance()
    assert bal["USDT"]["total"] > 0 and bal["BTC"]["total"] == 1
    fee = bybit.fetch_trading_fee(PERP)
    assert (fee["maker"], fee["taker"]) == (0.0002, 0.00055)
    bybit.set_leverage(20, PERP)
    bybit.set_margin_mode("isolated", PERP)
    info = bybit.private_get_v5_account_info()
    assert info["result"]["marginMode"] == "ISOLATED_MARGIN"
    bybit.set_margin_mode("cross", PERP)
    assert bybit.private_get_v5_account_info()["result"]["marginMode"] == "REGULAR_MARGIN"


def test_orders_fills_positions_ledger(bybit: ccxt.bybit) -> None:
    last = bybit.fetch_ticker(PERP)["last"]
    resting = bybit.create_order(PERP, "limit", "buy", 0.01, round(last * 0.97, 1))
    assert [o["id"] for o in bybit.fetch_open_orders(PERP)] == [resting["id"]]
    edited = bybit.edit_order(resting["id"], PERP, "limit", "buy", 0.02, round(last * 0.96, 1))
    assert edited["id"] == resting["id"]
    assert bybit.fetch_open_orders(PERP)[0]["amount"] == 0.02
    bybit.cancel_order(resting["id"], PERP)
    assert bybit.fetch_open_orders(PERP) == []
    done = bybit.create_order(PERP, "market", "buy", 0.01)
    closed = {o["id"]: o for o in bybit.fetch_closed_orders(PERP)}
    assert closed[done["id"]]["status"] == "closed" and closed[done["id"]]["filled"] == 0.01
    trades = bybit.fetch_my_trades(PERP)
    assert any(t["order"] == done["id"] for t in trades)
    pos = bybit.fetch_positions([PERP])
    assert pos[0]["contracts"] >= 0.01 and pos[0]["side"] == "long"
    ledger = bybit.fetch_ledger("USDT")
    assert any(e["type"] == "trade" for e in ledger)


def test_trigger_and_tpsl_orders(bybit: ccxt.bybit) -> None:
    last = bybit.fetch_ticker(PERP)["last"]
    trig = bybit.create_order(PERP, "market", "buy", 0.01, None,
                              {"triggerPrice": round(last * 1.03, 1),
                               "triggerDirection": "ascending"})  # fmt: skip
    opened = bybit.fetch_open_orders(PERP, params={"orderFilter": "StopOrder"})
    assert [o["id"] for o in opened] == [trig["id"]]
    assert opened[0]["triggerPrice"] == round(last * 1.03, 1)
    bybit.cancel_order(trig["id"], PERP, {"orderFilter": "StopOrder"})
    tpsl = bybit.create_order(PERP, "market", "buy", 0.01, None,
                              {"takeProfit": {"triggerPrice": round(last * 1.2, 1)},
                               "stopLoss": {"triggerPrice": round(last * 0.8, 1)}})  # fmt: skip
    pos = bybit.fetch_position(PERP)
    assert pos["takeProfitPrice"] == round(last * 1.2, 1)
    assert pos["stopLossPrice"] == round(last * 0.8, 1)
    assert tpsl["id"]


def test_funding_history_after_a_settlement(shared: LocalBybit, bybit: ccxt.bybit) -> None:
    bybit.create_order(PERP, "market", "buy", 0.01)
    shared.advance(FUNDING_S * 1000)
    paid = bybit.fetch_funding_history(PERP)
    assert paid and paid[-1]["code"] == "USDT" and paid[-1]["amount"] != 0
    rates = bybit.fetch_funding_rate_history(PERP, limit=3)
    assert any(r["fundingRate"] == paid[-1]["rate"] for r in rates)
    ledger = bybit.fetch_ledger("USDT")
    assert any(e["info"]["type"] == "SETTLEMENT" for e in ledger)


def test_options_through_ccxt(bybit: ccxt.bybit) -> None:
    calls = sorted(
        (s for s, m in bybit.markets.items()
         if m["option"] and m["base"] == "BTC" and m["optionType"] == "call"),
        key=lambda s: (bybit.markets[s]["expiry"], bybit.markets[s]["strike"]),
    )  # fmt: skip
    sym = calls[2]
    greeks = bybit.fetch_greeks(sym)
    assert 0 < greeks["delta"] < 1 and greeks["markImpliedVolatility"] > 0
    ticker = bybit.fetch_ticker(sym)
    assert 0 < ticker["bid"] < ticker["ask"]
    placed = bybit.create_order(sym, "limit", "buy", 0.1, ticker["ask"])  # ccxt sends a link id
    assert bybit.fetch_my_trades(sym)[0]["order"] == placed["id"]
    held = bybit.fetch_positions([sym])
    assert [(p["symbol"], p["contracts"], p["side"]) for p in held] == [(sym, 0.1, "long")]
    assert held[0]["initialMargin"] == 0  # paid for: a long option holds no margin
