"""Perpetual positions and the money arithmetic they share with the wallet.

A position is signed lots and its cost in the settle coin; its average entry, unrealised PnL
and margin follow from those and the mark, rounded as Bybit books money (8 decimals).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bybitctl.sim.core.instruments import Instrument
from bybitctl.sim.core.orders import ZERO, fmt

MONEY = Decimal("0.00000001")
MM_RATE = Decimal("0.005")
"""Maintenance margin rate of a position's value."""


def money(d: Decimal) -> Decimal:
    """Round to the 8 decimals Bybit books money in."""
    return d.quantize(MONEY, rounding=ROUND_HALF_UP)


def gain(inst: Instrument, long: bool, cost: Decimal, value: Decimal) -> Decimal:
    """PnL of a position of cost `cost` now worth `value` (both in the settle coin).

    An inverse contract's coin value falls as the price rises, so its long gains when the
    value drops."""
    up = value - cost
    return up if long != inst.inverse else -up


def avg_entry(inst: Instrument, lots: int, cost: Decimal) -> Decimal:
    if inst.inverse:
        return money(Decimal(lots) / cost)
    return money(cost / inst.qty_dec(lots))


@dataclass(slots=True, eq=False)
class Position:
    """A perpetual position; `size` is signed lots (long > 0), `entry_value` its cost in the
    settle coin (USDT for linear, the coin itself for inverse)."""

    inst: Instrument
    idx: int
    leverage: Decimal
    size: int = 0
    entry_value: Decimal = ZERO
    open_fee: Decimal = ZERO
    cur_realised: Decimal = ZERO
    cum_realised: Decimal = ZERO
    take_profit: Decimal = ZERO
    stop_loss: Decimal = ZERO
    auto_add_margin: int = 0
    added_margin: Decimal = ZERO
    """Margin `add-margin` put into an isolated position beyond its initial margin."""
    created: int = 0
    updated: int = 0
    seq: int = 0

    def side(self) -> str:
        if self.size > 0:
            return "Buy"
        if self.size < 0:
            return "Sell"
        return ""

    def avg_price(self) -> Decimal:
        """Average entry: cost / qty, or for inverse contracts qty / cost (harmonic mean)."""
        if not self.size:
            return ZERO
        return avg_entry(self.inst, abs(self.size), self.entry_value)

    def unrealised(self, mark: Decimal) -> Decimal:
        """Mark-to-market PnL: long gains when the mark rises above the cost."""
        if not self.size:
            return ZERO
        return money(
            gain(
                self.inst, self.size > 0, self.entry_value, self.inst.value_at(mark, abs(self.size))
            )
        )

    def im(self) -> Decimal:
        return money(self.entry_value / self.leverage)

    def to_dict(
        self,
        mark: Decimal,
        liq: Decimal | None = None,
        bust: Decimal | None = None,
        isolated: bool = False,
    ) -> dict[str, Any]:
        """The position row; `liq` and `bust` are its liquidation and bankruptcy prices
        (the account's to work out), `isolated` its margin mode."""
        inst = self.inst
        avg = fmt(self.avg_price())
        value = fmt(self.entry_value)
        im, mm = fmt(self.im()), fmt(money(self.entry_value * MM_RATE))
        balance = fmt(self.im() + self.added_margin) if isolated else im
        return {
            "category": inst.category,
            "symbol": inst.symbol,
            "positionIdx": self.idx,
            "tradeMode": 1 if isolated else 0,
            "riskId": 1,
            "riskLimitValue": "2000000",
            "side": self.side(),
            "size": inst.qty_str(abs(self.size)),
            "avgPrice": avg,
            "entryPrice": avg,
            "positionValue": value,
            "positionBalance": balance,
            "leverage": fmt(self.leverage),
            "breakEvenPrice": avg,
            "markPrice": inst.price_str(int(mark / inst.tick)),
            "positionIM": im,
            "positionIMByMp": im,
            "positionMM": mm,
            "positionMMByMp": mm,
            "liqPrice": _price(inst, liq, self.size > 0),
            "bustPrice": _price(inst, bust, self.size > 0),
            "takeProfit": fmt(self.take_profit),
            "stopLoss": fmt(self.stop_loss),
            "trailingStop": "0",
            "unrealisedPnl": fmt(self.unrealised(mark)),
            "curRealisedPnl": fmt(self.cur_realised),
            "cumRealisedPnl": fmt(self.cum_realised),
            "sessionAvgPrice": "",
            "tpslMode": "Full",
            "positionStatus": "Normal",
            "adlRankIndicator": 2 if self.size else 0,
            "autoAddMargin": self.auto_add_margin,
            "isReduceOnly": False,
            "mmrSysUpdatedTime": "",
            "leverageSysUpdatedTime": "",
            "createdTime": str(self.created),
            "updatedTime": str(self.updated or self.created),
            "seq": self.seq,
        }


def _price(inst: Instrument, price: Decimal | None, long: bool) -> str:
    """A liquidation or bankruptcy price on the tick grid, rounded towards the mark (a long's
    up, a short's down), as Bybit shows them; "" where there is none."""
    if price is None or price <= 0:
        return ""
    ticks = price / inst.tick
    n = int(ticks) + (1 if long and ticks != int(ticks) else 0)
    return inst.price_str(max(1, n))
