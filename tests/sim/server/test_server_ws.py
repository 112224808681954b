"""The exchange's WebSocket protocol: per-channel shapes, auth, subscriptions, order entry."""

from __future__ import annotations

import copy
import hashlib
import hmac
import queue
import threading
import time

import pytest

from bybitctl.client import make_ws, make_ws_trading
from bybitctl.config import Settings
from bybitctl.sim import running_exchange

from .conftest import StreamCore

pytestmark = pytest.mark.e2e


def ws_auth(key: str, secret: str, *, expires: int | None = None) -> dict:
    expires = int(time.time() * 1000) + 5000 if expires is None else expires
    sign = hmac.new(secret.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256)
    return {"req_id": "a1", "op": "auth", "args": [key, expires, sign.hexdigest()]}


def is_op(op):
    return lambda m: m.get("op") == op or m.get("type") == "COMMAND_RESP"


def test_public_ping_pong_shapes_per_channel(stream_exchange, raw_ws):
    base = stream_exchange.ws_base
    spot = raw_ws(f"{base}/v5/public/spot")
    spot.send({"op": "ping"})
    pong = spot.recv()
    assert pong["success"] is True and pong["ret_msg"] == "pong" and pong["op"] == "ping"
    assert pong["conn_id"] and "req_id" not in pong
    linear = raw_ws(f"{base}/v5/public/linear")
    linear.send({"op": "ping"})
    pong = linear.recv()
    assert pong["req_id"] == "" and pong["ret_msg"] == "pong" and pong["op"] == "ping"
    for channel in ("option", "spread"):
        conn = raw_ws(f"{base}/v5/public/{channel}")
        conn.send({"op": "ping"})
        pong = conn.recv()
        assert pong["op"] == "pong" and set(pong) == {"args", "op"}
        assert abs(int(pong["args"][0]) - time.time() * 1000) < 5000


def test_subscribe_acks_and_unknown_topic_per_channel(stream_exchange, raw_ws):
    base = stream_exchange.ws_base
    spot = raw_ws(f"{base}/v5/public/spot")
    spot.send({"req_id": "s1", "op": "subscribe", "args": ["orderbook.50.BTCUSDT"]})
    ack = spot.recv()
    assert ack == {
        "success": True,
        "ret_msg": "subscribe",
        "conn_id": ack["conn_id"],
        "req_id": "s1",
        "op": "subscribe",
    }
    snapshot = spot.recv()
    assert snapshot["type"] == "snapshot" and snapshot["topic"] == "orderbook.50.BTCUSDT"
    linear = raw_ws(f"{base}/v5/public/linear")
    linear.send({"op": "subscribe", "args": ["orderbook.50.BTCUSDT"]})
    ack = linear.recv()
    assert ack["success"] is True and ack["ret_msg"] == "" and ack["req_id"] == ""
    linear.send({"req_id": "bad", "op": "subscribe", "args": ["nosuch.BTCUSDT"]})
    bad = linear.recv_until(is_op("subscribe"))
    assert bad["success"] is False and bad["req_id"] == "bad"
    assert "nosuch.BTCUSDT" in bad["ret_msg"]
    linear.send({"req_id": "again", "op": "subscribe", "args": ["orderbook.50.BTCUSDT"]})
    again = linear.recv_until(lambda m: m.get("req_id") == "again")
    assert again["success"] is False and "already subscribed" in again["ret_msg"]
    option = raw_ws(f"{base}/v5/public/option")
    option.send({"op": "subscribe", "args": ["orderbook.50.BTC-X", "nosuch.X"]})
    ack = option.recv()
    assert ack["type"] == "COMMAND_RESP" and ack["success"] is False
    assert ack["data"] == {"failTopics": ["nosuch.X"], "successTopics": ["orderbook.50.BTC-X"]}


def test_unsubscribe_stops_the_stream(stream_exchange, raw_ws):
    linear = raw_ws(f"{stream_exchange.ws_base}/v5/public/linear")
    linear.send({"req_id": "1", "op": "subscribe", "args": ["orderbook.50.BTCUSDT"]})
    linear.recv_until(lambda m: m.get("type") == "delta")
    linear.send({"req_id": "2", "op": "unsubscribe", "args": ["orderbook.50.BTCUSDT"]})
    ack = linear.recv_until(is_op("unsubscribe"))
    assert ack["success"] is True and ack["req_id"] == "2"
    linear.sock.settimeout(0.5)
    with pytest.raises(Exception, match="timed out"):
        while True:
            linear.recv()


def test_status_channel_answers_system_status(stream_exchange, raw_ws):
    status = raw_ws(f"{stream_exchange.ws_base}/v5/public/misc/status")
    status.send({"op": "subscribe", "args": ["system.status"]})
    assert status.recv()["success"] is True
    message = status.recv()
    assert message["topic"] == "system.status" and message["data"] == []


