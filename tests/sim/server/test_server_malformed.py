"""Malformed requests against the running exchange, over real loopback sockets: every one is
answered with Bybit's code (or the HTTP status a gateway gives), and the exchange keeps serving
without a traceback in its log.

Clients are plain `requests`, raw sockets (for bytes `requests` will not send) and
websocket-client; the exchange runs with `debug=True`, so a failure would log its traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.examples import examples

from bybitctl import catalog
from bybitctl.sim import SimHandle, running_exchange
from bybitctl.sim.api.exchange import ROUTES
from bybitctl.sim.api.params import bindings

from .conftest import Raw, StreamCore

pytestmark = pytest.mark.e2e

CREATE = "/v5/order/create"


class Captured(logging.Handler):
    """Every record the exchange's loggers (and aiohttp's) emit while the module runs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def failures(self, since: int = 0) -> list[str]:
        """Records from the `since`-th on that show the exchange failing: a warning or worse,
        or a traceback."""
        return [
            f"{r.name} {r.levelname} {r.getMessage()}"
            for r in self.records[since:]
            if r.levelno >= logging.WARNING or r.exc_info
        ]


@pytest.fixture(scope="module")
def server_log() -> Iterator[Captured]:
    captured = Captured()
    loggers = [logging.getLogger(name) for name in ("bybitctl.sim", "aiohttp")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.addHandler(captured)
    try:
        yield captured
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(captured)
            lg.setLevel(level)
    assert captured.failures() == []


@pytest.fixture(scope="module")
def ex(server_log: Captured) -> Iterator[SimHandle]:
    """The real exchange, tracebacks on, rate limits off (the module sends many requests)."""
    with running_exchange(seed=11, rate_limits=False, debug=True) as handle:
        yield handle


@pytest.fixture(autouse=True)
def still_serving(request: pytest.FixtureRequest, server_log: Captured) -> Iterator[None]:
    """After each test: the exchange answers, and nothing the test caused in the log shows a
    failure (the module's fixture checks the whole log once more at its end)."""
    start = len(server_log.records)
    yield
    if "ex" in request.fixturenames:
        handle = request.getfixturevalue("ex")
        assert requests.get(f"{handle.base_url}/v5/market/time", timeout=5).json()["retCode"] == 0
    assert server_log.failures(since=start) == []


# --- helpers -----------------------------------------------------------------------------


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def sign(ex: SimHandle, payload: str | bytes, *, ts: str | None = None, recv: str = "5000",
         key: str | None = None, secret: str | None = None) -> dict[str, str]:  # fmt: skip
    """Bybit's REST headers for `payload` (the body, or the query string as sent)."""
    ts = str(now_ms()) if ts is None else ts
    key = ex.api_key if key is None else key
    raw = payload.encode() if isinstance(payload, str) else payload
    message = f"{ts}{key}{recv}".encode() + raw
    digest = hmac.new((secret or ex.api_secret).encode(), message, hashlib.sha256).hexdigest()
    return {
        "X-BAPI-API-KEY": key,
        "X-BAPI-TIMESTAMP": ts,
        "X-BAPI-RECV-WINDOW": recv,
        "X-BAPI-SIGN": digest,
        "Content-Type": "application/json",
    }


def post(ex: SimHandle, path: str, body: str | bytes, **headers: str) -> requests.Response:
    """A POST of exactly `body`, signed over it; `headers` override the signed ones."""
    signed = sign(ex, body)
    signed.update({k.replace("_", "-"): v for k, v in headers.items()})
    return requests.post(f"{ex.base_url}{path}", data=body, headers=signed, timeout=10)


def post_json(ex: SimHandle, path: str, value: Any) -> dict[str, Any]:
    return post(ex, path, json.dumps(value)).json()


def get(ex: SimHandle, path: str, query: str, *, auth: bool = True) -> dict[str, Any]:
    """A GET with `query` sent as written (already encoded), signed over it."""
    headers = sign(ex, query) if auth else {}
    return requests.get(f"{ex.base_url}{path}?{query}", headers=headers, timeout=10).json()


def raw_http(ex: SimHandle, request: bytes) -> tuple[int, bytes]:
    """Send raw bytes (`Connection: close` is added to the head); (status, body) of the answer,
    read until the exchange closes the connection."""
    head, sep, body = request.partition(b"\r\n\r\n")
    wire = head + b"\r\nConnection: close" + sep + body
    host, port = ex.base_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(wire)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def raw_get(ex: SimHandle, path_query: str, headers: list[bytes]) -> tuple[int, bytes]:
    lines = [f"GET {path_query} HTTP/1.1".encode(), b"Host: sim", *headers]
    return raw_http(ex, b"\r\n".join(lines) + b"\r\n\r\n")


def order(**extra: Any) -> dict[str, Any]:
    """A valid linear limit bid far under the market (it rests), with `extra` merged in."""
    return {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
            "qty": "0.001", "price": "50000", **extra}  # fmt: skip


@pytest.fixture
def no_open_orders(ex: SimHandle) -> None:
    """No resting orders of the module's earlier tests (an account may rest 500 per symbol)."""
    assert (
        post_json(ex, "/v5/order/cancel-all", {"category": "linear", "symbol": "BTCUSDT"})[
            "retCode"
        ]
        == 0
    )


# --- signatures --------------------------------------------------------------------------

WALLET = "/v5/account/wallet-balance"
WALLET_QUERY = "accountType=UNIFIED"


def headers_with(ex: SimHandle, name: str, value: str | None) -> dict[str, str]:
    """A valid request's headers with one changed: a timestamp or window is signed as sent
    (so only it is wrong), any other header is replaced; None leaves it out."""
    if name == "X-BAPI-TIMESTAMP" and value is not None:
        moved = {"stale": now_ms() - 60_000, "ahead": now_ms() + 5_000}.get(value)
        return sign(ex, WALLET_QUERY, ts=value if moved is None else str(moved))
    if name == "X-BAPI-RECV-WINDOW" and value is not None:
        return sign(ex, WALLET_QUERY, recv=value)
    headers = sign(ex, WALLET_QUERY)
    if value is None:
        del headers[name]
    elif value == "upper":
        headers[name] = headers[name].upper()
    else:
        headers[name] = value
    return headers


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("X-BAPI-API-KEY", None, 10003),
        ("X-BAPI-API-KEY", "NOSUCHKEY000000000", 10003),
        ("X-BAPI-TIMESTAMP", None, 10002),
        ("X-BAPI-TIMESTAMP", "soon", 10002),
        ("X-BAPI-TIMESTAMP", "17e11", 10002),
        ("X-BAPI-TIMESTAMP", "-1", 10002),
        ("X-BAPI-TIMESTAMP", "9" * 30, 10002),
        ("X-BAPI-TIMESTAMP", "stale", 10002),
        ("X-BAPI-TIMESTAMP", "ahead", 10002),
        ("X-BAPI-RECV-WINDOW", "-5000", 10002),
        ("X-BAPI-RECV-WINDOW", "5s", 10002),
        ("X-BAPI-RECV-WINDOW", "9" * 25, 10002),
        ("X-BAPI-SIGN", None, 10004),
        ("X-BAPI-SIGN", "0" * 64, 10004),
        ("X-BAPI-SIGN", "short", 10004),
        ("X-BAPI-SIGN", "ab" * 100, 10004),
        ("X-BAPI-SIGN-TYPE", "1", 10004),
        ("X-BAPI-SIGN-TYPE", "RSA", 10004),
        ("X-BAPI-SIGN-TYPE", "2", 0),
        ("X-BAPI-SIGN", "upper", 0),
    ],
)
def test_signature_headers_answer_bybit_codes(ex, name, value, code):
    headers = headers_with(ex, name, value)
    url = f"{ex.base_url}{WALLET}?{WALLET_QUERY}"
    assert requests.get(url, headers=headers, timeout=10).json()["retCode"] == code


