"""Every injectable fault is observable by a client, and the SPEC grammar is strict."""

from __future__ import annotations

import time

import pytest
import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError

from bybitctl.sim import running_exchange
from bybitctl.sim.net.faults import parse_spec

from .conftest import StreamCore, http

pytestmark = pytest.mark.e2e


def test_spec_grammar():
    faults = parse_spec("drop_ws@2s, skip_u:once,http5xx:0.1,ratelimit:3s,skew:-5s,slow:250ms")
    assert [f.name for f in faults] == ["drop_ws", "skip_u", "http5xx", "ratelimit", "skew", "slow"]
    assert faults[0].delay_ms == 2000 and faults[1].count == 1
    assert faults[2].probability == 0.1 and faults[3].duration_ms == 3000
    assert faults[4].duration_ms == -5000 and faults[5].duration_ms == 250
    assert parse_spec("") == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("explode", "unknown fault"),
        ("skip_u:0.5", "takes count"),
        ("http5xx:1.5", "probability"),
        ("slow", "takes duration"),
        ("refuse:-1s", "positive duration"),
        ("maintenance", "takes duration"),
        ("drop_ws@soon", "not a duration"),
        ("skew:abc", "bad argument"),
    ],
)
def test_spec_errors_name_the_problem(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_spec(spec)


def book_stream(raw_ws, ex):
    conn = raw_ws(f"{ex.ws_base}/v5/public/linear")
    conn.send({"op": "subscribe", "args": ["orderbook.50.BTCUSDT"]})
    assert conn.recv()["success"] is True
    assert conn.recv()["type"] == "snapshot"
    return conn


def steps_after_fault(conn, ex, spec: str, n: int = 6) -> list[int]:
    """Differences of consecutive update ids from the first irregular one, plus `n` more.

    Deltas already queued when the fault is set arrive first, so skip ahead to the anomaly.
    """
    last = conn.recv()["data"]["u"]
    ex.set_faults(spec)
    for _ in range(400):
        u = conn.recv()["data"]["u"]
        if u != last + 1:
            steps = [u - last]
            break
        last = u
    else:
        pytest.fail("the fault never showed")
    for _ in range(n):
        u, last = conn.recv()["data"]["u"], u
        steps.append(u - last)
    return steps


def test_skip_u_leaves_one_gap(stream_exchange, raw_ws):
    conn = book_stream(raw_ws, stream_exchange)
    assert steps_after_fault(conn, stream_exchange, "skip_u:once") == [2, 1, 1, 1, 1, 1, 1]


def test_dup_delta_repeats_one_update(stream_exchange, raw_ws):
    conn = book_stream(raw_ws, stream_exchange)
    assert steps_after_fault(conn, stream_exchange, "dup_delta") == [0, 1, 1, 1, 1, 1, 1]


def test_reorder_swaps_two_deltas(stream_exchange, raw_ws):
    conn = book_stream(raw_ws, stream_exchange)
    assert steps_after_fault(conn, stream_exchange, "reorder:once") == [2, -1, 2, 1, 1, 1, 1]


def collect(conn, n: int) -> list[dict]:
    return [conn.recv() for _ in range(n)]


def update_ids(messages: list[dict]) -> list[int]:
    return [m["data"]["u"] for m in messages]


def test_snapshot_mid_stream(stream_exchange, raw_ws):
    conn = book_stream(raw_ws, stream_exchange)
    collect(conn, 2)
    stream_exchange.set_faults("snapshot")
    kinds = [m["type"] for m in collect(conn, 6)]
    assert kinds.count("snapshot") == 1


def test_restart_u_counts_from_one(stream_exchange, raw_ws):
    conn = book_stream(raw_ws, stream_exchange)
    collect(conn, 2)
    stream_exchange.set_faults("restart_u")
    restart = conn.recv_until(lambda m: m["type"] == "snapshot")
    assert restart["data"]["u"] == 1
    assert update_ids(collect(conn, 3)) == [2, 3, 4]
    late = book_stream(raw_ws, stream_exchange)
    joined = late.recv()
    assert joined["type"] == "delta" and joined["data"]["u"] < 100


def test_drop_ws_after_delay(stream_exchange, raw_ws):
    conn = book_stream(raw_ws, stream_exchange)
    stream_exchange.set_faults("drop_ws@500ms")
    start = time.monotonic()
    with pytest.raises(Exception):  # noqa: B017 - websocket-client's close/EOF errors vary
        while True:
            message = conn.sock.recv()
            if message == "":
                raise ConnectionError("closed")
    assert 0.4 < time.monotonic() - start < 3


def test_ratelimit_storm_then_recovery():
    with running_exchange(core=StreamCore(), faults="ratelimit:2") as ex:
        session = http(ex)
        for _ in range(2):
            with pytest.raises(InvalidRequestError) as limited:
                session.get_positions(category="linear")
            assert limited.value.status_code == 10006
            assert "X-Bapi-Limit-Reset-Timestamp" in limited.value.resp_headers
        assert session.get_positions(category="linear")["retCode"] == 0
        assert session.get_server_time()["retCode"] == 0
        ex.set_faults("ratelimit:2")
        # pybit's own answer to 10006: sleep until X-Bapi-Limit-Reset-Timestamp, then retry
        patient = http(ex, retry_codes={10006}, max_retries=3)
        start = time.monotonic()
        assert patient.get_positions(category="linear")["retCode"] == 0
        assert time.monotonic() - start > 1.0


def test_http5xx_then_recovery(stream_exchange):
    stream_exchange.set_faults("http5xx:1")
    session = http(stream_exchange)
    with pytest.raises(FailedRequestError) as failed:
        session.get_server_time()
    assert failed.value.status_code == 503
    assert session.get_server_time()["retCode"] == 0


def test_clock_skew_answers_10002_and_pybit_recovers_by_widening_the_window(stream_exchange):
    stream_exchange.set_faults("skew:+7s")
    with pytest.raises(InvalidRequestError) as skewed:
        http(stream_exchange).get_positions(category="linear")
    assert skewed.value.status_code == 10002
    patient = http(stream_exchange, retry_codes={10002}, max_retries=3)
    assert patient.get_positions(category="linear")["retCode"] == 0
    time_ms = requests.get(f"{stream_exchange.base_url}/v5/market/time", timeout=5).json()["time"]
    assert time_ms - time.time() * 1000 > 5000


def test_slow_responses(stream_exchange):
    stream_exchange.set_faults("slow:400ms")
    start = time.monotonic()
    assert http(stream_exchange).get_server_time()["retCode"] == 0
    assert time.monotonic() - start >= 0.4


def test_refuse_connections_for_a_while(stream_exchange):
    url = f"{stream_exchange.base_url}/v5/market/time"
    assert requests.get(url, timeout=5).status_code == 200
    stream_exchange.set_faults("refuse:1s")
    time.sleep(0.2)
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            assert requests.get(url, timeout=5).status_code == 200
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    else:
        pytest.fail("the exchange never accepted connections again")


def test_admin_endpoint(stream_exchange):
    url = f"{stream_exchange.base_url}/_sim/faults"
    assert requests.post(url, data="http5xx:0.5,skew:+1s", timeout=5).status_code == 200
    state = requests.get(url, timeout=5).json()
    assert state["spec"] == "http5xx:0.5,skew:+1s"
    assert [f["fault"] for f in state["faults"]] == ["http5xx:0.5", "skew:+1s"]
    bad = requests.post(url, data="nonsense:1", timeout=5)
    assert bad.status_code == 400 and "unknown fault" in bad.json()["error"]
    assert requests.get(url, timeout=5).json()["spec"] == "http5xx:0.5,skew:+1s"
    assert requests.delete(url, timeout=5).json()["spec"] == ""


def status_list(ex, **query: str) -> list:
    """`GET /v5/system/status` with filters (pybit's method takes none)."""
    response = requests.get(f"{ex.base_url}/v5/system/status", params=query, timeout=5)
    return response.json()["result"]["list"]


def test_maintenance_is_announced_then_begins_and_ends(stream_exchange, raw_ws):
    ex = stream_exchange
    session = http(ex)
    assert session.get_system_status()["result"]["list"] == []
    status = raw_ws(f"{ex.ws_base}/v5/public/misc/status")
    status.send({"op": "subscribe", "args": ["system.status"]})
    assert status.recv()["success"] is True
    assert status.recv()["data"] == []
    ex.set_faults("maintenance:1s@1s")
    announced = status.recv_until(lambda m: m.get("topic") == "system.status")
    [record] = announced["data"]
    assert record["state"] == "scheduled"
    assert int(record["end"]) - int(record["begin"]) == 1000
    assert set(record) == {"id", "title", "state", "begin", "end", "href", "serviceTypes",
                           "product", "uidSuffix", "maintainType", "env"}  # fmt: skip
    [listed] = status_list(ex, id=record["id"])
    assert listed == record
    states = [
        status.recv_until(lambda m: m.get("topic") == "system.status")["data"][0]["state"]
        for _ in range(2)
    ]
    assert states == ["ongoing", "completed"]
    assert status_list(ex, state="scheduled") == []
    [done] = status_list(ex, state="completed")
    assert done["id"] == record["id"]
    assert session.get_server_time()["retCode"] == 0, "announcing is all it does"
