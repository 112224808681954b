"""How each endpoint's answer reads in a table, read by `tools/gen_catalog.py`.

A row's `view` (docs/catalog.md) names the default columns of its table, the columns of
each nested list, the shape of rows that are not objects, and what an empty answer says.
The endpoints people use every day are chosen by hand here, the first columns answering
the question the command asks; every other endpoint gets `default_columns()`, a rule over
its documented response.
"""

from __future__ import annotations

import re
from typing import Any

KLINE = ["start", "open", "high", "low", "close", "volume", "turnover"]
"""Names of a kline's positions: Bybit sends each candle as an array of strings."""

SHAPES: dict[str, str] = {
    "/v5/market/kline": "kline",
    "/v5/market/mark-price-kline": "kline",
    "/v5/market/index-price-kline": "kline",
    "/v5/market/premium-index-price-kline": "kline",
    "/v5/market/orderbook": "orderbook",
    "/v5/market/rpi_orderbook": "orderbook",
    "/v5/market/full_orderbook": "orderbook",
    "/v5/spread/orderbook": "orderbook",
}
"""Routes whose rows are arrays (klines) or whose answer is a book (bids and asks)."""

_ORDER = ["symbol", "side", "orderType", "price", "qty", "orderId", "orderStatus", "createdTime"]

VIEWS: dict[str, dict[str, Any]] = {
    "/v5/market/tickers": {
        "columns": [
            "symbol", "lastPrice", "price24hPcnt", "bid1Price", "ask1Price", "volume24h",
            "turnover24h", "highPrice24h", "lowPrice24h", "fundingRate", "openInterest",
            "nextFundingTime",
        ],
        "empty": "no tickers",
    },
    "/v5/market/instruments-info": {
        "columns": [
            "symbol", "status", "baseCoin", "quoteCoin", "priceFilter.tickSize",
            "lotSizeFilter.qtyStep", "lotSizeFilter.basePrecision", "lotSizeFilter.minOrderQty",
            "lotSizeFilter.maxOrderQty", "lotSizeFilter.minNotionalValue",
            "leverageFilter.maxLeverage", "contractType", "settleCoin", "fundingInterval",
            "launchTime",
        ],
        "empty": "no instruments",
    },
    "/v5/market/recent-trade": {
        "columns": ["time", "symbol", "side", "price", "size", "isBlockTrade"],
        "empty": "no trades",
    },
    "/v5/market/funding/history": {
        "columns": ["fundingRateTimestamp", "symbol", "fundingRate"],
        "empty": "no funding rates",
    },
    "/v5/market/open-interest": {"columns": ["timestamp", "openInterest"]},
    "/v5/market/risk-limit": {
        "columns": [
            "symbol", "id", "riskLimitValue", "initialMargin", "maintenanceMargin", "maxLeverage",
        ]
    },
    "/v5/market/time": {"columns": ["timeSecond", "timeNano"]},
    "/v5/market/kline": {"empty": "no klines"},
    "/v5/market/mark-price-kline": {"empty": "no klines"},
    "/v5/market/index-price-kline": {"empty": "no klines"},
    "/v5/market/premium-index-price-kline": {"empty": "no klines"},
    "/v5/account/wallet-balance": {
        "columns": [
            "accountType", "totalEquity", "totalWalletBalance", "totalAvailableBalance",
            "totalPerpUPL", "totalInitialMargin", "totalMaintenanceMargin", "accountIMRate",
            "accountMMRate",
        ],
        "nested": {
            "coin": [
                "coin", "equity", "walletBalance", "usdValue", "unrealisedPnl", "cumRealisedPnl",
                "locked", "borrowAmount",
            ]
        },
        "empty": "no wallet",
    },
    "/v5/account/fee-rate": {
        "columns": ["symbol", "baseCoin", "makerFeeRate", "takerFeeRate"],
        "empty": "no fee rates",
    },
    "/v5/account/transaction-log": {
        "columns": [
            "transactionTime", "type", "symbol", "side", "qty", "tradePrice", "cashFlow", "fee",
            "change", "cashBalance", "currency",
        ],
        "empty": "no transactions",
    },
    "/v5/account/info": {
        "columns": [
            "unifiedMarginStatus", "marginMode", "dcpStatus", "timeWindow", "spotHedgingStatus",
            "updatedTime",
        ]
    },
    "/v5/position/list": {
        "columns": [
            "symbol", "side", "size", "avgPrice", "markPrice", "unrealisedPnl", "leverage",
            "liqPrice", "positionValue", "takeProfit", "stopLoss", "curRealisedPnl",
        ],
        "empty": "no positions",
    },
    "/v5/position/closed-pnl": {
        "columns": [
            "symbol", "side", "qty", "avgEntryPrice", "avgExitPrice", "closedPnl", "leverage",
            "updatedTime",
        ],
        "empty": "no closed positions",
    },
    "/v5/order/realtime": {"columns": _ORDER, "empty": "no open orders"},
    "/v5/order/history": {
        "columns": [
            "symbol", "side", "orderType", "price", "qty", "avgPrice", "cumExecQty", "orderStatus",
            "orderId", "updatedTime",
        ],
        "empty": "no orders",
    },
    "/v5/execution/list": {
        "columns": [
            "symbol", "side", "execPrice", "execQty", "execFee", "execType", "isMaker", "execTime",
            "orderId",
        ],
        "empty": "no executions",
    },
    "/v5/asset/transfer/query-account-coins-balance": {
        "columns": ["coin", "walletBalance", "transferBalance", "bonus"],
        "empty": "no coins",
    },
    "/v5/asset/transfer/query-account-coin-balance": {
        "columns": ["accountType", "balance.coin", "balance.walletBalance",
                    "balance.transferBalance"],
    },
    "/v5/asset/coin/query-info": {
        "columns": ["coin", "name", "remainAmount"],
        "nested": {
            "chains": ["chain", "chainType", "withdrawFee", "withdrawMin", "minAccuracy",
                       "chainDeposit", "chainWithdraw"],
        },
    },
    "/v5/asset/deposit/query-record": {
        "columns": ["coin", "chain", "amount", "status", "successAt", "txID"],
        "empty": "no deposits",
    },
    "/v5/asset/withdraw/query-record": {
        "columns": ["coin", "chain", "amount", "status", "createTime", "withdrawId", "txID"],
        "empty": "no withdrawals",
    },
    "/v5/asset/transfer/query-inter-transfer-list": {
        "columns": ["timestamp", "coin", "amount", "fromAccountType", "toAccountType", "status",
                    "transferId"],
        "empty": "no transfers",
    },
}  # fmt: skip
"""Hand-picked views of the everyday endpoints, by path."""

