"""A user order as the core keeps it, and its Bybit JSON shape (REST rows and `order` pushes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bybitctl.sim.core.book import Entry
from bybitctl.sim.core.instruments import Instrument

OPEN_STATUSES = frozenset({"New", "PartiallyFilled", "Untriggered"})
ZERO = Decimal(0)


@dataclass(slots=True, eq=False)
class Order:
    """Quantities in lots and prices in ticks of `inst`; money in Decimal."""

    inst: Instrument
    order_id: str
    link_id: str
    uid: str
    side: str
    order_type: str
    tif: str
    price: int | None
    qty: int
    position_idx: int
    created: int
    seq: int
    reduce_only: bool = False
    close_on_trigger: bool = False
    status: str = "New"
    reject_reason: str = "EC_NoError"
    cancel_type: str = "UNKNOWN"
    create_type: str = "CreateByUser"
    stop_order_type: str = ""
    market_unit: str = ""
    quote_qty: Decimal | None = None
    leaves: int = 0
    cum_qty: int = 0
    cum_value: Decimal = ZERO
    cum_fee: Decimal = ZERO
    closed_pnl: Decimal = ZERO
    updated: int = 0
    take_profit: str = ""
    stop_loss: str = ""
    last_price_on_created: str = ""
    trigger_price: int | None = None
    """Ticks a conditional order waits for (status Untriggered until the price crosses)."""
    trigger_direction: int = 0
    """1: triggered when the price rises to `trigger_price`, 2: when it falls to it."""
    trigger_by: str = ""
    mmp: bool = False
    """An option order under market maker protection (`bybitctl.sim.core.option_desk`)."""
    entry: Entry | None = field(default=None, repr=False)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def avg_price(self) -> str:
        if not self.cum_qty:
            return "0" if self.inst.category != "spot" else ""
        if self.inst.inverse:
            avg = Decimal(self.cum_qty) / self.cum_value
        else:
            avg = self.cum_value / self.inst.qty_dec(self.cum_qty)
        return fmt(avg.quantize(self.inst.tick / 1000))

    def to_dict(self) -> dict[str, Any]:
        """The order as Bybit's `/v5/order/realtime` row and `order` push item."""
        inst = self.inst
        spot = inst.category == "spot"
        price = inst.price_str(self.price) if self.price is not None else "0"
        qty = fmt(self.quote_qty) if self.quote_qty is not None else inst.qty_str(self.qty)
        leaves_value = ZERO if self.price is None else inst.value(self.price, self.leaves)
        fee_ccy = (inst.base if self.side == "Buy" else inst.quote) if spot else ""
        return {
            "category": inst.category,
            "orderId": self.order_id,
            "orderLinkId": self.link_id,
            "blockTradeId": "",
            "symbol": inst.symbol,
            "price": price,
            "qty": qty,
            "side": self.side,
            "isLeverage": "0" if spot else "",
            "positionIdx": self.position_idx,
            "orderStatus": self.status,
            "createType": self.create_type,
            "cancelType": self.cancel_type,
            "rejectReason": self.reject_reason,
            "avgPrice": self.avg_price(),
            "leavesQty": inst.qty_str(self.leaves),
            "leavesValue": fmt(leaves_value),
            "cumExecQty": inst.qty_str(self.cum_qty),
            "cumExecValue": fmt(self.cum_value),
            "cumExecFee": fmt(self.cum_fee),
            "closedPnl": fmt(self.closed_pnl),
            "feeCurrency": fee_ccy,
            "timeInForce": self.tif,
            "orderType": self.order_type,
            "stopOrderType": self.stop_order_type,
            "orderIv": "",
            "marketUnit": self.market_unit,
            "triggerPrice": (
                inst.price_str(self.trigger_price) if self.trigger_price is not None else ""
            ),
            "takeProfit": self.take_profit,
            "stopLoss": self.stop_loss,
            "tpTriggerBy": "",
            "slTriggerBy": "",
            "triggerDirection": self.trigger_direction,
            "triggerBy": self.trigger_by,
            "lastPriceOnCreated": self.last_price_on_created,
            "reduceOnly": self.reduce_only,
            "closeOnTrigger": self.close_on_trigger,
            "smpType": "None",
            "smpGroup": 0,
            "smpOrderId": "",
            "tpslMode": "",
            "tpLimitPrice": "",
            "slLimitPrice": "",
            "placeType": "",
            "slippageToleranceType": "UNKNOWN",
            "slippageTolerance": "",
            "createdTime": str(self.created),
            "updatedTime": str(self.updated or self.created),
            "extraFees": "",
            "cumFeeDetail": {},
            "rpiTakerAccess": False,
            "rpiMatchedQty": "0",
        }


def fmt(d: Decimal) -> str:
    """Bybit-style number string: no exponent, no trailing zeros beyond what is needed."""
    s = str(d)
    if "E" in s:
        s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s
