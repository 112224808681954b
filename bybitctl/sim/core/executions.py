"""One row of `/v5/execution/list` (and of the `execution` stream): the one place its fields
are written, for a fill of an order, a funding settlement and a spread's leg alike."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bybitctl.sim.core.instruments import Instrument
from bybitctl.sim.core.orders import ZERO, fmt


def execution_row(
    inst: Instrument,
    *,
    seq: int,
    now: int,
    side: str,
    exec_type: str,
    exec_id: str,
    order_id: str,
    price: str,
    qty: str,
    value: Decimal,
    fee: Decimal,
    fee_rate: Decimal,
    fee_coin: str,
    mark: Decimal,
    index: Decimal | None = None,
    pnl: Decimal = ZERO,
    maker: bool = False,
    link_id: str = "",
    order_price: str = "0",
    order_qty: str = "0",
    leaves_qty: str = "0",
    create_type: str = "",
    order_type: str = "UNKNOWN",
    stop_order_type: str = "UNKNOWN",
    closed_size: str = "",
    market_unit: str = "",
) -> dict[str, Any]:
    """The row as Bybit lists it; `index` is the mark unless given (options: the
    underlying's index, also shown as `underlyingPrice`)."""
    option = inst.category == "option"
    index = mark if index is None else index
    return {
        "category": inst.category,
        "symbol": inst.symbol,
        "isLeverage": "0" if inst.category == "spot" else "",
        "orderId": order_id,
        "orderLinkId": link_id,
        "side": side,
        "orderPrice": order_price,
        "orderQty": order_qty,
        "leavesQty": leaves_qty,
        "createType": create_type,
        "orderType": order_type,
        "stopOrderType": stop_order_type,
        "execFee": fmt(fee),
        "execId": exec_id,
        "execPrice": price,
        "execQty": qty,
        "execPnl": fmt(pnl),
        "execType": exec_type,
        "execValue": fmt(value),
        "execTime": str(now),
        "isMaker": maker,
        "feeRate": fmt(fee_rate),
        "tradeIv": "",
        "markIv": "",
        "markPrice": fmt(mark),
        "indexPrice": fmt(index),
        "underlyingPrice": fmt(index) if option else "",
        "blockTradeId": "",
        "closedSize": closed_size,
        "extraFees": "",
        "seq": seq,
        "feeCurrency": fee_coin,
        "marketUnit": market_unit,
    }
