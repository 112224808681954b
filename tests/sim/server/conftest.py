"""Fixtures for the exchange's network layer: a running exchange, pybit clients and raw sockets."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websocket
from pybit.unified_trading import HTTP

from bybitctl.sim import SimHandle, running_exchange


class StreamCore:
    """A deterministic stand-in core for fault tests: every `step` publishes exactly one
    orderbook delta (u rising by 1) per subscribed `orderbook.50.*` topic, so a skipped,
    duplicated or reordered update id is unambiguous."""

    def __init__(self) -> None:
        self.listener: Any = None
        self.u: dict[str, int] = {}
        self.active: set[tuple[str, str]] = set()
        self.trade_ops: list[tuple[str, list[dict[str, Any]], str]] = []

    def set_listener(self, listener: Any) -> None:
        self.listener = listener

    def ensure_account(self, account: str) -> None:
        pass

    def handle(self, http_method: str, path: str, params: dict[str, Any], account: str | None):
        return None

    def trade_op(self, op: str, args: list[dict[str, Any]], account: str) -> dict[str, Any]:
        self.trade_ops.append((op, args, account))
        return {"retCode": 0, "retMsg": "OK", "data": {"orderId": "1"}, "retExtInfo": {}}

    def subscribe_public(self, category: str, topic: str) -> list[dict[str, Any]]:
        if not topic.startswith("orderbook.50."):
            raise KeyError(topic)
        self.active.add((category, topic))
        u = self.u.setdefault(topic, 1000)
        data = {"s": topic.split(".")[2], "b": [["100", "1"]], "a": [["101", "1"]], "u": u}
        return [{"topic": topic, "type": "snapshot", "ts": 0, "data": {**data, "seq": u}}]

    def unsubscribe_public(self, category: str, topic: str) -> None:
        self.active.discard((category, topic))

    def step(self, now_ms: int) -> None:
        for category, topic in sorted(self.active):
            self.u[topic] += 1
            u = self.u[topic]
            data = {"s": topic.split(".")[2], "b": [["100", str(u)]], "a": [], "u": u, "seq": u}
            self.listener.on_public(
                category, topic, {"topic": topic, "type": "delta", "ts": now_ms, "data": data}
            )

    def advance_clock(self, ms: int) -> None:
        pass

    def set_price(self, coin: str, price: float) -> None:
        pass

    def dcp_connected(self, account: str, product: str) -> None:
        pass

    def dcp_disconnected(self, account: str, product: str, now_ms: int) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def exchange() -> Iterator[SimHandle]:
    """The real exchange (core included), shared by a module's tests."""
    with running_exchange(symbols=("BTCUSDT", "ETHUSDT"), seed=7) as ex:
        yield ex


@pytest.fixture
def stream_exchange() -> Iterator[SimHandle]:
    """An exchange around `StreamCore`, fresh per test (faults are per test)."""
    with running_exchange(core=StreamCore()) as ex:
        yield ex


def http(ex: SimHandle, key: str | None = None, secret: str | None = None, **kw: Any) -> HTTP:
    """Unmodified pybit pointed at the exchange; retries off unless asked for."""
    kw.setdefault("retry_codes", {-1})
    kw.setdefault("retry_delay", 0)
    session = HTTP(
        api_key=ex.api_key if key is None else key,
        api_secret=ex.api_secret if secret is None else secret,
        **kw,
    )
    session.endpoint = ex.base_url
    return session


class Raw:
    """A raw WebSocket client (websocket-client, as pybit uses) with JSON helpers."""

    def __init__(self, url: str) -> None:
        self.sock = websocket.create_connection(url, timeout=5)

    def send(self, message: dict[str, Any]) -> None:
        self.sock.send(json.dumps(message))

    def recv(self) -> dict[str, Any]:
        return json.loads(self.sock.recv())

    def recv_until(self, match: Any, limit: float = 5.0) -> dict[str, Any]:
        """The first message for which `match(message)` holds."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            message = self.recv()
            if match(message):
                return message
        raise AssertionError("no matching message")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw_ws() -> Iterator[Any]:
    """Open raw WebSockets by URL; all closed at the end of the test."""
    opened: list[Raw] = []

    def open_(url: str) -> Raw:
        conn = Raw(url)
        opened.append(conn)
        return conn

    yield open_
    for conn in opened:
        conn.close()
