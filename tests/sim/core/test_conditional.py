"""Conditional orders (`triggerPrice`): Untriggered off the book until the last or mark price
crosses the trigger, then placed as sent."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from bybitctl.sim.api.exchange import Exchange

from .conftest import Client, Clock, Recorder, empty_books

D = Decimal
BTC = {"category": "linear", "symbol": "BTCUSDT"}


def trade_at(bare: Exchange, maker: Client, taker: Client, side: str, price: str) -> None:
    """Print one 0.001 trade at `price` (the last price moves there) and run the triggers."""
    opp = "Sell" if side == "Buy" else "Buy"
    maker.order(side=opp, orderType="Limit", qty="0.001", price=price)
    taker.order(side=side, orderType="Market", qty="0.001")
    now = bare.clock()
    bare.trading.check_triggers(now)
    bare.step(now)  # no time passes: nothing moves, the pushes go out


def book_qty(bare: Exchange, side: str, price: str) -> int:
    book = bare.engines[("linear", "BTCUSDT")].book
    return book.side(side).qty_at(int(D(price) * 10))


def test_stop_market_waits_untriggered_then_fills_when_the_last_price_rises(
    alice: Client, bob: Client, bare: Exchange, rec: Recorder
) -> None:
    carol = Client(bare, "1003")
    assert bare.engines[("linear", "BTCUSDT")].last_price == 650000  # 65000.0
    env = alice.call("POST", "/v5/order/create", expect=110092, **BTC, side="Buy",
                     orderType="Market", qty="0.1", triggerPrice="64900",
                     triggerDirection=1)  # fmt: skip
    assert (
        env["retMsg"] == "expect Rising, but trigger_price[64900.0] <= current[65000.0]??LastPrice"
    )
    alice.call("POST", "/v5/order/create", expect=10001, **BTC, side="Buy", orderType="Market",
               qty="0.1", triggerPrice="65050")  # fmt: skip
    usdt_before = alice.get("/v5/account/wallet-balance", accountType="UNIFIED")["list"][0]
    stop = alice.order(side="Buy", orderType="Market", qty="0.1", triggerPrice="65050",
                       triggerDirection=1, orderLinkId="stop")  # fmt: skip
    assert (stop["orderStatus"], stop["stopOrderType"], stop["triggerPrice"]) == (
        "Untriggered", "Stop", "65050.0")  # fmt: skip
    assert (stop["triggerDirection"], stop["triggerBy"]) == (1, "LastPrice")
    wallet = alice.get("/v5/account/wallet-balance", accountType="UNIFIED")["list"][0]
    assert wallet["totalAvailableBalance"] == usdt_before["totalAvailableBalance"], "funds held"
    [listed] = alice.get("/v5/order/realtime", **BTC, orderFilter="StopOrder")["list"]
    assert listed["orderId"] == stop["orderId"]
    assert alice.get("/v5/order/realtime", **BTC, orderFilter="Order")["list"] == []
    bob.order(side="Sell", orderType="Limit", qty="0.1", price="65100")
    trade_at(bare, bob, carol, "Buy", "65040")  # not yet
    assert alice.find(stop["orderId"])["orderStatus"] == "Untriggered"
    trade_at(bare, bob, carol, "Buy", "65050")  # reaches the trigger
    done = alice.find(stop["orderId"])
    assert (done["orderStatus"], done["avgPrice"], done["cumExecQty"]) == (
        "Filled", "65100", "0.100")  # fmt: skip
    pushed = [o["orderStatus"] for o in rec.items("order", alice.uid)
              if o["orderId"] == stop["orderId"]]  # fmt: skip
    assert pushed == ["Untriggered", "Filled"]
    assert alice.position()["size"] == "0.100"


def test_stop_limit_on_the_mark_rests_when_triggered(alice: Client, bare: Exchange) -> None:
    stop = alice.order(side="Sell", orderType="Limit", qty="0.1", price="63900",
                       triggerPrice="64000", triggerDirection=2,
                       triggerBy="MarkPrice")  # fmt: skip
    assert book_qty(bare, "Sell", "63900") == 0, "an untriggered order is off the book"
    bare.marks["BTCUSDT"] = D("64100")
    bare.trading.check_triggers(bare.clock())
    assert alice.find(stop["orderId"])["orderStatus"] == "Untriggered"
    bare.marks["BTCUSDT"] = D("64000")
    bare.trading.check_triggers(bare.clock())
    placed = alice.find(stop["orderId"])
    assert (placed["orderStatus"], placed["triggerPrice"]) == ("New", "64000.0")
    assert book_qty(bare, "Sell", "63900") == 100


def test_amend_and_cancel_an_untriggered_order(alice: Client, bare: Exchange) -> None:
    stop = alice.order(side="Sell", orderType="Market", qty="0.1", triggerPrice="64000",
                       triggerDirection=2)  # fmt: skip
    alice.call("POST", "/v5/order/amend", expect=110093, **BTC, orderId=stop["orderId"],
               triggerPrice="65500")  # fmt: skip
    alice.post("/v5/order/amend", **BTC, orderId=stop["orderId"], triggerPrice="63000",
               qty="0.2")  # fmt: skip
    amended = alice.find(stop["orderId"])
    assert (amended["triggerPrice"], amended["qty"], amended["orderStatus"]) == (
        "63000.0", "0.200", "Untriggered")  # fmt: skip
    alice.post("/v5/order/cancel", **BTC, orderId=stop["orderId"])
    gone = alice.find(stop["orderId"])
    assert (gone["orderStatus"], gone["cancelType"]) == ("Deactivated", "CancelByUser")
    bare.marks["BTCUSDT"] = D("1")
    bare.engines[("linear", "BTCUSDT")].last_price = 10
    bare.trading.check_triggers(bare.clock())
    assert alice.find(stop["orderId"])["orderStatus"] == "Deactivated"
    assert alice.get("/v5/order/realtime", **BTC)["list"] == []


def test_reduce_only_stop_is_capped_when_it_triggers(
    alice: Client, bob: Client, bare: Exchange
) -> None:
    bob.order(side="Sell", orderType="Limit", qty="0.1", price="65000")
    alice.order(side="Buy", orderType="Market", qty="0.1")
    stop = alice.order(side="Sell", orderType="Market", qty="0.1", triggerPrice="64000",
                       triggerDirection=2, reduceOnly=True)  # fmt: skip
    bob.order(side="Buy", orderType="Limit", qty="0.04", price="64990")
    alice.order(side="Sell", orderType="Market", qty="0.04")  # the position shrinks to 0.06
    bob.order(side="Buy", orderType="Limit", qty="1", price="63500")
    bare.marks["BTCUSDT"] = D("63990")
    bare.engines[("linear", "BTCUSDT")].last_price = 639900
    bare.trading.check_triggers(bare.clock())
    done = alice.find(stop["orderId"])
    assert (done["orderStatus"], done["cumExecQty"]) == ("Filled", "0.060")
    assert alice.position()["size"] == "0.000"


def test_spot_stop_order_and_state_round_trip(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    clock = Clock()
    ex = Exchange(clock=clock, state_path=path)
    empty_books(ex)
    alice = Client(ex, "1001")
    spot = {"category": "spot", "symbol": "BTCUSDT"}
    plain = alice.order(**spot, side="Buy", orderType="Limit", qty="0.01", price="60000",
                        triggerPrice="66000")  # fmt: skip
    assert plain["orderStatus"] == "New" and plain["triggerPrice"] == "", "needs StopOrder"
    stop = alice.order(**spot, side="Buy", orderType="Limit", qty="0.01", price="66010",
                       triggerPrice="66000", orderFilter="StopOrder")  # fmt: skip
    assert (stop["orderStatus"], stop["triggerDirection"]) == ("Untriggered", 1)
    ex.close()
    ex2 = Exchange(clock=clock, state_path=path)
    try:
        a2 = Client(ex2, "1001")
        assert a2.find(stop["orderId"], "spot")["orderStatus"] == "Untriggered"
        book = ex2.engines[("spot", "BTCUSDT")].book
        assert book.bids.qty_at(6601000) == 0, "restored off the book"
        ex2.engines[("spot", "BTCUSDT")].last_price = 6600000
        ex2.trading.check_triggers(clock())
        assert a2.find(stop["orderId"], "spot")["orderStatus"] in ("New", "Filled")
    finally:
        ex2.close()
