"""Liquidation, as Bybit runs it: when the margin is gone, the exchange takes the position over.

Checked at every market step against the marks (`bybitctl.sim.core.margin` says when): the
account's orders are cancelled (`CancelByLiq`), the position is closed at its bankruptcy
price by a `CreateByLiq` order (a `BustTrade` execution, no fee, closed PnL of that type,
`LIQUIDATION` in the transaction log), and the liquidation engine then works the position
off in the book like any market order. What it gets beyond the bankruptcy price goes to the
settle coin's insurance fund, what it gets short of it comes out of the fund; each
liquidation is published on `allLiquidation.{symbol}` at the bankruptcy price.
"""

from __future__ import annotations

from decimal import Decimal

from bybitctl.sim.core.accounts import Account
from bybitctl.sim.core.engine import Engine
from bybitctl.sim.core.entry import Trading
from bybitctl.sim.core.margin import (
    Risk,
    isolated,
    isolated_breached,
    position_margin,
    price_at_loss,
)
from bybitctl.sim.core.orders import ZERO
from bybitctl.sim.core.positions import Position, gain

INSURANCE_START = Decimal("902178.57602476")
"""Every insurance pool's balance at start (the figure of Bybit's documented example)."""


class Liquidation(Trading):
    """The desk with its liquidation engine and the insurance funds it settles with."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.insurance: dict[str, Decimal] = {"USDT": INSURANCE_START, "USDC": INSURANCE_START}
        """Insurance pool per settle coin; liquidations feed and draw on it."""
        self.usd: dict[str, Decimal] = {}
        """Coin -> USD price (the core's), to weigh an account's coins."""

    def check_liquidations(self, now: int) -> None:
        """Liquidate every isolated position and cross account whose margin is exhausted."""
        for acct in self.accounts.values():
            if not any(p.size and p.inst.derivative for p in acct.positions.values()):
                continue
            for pos in list(acct.positions.values()):
                if (
                    pos.size
                    and isolated(acct, pos)
                    and isolated_breached(pos, self.marks[pos.inst.symbol])
                ):
                    self._liquidate(acct, [(pos, position_margin(pos))], now)
            risk = Risk(acct, self.marks, self.usd)
            if risk.breached():
                losses = risk.bust_losses()
                self._liquidate(acct, [(p, losses[id(p)]) for p in risk.cross], now)

    def _liquidate(self, acct: Account, doomed: list[tuple[Position, Decimal]], now: int) -> None:
        """Cancel the orders the positions' margin backed, then close each at the price
        where it has lost `loss` (its bankruptcy price)."""
        symbols = {p.inst.symbol for p, _ in doomed}
        whole = any(not isolated(acct, p) for p, _ in doomed)
        for o in list(acct.open_orders.values()):
            if o.inst.derivative and (whole or o.inst.symbol in symbols):
                self.cancel_order(o, now, "CancelByLiq")
        for pos, loss in doomed:
            if pos.size:
                self._bust_close(acct, pos, loss, now)

    def _bust_close(self, acct: Account, pos: Position, loss: Decimal, now: int) -> None:
        inst = pos.inst
        long = pos.size > 0
        lots = abs(pos.size)
        mark = self.marks[inst.symbol]
        price = price_at_loss(pos, loss) or mark
        ticks = _on_grid(price / inst.tick, long)
        eng = self.engines[(inst.category, inst.symbol)]
        side = "Sell" if long else "Buy"
        order = self.new_order(
            acct,
            inst,
            now,
            side=side,
            order_type="Market",
            tif="IOC",
            price=ticks,
            qty=lots,
            position_idx=pos.idx,
            reduce_only=True,
            close_on_trigger=True,
            create_type="CreateByLiq",
        )
        self.out.order(order)
        self._fill(order, eng, ticks, lots, False, now, self.ids.new())
        self._after_fills(now)
        self.out.position(acct.uid, inst.symbol, pos.idx)
        eng.liquidations.append(("Buy" if long else "Sell", lots, ticks, False))
        self._work_off(eng, side, lots, ticks, long, now)

    def _work_off(self, eng: Engine, side: str, lots: int, bust: int, long: bool, now: int) -> None:
        """The engine sells (buys) what it took over into the book, as far as the price
        band goes; the fund books the difference to the bankruptcy price (a remainder the
        book cannot take is valued at the mark)."""
        inst = eng.inst
        limit = self._market_price(inst, side, self._fair_ticks(inst))
        result = ZERO
        got = 0
        for maker, price, n in eng.book.opposite(side).take(limit, lots, None):
            self._trade(None, maker, eng, price, n, now, side)
            result += gain(inst, long, inst.value(bust, n), inst.value(price, n))
            got += n
        if got < lots:
            mark_ticks = _on_grid(self.marks[inst.symbol] / inst.tick, long)
            rest = lots - got
            result += gain(inst, long, inst.value(bust, rest), inst.value(mark_ticks, rest))
        self._after_fills(now)
        coin = inst.settle
        self.insurance[coin] = self.insurance.get(coin, INSURANCE_START) + result


def _on_grid(ticks: Decimal, long: bool) -> int:
    """A price in whole ticks, rounded towards the mark: a long's bankruptcy price up, a
    short's down (at least one tick)."""
    n = int(ticks)
    if long and ticks != n:
        n += 1
    return max(1, n)