def test_private_auth_ok_and_bad_signature(stream_exchange, raw_ws):
    ex = stream_exchange
    private = raw_ws(f"{ex.ws_base}/v5/private")
    private.send({"req_id": "early", "op": "subscribe", "args": ["order"]})
    early = private.recv()
    assert early["success"] is False and early["ret_msg"] == "Request not authorized"
    private.send(ws_auth(ex.api_key, ex.api_secret))
    ok = private.recv()
    assert ok["success"] is True and ok["op"] == "auth" and ok["ret_msg"] == ""
    private.send({"req_id": "p", "op": "ping"})
    pong = private.recv()
    assert pong["op"] == "pong" and pong["req_id"] == "p" and pong["conn_id"]
    private.send({"op": "subscribe", "args": ["order", "execution.fast.linear", "position.spot"]})
    ack = private.recv()
    assert ack["success"] is False and "position.spot" in ack["ret_msg"]
    bad = raw_ws(f"{ex.ws_base}/v5/private")
    bad.send(ws_auth(ex.api_key, "not-the-secret"))
    refused = bad.recv()
    assert refused["success"] is False and refused["op"] == "auth"
    expired = raw_ws(f"{ex.ws_base}/v5/private")
    expired.send(ws_auth(ex.api_key, ex.api_secret, expires=int(time.time() * 1000) - 1000))
    assert expired.recv()["success"] is False


def test_trade_stream_ops(stream_exchange, raw_ws):
    ex = stream_exchange
    trade = raw_ws(f"{ex.ws_base}/v5/trade")
    order = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market",
             "qty": "0.01"}  # fmt: skip

    def request(req_id, op="order.create", ts=None, args=None):
        ts = str(int(time.time() * 1000)) if ts is None else ts
        return {"reqId": req_id, "header": {"X-BAPI-TIMESTAMP": ts}, "op": op,
                "args": [order] if args is None else args}  # fmt: skip

    trade.send(request("r0"))
    assert trade.recv()["retCode"] == 10007
    auth = ws_auth(ex.api_key, ex.api_secret)
    del auth["req_id"]
    trade.send(auth)
    ok = trade.recv()
    assert ok == {"retCode": 0, "retMsg": "OK", "op": "auth", "connId": ok["connId"]}
    trade.send({"op": "ping"})
    pong = trade.recv()
    assert pong["retCode"] == 0 and pong["op"] == "pong" and len(pong["data"]) == 1
    trade.send(request("r1"))
    reply = trade.recv()
    assert reply["reqId"] == "r1" and reply["retCode"] == 0 and reply["op"] == "order.create"
    assert reply["data"] == {"orderId": "1"} and reply["connId"] == ok["connId"]
    assert reply["header"]["X-Bapi-Limit"] == "10"
    assert reply["header"]["X-Bapi-Limit-Status"] == "9"
    trade.send(request("r1"))
    assert trade.recv()["retCode"] == 20006
    trade.send(request("r2", ts=str(int(time.time() * 1000) - 30_000)))
    stale = trade.recv()
    assert stale["retCode"] == 10002 and stale["reqId"] == "r2"
    trade.send(request("r3", op="order.explode"))
    assert trade.recv()["retCode"] == 10404
    readonly = raw_ws(f"{ex.ws_base}/v5/trade")
    readonly.send(ws_auth(ex.readonly_key, ex.readonly_secret))
    assert readonly.recv()["retCode"] == 0
    readonly.send(request("r4"))
    assert readonly.recv()["retCode"] == 10005
    assert [op for op, _, _ in ex._server.core.trade_ops] == ["order.create"]


def test_idle_connection_is_dropped(raw_ws):
    with running_exchange(core=StreamCore(), ws_idle_ms=1000) as ex:
        busy = raw_ws(f"{ex.ws_base}/v5/public/linear")
        idle = raw_ws(f"{ex.ws_base}/v5/public/linear")
        idle.sock.settimeout(6)
        stop = threading.Event()

        def keep_talking() -> None:
            while not stop.wait(0.2):
                busy.send({"op": "ping"})

        talker = threading.Thread(target=keep_talking)
        talker.start()
        start = time.monotonic()
        try:
            with pytest.raises(Exception):  # noqa: B017 - websocket-client's close errors vary
                while True:
                    if idle.sock.recv() == "":
                        raise ConnectionError("closed")
            assert 0.9 < time.monotonic() - start < 5.0
            time.sleep(1.5)
        finally:
            stop.set()
            talker.join()
        busy.sock.settimeout(2)
        assert busy.recv()["ret_msg"] == "pong"


def test_pybit_websocket_via_client(stream_exchange):
    settings = Settings(base_url=stream_exchange.base_url)
    got: queue.Queue = queue.Queue()
    ws = make_ws(settings, "linear")
    try:
        # pybit hands every callback the same (mutated) book dict: keep copies
        ws.orderbook_stream(50, "BTCUSDT", lambda m: got.put(copy.deepcopy(m)))
        first = got.get(timeout=5)
        second = got.get(timeout=5)
        assert first["topic"] == "orderbook.50.BTCUSDT"
        assert second["data"]["u"] == first["data"]["u"] + 1
    finally:
        ws.exit()