NON_ASCII = ["é".encode(), "€".encode(), b"\xff\xfe", "١٧٠٠٠٠٠٠٠٠٠٠٠".encode()]


@pytest.mark.parametrize("raw", NON_ASCII)
@pytest.mark.parametrize(
    ("header", "code"),
    [
        (b"X-BAPI-API-KEY", 10003),
        (b"X-BAPI-TIMESTAMP", 10002),
        (b"X-BAPI-RECV-WINDOW", 10002),
        (b"X-BAPI-SIGN", 10004),
        (b"X-BAPI-SIGN-TYPE", 10004),
    ],
)
def test_non_ascii_signature_headers(ex, header, code, raw):
    """Bytes outside ASCII (UTF-8, Latin-1, Arabic-Indic digits that Python's int() would
    read) in one header; the others are those of a valid request."""
    good = sign(ex, WALLET_QUERY)
    lines = [
        name.encode() + b": " + (raw if name.encode() == header else value.encode())
        for name, value in good.items()
    ]
    if header == b"X-BAPI-SIGN-TYPE":
        lines.append(header + b": " + raw)
    status, body = raw_get(ex, f"{WALLET}?{WALLET_QUERY}", lines)
    assert status == 200
    assert json.loads(body)["retCode"] == code


def test_get_signature_is_over_the_query_as_sent(ex):
    """Encoded on the wire, signed as encoded: verifies. Signed decoded: 10004."""
    query = "accountType=UNIFIED&coin=USDT%2CBTC"
    assert get(ex, WALLET, query)["retCode"] == 0
    decoded = sign(ex, "accountType=UNIFIED&coin=USDT,BTC")
    reply = requests.get(f"{ex.base_url}{WALLET}?{query}", headers=decoded, timeout=10)
    assert reply.json()["retCode"] == 10004


