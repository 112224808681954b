"""Margin modes and the account's risk: when a position or an account is to be liquidated.

A UNIFIED account trades its perpetuals in one of Bybit's three margin modes:

- `REGULAR_MARGIN` (cross): every position draws on the whole account; the account is
  liquidated when its maintenance margin reaches its equity at the marks (both in USD).
- `ISOLATED_MARGIN`: each position holds its own margin (initial margin at its leverage plus
  what `add-margin` put in) and is liquidated alone once its loss at the mark has eaten that
  margin down to its maintenance margin. The rest of the account is out of its reach.
- `PORTFOLIO_MARGIN`: cross, with maintenance margin charged on each coin's net exposure
  (a long BTCUSDT and a short BTCUSD of the same value need none between them).

The bankruptcy price is where the position's margin (its share of the account's equity,
under cross) would be gone; a liquidation closes the position there.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bybitctl.sim.core.orders import ZERO
from bybitctl.sim.core.positions import MM_RATE, Position, money

if TYPE_CHECKING:
    from bybitctl.sim.core.accounts import Account

ONE = Decimal(1)
MARGIN_MODES = ("REGULAR_MARGIN", "ISOLATED_MARGIN", "PORTFOLIO_MARGIN")
PORTFOLIO_MIN_EQUITY = Decimal(1000)
"""Equity (USD) an account needs to switch to portfolio margin, as Bybit asks."""


def isolated(acct: Account, pos: Position) -> bool:
    return acct.margin_mode == "ISOLATED_MARGIN" and pos.inst.derivative


def position_margin(pos: Position) -> Decimal:
    """An isolated position's margin: initial margin at its leverage plus what was added."""
    return pos.im() + pos.added_margin


def maintenance(pos: Position) -> Decimal:
    return money(pos.entry_value * MM_RATE)


def price_at_loss(pos: Position, loss: Decimal) -> Decimal | None:
    """The mark at which `pos` shows an unrealised loss of `loss` (settle coin), or None
    when no price does (an inverse short whose loss would exceed its whole value)."""
    inst, lots, cost = pos.inst, abs(pos.size), pos.entry_value
    if not lots:
        return None
    long = pos.size > 0
    if inst.inverse:
        # value = lots / price; a long gains as the value falls
        value = cost + loss if long else cost - loss
        return Decimal(lots) / value if value > 0 else None
    value = cost - loss if long else cost + loss
    price = value / inst.qty_dec(lots)
    return price if price > 0 else None


class Risk:
    """An account's cross equity and maintenance margin in USD at the marks, and the loss
    each cross position could take before the account is bankrupt or liquidated."""

    def __init__(self, acct: Account, marks: dict[str, Decimal], usd: dict[str, Decimal]) -> None:
        self.usd = usd
        self.cross: list[Position] = []
        self.isolated: list[Position] = []
        equity = ZERO
        for coin, bal in acct.wallet.items():
            equity += bal * usd.get(coin, Decimal(1))
        mm = ZERO
        net: dict[str, Decimal] = {}
        for pos in acct.positions.values():
            if pos.size and pos.inst.category == "option":
                value = pos.inst.value_at(marks[pos.inst.symbol], abs(pos.size))
                equity += (value if pos.size > 0 else -value) * usd.get(pos.inst.settle, ONE)
            if not pos.size or not pos.inst.derivative:
                continue
            px = usd.get(pos.inst.settle, Decimal(1))
            upl = pos.unrealised(marks[pos.inst.symbol])
            if isolated(acct, pos):
                self.isolated.append(pos)
                equity -= position_margin(pos) * px
                continue
            self.cross.append(pos)
            equity += upl * px
            if acct.margin_mode == "PORTFOLIO_MARGIN":
                signed = _usd_value(pos, marks, usd) * (1 if pos.size > 0 else -1)
                net[pos.inst.base] = net.get(pos.inst.base, ZERO) + signed
            else:
                mm += maintenance(pos) * px
        for exposure in net.values():
            mm += abs(exposure) * MM_RATE
        self.equity = equity
        self.mm = mm
        self.upl = {id(p): p.unrealised(marks[p.inst.symbol]) for p in self.cross}

    def breached(self) -> bool:
        return bool(self.cross) and self.equity <= self.mm

    def base(self, positions: Iterable[Position]) -> Decimal:
        """The account's equity without the unrealised PnL of `positions` (USD)."""
        return self.equity - sum(
            self.upl[id(p)] * self.usd.get(p.inst.settle, Decimal(1)) for p in positions
        )

    def liq_loss(self, pos: Position) -> Decimal:
        """The loss (settle coin) `pos` may show, the rest held at their marks, before the
        account's equity falls to its maintenance margin."""
        px = self.usd.get(pos.inst.settle, Decimal(1))
        return (self.base((pos,)) - self.mm) / px

    def bust_losses(self) -> dict[int, Decimal]:
        """What each cross position loses when all are closed at their bankruptcy prices:
        together the account's equity without their PnL (none below zero), shared by
        maintenance margin."""
        base = max(ZERO, self.base(self.cross))
        weights = {id(p): maintenance(p) * self.usd.get(p.inst.settle, Decimal(1))
                   for p in self.cross}  # fmt: skip
        total = sum(weights.values()) or Decimal(1)
        return {
            id(p): base * weights[id(p)] / total / self.usd.get(p.inst.settle, Decimal(1))
            for p in self.cross
        }


def isolated_breached(pos: Position, mark: Decimal) -> bool:
    return position_margin(pos) + pos.unrealised(mark) <= maintenance(pos)


def _usd_value(pos: Position, marks: dict[str, Decimal], usd: dict[str, Decimal]) -> Decimal:
    """The position's value in USD at the mark (an inverse contract is worth 1 USD each)."""
    inst = pos.inst
    if inst.inverse:
        return Decimal(abs(pos.size))
    return inst.value_at(marks[inst.symbol], abs(pos.size)) * usd.get(inst.settle, Decimal(1))


def liq_and_bust(
    acct: Account, pos: Position, risk: Risk | None
) -> tuple[Decimal | None, Decimal | None]:
    """The position's liquidation and bankruptcy prices (None where there is none)."""
    if not pos.size:
        return None, None
    if isolated(acct, pos):
        margin = position_margin(pos)
        return price_at_loss(pos, margin - maintenance(pos)), price_at_loss(pos, margin)
    if risk is None or pos not in risk.cross:
        return None, None
    px = risk.usd.get(pos.inst.settle, Decimal(1))
    bust = risk.base((pos,)) / px
    return price_at_loss(pos, risk.liq_loss(pos)), price_at_loss(pos, max(ZERO, bust))


def position_row(
    acct: Account,
    pos: Position,
    marks: dict[str, Decimal],
    usd: dict[str, Decimal],
    risk: Risk | None = None,
) -> dict[str, Any]:
    """The position as `/v5/position/list` and the `position` stream show it, with its
    liquidation and bankruptcy prices (`risk`: the account's, when already worked out)."""
    if pos.size and risk is None and not isolated(acct, pos):
        risk = Risk(acct, marks, usd)
    liq, bust = liq_and_bust(acct, pos, risk)
    return pos.to_dict(marks[pos.inst.symbol], liq, bust, isolated(acct, pos))
