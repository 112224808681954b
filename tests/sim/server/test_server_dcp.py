"""DCP as Bybit documents it: only private connections subscribed to `dcp.{future|spot|option}`
count; once all of them are gone longer than the window, that product's orders are cancelled."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from bybitctl.sim import running_exchange

from .conftest import http
from .test_server_ws import ws_auth

pytestmark = pytest.mark.e2e


def test_dcp_counts_only_connections_holding_the_dcp_topic(raw_ws):
    with running_exchange(seed=9) as ex:
        session = http(ex)
        session.set_dcp(product="DERIVATIVES", timeWindow=3)
        bid = Decimal(
            session.get_orderbook(category="linear", symbol="BTCUSDT")["result"]["b"][0][0]
        )
        oid = session.place_order(category="linear", symbol="BTCUSDT", side="Buy",
                                  orderType="Limit", qty="0.001",
                                  price=str(bid - 500))["result"]["orderId"]  # fmt: skip

        def connect(*topics: str):
            conn = raw_ws(f"{ex.ws_base}/v5/private")
            conn.send(ws_auth(ex.api_key, ex.api_secret))
            assert conn.recv()["success"] is True
            conn.send({"op": "subscribe", "args": list(topics)})
            assert conn.recv()["success"] is True
            return conn

        def status() -> str:
            rows = session.get_order_history(category="linear", orderId=oid)["result"]["list"]
            return rows[0]["orderStatus"]

        first, second = connect("dcp.future"), connect("dcp.future", "order")
        plain = connect("order", "dcp.spot")  # alive throughout, but not for DERIVATIVES
        first.close()
        time.sleep(4)  # past the window, but `second` still holds dcp.future
        assert status() == "New"
        second.close()
        deadline = time.monotonic() + 10
        while status() != "Cancelled":
            assert time.monotonic() < deadline, "DCP never fired"
            time.sleep(0.1)
        [row] = session.get_order_history(category="linear", orderId=oid)["result"]["list"]
        assert row["cancelType"] == "CancelByDcp"
        # the connection without dcp.future saw the cancel, and is still served
        push = plain.recv_until(lambda m: m.get("topic") == "order")
        assert push["data"][0]["cancelType"] == "CancelByDcp"
        plain.send({"op": "ping"})
        assert plain.recv_until(lambda m: m.get("op") == "pong")