def test_pybit_trading_websocket_round_trip(stream_exchange):
    ex = stream_exchange
    settings = Settings(base_url=ex.base_url, api_key=ex.api_key, api_secret=ex.api_secret)
    replies: queue.Queue = queue.Queue()
    ws = make_ws_trading(settings)
    try:
        deadline = time.monotonic() + 5
        while not ws.auth and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ws.auth
        ws.place_order(replies.put, category="linear", symbol="BTCUSDT", side="Buy",
                       orderType="Market", qty="0.001")  # fmt: skip
        reply = replies.get(timeout=5)
        assert reply["retCode"] == 0 and reply["op"] == "order.create"
        assert reply["reqId"] and reply["connId"]
        assert set(reply["header"]) >= {"X-Bapi-Limit", "X-Bapi-Limit-Status", "Timenow"}
    finally:
        ws.exit()


def test_real_core_book_stream_and_private_push(exchange, raw_ws):
    """Through the real core: a book snapshot then deltas with u rising by 1, and an order
    placed over the trade stream is acknowledged and pushed on the private `order` topic."""
    book = raw_ws(f"{exchange.ws_base}/v5/public/linear")
    book.send({"op": "subscribe", "args": ["orderbook.50.BTCUSDT"]})
    assert book.recv()["success"] is True
    snapshot = book.recv_until(lambda m: m.get("topic") == "orderbook.50.BTCUSDT")
    assert snapshot["type"] == "snapshot" and snapshot["data"]["b"] and snapshot["data"]["a"]
    delta = book.recv_until(lambda m: m.get("type") == "delta", limit=10)
    assert delta["data"]["u"] == snapshot["data"]["u"] + 1
    private = raw_ws(f"{exchange.ws_base}/v5/private")
    private.send(ws_auth(exchange.api_key, exchange.api_secret))
    assert private.recv()["success"] is True
    private.send({"op": "subscribe", "args": ["order.linear"]})
    assert private.recv()["success"] is True
    trade = raw_ws(f"{exchange.ws_base}/v5/trade")
    trade.send(ws_auth(exchange.api_key, exchange.api_secret))
    assert trade.recv()["retCode"] == 0
    bid = float(snapshot["data"]["b"][-1][0])
    order = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
             "qty": "0.001", "price": str(round(bid * 0.9, 1)), "orderLinkId": "ws-1"}  # fmt: skip
    trade.send({"reqId": "c1", "header": {"X-BAPI-TIMESTAMP": str(int(time.time() * 1000))},
                "op": "order.create", "args": [order]})  # fmt: skip
    ack = trade.recv()
    assert ack["retCode"] == 0, ack
    assert ack["reqId"] == "c1" and ack["data"]["orderLinkId"] == "ws-1"
    push = private.recv_until(lambda m: m.get("topic") == "order.linear")
    assert push["data"][0]["orderId"] == ack["data"]["orderId"]
    assert push["data"][0]["orderStatus"] == "New"


def test_private_topics_cannot_mix_all_in_one_and_categorised(stream_exchange, raw_ws):
    private = raw_ws(f"{stream_exchange.ws_base}/v5/private")
    private.send(ws_auth(stream_exchange.api_key, stream_exchange.api_secret))
    assert private.recv()["success"] is True
    private.send({"op": "subscribe", "args": ["order", "order.linear"]})
    mixed = private.recv()
    assert mixed["success"] is False and "cannot be mixed" in mixed["ret_msg"]
    private.send({"op": "subscribe", "args": ["execution", "execution.fast", "wallet"]})
    assert private.recv()["success"] is True


def test_rsa_key_authenticates_a_private_stream(stream_exchange, raw_ws):
    import base64

    from Crypto.Hash import SHA256
    from Crypto.PublicKey import RSA
    from Crypto.Signature import pkcs1_15

    private = RSA.generate(2048)
    stream_exchange.add_key(
        "RSAWS000000000001", private.publickey().export_key().decode(), rsa=True
    )
    expires = int(time.time() * 1000) + 5000
    digest = SHA256.new(f"GET/realtime{expires}".encode())
    signature = base64.b64encode(pkcs1_15.new(private).sign(digest)).decode()
    conn = raw_ws(f"{stream_exchange.ws_base}/v5/private")
    conn.send({"op": "auth", "args": ["RSAWS000000000001", expires, signature]})
    assert conn.recv()["success"] is True
    forged = raw_ws(f"{stream_exchange.ws_base}/v5/private")
    forged.send({"op": "auth", "args": ["RSAWS000000000001", expires + 1, signature]})
    assert forged.recv()["success"] is False