# --- bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{", "not valid JSON"),
        (b"garbage", "not valid JSON"),
        (b'{"category": "linear",}', "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b'{"qty": "\xff"}', "not valid JSON"),
        (b"category=linear&symbol=BTCUSDT", "not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"order"', "must be a JSON object"),
        (b"5", "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b"", "missing required parameter 'category'"),
        (b"{}", "missing required parameter 'category'"),
    ],
)
def test_bodies_that_are_not_a_json_object(ex, body, words):
    reply = post(ex, CREATE, body).json()
    assert reply["retCode"] == 10001
    assert words in reply["retMsg"]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('"qty": 1e99999', "qty"),
        ('"qty": NaN', "qty"),
        ('"price": Infinity', "price"),
        ('"price": -Infinity', "price"),
        ('"smpType": [1, {"x": NaN}]', "smpType"),
    ],
)
def test_numbers_json_cannot_carry_are_named(ex, text, field):
    """orjson refuses these numbers; the answer still names the parameter holding one."""
    body = json.dumps(order())[:-1] + ", " + text + "}"
    reply = post(ex, CREATE, body).json()
    assert reply["retCode"] == 10001
    assert reply["retMsg"].startswith(f"params error: {field} holds ")


def test_nesting_json_allows_is_no_trouble(ex, no_open_orders):
    """A deep value under a parameter the catalogue types is refused; under one it does not
    know, it is ignored, as Bybit ignores unknown fields."""
    deep: Any = "x"
    for _ in range(500):
        deep = [deep]
    assert post_json(ex, CREATE, order(orderLinkId=deep))["retMsg"].startswith(
        "params error: orderLinkId must be a string"
    )
    placed = post_json(ex, CREATE, order(unknownField=deep))
    assert placed["retCode"] == 0


def test_content_type_and_encoding(ex, no_open_orders):
    """The body is read as JSON whatever its Content-Type says; a content encoding that does
    not decode is the gateway's 400."""
    reply = post(ex, CREATE, json.dumps(order()), Content_Type="text/plain")
    assert reply.json()["retCode"] == 0
    broken = post(ex, CREATE, b"not gzip at all", Content_Encoding="gzip")
    assert broken.status_code == 400