# The rule for every other endpoint.
MAX_COLUMNS = 6
ENTITIES = ("symbol", "coin", "currency", "baseCoin", "settleCoin", "accountType", "name")
ID = re.compile(r"(Id|ID|_id)$|^id$")


def flat_fields(record: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(name, value) of every field a table shows: objects flattened to `parent.child`,
    lists left out (they become tables of their own)."""
    out: list[tuple[str, Any]] = []
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out += flat_fields(value, name + ".")
        elif not isinstance(value, list):
            out.append((name, value))
    return out


def default_columns(record: dict[str, Any]) -> list[str]:
    """The rule: every field of a small record; else what a row is about first (symbol,
    coin, account, ...), then one identifier, then the fields the documentation lists first
    that it gives a value, `MAX_COLUMNS` in all.

    >>> default_columns({"orderId": "1", "symbol": "X", "note": "", "a": "1", "b": "2",
    ...                  "c": "3", "d": "4", "e": "5"})
    ['symbol', 'orderId', 'a', 'b', 'c', 'd']
    """
    fields = flat_fields(record)
    if len(fields) <= MAX_COLUMNS:
        return [n for n, _ in fields]
    names = [n for n, _ in fields if n in ENTITIES]
    ids = [n for n, _ in fields if ID.search(n.rsplit(".", 1)[-1]) and n not in names]
    names += ids[:1]
    for name, value in fields:
        if len(names) >= MAX_COLUMNS:
            break
        if name not in names and name not in ids and value not in ("", None):
            names.append(name)
    return names


def nested_lists(record: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The lists of objects inside a record, by field name (a table each)."""
    return {
        key: value
        for key, value in record.items()
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
    }


def empty_text(summary: str) -> str:
    """What an empty answer says, from the endpoint's title: "Get Closed PnL" -> "no closed
    PnL" (words in capitals stay as they are).

    >>> empty_text("Get Borrow History")
    'no borrow history'
    """
    words = summary.split()
    if words and words[0] in ("Get", "Query", "List"):
        words = words[1:]
    keep = [w if sum(c.isupper() for c in w) > 1 else w.lower() for w in words]
    return "no " + " ".join(keep) if keep else "no rows"
