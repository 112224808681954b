"""Fixtures for the exchange core: a fake clock, a recording listener, controllable books."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from bybitctl.sim.api.exchange import Exchange

T0 = 1_760_000_000_000


class Clock:
    """Injected milliseconds clock that only moves when a test says so."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> int:
        self.now += ms
        return self.now


class Recorder:
    """A Listener keeping every push, for assertions on what subscribers would see."""

    def __init__(self) -> None:
        self.public: list[tuple[str, str, dict[str, Any]]] = []
        self.private: list[tuple[str, str, dict[str, Any]]] = []

    def on_public(self, category: str, topic: str, message: dict[str, Any]) -> None:
        self.public.append((category, topic, message))

    def on_private(self, account: str, topic: str, message: dict[str, Any]) -> None:
        self.private.append((account, topic, message))

    def topic(self, topic: str, account: str | None = None) -> list[dict[str, Any]]:
        """Messages of one topic, in push order."""
        if account is not None:
            return [m for a, t, m in self.private if t == topic and a == account]
        return [m for _, t, m in self.public if t == topic]

    def items(self, topic: str, account: str) -> list[dict[str, Any]]:
        """Every data item pushed on a private topic, flattened."""
        return [d for m in self.topic(topic, account) for d in m["data"]]


class Client:
    """Calls the core like the server would, for one account; raises on a non-zero retCode
    unless `expect` names the code."""

    def __init__(self, ex: Exchange, uid: str) -> None:
        self.ex = ex
        self.uid = uid
        ex.ensure_account(uid)

    def call(self, method: str, path: str, expect: int = 0, **params: Any) -> dict[str, Any]:
        env = self.ex.handle(method, path, params, self.uid)
        assert env is not None, path
        assert env["retCode"] == expect, env
        return env

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.call("GET", path, **params)["result"]

    def post(self, path: str, **params: Any) -> dict[str, Any]:
        return self.call("POST", path, **params)["result"]

    def order(self, **params: Any) -> dict[str, Any]:
        """Place an order (linear BTCUSDT unless told) and return its realtime/history row."""
        p = {"category": "linear", "symbol": "BTCUSDT", **params}
        oid = self.post("/v5/order/create", **p)["orderId"]
        return self.find(oid, p["category"])

    def find(self, oid: str, category: str = "linear") -> dict[str, Any]:
        rows = self.get("/v5/order/history", category=category, orderId=oid)["list"]
        assert len(rows) == 1
        return rows[0]

    def position(self, symbol: str = "BTCUSDT", idx: int = 0) -> dict[str, Any]:
        rows = self.get("/v5/position/list", category="linear", symbol=symbol)["list"]
        return next(r for r in rows if r["positionIdx"] == idx)

    def balance(self, coin: str = "USDT") -> Decimal:
        w = self.get("/v5/account/wallet-balance", accountType="UNIFIED", coin=coin)
        return Decimal(w["list"][0]["coin"][0]["walletBalance"])


def empty_books(ex: Exchange) -> None:
    """Withdraw all synthetic liquidity, so tests decide every price that trades."""
    for eng in ex.engines.values():
        for side in (eng.book.bids, eng.book.asks):
            for price, _ in side.top(len(side)):
                side.cancel_synthetic(price, side.qty_at(price))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def ex(clock: Clock, rec: Recorder) -> Iterator[Exchange]:
    e = Exchange(clock=clock, seed=7)
    e.set_listener(rec)
    yield e
    e.close()


@pytest.fixture
def bare(ex: Exchange) -> Exchange:
    """An exchange whose books hold only what the test puts there (never step it)."""
    empty_books(ex)
    return ex


@pytest.fixture
def alice(bare: Exchange) -> Client:
    return Client(bare, "1001")


@pytest.fixture
def bob(bare: Exchange) -> Client:
    return Client(bare, "1002")