def test_a_huge_body_is_413(ex):
    body = json.dumps(order(orderLinkId="x" * (2 << 20)))
    assert post(ex, CREATE, body).status_code == 413


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /v5/order/create HTTP/1.1\r\nHost: sim\r\nContent-Length: abc\r\n\r\n{}",
        b"POST /v5/order/create HTTP/1.1\r\nHost: sim\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\nhello\r\n0\r\n\r\n",
        b"GET /v5/market/time?a=\xc3\xa9 HTTP/1.1\r\nHost: sim\r\n\r\n",
        b"GET /v5/market/time?" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: sim\r\n\r\n",
        b"GET /v5/market/time HTTP/1.1\r\nHost: sim\r\nX-Big: " + b"h" * 10_000 + b"\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not HTTP\r\n\r\n",
    ],
)
def test_http_the_parser_refuses_is_400(ex, request_bytes):
    """Broken HTTP (a bad length, chunk, URL byte, over-long line or header, TLS bytes on the
    plain port) is answered 400 by the HTTP layer and logged as the client's error."""
    status, _ = raw_http(ex, request_bytes)
    assert status == 400


# --- types, from the catalogue -----------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"reduceOnly": "yes"}, "reduceOnly"),
        ({"reduceOnly": 1}, "reduceOnly"),
        ({"orderLinkId": {"id": 1}}, "orderLinkId"),
        ({"smpType": 5}, "smpType"),
        ({"qty": 0.001}, "qty"),
        ({"price": 50000}, "price"),
        ({"positionIdx": "0"}, "positionIdx"),
        ({"positionIdx": 1.5}, "positionIdx"),
        ({"positionIdx": 2**64}, "positionIdx"),
        ({"triggerDirection": True}, "triggerDirection"),
        ({"qty": "1e99999"}, "qty"),
        ({"qty": "NaN"}, "qty"),
        ({"price": "Infinity"}, "price"),
        ({"price": "1" * 100}, "price"),
        ({"qty": "0." + "1" * 40}, "qty"),
        ({"qty": "٣"}, "qty"),
        ({"qty": " 1"}, "qty"),
        ({"qty": "1_000"}, "qty"),
        ({"qty": "-1"}, "qty"),
        ({"qty": "-0.001", "category": "spot"}, "qty"),
        ({"price": "-50000"}, "price"),
        ({"takeProfit": "-1"}, "takeProfit"),
    ],
)
def test_wrongly_typed_or_absurd_fields_are_10001_naming_them(ex, extra, field):
    reply = post_json(ex, CREATE, order(**extra))
    assert reply["retCode"] == 10001
    assert reply["retMsg"].startswith(f"params error: {field} ")


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/v5/market/orderbook", "category=linear&symbol=BTCUSDT&limit=%D9%A3", "limit"),
        ("/v5/market/orderbook", "category=linear&symbol=BTCUSDT&limit=1_0", "limit"),
        ("/v5/market/orderbook", "category=linear&symbol=BTCUSDT&limit=1e3", "limit"),
        ("/v5/market/orderbook", "category=linear&symbol=BTCUSDT&limit=" + "9" * 30, "limit"),
        ("/v5/market/orderbook", "category=linear&symbol=BTCUSDT&limit=0", "limit"),
        ("/v5/market/kline", "category=linear&symbol=BTCUSDT&interval=M&end=-9", "end"),
        ("/v5/market/kline", "category=linear&symbol=BTCUSDT&interval=1&start=NaN", "start"),
        ("/v5/affiliate/aff-user-list", "needDeposit=yes", "needDeposit"),
        ("/v5/position/move-history", "startTime=1e5", "startTime"),
    ],
)
def test_query_values_are_typed_too(ex, path, query, field):
    reply = get(ex, path, query)
    assert reply["retCode"] == 10001
    assert reply["retMsg"].startswith(f"params error: {field} ")


WRONG: dict[str, st.SearchStrategy[Any]] = {
    "string": st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(),
                        st.lists(st.text(max_size=3), max_size=2), st.just({"a": 1})),
    "decimal": st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(),
                         st.sampled_from(["1e5", "NaN", "-Infinity", "0x10", "1,5", "1.2.3",
                                          "9" * 19, "1." + "0" * 19, "abc", " 5", "٥"])),
    "integer": st.one_of(st.text(max_size=4), st.booleans(), st.floats(allow_nan=False),
                         st.integers(min_value=2**63), st.just([1])),
    "number": st.one_of(st.text(max_size=4), st.booleans(), st.just({"n": 1}),
                        st.just(10.0**19)),
    "boolean": st.one_of(st.integers(), st.sampled_from(["true", "false", "yes", "1", ""]),
                         st.just([True])),
    "array": st.one_of(st.integers(), st.text(max_size=3), st.booleans()),
    "object": st.one_of(st.integers(), st.text(max_size=3), st.booleans()),
}  # fmt: skip
"""JSON values that are not of each catalogue type."""

