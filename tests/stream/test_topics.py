"""The stream table: every pybit stream has a verb, and plans match pybit's topic formats."""

from __future__ import annotations

import inspect

import pytest
from pybit.unified_trading import WebSocket, WebsocketSpreadTrading

from bybitctl.errors import UsageError
from bybitctl.stream.topics import BY_NAME, SPECS, Subscription, channel, plan


def test_every_pybit_stream_method_has_a_verb() -> None:
    public = {name for name in dir(WebSocket) if name.endswith("_stream")}
    spread = {name for name in dir(WebsocketSpreadTrading) if name.endswith("_stream")}
    used = {
        spec.pybit_method for spec in SPECS if spec.connection in ("public", "private", "status")
    }
    assert public <= used
    assert spread <= {spec.pybit_method for spec in SPECS if spec.connection == "spread"}


def test_every_named_method_exists_with_the_arguments_we_pass() -> None:
    for spec in SPECS:
        cls = WebsocketSpreadTrading if spec.connection == "spread" else WebSocket
        symbols = ("USDT",) if "symbol" in spec.inputs else ()
        for sub in plan(spec, symbols=symbols):
            method = getattr(cls, sub.method)
            inspect.signature(method).bind(None, callback=print, **sub.kwargs)


@pytest.mark.parametrize(
    ("name", "kwargs", "topics"),
    [
        (
            "orderbook",
            {"symbols": ("BTCUSDT", "ETHUSDT")},
            ["orderbook.50.BTCUSDT", "orderbook.50.ETHUSDT"],
        ),
        (
            "orderbook",
            {"symbols": ("BTC-1JAN27-1-C",), "category": "option"},
            ["orderbook.25.BTC-1JAN27-1-C"],
        ),
        ("orderbook", {"symbols": ("BTCUSDT",), "depth": 1000}, ["orderbook.1000.BTCUSDT"]),
        ("rpi-orderbook", {"symbols": ("BTCUSDT",)}, ["orderbook.rpi.BTCUSDT"]),
        ("trades", {"symbols": ("BTCUSDT",)}, ["publicTrade.BTCUSDT"]),
        ("ticker", {"symbols": ("BTCUSDT",)}, ["tickers.BTCUSDT"]),
        ("kline", {"symbols": ("BTCUSDT",), "interval": "D"}, ["kline.D.BTCUSDT"]),
        ("kline", {"symbols": ("BTCUSDT",)}, ["kline.1.BTCUSDT"]),
        ("liquidation", {"symbols": ("BTCUSDT",)}, ["liquidation.BTCUSDT"]),
        ("all-liquidation", {"symbols": ("BTCUSDT",)}, ["allLiquidation.BTCUSDT"]),
        ("lt-kline", {"symbols": ("BTC3LUSDT",), "interval": "5"}, ["kline_lt.5.BTC3LUSDT"]),
        ("lt-ticker", {"symbols": ("BTC3LUSDT",)}, ["tickers_lt.BTC3LUSDT"]),
        ("lt-nav", {"symbols": ("BTC3LUSDT",)}, ["lt.BTC3LUSDT"]),
        ("insurance", {"symbols": ("USDT", "USDC")}, ["insurance.USDT", "insurance.USDC"]),
        ("price-limit", {"symbols": ("BTCUSDT",)}, ["priceLimit.BTCUSDT"]),
        ("system-status", {}, ["system.status"]),
        ("position", {}, ["position"]),
        ("position", {"category": "linear"}, ["position.linear"]),
        ("order", {"category": "spot"}, ["order.spot"]),
        ("execution", {}, ["execution"]),
        ("fast-execution", {}, ["execution.fast"]),
        ("fast-execution", {"category": "linear"}, ["execution.fast.linear"]),
        ("wallet", {}, ["wallet"]),
        ("greeks", {}, ["greeks"]),
        ("dcp", {}, ["dcp.future", "dcp.spot", "dcp.option"]),
        ("dcp", {"category": "inverse"}, ["dcp.future"]),
        ("spread-order", {}, ["spread.order"]),
        ("spread-execution", {}, ["spread.execution"]),
        ("spread-orderbook", {"symbols": ("SOLUSDT_SOL/USDT",)}, ["orderbook.25.SOLUSDT_SOL/USDT"]),
        ("spread-trades", {"symbols": ("X",)}, ["publicTrade.X"]),
        ("spread-ticker", {"symbols": ("X",)}, ["tickers.X"]),
    ],
)
def test_plan_topics(name: str, kwargs: dict, topics: list[str]) -> None:
    assert [s.topic for s in plan(BY_NAME[name], **kwargs)] == topics


def test_plan_subscribes_one_request_per_symbol_through_pybit_methods() -> None:
    subs = plan(BY_NAME["orderbook"], symbols=("BTCUSDT", "ETHUSDT"), depth=200)
    assert subs == [
        Subscription(
            "orderbook.200.BTCUSDT", "orderbook_stream", {"symbol": "BTCUSDT", "depth": 200}
        ),
        Subscription(
            "orderbook.200.ETHUSDT", "orderbook_stream", {"symbol": "ETHUSDT", "depth": 200}
        ),
    ]
    (sub,) = plan(BY_NAME["order"], category="linear")
    assert sub == Subscription(
        "order.linear", "subscribe", {"topic": "order.{symbol}", "symbol": "linear"}
    )
    (sub,) = plan(BY_NAME["insurance"], symbols=("USDT",))
    assert sub.kwargs == {"contract_group": "USDT"}


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("orderbook", {}, "needs at least one --symbol"),
        ("orderbook", {"symbols": ("A", "A")}, "given twice"),
        ("orderbook", {"symbols": ("A",), "depth": 25}, "--depth 25 is not offered for linear"),
        (
            "orderbook",
            {"symbols": ("A",), "depth": 50, "category": "option"},
            "not offered for option",
        ),
        ("orderbook", {"symbols": ("A",), "category": "futures"}, "not offered for category"),
        ("trades", {"symbols": ("A",), "depth": 50}, "takes no --depth"),
        ("kline", {"symbols": ("A",), "interval": "2"}, "--interval 2 is not offered"),
        ("lt-nav", {"symbols": ("A",), "category": "linear"}, "not offered for category"),
        ("wallet", {"symbols": ("A",)}, "takes no --symbol"),
        ("wallet", {"category": "linear"}, "takes no --category"),
        ("system-status", {"category": "linear"}, "takes no --category"),
        ("spread-orderbook", {"symbols": ("A",), "depth": 50}, "not offered for spread"),
    ],
)
def test_plan_rejects_what_bybit_does_not_offer(name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        plan(BY_NAME[name], **kwargs)


def test_channels() -> None:
    assert channel(BY_NAME["orderbook"], None) == "public/linear"
    assert channel(BY_NAME["trades"], "spot") == "public/spot"
    assert channel(BY_NAME["lt-nav"], None) == "public/spot"
    assert channel(BY_NAME["wallet"], None) == "private"
    assert channel(BY_NAME["order"], "linear") == "private"
    assert channel(BY_NAME["system-status"], None) == "public/misc/status"
    assert channel(BY_NAME["spread-ticker"], None) == "public/spread"
