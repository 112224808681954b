"""Each pybit internal bybitctl relies on (`bybitctl.pybit_compat`), exercised against real
pybit objects and, where behaviour matters, the local exchange over loopback. A pybit
release that renames, re-signs or changes one of them fails here, by name.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import websocket
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP

from bybitctl import pybit_compat
from bybitctl.catalog import load
from bybitctl.sim import SimHandle, running_exchange

pytestmark = pytest.mark.e2e

SPREAD = "BTCUSDT_BTC/USDT"


@pytest.fixture(scope="module")
def exchange() -> Iterator[SimHandle]:
    with running_exchange(symbols=("BTCUSDT",), seed=3) as ex:
        yield ex


def wait_for(condition: Callable[[], Any], timeout: float = 15.0) -> None:
    """Until `condition()` holds (checked every 10 ms), at most `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def http_to(exchange: SimHandle, **kwargs: Any) -> HTTP:
    http = HTTP(max_retries=1, **kwargs)
    pybit_compat.set_base_url(http, exchange.base_url)
    return http


class Frames:
    """What a pybit socket's `callback_function` received, to wait on."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def __call__(self, message: dict[str, Any]) -> None:
        self.seen.append(message)

    def wait(self, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        wait_for(lambda: any(match(m) for m in list(self.seen)))
        return next(m for m in list(self.seen) if match(m))


def public_socket(exchange: SimHandle, frames: Frames) -> Any:
    return pybit_compat.websocket(
        "linear",
        f"{exchange.ws_base}/v5/public/linear",
        **pybit_compat.raw_frames(frames),
        testnet=False,
        **pybit_compat.no_reconnects(retries=2),
    )


# -- HTTP -----------------------------------------------------------------------------------


def test_set_base_url_sends_every_request_there(exchange: SimHandle) -> None:
    http = HTTP(max_retries=1)
    assert (
        pybit_compat.request_url(http, "/v5/market/time") == "https://api.bybit.com/v5/market/time"
    )
    pybit_compat.set_base_url(http, exchange.base_url)
    assert (
        pybit_compat.request_url(http, "/v5/market/time") == f"{exchange.base_url}/v5/market/time"
    )
    before = len(exchange.received)
    assert http.get_server_time()["retCode"] == 0
    assert [r["path"] for r in exchange.received[before:]] == ["/v5/market/time"]


def test_submit_sends_through_pybits_signing(exchange: SimHandle) -> None:
    http = http_to(exchange, api_key=exchange.api_key, api_secret=exchange.api_secret)
    before = len(exchange.received)
    answer = pybit_compat.submit(
        http, "GET", "/v5/account/wallet-balance", {"accountType": "UNIFIED"}, auth=True
    )
    assert answer["retCode"] == 0
    (sent,) = exchange.received[before:]
    assert (sent["path"], sent["query"]) == (
        "/v5/account/wallet-balance",
        {"accountType": "UNIFIED"},
    )
    assert {"X-BAPI-API-KEY", "X-BAPI-SIGN", "X-BAPI-TIMESTAMP"} <= sent["headers"].keys()
    forged = http_to(exchange, api_key=exchange.api_key, api_secret="not-the-secret")
    with pytest.raises(InvalidRequestError):  # the exchange checked pybit's signature
        pybit_compat.submit(
            forged, "GET", "/v5/account/wallet-balance", {"accountType": "UNIFIED"}, auth=True
        )
    public = pybit_compat.submit(
        http, "GET", "/v5/market/tickers", {"category": "linear", "symbol": "BTCUSDT"}, auth=False
    )
    assert public["result"]["list"][0]["symbol"] == "BTCUSDT"


def test_clean_query_drops_none_and_sends_whole_floats_as_ints() -> None:
    params = {"a": 2.0, "b": None, "c": 1.5, "d": "x", "e": 0}
    cleaned = pybit_compat.clean_query(HTTP(), params)
    assert cleaned == {"a": 2, "c": 1.5, "d": "x", "e": 0}
    assert type(cleaned["a"]) is int
    assert params["b"] is None and type(params["a"]) is float  # the caller's dict is kept


def test_encode_payload_is_what_pybit_signs() -> None:
    http = HTTP()
    assert pybit_compat.encode_payload(http, "GET", {"b": 2, "a": "x", "c": None}) == "a=x&b=2"
    body = pybit_compat.encode_payload(http, "POST", {"qty": 1, "positionIdx": "2", "n": 3})
    assert json.loads(body) == {"qty": "1", "positionIdx": 2, "n": 3}


def test_exactly_the_payload_cast_keys_are_cast_in_a_post_body() -> None:
    """Over every parameter name the catalogue knows: str() for PAYLOAD_STR_CASTS, int() for
    PAYLOAD_INT_CASTS, nothing else touched."""
    http = HTTP()
    names = {p.name for row in load() for p in row.params} | pybit_compat.PAYLOAD_STR_CASTS
    as_str = {
        n for n in names if json.loads(pybit_compat.encode_payload(http, "POST", {n: 7}))[n] == "7"
    }
    as_int = {
        n for n in names if json.loads(pybit_compat.encode_payload(http, "POST", {n: "7"}))[n] == 7
    }
    assert as_str == pybit_compat.PAYLOAD_STR_CASTS
    assert as_int == pybit_compat.PAYLOAD_INT_CASTS
    assert len(names) > 100


def test_session_headers_go_with_every_request(exchange: SimHandle) -> None:
    http = http_to(exchange, referral_id="bybitctl-test")
    headers = pybit_compat.session_headers(http)
    assert headers["Content-Type"] == "application/json"
    assert headers["Referer"] == "bybitctl-test"
    before = len(exchange.received)
    http.get_server_time()
    (sent,) = exchange.received[before:]
    assert all(sent["headers"].get(name) == value for name, value in headers.items())


def test_return_refusals_hands_back_the_refusals_envelope(exchange: SimHandle) -> None:
    http = http_to(exchange, api_key="nope", api_secret="nope")
    with pytest.raises(Exception) as raised:
        http.get_wallet_balance(accountType="UNIFIED")
    assert type(raised.value).__name__ == "InvalidRequestError"
    pybit_compat.return_refusals(http)
    envelope = http.get_wallet_balance(accountType="UNIFIED")
    assert envelope["retCode"] == 10003 and "retMsg" in envelope


def test_key_secret_and_recv_window_are_read_from_the_client() -> None:
    assert not pybit_compat.holds_key(HTTP()) and not pybit_compat.holds_secret(HTTP())
    http = HTTP(api_key="K", api_secret="S", recv_window=7000)
    assert pybit_compat.holds_key(http) and pybit_compat.holds_secret(http)
    assert pybit_compat.recv_window(http) == 7000
    assert not pybit_compat.holds_secret(HTTP(api_key="K"))


@pytest.mark.timeout(40)
def test_set_timeout_bounds_the_next_request() -> None:
    """A server that accepts and never answers: the request fails on the timeout set later,
    not the minute given at construction (which would outlast this test's own timeout)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        http = HTTP(timeout=60, max_retries=1)
        pybit_compat.set_base_url(http, f"http://127.0.0.1:{server.getsockname()[1]}")
        pybit_compat.set_timeout(http, 0.3)
        with pytest.raises(Exception) as raised:
            http.get_server_time()
    chain = [raised.value, raised.value.__cause__, raised.value.__context__]
    assert any(type(e).__name__ == "ReadTimeout" for e in chain), chain


def test_is_missing_keys_is_pybits_refusal_before_sending(exchange: SimHandle) -> None:
    http = http_to(exchange)
    before = len(exchange.received)
    with pytest.raises(Exception) as raised:
        http.get_wallet_balance(accountType="UNIFIED")
    assert pybit_compat.is_missing_keys(raised.value)
    assert len(exchange.received) == before
    assert not pybit_compat.is_missing_keys(PermissionError("denied"))


def test_raised_by_pybit_tells_pybits_own_checks_from_ours(exchange: SimHandle) -> None:
    http = http_to(exchange, api_key=exchange.api_key, api_secret=exchange.api_secret)
    before = len(exchange.received)
    with pytest.raises(Exception, match="demo=True") as raised:
        http.request_demo_trading_funds()
    assert pybit_compat.raised_by_pybit(raised.value)
    assert len(exchange.received) == before
    with pytest.raises(ValueError) as ours:
        int("x")
    assert not pybit_compat.raised_by_pybit(ours.value)


# -- WebSocket --------------------------------------------------------------------------------


def test_websocket_connects_to_our_url_and_raw_frames_skip_pybits_processing(
    exchange: SimHandle,
) -> None:
    frames = Frames()
    ws = public_socket(exchange, frames)
    try:
        assert ws.is_connected()
        ws.orderbook_stream(depth=50, symbol="BTCUSDT", callback=frames)
        # pybit's own handling would swallow the answer and turn every delta into a snapshot
        frames.wait(lambda m: m.get("op") == "subscribe" and m.get("success") is True)
        frames.wait(lambda m: m.get("topic") == "orderbook.50.BTCUSDT" and m["type"] == "delta")
        assert ws.data == {}  # pybit's own book never ran
    finally:
        ws.exit()


def test_spread_websocket_connects_to_our_url(exchange: SimHandle) -> None:
    frames = Frames()
    ws = pybit_compat.spread_websocket(
        f"{exchange.ws_base}/v5/public/spread",
        **pybit_compat.raw_frames(frames),
        testnet=False,
        **pybit_compat.no_reconnects(retries=2),
    )
    try:
        ws.orderbook_stream(depth=25, symbol=SPREAD, callback=frames)
        frames.wait(lambda m: m.get("topic") == f"orderbook.25.{SPREAD}")
    finally:
        ws.exit()


def test_no_reconnects_leaves_a_socket_the_server_closed_closed(exchange: SimHandle) -> None:
    """What the supervisor relies on: a dropped socket says so and stays down. A second
    socket opened after the drop comes up and is fed, and by then the first is still down."""
    frames = Frames()
    ws = public_socket(exchange, frames)
    try:
        ws.orderbook_stream(depth=50, symbol="BTCUSDT", callback=frames)
        frames.wait(lambda m: m.get("topic") == "orderbook.50.BTCUSDT")
        exchange.set_faults("drop_ws")
        wait_for(lambda: not ws.is_connected())
        exchange.set_faults("")
        later = Frames()
        other = public_socket(exchange, later)
        try:
            other.orderbook_stream(depth=50, symbol="BTCUSDT", callback=later)
            later.wait(lambda m: m.get("topic") == "orderbook.50.BTCUSDT" and m["type"] == "delta")
        finally:
            other.exit()
        assert not ws.is_connected()
    finally:
        ws.exit()


@pytest.mark.timeout(60)
def test_no_reconnects_bounds_a_refused_connect() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(Exception, match="connection failed"):
        pybit_compat.websocket(
            "linear",
            f"ws://127.0.0.1:{port}/v5/public/linear",
            **pybit_compat.raw_frames(lambda m: None),
            testnet=False,
            **pybit_compat.no_reconnects(retries=2),
        )


def test_send_text_goes_out_on_pybits_socket(exchange: SimHandle) -> None:
    frames = Frames()
    ws = public_socket(exchange, frames)
    try:
        request = {"op": "subscribe", "req_id": "compat-1", "args": ["orderbook.1.BTCUSDT"]}
        pybit_compat.send_text(ws, json.dumps(request))
        frames.wait(lambda m: m.get("req_id") == "compat-1" and m.get("success") is True)
        frames.wait(lambda m: m.get("topic") == "orderbook.1.BTCUSDT")
    finally:
        ws.exit()
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        pybit_compat.send_text(ws, json.dumps(request))


@pytest.fixture
def trade_socket(exchange: SimHandle) -> Iterator[Any]:
    ws = pybit_compat.websocket_trading(
        f"{exchange.ws_base}/v5/trade",
        api_key=exchange.api_key,
        api_secret=exchange.api_secret,
        recv_window=8000,
        referral_id="bybitctl-test",
        testnet=False,
        **pybit_compat.no_reconnects(retries=2),
    )
    try:
        yield ws
    finally:
        ws.exit()


def test_trade_authenticated_turns_true_when_the_login_is_accepted(trade_socket: Any) -> None:
    wait_for(lambda: pybit_compat.trade_authenticated(trade_socket))


def test_trade_headers_are_the_constructors(trade_socket: Any) -> None:
    assert pybit_compat.trade_headers(trade_socket) == {
        "X-BAPI-RECV-WINDOW": 8000,
        "Referer": "bybitctl-test",
    }


def _order_request(ws: Any, req_id: str, qty: str) -> bytes:
    header = {"X-BAPI-TIMESTAMP": int(time.time() * 1000), **pybit_compat.trade_headers(ws)}
    order = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": qty,
        "price": "1000",
        "timeInForce": "PostOnly",
    }
    message = {"reqId": req_id, "header": header, "op": "order.create", "args": [order]}
    return json.dumps(message).encode()


def test_replies_reach_the_callbacks_registered_before_sending(trade_socket: Any) -> None:
    """`expect_reply` then our own frame by `send_text` (the market maker's path)."""
    wait_for(lambda: pybit_compat.trade_authenticated(trade_socket))
    ok: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    lock = threading.Lock()

    def send(req_id: str, qty: str, *, register: bool = True, forget: bool = False) -> None:
        with lock:
            if register:
                pybit_compat.expect_reply(trade_socket, req_id, ok.append, refused.append)
            if forget:
                pybit_compat.forget_reply(trade_socket, req_id)
            pybit_compat.send_text(trade_socket, _order_request(trade_socket, req_id, qty))

    send("compat-ok", "0.01")
    send("compat-bad", "0")
    send("compat-gone", "0.01", forget=True)
    send("compat-last", "0.01")
    wait_for(lambda: [m["reqId"] for m in ok] == ["compat-ok", "compat-last"] and refused)
    assert all(m["retCode"] == 0 for m in ok)
    assert [m["reqId"] for m in refused] == ["compat-bad"] and refused[0]["retCode"] != 0