PER_TEST_FIXTURES = [HealthCheck.function_scoped_fixture]
"""The per-test log check runs once around all of a property's examples, which is enough."""

TYPED_POST = sorted(
    (key, name, kind)
    for key, bound in bindings().items()
    if key[0] == "POST"
    for name, kind in bound.types.items()
)
"""Every (route, parameter, type) of a POST route, from the catalogue."""


def filler(kind: str) -> Any:
    """A well-typed value of a catalogue type."""
    return {"string": "BTCUSDT", "decimal": "1", "integer": 1, "number": 1, "boolean": True,
            "array": [], "object": {}}[kind]  # fmt: skip


@settings(max_examples=examples(120), deadline=None, suppress_health_check=PER_TEST_FIXTURES)
@given(data=st.data())
def test_any_wrongly_typed_post_parameter_is_10001_naming_it(ex, data):
    """Over every POST route of the catalogue (modelled or not): one parameter of the wrong
    JSON type, the required ones well typed, answers 10001 naming that parameter, before any
    exchange rule looks at the request."""
    (method, path), name, kind = data.draw(st.sampled_from(TYPED_POST))
    bound = bindings()[(method, path)]
    body = {n: filler(bound.types.get(n, "string")) for n in bound.required}
    body[name] = data.draw(WRONG[kind])
    reply = post_json(ex, path, body)
    assert reply.get("retCode") == 10001, (path, body, reply)
    assert reply["retMsg"].startswith(f"params error: {name} "), (path, body, reply)


RIGHT: dict[str, st.SearchStrategy[Any]] = {
    "string": st.sampled_from(["", "BTCUSDT", "ETHUSDT", "Buy", "Sell", "Limit", "Market", "x",
                               "linear", "spot", "GTC", "PostOnly", "é" * 40]),
    "decimal": st.one_of(st.sampled_from(["", "0", "-0", "1", "0.001", "50000", ".5", "5.",
                                          "999999999999999999.999999999999999999"]),
                         st.decimals(allow_nan=False, allow_infinity=False, places=3,
                                     min_value=-10**6, max_value=10**6).map(str)),
    "integer": st.one_of(st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1),
                         st.sampled_from([0, 1, 2, 3])),
    "number": st.one_of(st.integers(min_value=-(10**17), max_value=10**17),
                        st.floats(min_value=-1e17, max_value=1e17)),
    "boolean": st.booleans(),
    "array": st.sampled_from([[], [{}], [order()], ["x"], {}]),
    "object": st.sampled_from([{}, {"a": 1}, []]),
}  # fmt: skip
"""Well-typed values, odd ones included (edges of 64 bits, 36-digit decimals, zero)."""

MODELLED = sorted(ROUTES)
"""Every route the exchange's core answers itself."""


