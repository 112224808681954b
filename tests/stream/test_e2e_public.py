"""The installed `bybitctl stream` on the spread channel and the insurance and
all-liquidation topics, against the local exchange over loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from pybit.unified_trading import HTTP

from bybitctl import pybit_compat
from bybitctl.sim import SimHandle, running_exchange

from .test_e2e import StreamProcess, check_invariants

pytestmark = pytest.mark.e2e

SPREAD = "BTCUSDT_BTC/USDT"


@pytest.fixture
def exchange() -> Iterator[SimHandle]:
    with running_exchange(symbols=("BTCUSDT", "ETHUSDT"), seed=5) as ex:
        yield ex


def stream(exchange: SimHandle, *args: str) -> StreamProcess:
    return StreamProcess(["--base-url", exchange.base_url, "stream", *args, "-o", "jsonl"])


def finished(proc: StreamProcess) -> list[dict[str, Any]]:
    assert proc.finish() == 0, proc.stderr
    return proc.events


def test_spread_orderbook_equals_the_rest_spread_book_at_the_same_u(
    exchange: SimHandle,
) -> None:
    """`/v5/spread/orderbook` carries the orderbook.25 stream's `u`: match on it exactly."""
    http = HTTP(max_retries=1)
    pybit_compat.set_base_url(http, exchange.base_url)
    samples: list[dict[str, Any]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(http.spread_get_orderbook(symbol=SPREAD, limit=25)["result"])
            time.sleep(0.02)

    proc = stream(exchange, "spread-orderbook", "--symbol", SPREAD, "--count", "40")
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    events = finished(proc)
    stop.set()
    sampler.join(timeout=10)
    assert len(events) == 40 and all(e["event"] == "book" for e in events)
    assert events[0]["type"] == "snapshot" and {e["symbol"] for e in events} == {SPREAD}
    assert [e["u"] for e in events] == list(range(events[0]["u"], events[0]["u"] + 40))
    for e in events:
        check_invariants(e)
        assert len(e["bids"]) <= 25 and {"ts", "cts", "seq"} <= e.keys()
    by_u = {e["u"]: e for e in events}
    matched = [s for s in samples if s["u"] in by_u]
    assert len(matched) >= 5
    for s in matched:
        book = by_u[s["u"]]
        assert (book["bids"], book["asks"], book["seq"]) == (s["b"], s["a"], s["seq"]), s["u"]


def test_spread_trades(exchange: SimHandle) -> None:
    events = finished(stream(exchange, "spread-trades", "--symbol", SPREAD, "--count", "2"))
    assert len(events) == 2
    for e in events:
        assert e["topic"] == f"publicTrade.{SPREAD}" and e["type"] == "snapshot"
        for t in e["data"]:
            assert set(t) == {"T", "s", "S", "v", "p", "L", "i", "seq"}
            assert t["s"] == SPREAD and t["S"] in ("Buy", "Sell") and Decimal(t["v"]) > 0


def test_spread_ticker(exchange: SimHandle) -> None:
    events = finished(stream(exchange, "spread-ticker", "--symbol", SPREAD, "--count", "2"))
    assert len(events) == 2
    for e in events:
        d = e["data"]
        assert e["topic"] == f"tickers.{SPREAD}" and e["type"] == "snapshot"
        assert d["symbol"] == SPREAD
        assert Decimal(d["bidPrice"]) < Decimal(d["askPrice"])
        assert Decimal(d["lowPrice24h"]) <= Decimal(d["lastPrice"]) <= Decimal(d["highPrice24h"])


def test_insurance(exchange: SimHandle) -> None:
    (e,) = finished(stream(exchange, "insurance", "--symbol", "USDT", "--count", "1"))
    assert e["topic"] == "insurance.USDT" and e["type"] == "delta"
    (pool,) = e["data"]
    assert pool["coin"] == "USDT" and set(pool["symbols"].split(",")) == {"BTCUSDT", "ETHUSDT"}
    assert Decimal(pool["balance"]) > 0 and int(pool["updateTime"]) > 0


def test_all_liquidation(exchange: SimHandle) -> None:
    """The crowd's forced closes (~2% of its derivative trades) on either symbol."""
    proc = stream(
        exchange, "all-liquidation", "--category", "linear", "--symbol", "BTCUSDT",
        "--symbol", "ETHUSDT", "--count", "1",
    )  # fmt: skip
    (e,) = finished(proc)
    assert e["topic"] in ("allLiquidation.BTCUSDT", "allLiquidation.ETHUSDT")
    assert e["type"] == "snapshot" and e["data"]
    for liq in e["data"]:
        assert set(liq) == {"T", "s", "S", "v", "p"}
        assert e["topic"].endswith(liq["s"]) and liq["S"] in ("Buy", "Sell")
        assert Decimal(liq["v"]) > 0 and Decimal(liq["p"]) > 0
