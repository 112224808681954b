"""The table of `bybitctl stream` verbs: one row per pybit WebSocket stream.

Each row says which pybit `WebSocket` method subscribes it, which connection it needs and
which live view shows it; `plan()` turns a row plus the user's inputs into the exact
subscriptions to send. Pure data, so `--help` and the argv tests never import pybit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bybitctl import parsing
from bybitctl.errors import UsageError

CATEGORIES = ("spot", "linear", "inverse", "option")
BOOK_DEPTHS = {
    "spot": (1, 50, 200, 1000),
    "linear": (1, 50, 200, 1000),
    "inverse": (1, 50, 200, 1000),
    "option": (25, 100),
    "spread": (25,),
}
KLINE_INTERVALS = ("1", "3", "5", "15", "30", "60", "120", "240", "360", "720", "D", "W", "M")
DCP_PRODUCTS = {"linear": "future", "inverse": "future", "spot": "spot", "option": "option"}


@dataclass(frozen=True)
class StreamSpec:
    """One `bybitctl stream` verb.

    `connection` is "public" (the category's public socket), "private", "spread" (the spread
    public socket) or "status" (misc/status). `inputs` names the options the verb takes beyond
    the common ones: symbol, category, depth, interval. `view` picks the live view.
    """

    name: str
    summary: str
    pybit_method: str | None
    topic: str
    connection: str
    view: str
    inputs: frozenset[str] = field(default_factory=frozenset)
    categories: tuple[str, ...] = CATEGORIES
    symbol_label: str = "symbol"


@dataclass(frozen=True)
class Subscription:
    """One subscribe request: the topic it yields and the pybit call that sends it."""

    topic: str
    method: str
    kwargs: dict[str, Any]


def _public(
    name: str,
    summary: str,
    method: str,
    topic: str,
    view: str,
    *extra: str,
    categories: tuple[str, ...] = CATEGORIES,
    symbol_label: str = "symbol",
) -> StreamSpec:
    return StreamSpec(
        name,
        summary,
        method,
        topic,
        "public",
        view,
        frozenset({"symbol", "category", *extra}),
        categories,
        symbol_label,
    )


def _private(name: str, summary: str, method: str | None, topic: str, *extra: str) -> StreamSpec:
    return StreamSpec(name, summary, method, topic, "private", "log", frozenset(extra))


SPECS: tuple[StreamSpec, ...] = (
    _public(
        "orderbook",
        "Order book, kept exact by bybitctl.book.",
        "orderbook_stream",
        "orderbook.{depth}.{symbol}",
        "book",
        "depth",
    ),
    _public(
        "rpi-orderbook",
        "RPI order book (50 levels with RPI sizes).",
        "rpi_orderbook_stream",
        "orderbook.rpi.{symbol}",
        "book",
        categories=("spot", "linear", "inverse"),
    ),
    _public(
        "trades",
        "Public trades (option: base coin as --symbol).",
        "trade_stream",
        "publicTrade.{symbol}",
        "trades",
    ),
    _public(
        "ticker",
        "Ticker (derivatives: snapshot then deltas).",
        "ticker_stream",
        "tickers.{symbol}",
        "ticker",
    ),
    _public(
        "kline",
        "Klines at --interval.",
        "kline_stream",
        "kline.{interval}.{symbol}",
        "log",
        "interval",
        categories=("spot", "linear", "inverse"),
    ),
    _public(
        "liquidation",
        "Liquidations (retired by Bybit; kept by pybit).",
        "liquidation_stream",
        "liquidation.{symbol}",
        "log",
        categories=("linear", "inverse"),
    ),
    _public(
        "all-liquidation",
        "All liquidations.",
        "all_liquidation_stream",
        "allLiquidation.{symbol}",
        "log",
        categories=("linear", "inverse"),
    ),
    _public(
        "lt-kline",
        "Leveraged-token klines (retired by Bybit).",
        "lt_kline_stream",
        "kline_lt.{interval}.{symbol}",
        "log",
        "interval",
        categories=("spot",),
    ),
    _public(
        "lt-ticker",
        "Leveraged-token ticker (retired by Bybit).",
        "lt_ticker_stream",
        "tickers_lt.{symbol}",
        "ticker",
        categories=("spot",),
    ),
    _public(
        "lt-nav",
        "Leveraged-token net asset value (retired by Bybit).",
        "lt_nav_stream",
        "lt.{symbol}",
        "log",
        categories=("spot",),
    ),
    _public(
        "insurance",
        "Insurance pool; --symbol is the contract group (USDT, USDC, inverse).",
        "insurance_pool_stream",
        "insurance.{symbol}",
        "log",
        categories=("linear", "inverse"),
        symbol_label="contract group",
    ),
    _public(
        "price-limit",
        "Order price limits.",
        "price_limit_stream",
        "priceLimit.{symbol}",
        "log",
        categories=("spot", "linear", "inverse"),
    ),
    StreamSpec(
        "system-status",
        "Platform maintenance and incidents.",
        "system_status_stream",
        "system.status",
        "status",
        "log",
    ),
    _private(
        "position",
        "Your positions (--category: categorised topic).",
        "position_stream",
        "position",
        "category",
    ),
    _private(
        "order", "Your orders (--category: categorised topic).", "order_stream", "order", "category"
    ),
    _private(
        "execution",
        "Your executions (--category: categorised topic).",
        "execution_stream",
        "execution",
        "category",
    ),
    _private(
        "fast-execution",
        "Your executions, reduced fields, lower latency.",
        "fast_execution_stream",
        "execution.fast",
        "category",
    ),
    _private("wallet", "Your wallet.", "wallet_stream", "wallet"),
    _private("greeks", "Your option greeks.", "greek_stream", "greeks"),
    _private(
        "dcp",
        "Disconnected-cancel-all protection status (all products unless --category).",
        None,
        "dcp.{symbol}",
        "category",
    ),
    _private("spread-order", "Your spread orders.", "spread_order_stream", "spread.order"),
    _private(
        "spread-execution", "Your spread executions.", "spread_execution_stream", "spread.execution"
    ),
    StreamSpec(
        "spread-orderbook",
        "Spread order book (25 levels).",
        "orderbook_stream",
        "orderbook.{depth}.{symbol}",
        "spread",
        "book",
        frozenset({"symbol", "depth"}),
    ),
    StreamSpec(
        "spread-trades",
        "Spread public trades.",
        "trade_stream",
        "publicTrade.{symbol}",
        "spread",
        "trades",
        frozenset({"symbol"}),
    ),
    StreamSpec(
        "spread-ticker",
        "Spread ticker.",
        "ticker_stream",
        "tickers.{symbol}",
        "spread",
        "ticker",
        frozenset({"symbol"}),
    ),
)

BY_NAME = {spec.name: spec for spec in SPECS}


def channel(spec: StreamSpec, category: str | None) -> str:
    """The connection path under /v5 the verb needs ("public/linear", "private", ...)."""
    if spec.connection == "public":
        return f"public/{public_category(spec, category)}"
    return {"private": "private", "spread": "public/spread", "status": "public/misc/status"}[
        spec.connection
    ]


def public_category(spec: StreamSpec, category: str | None) -> str:
    """The category of a public verb: the one given, else linear, else the only one offered."""
    if category is not None:
        return category
    return "linear" if "linear" in spec.categories else spec.categories[0]


def default_depth(spec: StreamSpec, category: str | None) -> int:
    """50 for spot and derivatives books, 25 for options and spreads (their smallest full book)."""
    return 25 if spec.connection == "spread" or category == "option" else 50


def _depth_key(spec: StreamSpec, category: str | None) -> str:
    return "spread" if spec.connection == "spread" else (category or "linear")


def plan(
    spec: StreamSpec,
    *,
    category: str | None = None,
    symbols: tuple[str, ...] = (),
    depth: int | None = None,
    interval: str | None = None,
) -> list[Subscription]:
    """The subscribe requests for a verb, one per symbol so a resync can renew one topic.

    Raises `UsageError` for inputs the verb does not take or Bybit does not offer.
    """
    if category is not None and "category" not in spec.inputs:
        raise UsageError(f"stream {spec.name} takes no --category")
    if category is not None and category not in spec.categories:
        raise UsageError(
            f"stream {spec.name} is not offered for category {category} "
            f"(choose from {', '.join(spec.categories)})"
        )
    if symbols and "symbol" not in spec.inputs:
        raise UsageError(f"stream {spec.name} takes no --symbol")
    if "symbol" in spec.inputs and not symbols:
        raise UsageError(f"stream {spec.name} needs at least one --symbol ({spec.symbol_label})")
    if len(set(symbols)) != len(symbols):
        raise UsageError("a --symbol is given twice")
    for symbol in symbols:
        try:
            parsing.symbol(symbol)
        except parsing.InvalidValue as exc:
            raise UsageError(f"invalid value for --symbol: {exc}") from None
    if depth is not None and "depth" not in spec.inputs:
        raise UsageError(f"stream {spec.name} takes no --depth")
    if interval is not None and "interval" not in spec.inputs:
        raise UsageError(f"stream {spec.name} takes no --interval")

    if spec.connection == "public":
        category = public_category(spec, category)
    values: dict[str, Any] = {}
    if "depth" in spec.inputs:
        allowed = BOOK_DEPTHS[_depth_key(spec, category)]
        depth = default_depth(spec, category) if depth is None else depth
        if depth not in allowed:
            where = "spread" if spec.connection == "spread" else category
            raise UsageError(
                f"--depth {depth} is not offered for {where} "
                f"(choose from {', '.join(map(str, allowed))})"
            )
        values["depth"] = depth
    if "interval" in spec.inputs:
        interval = interval or "1"
        if interval not in KLINE_INTERVALS:
            raise UsageError(
                f"--interval {interval} is not offered (choose from {', '.join(KLINE_INTERVALS)})"
            )
        values["interval"] = interval

    if spec.connection == "private":
        return _private_plan(spec, category)
    if "symbol" not in spec.inputs:
        return [Subscription(spec.topic, spec.pybit_method or "subscribe", {})]
    subs = []
    arg = "contract_group" if spec.name == "insurance" else "symbol"
    for symbol in symbols:
        topic = spec.topic.format(symbol=symbol, **values)
        subs.append(Subscription(topic, spec.pybit_method or "subscribe", {arg: symbol, **values}))
    return subs


def _private_plan(spec: StreamSpec, category: str | None) -> list[Subscription]:
    """Private topics: pybit's all-in-one method, or the categorised topic via `subscribe`
    the way pybit's own `fast_execution_stream` builds it."""
    if spec.name == "dcp":
        products = [DCP_PRODUCTS[category]] if category else ["future", "spot", "option"]
        return [
            Subscription(f"dcp.{p}", "subscribe", {"topic": spec.topic, "symbol": p})
            for p in products
        ]
    if category is None:
        return [Subscription(spec.topic, spec.pybit_method or "subscribe", {})]
    if spec.name == "fast-execution":
        return [
            Subscription(
                f"{spec.topic}.{category}", "fast_execution_stream", {"categorised_topic": category}
            )
        ]
    return [
        Subscription(
            f"{spec.topic}.{category}",
            "subscribe",
            {"topic": spec.topic + ".{symbol}", "symbol": category},
        )
    ]