def as_text(value: Any) -> str:
    """A well-typed value as a query string carries it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


@settings(max_examples=examples(200), deadline=None, suppress_health_check=PER_TEST_FIXTURES)
@given(data=st.data())
def test_well_typed_values_meet_exchange_rules_not_errors(ex, data):
    """Well-typed but odd values reach the exchange's own rules on every modelled route, which
    answer with a Bybit code, never 10016 (and the log check catches any traceback)."""
    key = data.draw(st.sampled_from(MODELLED))
    bound = bindings()[key]
    values: dict[str, Any] = order() if key[1] in (CREATE, "/v5/order/pre-check") else {}
    values.setdefault("category", "linear")
    values.setdefault("symbol", "BTCUSDT")
    names = data.draw(st.lists(st.sampled_from(sorted(bound.types) or ["symbol"]), max_size=4,
                               unique=True))  # fmt: skip
    for name in names:
        values[name] = data.draw(RIGHT[bound.types.get(name, "string")])
    if key[0] == "GET":
        query = urlencode({k: as_text(v) for k, v in values.items()}, quote_via=quote)
        reply = get(ex, key[1], query)
    else:
        reply = post_json(ex, key[1], values)
    assert isinstance(reply["retCode"], int) and isinstance(reply["retMsg"], str)
    assert reply["retCode"] != 10016, (key, values, reply)


# --- batches -----------------------------------------------------------------------------


def open_ids(ex: SimHandle) -> set[str]:
    rows = get(ex, "/v5/order/realtime", "category=linear&symbol=BTCUSDT&limit=50")
    return {o["orderId"] for o in rows["result"]["list"]}


def test_create_batch_answers_per_item(ex, no_open_orders):
    good = {k: v for k, v in order().items() if k != "category"}
    reply = post_json(ex, "/v5/order/create-batch", {"category": "linear", "request": [
        {**good, "orderLinkId": "mix-1"},
        {**good, "qty": 0.001},                 # a number where Bybit takes a string
        {**good, "price": "50000.05"},          # off the tick grid
        "not an object",
        {**good, "orderLinkId": {"id": 2}},     # an object where a string goes
        {**good, "qty": "NaN"},
        {k: v for k, v in good.items() if k != "side"},
        {**good, "orderLinkId": "mix-2"},
    ]})  # fmt: skip
    assert reply["retCode"] == 0
    codes = [item["code"] for item in reply["retExtInfo"]["list"]]
    assert codes == [0, 10001, 10001, 10001, 10001, 10001, 10001, 0]
    messages = [item["msg"] for item in reply["retExtInfo"]["list"]]
    assert messages[1].startswith("params error: qty must be")
    assert messages[4].startswith("params error: orderLinkId must be")
    assert messages[6] == "params error: missing required parameter 'side'"
    rows = reply["result"]["list"]
    placed = [rows[0]["orderId"], rows[7]["orderId"]]
    assert all(placed) and [r["orderLinkId"] for r in (rows[0], rows[7])] == ["mix-1", "mix-2"]
    assert all(r["orderId"] == "" for r in rows[1:7])
    assert rows[4]["orderLinkId"] == "" and rows[3]["symbol"] == ""
    assert set(placed) <= open_ids(ex)


def test_amend_and_cancel_batches_answer_per_item(ex, no_open_orders):
    placed = post_json(ex, CREATE, order(orderLinkId="amend-me"))["result"]["orderId"]
    reply = post_json(ex, "/v5/order/amend-batch", {"category": "linear", "request": [
        {"symbol": "BTCUSDT", "orderId": placed, "qty": 0.002},
        {"symbol": "BTCUSDT", "orderId": placed, "qty": "0.002"},
        {"symbol": "BTCUSDT", "orderId": ["x"]},
        {"orderId": placed, "qty": "0.003"},
    ]})  # fmt: skip
    assert [i["code"] for i in reply["retExtInfo"]["list"]] == [10001, 0, 10001, 10001]
    reply = post_json(ex, "/v5/order/cancel-batch", {"category": "linear", "request": [
        {"symbol": "BTCUSDT", "orderLinkId": 7},
        {"symbol": "BTCUSDT", "orderLinkId": "amend-me"},
        [],
    ]})  # fmt: skip
    assert [i["code"] for i in reply["retExtInfo"]["list"]] == [10001, 0, 10001]
    assert placed not in open_ids(ex)


@pytest.mark.parametrize(
    "request_value", [{"symbol": "BTCUSDT"}, [], "orders", [order()] * 21, None]
)
def test_a_batch_that_is_not_a_list_of_orders_fails_whole(ex, request_value):
    reply = post_json(ex, "/v5/order/create-batch", {"category": "linear",
                                                     "request": request_value})  # fmt: skip
    assert reply["retCode"] == 10001


# --- fault specs -------------------------------------------------------------------------

KEPT = "skew:+0ms"


@pytest.mark.parametrize(
    "spec",
    [
        b"bogus",
        b"http5xx:2.5",
        b"http5xx:abc",
        b"http5xx:1e-1",
        b"slow",
        b"slow:-1s",
        b"slow:9999999999m",
        "skew:\u0663s".encode(),
        b"http5xx:\xc2\xb2",
        b"drop_ws@@1s",
        b",".join([b"snapshot"] * 65),
        b"\xff\xfe",
        b"snapshot:" + b"9" * 5000,
    ],
)
def test_a_bad_fault_spec_is_400_and_changes_nothing(ex, spec):
    url = f"{ex.base_url}/_sim/faults"
    assert requests.post(url, data=KEPT, timeout=10).json()["spec"] == KEPT
    try:
        refused = requests.post(url, data=spec, timeout=10)
        assert refused.status_code == 400
        assert refused.json()["error"]
        assert requests.get(url, timeout=10).json()["spec"] == KEPT
    finally:
        assert requests.delete(url, timeout=10).json()["spec"] == ""


# --- slow clients ------------------------------------------------------------------------


@pytest.fixture
def impatient(server_log: Captured) -> Iterator[SimHandle]:
    """An exchange that drops a connection not delivering a whole request within 0.3 s."""
    with running_exchange(core=StreamCore(), client_timeout=0.3, debug=True) as handle:
        yield handle


def test_slow_headers_are_dropped_while_others_are_served(impatient):
    host, port = impatient.base_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as slow:
        slow.sendall(b"GET /v5/market/time HTTP/1.1\r\nHost: sim\r\nX-Slow: a")
        served = requests.get(f"{impatient.base_url}/v5/market/time", timeout=10)
        assert served.status_code == 200
        assert slow.recv(1024) == b""  # closed by the exchange, nothing answered


def test_a_slow_body_is_408(impatient):
    host, port = impatient.base_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as slow:
        slow.sendall(b"POST /v5/order/create HTTP/1.1\r\nHost: sim\r\nContent-Length: 100\r\n"
                     b"Content-Type: application/json\r\n\r\n{\"category\"")  # fmt: skip
        answer = b""
        while chunk := slow.recv(1024):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 ")


# --- WebSockets --------------------------------------------------------------------------


def ws_auth_args(ex: SimHandle, expires: Any = None, signature: Any = None) -> list[Any]:
    expires = now_ms() + 10_000 if expires is None else expires
    if signature is None:
        message = f"GET/realtime{expires}".encode()
        signature = hmac.new(ex.api_secret.encode(), message, hashlib.sha256).hexdigest()
    return [ex.api_key, expires, signature]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (lambda ex: "not a list", 10001),
        (lambda ex: ws_auth_args(ex)[:2], 10001),
        (lambda ex: [5, *ws_auth_args(ex)[1:]], 10003),
        (lambda ex: [{"k": 1}, *ws_auth_args(ex)[1:]], 10003),
        (lambda ex: ["ключ", *ws_auth_args(ex)[1:]], 10003),
        (lambda ex: ws_auth_args(ex, expires="soon"), 10002),
        (lambda ex: ws_auth_args(ex, expires="\u0661" * 13), 10002),
        (lambda ex: ws_auth_args(ex, expires=1.7e12), 10002),
        (lambda ex: ws_auth_args(ex, expires=[1]), 10002),
        (lambda ex: ws_auth_args(ex, expires=now_ms() - 1000), 10002),
        (lambda ex: ws_auth_args(ex, expires=2**70), 10002),
        (lambda ex: ws_auth_args(ex, signature="é" * 64), 10004),
        (lambda ex: ws_auth_args(ex, signature="ab"), 10004),
        (lambda ex: ws_auth_args(ex, signature=12345), 10004),
        (lambda ex: ws_auth_args(ex, signature=None), 0),
        (lambda ex: ws_auth_args(ex, expires=str(now_ms() + 10_000)), 0),
    ],
)
def test_trade_socket_auth_answers_bybit_codes(ex, args, code):
    sock = Raw(f"{ex.ws_base}/v5/trade")
    try:
        sock.send({"op": "auth", "args": args(ex)})
        reply = sock.recv()
        assert reply["op"] == "auth" and reply["retCode"] == code, reply
        sock.send({"op": "ping"})
        assert sock.recv()["op"] == "pong"
    finally:
        sock.close()


def test_private_socket_auth_refuses_malformed_args(ex):
    sock = Raw(f"{ex.ws_base}/v5/private")
    try:
        for bad in ([5, 1, "x"], ws_auth_args(ex, signature="€" * 64), ws_auth_args(ex, "x")):
            sock.send({"op": "auth", "args": bad, "req_id": "a"})
            reply = sock.recv()
            assert reply["op"] == "auth" and reply["success"] is False and reply["ret_msg"]
        sock.send({"op": "auth", "args": ws_auth_args(ex), "req_id": "ok"})
        assert sock.recv()["success"] is True
    finally:
        sock.close()


def test_websocket_messages_that_are_not_requests(ex):
    """Text that is not a JSON object, ids that are not scalars, deep values and unknown ops
    are answered on the same connection, which keeps working."""
    public = Raw(f"{ex.ws_base}/v5/public/linear")
    try:
        deep: Any = "x"
        for _ in range(300):
            deep = [deep]
        messages = [
            "{",
            "[]",
            "5",
            json.dumps({"op": "ping", "req_id": deep}),
            json.dumps({"op": "ping", "req_id": {"a": 1}}),
            json.dumps({"op": deep}),
            json.dumps({"op": "subscribe", "args": deep}),
            json.dumps({"op": "subscribe", "args": ["orderbook.1.NOPE", 5]}),
        ]
        for message in messages:
            public.sock.send(message)
            assert public.recv()["success"] is False
        public.send({"op": "ping", "req_id": "alive"})
        assert public.recv()["ret_msg"] == "pong"
    finally:
        public.close()


def test_an_unknown_websocket_subprotocol_is_ignored(ex):
    """A client asking for a subprotocol gets its connection without one, as from Bybit, and
    no warning is logged for it."""
    host, port = ex.base_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        handshake = [
            b"GET /v5/public/linear HTTP/1.1",
            b"Host: sim",
            b"Upgrade: websocket",
            b"Connection: Upgrade",
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            b"Sec-WebSocket-Version: 13",
            b"Sec-WebSocket-Protocol: mqtt",
        ]
        raw.sendall(b"\r\n".join(handshake) + b"\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += raw.recv(1024)
    assert head.startswith(b"HTTP/1.1 101 ")
    assert b"sec-websocket-protocol" not in head.lower()


def test_trade_ops_are_bound_like_rest(ex, no_open_orders):
    trade = Raw(f"{ex.ws_base}/v5/trade")
    try:
        trade.send({"op": "auth", "args": ws_auth_args(ex)})
        assert trade.recv()["retCode"] == 0
        header = {"X-BAPI-TIMESTAMP": str(now_ms())}
        cases = [
            ({"reqId": ["r"], "op": "order.create", "header": header, "args": [order()]}, 10001),
            ({"reqId": "r1", "op": {"o": 1}, "header": header, "args": [order()]}, 10404),
            ({"reqId": "r2", "op": "order.create", "header": {"X-BAPI-TIMESTAMP": "١٢"},
              "args": [order()]}, 10002),
            ({"reqId": "r3", "op": "order.create", "header": header,
              "args": [order(qty=0.001)]}, 10001),
            ({"reqId": "r4", "op": "order.create", "header": header,
              "args": [order(reduceOnly="yes")]}, 10001),
            ({"reqId": "r5", "op": "order.create-batch", "header": header,
              "args": [{"category": "linear", "request": [
                  {k: v for k, v in order().items() if k != "category"}, {"qty": "NaN"}]}]}, 0),
        ]  # fmt: skip
        for message, code in cases:
            trade.send(message)
            reply = trade.recv()
            assert reply["retCode"] == code, (message, reply)
        assert [i["code"] for i in reply["retExtInfo"]["list"]] == [0, 10001]
        assert reply["data"]["list"][0]["orderId"] in open_ids(ex)
    finally:
        trade.close()


# --- the catalogue ----------------------------------------------------------------------


def test_catalogue_and_bindings_agree():
    """The binding is the catalogue's data: every route, every parameter, its type."""
    for endpoint in catalog.load():
        bound = bindings()[(endpoint.http_method, endpoint.path)]
        for param in endpoint.params:
            assert bound.types[param.name] == param.type
