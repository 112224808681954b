"""PnL accounting from fills and funding, exact in Decimal, with the market maker's PnL
attribution.

Every fill splits into two parts measured against the mid at the time of the fill: the
spread captured (bought below / sold above the mid) and the inventory it leaves, which is
then marked to market. With fees on top:

    spread_capture + inventory_pnl - fees == realized + unrealized

holds exactly (tests prove it), where `realized` is net of fees as on Bybit (fees reduce
realised PnL when paid; a negative fee is a rebate). The cost basis is kept as a total, not
an average, so the only division (the cost share a partial close removes, rounded to
`_SHARE`) moves value between realised and unrealised without changing their sum.

Funding (a perpetual's settlement on the position held at each funding time) is booked
apart from trading: it moves neither the position, nor the cost basis, nor the fees, nor
realised trading PnL. `funding` is what the position received, negative when it paid, and
the run's PnL is

    total == realized + unrealized + funding
          == spread_capture + inventory_pnl - fees + funding

(the exchange's `cumRealisedPnl` is realized + funding: Bybit books funding as realised PnL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Any

_ZERO = Decimal(0)
FUNDING = "Funding"
"""The `execType` of a funding settlement on Bybit's execution stream and list."""
_CTX = Context(prec=60)  # wide enough that price x qty sums never round
_SHARE = Decimal("1e-30")
"""The grid a partial close's cost share is rounded to: on it, every later sum of costs and
cash stays within `_CTX`'s digits, so moving the share between realised and unrealised
never changes their sum (a share of 1/3 would otherwise carry 60 digits into each)."""


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of our order. `fee` is in quote currency, positive when paid and
    negative for a rebate; `mid` is the book mid when it happened (for attribution)."""

    side: str
    price: Decimal
    qty: Decimal
    fee: Decimal
    mid: Decimal
    is_maker: bool
    ts_ms: int = 0
    link_id: str = ""


def booked(owns: Callable[[str], bool], row: dict[str, Any]) -> bool:
    """Whether an execution row of the symbol is booked: a fill of one of our orders, or a
    funding settlement of the position (it carries no orderLinkId)."""
    return row.get("execType") == FUNDING or owns(row.get("orderLinkId") or "")


@dataclass(frozen=True, slots=True)
class Funding:
    """One funding settlement of the position: `amount` received in quote currency
    (negative when paid; Bybit's `execFee` with the sign turned), at `rate` as it applied to
    the position's side, on `qty` held at `price` (the mark)."""

    amount: Decimal
    rate: Decimal
    qty: Decimal
    price: Decimal
    ts_ms: int = 0

    @classmethod
    def on_position(cls, position: Decimal, mark: Decimal, rate: Decimal, ts_ms: int) -> Funding:
        """What `position` receives at one settlement, as Bybit computes it: its value at
        the mark times the rate, longs paying a positive rate to shorts (exact, unrounded)."""
        amount = _CTX.multiply(_CTX.multiply(-position, mark), rate)
        return cls(amount, rate if position > 0 else -rate, position, mark, ts_ms)

    @classmethod
    def from_execution(cls, row: dict[str, Any], now_ms: int) -> Funding:
        """From a Bybit execution of `execType` Funding: `execFee` is what the position
        paid, `execQty` its size (signed here by `side`), `execPrice` the mark."""
        qty = Decimal(row.get("execQty") or "0")
        return cls(
            -Decimal(row.get("execFee") or "0"),
            Decimal(row.get("feeRate") or "0"),
            -qty if row.get("side") == "Sell" else qty,
            Decimal(row.get("execPrice") or "0"),
            int(row.get("execTime") or now_ms),
        )


class Ledger:
    """Position, cost basis and PnL of one symbol, updated fill by fill and settlement by
    settlement."""

    def __init__(self) -> None:
        self.position = _ZERO
        self.cost = _ZERO  # signed: sum of price x signed qty of the open position
        self.realized_gross = _ZERO
        self.fees = _ZERO
        self.spread_capture = _ZERO
        self.mid_value = _ZERO  # sum of mid-at-fill x signed qty: inventory's starting value
        self.fills = 0
        self.maker_fills = 0
        self.volume_base = _ZERO
        self.volume_quote = _ZERO
        self.max_abs_position = _ZERO
        self.funding = _ZERO
        self.funding_settlements = 0

    def settle(self, funding: Funding) -> None:
        """Book one funding settlement: PnL outside trading, nothing else moves."""
        self.funding = _CTX.add(self.funding, funding.amount)
        self.funding_settlements += 1

    def apply(self, fill: Fill) -> None:
        """Book one fill: position, cost basis, realised PnL, fees, attribution, counters."""
        c = _CTX
        dq = fill.qty if fill.side == "Buy" else -fill.qty
        price = fill.price
        pos = self.position
        if pos and (pos > 0) != (dq > 0):
            close = min(abs(dq), abs(pos))
            removed = (
                self.cost
                if close == abs(pos)
                else c.divide(c.multiply(self.cost, close), abs(pos)).quantize(_SHARE, context=c)
            )
            signed_close = close if dq > 0 else -close
            cash = c.multiply(-signed_close, price)
            self.realized_gross = c.add(self.realized_gross, c.subtract(cash, removed))
            self.cost = c.subtract(self.cost, removed)
            pos = c.add(pos, signed_close)
            dq = c.subtract(dq, signed_close)
        if dq:
            self.cost = c.add(self.cost, c.multiply(dq, price))
            pos = c.add(pos, dq)
        if not pos:
            self.cost = _ZERO
        self.position = pos
        signed = fill.qty if fill.side == "Buy" else -fill.qty
        self.spread_capture = c.add(
            self.spread_capture, c.multiply(signed, c.subtract(fill.mid, price))
        )
        self.mid_value = c.add(self.mid_value, c.multiply(signed, fill.mid))
        self.fees = c.add(self.fees, fill.fee)
        self.fills += 1
        self.maker_fills += fill.is_maker
        self.volume_base = c.add(self.volume_base, fill.qty)
        self.volume_quote = c.add(self.volume_quote, c.multiply(fill.qty, price))
        if abs(pos) > self.max_abs_position:
            self.max_abs_position = abs(pos)

    @property
    def realized(self) -> Decimal:
        """Realised PnL net of every fee paid or rebated (Bybit's convention)."""
        return _CTX.subtract(self.realized_gross, self.fees)

    @property
    def avg_price(self) -> Decimal:
        """Average entry price of the open position (0 when flat); display only."""
        if not self.position:
            return _ZERO
        return _CTX.divide(self.cost, self.position)

    def unrealized(self, mark: Decimal) -> Decimal:
        """PnL of the open position at `mark`."""
        return _CTX.subtract(_CTX.multiply(self.position, mark), self.cost)

    def inventory_pnl(self, mark: Decimal) -> Decimal:
        """What holding the fills' inventory earned: from each fill's mid to `mark`."""
        return _CTX.subtract(_CTX.multiply(self.position, mark), self.mid_value)

    def total(self, mark: Decimal) -> Decimal:
        """Realised + unrealised + funding: the number the kill switch watches."""
        return _CTX.add(_CTX.add(self.realized, self.unrealized(mark)), self.funding)

    @property
    def taker_fills(self) -> int:
        """Fills that took liquidity."""
        return self.fills - self.maker_fills

    def summary(self, mark: Decimal) -> dict[str, Any]:
        """Every figure at `mark`, as exact Decimals (callers choose the JSON form)."""
        return {
            "position": self.position,
            "avg_price": self.avg_price,
            "realized_pnl": self.realized,
            "unrealized_pnl": self.unrealized(mark),
            "fees": self.fees,
            "funding": self.funding,
            "total_pnl": self.total(mark),
            "spread_capture": self.spread_capture,
            "inventory_pnl": self.inventory_pnl(mark),
            "fills": self.fills,
            "maker_fills": self.maker_fills,
            "taker_fills": self.taker_fills,
            "volume_base": self.volume_base,
            "volume_quote": self.volume_quote,
            "max_abs_position": self.max_abs_position,
        }
