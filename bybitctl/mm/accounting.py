"""PnL accounting from fills, exact in Decimal, with the market maker's PnL attribution.

Every fill splits into two parts measured against the mid at the time of the fill: the
spread captured (bought below / sold above the mid) and the inventory it leaves, which is
then marked to market. With fees on top:

    spread_capture + inventory_pnl - fees == realized + unrealized

holds exactly (tests prove it), where `realized` is net of fees as on Bybit (fees reduce
realised PnL when paid; a negative fee is a rebate). The cost basis is kept as a total, not
an average, so the only division (the cost share a partial close removes) moves value
between realised and unrealised without changing their sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Any

_ZERO = Decimal(0)
_CTX = Context(prec=60)  # wide enough that price x qty sums never round


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


class Ledger:
    """Position, cost basis and PnL of one symbol, updated fill by fill."""

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

    def apply(self, fill: Fill) -> None:
        """Book one fill: position, cost basis, realised PnL, fees, attribution, counters."""
        c = _CTX
        dq = fill.qty if fill.side == "Buy" else -fill.qty
        price = fill.price
        pos = self.position
        if pos and (pos > 0) != (dq > 0):
            close = min(abs(dq), abs(pos))
            removed = (
                self.cost if close == abs(pos) else c.divide(c.multiply(self.cost, close), abs(pos))
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
        """Realised + unrealised: the number the kill switch watches."""
        return _CTX.add(self.realized, self.unrealized(mark))

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
            "spread_capture": self.spread_capture,
            "inventory_pnl": self.inventory_pnl(mark),
            "fills": self.fills,
            "maker_fills": self.maker_fills,
            "taker_fills": self.taker_fills,
            "volume_base": self.volume_base,
            "volume_quote": self.volume_quote,
            "max_abs_position": self.max_abs_position,
        }
