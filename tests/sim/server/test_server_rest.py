"""REST auth, validation, rate limits and breadth, checked with unmodified pybit over loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError

from bybitctl import catalog
from bybitctl.sim import running_exchange

from .conftest import StreamCore, http

pytestmark = pytest.mark.e2e


def signed_get(ex, path: str, query: str, *, timestamp: int | None = None, secret=None, key=None):
    """A GET signed exactly as pybit signs, but with a timestamp of our choosing."""
    ts = str(int(time.time() * 1000) if timestamp is None else timestamp)
    key = key or ex.api_key
    payload = f"{ts}{key}5000{query}"
    sign = hmac.new((secret or ex.api_secret).encode(), payload.encode(), hashlib.sha256)
    headers = {
        "X-BAPI-API-KEY": key,
        "X-BAPI-SIGN": sign.hexdigest(),
        "X-BAPI-TIMESTAMP": ts,
        "X-BAPI-RECV-WINDOW": "5000",
    }
    return requests.get(f"{ex.base_url}{path}?{query}", headers=headers, timeout=5)


def test_signed_get_and_post_pass(exchange):
    session = http(exchange)
    wallet = session.get_wallet_balance(accountType="UNIFIED")
    assert wallet["retCode"] == 0
    assert isinstance(wallet["time"], int)
    assert abs(wallet["time"] - time.time() * 1000) < 5000
    margin = session.set_margin_mode(setMarginMode="REGULAR_MARGIN")
    assert margin["retCode"] == 0


def test_timestamp_outside_window_is_10002(exchange):
    old = int(time.time() * 1000) - 60_000
    response = signed_get(
        exchange, "/v5/account/wallet-balance", "accountType=UNIFIED", timestamp=old
    )
    body = response.json()
    assert body["retCode"] == 10002
    assert "recv_window" in body["retMsg"]
    future = int(time.time() * 1000) + 5_000
    ahead = signed_get(
        exchange, "/v5/account/wallet-balance", "accountType=UNIFIED", timestamp=future
    )
    assert ahead.json()["retCode"] == 10002


def test_unknown_key_is_10003_and_wrong_secret_is_10004(exchange):
    with pytest.raises(InvalidRequestError) as unknown:
        http(exchange, key="NOSUCHKEY0000000", secret="x").get_positions(category="linear")
    assert unknown.value.status_code == 10003
    with pytest.raises(InvalidRequestError) as bad:
        http(exchange, secret="wrong-secret").get_positions(category="linear")
    assert bad.value.status_code == 10004


def test_signature_covers_the_raw_query_string(exchange):
    good = signed_get(exchange, "/v5/position/list", "category=linear&symbol=BTCUSDT")
    assert good.json()["retCode"] == 0
    headers = dict(good.request.headers)
    tampered = requests.get(
        f"{exchange.base_url}/v5/position/list?category=linear&symbol=ETHUSDT",
        headers={k: v for k, v in headers.items() if k.startswith("X-BAPI")},
        timeout=5,
    )
    assert tampered.json()["retCode"] == 10004


def test_get_signature_covers_the_query_as_sent(exchange):
    """The exchange verifies a GET over the query string exactly as it arrived, as Bybit
    does: the encoded form a client puts on the wire verifies; a signature over the decoded
    form (what unmodified pybit signs, `coin=USDT BTC`, before `requests` sends
    `coin=USDT%20BTC`) is 10004, and so is a value changed after signing."""
    query = "accountType=UNIFIED&coin=USDT%2CBTC"
    signed = signed_get(exchange, "/v5/account/wallet-balance", query)
    assert signed.json()["retCode"] == 0
    assert exchange.received[-1]["query"]["coin"] == "USDT,BTC"
    headers = {k: v for k, v in dict(signed.request.headers).items() if k.startswith("X-BAPI")}
    tampered = requests.get(
        f"{exchange.base_url}/v5/account/wallet-balance?{query}%2CETH",
        headers=headers,
        timeout=5,
    )
    assert tampered.json()["retCode"] == 10004
    with pytest.raises(InvalidRequestError) as decoded:
        http(exchange).get_wallet_balance(accountType="UNIFIED", coin="USDT BTC")
    assert decoded.value.status_code == 10004
    assert http(exchange).get_wallet_balance(accountType="UNIFIED", coin="USDT")["retCode"] == 0


def test_post_signature_covers_the_raw_body(exchange):
    ts = str(int(time.time() * 1000))
    body = '{"setMarginMode": "REGULAR_MARGIN"}'
    sign = hmac.new(
        exchange.api_secret.encode(), f"{ts}{exchange.api_key}5000{body}".encode(), hashlib.sha256
    ).hexdigest()
    headers = {
        "X-BAPI-API-KEY": exchange.api_key,
        "X-BAPI-SIGN": sign,
        "X-BAPI-TIMESTAMP": ts,
        "X-BAPI-RECV-WINDOW": "5000",
        "Content-Type": "application/json",
    }
    url = f"{exchange.base_url}/v5/account/set-margin-mode"
    assert requests.post(url, data=body, headers=headers, timeout=5).json()["retCode"] == 0
    reformatted = json.dumps(json.loads(body), separators=(",", ":"))
    assert (
        requests.post(url, data=reformatted, headers=headers, timeout=5).json()["retCode"] == 10004
    )


def test_readonly_key_cannot_write_but_can_read(exchange):
    session = http(exchange, key=exchange.readonly_key, secret=exchange.readonly_secret)
    assert session.get_wallet_balance(accountType="UNIFIED")["retCode"] == 0
    with pytest.raises(InvalidRequestError) as denied:
        session.place_order(
            category="linear", symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.001"
        )
    assert denied.value.status_code == 10005


def test_missing_required_parameter_is_10001_naming_it(exchange):
    with pytest.raises(InvalidRequestError) as missing:
        http(exchange).get_orderbook(category="linear")
    assert missing.value.status_code == 10001
    assert "symbol" in missing.value.message
    with pytest.raises(InvalidRequestError) as missing_post:
        http(exchange).place_order(category="linear", symbol="BTCUSDT", side="Buy", qty="1")
    assert "orderType" in missing_post.value.message


def test_unknown_path_is_http_404(exchange):
    response = requests.get(f"{exchange.base_url}/v5/market/no-such-thing", timeout=5)
    assert response.status_code == 404
    with pytest.raises(FailedRequestError) as failed:
        http(exchange)._submit_request(method="GET", path=f"{exchange.base_url}/v5/nope")
    assert failed.value.status_code == 404


def test_rate_limit_answers_10006_with_headers():
    with running_exchange(core=StreamCore()) as ex:
        session = http(ex, return_response_headers=True)
        _, _, headers = session.get_account_info()
        assert headers["X-Bapi-Limit"] == "50"
        assert headers["X-Bapi-Limit-Status"] == "49"
        statuses = []
        for _ in range(12):
            response = signed_get(ex, "/v5/account/fee-rate", "category=linear")
            statuses.append((response.json()["retCode"], response.headers))
        codes = [code for code, _ in statuses]
        assert codes[:10] == [0] * 10
        assert codes[10] == 10006
        limited = statuses[10][1]
        assert limited["X-Bapi-Limit"] == "10"
        assert limited["X-Bapi-Limit-Status"] == "0"
        reset = int(limited["X-Bapi-Limit-Reset-Timestamp"])
        assert time.time() * 1000 - 100 < reset <= time.time() * 1000 + 1000
        # pybit sleeps until the reset timestamp and retries: the call then succeeds
        patient = http(ex, retry_codes={10006}, max_retries=3)
        assert patient.get_fee_rates(category="linear")["retCode"] == 0


def test_received_log_redacts_credentials(exchange):
    http(exchange).get_positions(category="linear", symbol="BTCUSDT")
    entry = next(e for e in reversed(exchange.received) if e["path"] == "/v5/position/list")
    assert entry["method"] == "GET"
    assert entry["query"] == {"category": "linear", "symbol": "BTCUSDT"}
    assert entry["headers"]["X-BAPI-API-KEY"] == "***"
    assert entry["headers"]["X-BAPI-SIGN"] == "***"
    assert exchange.api_secret not in json.dumps(exchange.received)


def test_rsa_key_signs_rest_requests(exchange):
    from Crypto.PublicKey import RSA

    private = RSA.generate(2048)
    exchange.add_key("RSAKEY00000000001", private.publickey().export_key().decode(), rsa=True)
    session = http(exchange, key="RSAKEY00000000001", secret=private.export_key().decode())
    session.rsa_authentication = True
    assert session.get_positions(category="linear", symbol="BTCUSDT")["retCode"] == 0
    other = RSA.generate(2048).export_key().decode()
    forged = http(exchange, key="RSAKEY00000000001", secret=other)
    forged.rsa_authentication = True
    with pytest.raises(InvalidRequestError) as bad:
        forged.get_positions(category="linear", symbol="BTCUSDT")
    assert bad.value.status_code == 10004


SERVER_LEVEL = {10002, 10003, 10004, 10005, 10006, 10016}


def _value(param: catalog.Param):
    placeholder = {"string": "BTCUSDT", "integer": 1, "number": 1, "decimal": "1", "boolean": True}
    if param.enum:  # the catalogue writes enums as text, an integer's too
        return int(param.enum[0]) if param.type == "integer" else param.enum[0]
    if param.type == "array":
        return []
    if param.type == "object":
        return {}
    return placeholder[param.type]


def test_every_catalogue_route_answers(exchange):
    """Each route, called with its documented example (required gaps filled), passes auth and
    parameter validation; a route the core does not model answers with the documented example."""
    session = http(exchange)
    failures = []
    for endpoint in catalog.load():
        sample = catalog.example(endpoint.http_method, endpoint.path) or {}
        params = dict(sample.get("request") or {})
        for param in endpoint.params:
            if param.required and param.name not in params:
                params[param.name] = _value(param)
        for name in endpoint.required:
            params.setdefault(name, "BTCUSDT")
        for param in endpoint.params:
            # a few documented examples send a number where the parameter table says string
            if param.type == "string" and isinstance(params.get(param.name), int | float):
                params[param.name] = str(params[param.name])
        if endpoint.http_method == "GET":
            # pybit signs values unencoded; Bybit's docs ask for spaces sent as %20
            params = {
                k: v.replace(" ", "%20") if isinstance(v, str) else v for k, v in params.items()
            }
        route = f"{endpoint.http_method} {endpoint.path}"
        try:
            body = session._submit_request(
                method=endpoint.http_method,
                path=exchange.base_url + endpoint.path,
                query=params,
                auth=endpoint.auth,
            )
        except InvalidRequestError as exc:
            binding = "missing required" in exc.message or " must be " in exc.message
            if exc.status_code in SERVER_LEVEL or binding:
                failures.append((route, exc.status_code, exc.message))
            continue
        except FailedRequestError as exc:
            failures.append((route, exc.status_code, exc.message))
            continue
        code = body.get("retCode", body.get("ret_code"))  # P2P answers in the older shape
        documented = (sample.get("response") or {}).get("result")
        if code != 0 or (documented is not None and body.get("result") is None):
            failures.append((route, code, body))
    assert failures == []


def test_multipart_upload_is_signed_over_the_raw_body(exchange):
    answer = http(exchange).upload_chat_file(upload_file=b"\x89PNG fake", filename="a.png")
    assert answer["ret_code"] == 0
    with pytest.raises(InvalidRequestError) as bad:
        http(exchange, secret="wrong").upload_chat_file(upload_file=b"x", filename="a.png")
    assert bad.value.status_code == 10004
