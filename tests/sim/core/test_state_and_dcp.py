"""Persistence round-trips through a state file; DCP cancels after the window."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bybitctl.sim.api.exchange import Exchange
from bybitctl.sim.store.state import APPLICATION_ID, StateFileError

from .conftest import Client, Clock, Recorder, empty_books


def snapshot(c: Client) -> dict[str, Any]:
    """Everything a restart must preserve, as the API shows it (mark-dependent fields dropped)."""
    pos = c.get("/v5/position/list", category="linear", settleCoin="USDT")["list"]
    wallet = c.get("/v5/account/wallet-balance", accountType="UNIFIED")["list"][0]["coin"]
    return {
        "wallet": {w["coin"]: w["walletBalance"] for w in wallet},
        "open": c.get("/v5/order/realtime", category="linear")["list"]
        + c.get("/v5/order/realtime", category="spot")["list"],
        "positions": [
            {k: v for k, v in p.items() if k not in ("markPrice", "unrealisedPnl")} for p in pos
        ],
        "history": c.get("/v5/order/history", category="linear", limit="50")["list"],
        "executions": c.get("/v5/execution/list", category="linear", limit="100")["list"],
        "closed": c.get("/v5/position/closed-pnl", category="linear")["list"],
        "tx": c.get("/v5/account/transaction-log", limit="50")["list"],
        "settings": c.get("/v5/account/query-dcp-info"),
    }


def test_state_file_round_trip(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    clock = Clock()
    ex = Exchange(clock=clock, state_path=path)
    empty_books(ex)
    alice, bob = Client(ex, "1001"), Client(ex, "1002")
    alice.post(
        "/v5/position/set-leverage",
        category="linear",
        symbol="BTCUSDT",
        buyLeverage="4",
        sellLeverage="4",
    )
    alice.post("/v5/order/disconnected-cancel-all", product="DERIVATIVES", timeWindow=20)
    bob.order(side="Sell", orderType="Limit", qty="0.3", price="65000")
    alice.order(side="Buy", orderType="Market", qty="0.2", orderLinkId="m1")
    bob.order(side="Buy", orderType="Limit", qty="0.05", price="64900")
    alice.order(side="Sell", orderType="Market", qty="0.05")
    alice.order(side="Sell", orderType="Limit", qty="0.1", price="66000", orderLinkId="keep")
    alice.order(category="spot", side="Buy", orderType="Limit", qty="0.01", price="60000")
    before = {c.uid: snapshot(c) for c in (alice, bob)}
    ex.close()  # a kill -9 loses nothing either: every call committed before it returned

    ex2 = Exchange(clock=clock, state_path=path)
    a2, b2 = Client(ex2, "1001"), Client(ex2, "1002")
    after = {c.uid: snapshot(c) for c in (a2, b2)}
    assert after == before
    # the restored orders are live: on the book, cancellable, and their link ids still unique
    book = ex2.engines[("linear", "BTCUSDT")].book
    assert book.asks.qty_at(660000) >= 100
    a2.call(
        "POST",
        "/v5/order/create",
        expect=110072,
        category="linear",
        symbol="BTCUSDT",
        side="Sell",
        orderType="Limit",
        qty="0.1",
        price="66000",
        orderLinkId="keep",
    )
    a2.post("/v5/order/cancel", category="linear", symbol="BTCUSDT", orderLinkId="keep")
    new = a2.order(side="Buy", orderType="Limit", qty="0.01", price="60000")
    assert new["orderId"] not in {o["orderId"] for o in before["1001"]["history"]}
    ex2.close()


def test_state_survives_without_close(tmp_path: Path) -> None:
    """Like kill -9: the first exchange is never closed, yet a second one sees its writes."""
    path = str(tmp_path / "state.db")
    clock = Clock()
    ex = Exchange(clock=clock, state_path=path)
    c = Client(ex, "1001")
    o = c.order(side="Buy", orderType="Limit", qty="0.01", price="60000")
    ex2 = Exchange(clock=clock, state_path=path)
    assert Client(ex2, "1001").find(o["orderId"])["orderStatus"] == "New"
    ex2.close()
    ex.close()


def test_dcp_cancels_after_the_window(ex: Exchange, clock: Clock, rec: Recorder) -> None:
    c = Client(ex, "1001")
    c.post("/v5/order/disconnected-cancel-all", product="DERIVATIVES", timeWindow=10)
    c.call(
        "POST",
        "/v5/order/disconnected-cancel-all",
        expect=10001,
        product="DERIVATIVES",
        timeWindow=1,
    )
    assert c.get("/v5/account/query-dcp-info")["dcpInfos"] == [
        {"product": "DERIVATIVES", "dcpStatus": "ON", "timeWindow": "10"}
    ]
    lin = c.order(side="Buy", orderType="Limit", qty="0.01", price="60000")
    spot = c.order(category="spot", side="Buy", orderType="Limit", qty="0.01", price="60000")
    ex.dcp_connected("1001", "DERIVATIVES")
    ex.dcp_disconnected("1001", "DERIVATIVES", clock())
    ex.step(clock.advance(5000))
    ex.dcp_connected("1001", "DERIVATIVES")  # back within the window: nothing happens
    ex.step(clock.advance(20000))
    assert c.find(lin["orderId"])["orderStatus"] == "New"
    ex.dcp_disconnected("1001", "DERIVATIVES", clock())
    ex.step(clock.advance(9000))
    assert c.find(lin["orderId"])["orderStatus"] == "New"
    ex.step(clock.advance(2000))
    o = c.find(lin["orderId"])
    assert (o["orderStatus"], o["cancelType"]) == ("Cancelled", "CancelByDcp")
    assert c.find(spot["orderId"], "spot")["orderStatus"] == "New"  # other product untouched
    assert any(
        x["orderId"] == lin["orderId"] and x["orderStatus"] == "Cancelled"
        for x in rec.items("order", "1001")
    )


def test_margin_mmp_options_and_spreads_survive_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    clock = Clock()
    ex = Exchange(clock=clock, state_path=path)
    empty_books(ex)
    alice, bob = Client(ex, "1001"), Client(ex, "1002")
    alice.post("/v5/account/mmp-modify", baseCoin="BTC", window="5000", frozenPeriod="100",
               qtyLimit="5", deltaLimit="5")  # fmt: skip
    spread = {"symbol": "BTCUSDT_BTC/USDT", "orderType": "Limit", "qty": "0.01", "price": "60"}
    bob.post("/v5/spread/order/create", side="Sell", **spread)
    alice.post("/v5/spread/order/create", side="Buy", **spread)
    resting = alice.post("/v5/spread/order/create", side="Buy", **{**spread, "price": "50"})
    option = ex.handle("GET", "/v5/market/instruments-info", {"category": "option"}, None)
    assert option is not None
    call = option["result"]["list"][4]["symbol"]
    order = {"category": "option", "symbol": call, "orderType": "Limit", "qty": "0.1"}
    bob.post("/v5/order/create", side="Sell", price="2000", orderLinkId="o1", **order)
    alice.post("/v5/order/create", side="Buy", price="2000", orderLinkId="o2", **order)
    alice.post("/v5/account/set-margin-mode", setMarginMode="PORTFOLIO_MARGIN")

    def state(c: Client) -> dict[str, Any]:
        return {
            "mode": c.get("/v5/account/info")["marginMode"],
            "mmp": c.get("/v5/account/mmp-state", baseCoin="BTC"),
            "spread_open": c.get("/v5/spread/order/realtime")["list"],
            "spread_fills": c.get("/v5/spread/execution/list")["list"],
            "options": [
                (p["symbol"], p["size"])
                for p in c.get("/v5/position/list", category="option")["list"]
            ],
        }

    before = state(alice)
    assert before["spread_fills"] and before["options"] == [(call, "0.10")]
    ex.close()
    ex2 = Exchange(clock=clock, state_path=path)
    after = state(Client(ex2, "1001"))
    assert after == before
    assert after["spread_open"][0]["orderId"] == resting["orderId"]
    ex2.close()


def _other_program(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
        db.execute("INSERT INTO notes VALUES ('keep me')")


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_other_program, "is an SQLite database, but not a state file of this exchange"),
        (lambda p: p.write_text("hello\n"), "(not an SQLite database)"),
        (lambda p: p.write_bytes(b""), "is an empty file"),
        (lambda p: p.mkdir(), "is a directory"),
    ],
)
def test_a_file_that_is_not_a_state_file_is_refused_untouched(
    tmp_path: Path, clock: Clock, make: Any, says: str
) -> None:
    path = tmp_path / "state.sqlite"
    make(path)
    before = sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir() if p.is_file())
    with pytest.raises(StateFileError, match=re.escape(says)) as caught:
        Exchange(clock=clock, state_path=str(path))
    assert "\n" not in str(caught.value)
    assert sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir() if p.is_file()) == before


def test_a_state_file_from_before_the_application_id_is_still_one(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "state.sqlite"
    Exchange(clock=clock, state_path=str(path)).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA application_id = 0")
    Exchange(clock=clock, state_path=str(path)).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
