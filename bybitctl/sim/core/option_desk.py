"""Options on the desk: marks, greeks, delivery at expiry, and market maker protection.

MMP follows Bybit's rules (docs/v5/account/set-mmp). An account arms it per base coin with a
window, a frozen period, a quantity limit and a delta limit; option orders sent with
`mmp=true` are under it. Only maker fills of those orders count: the sum of their absolute
quantities and the absolute sum of their signed deltas (quantity x the option's delta, sold
negative) within the window. When either exceeds its limit, every open MMP order of the coin
is cancelled (`cancelType` `CancelByMmp` on the `order` stream) and new MMP orders are
refused until the frozen period ends (a frozen period of 0: until `mmp-reset`). A reset
unfreezes at once and forgets the fills counted so far.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bybitctl.sim.core.accounts import Account
from bybitctl.sim.core.errors import ApiError
from bybitctl.sim.core.instruments import Instrument
from bybitctl.sim.core.liquidation import Liquidation
from bybitctl.sim.core.options import (
    delivery_fee,
    option_greeks,
    option_mark,
    payoff,
    short_margins,
)
from bybitctl.sim.core.orders import ZERO, Order, fmt
from bybitctl.sim.core.positions import Position, gain, money

MMP_FROZEN = 110066
MMP_FROZEN_MESSAGE = "MMP is frozen for {coin}: new MMP orders are refused until {until}."


@dataclass
class Mmp:
    """One base coin's protection: its settings and what the window holds."""

    window: int
    frozen_period: int
    qty_limit: Decimal
    delta_limit: Decimal
    vega_limit: str = ""
    fills: deque[tuple[int, Decimal, Decimal]] = field(default_factory=deque)
    frozen_until: int = 0
    """0: not frozen; -1: frozen until a reset; else the ms the freeze ends."""

    def frozen(self, now: int) -> bool:
        if self.frozen_until and 0 < self.frozen_until <= now:
            self.frozen_until = 0
        return self.frozen_until != 0

    def record(self, now: int, qty: Decimal, delta: Decimal) -> bool:
        """Count one maker fill; True when it takes the window over a limit (and freezes)."""
        fills = self.fills
        while fills and fills[0][0] <= now - self.window:
            fills.popleft()
        fills.append((now, qty, delta))
        total = sum(f[1] for f in fills)
        net = abs(sum(f[2] for f in fills))
        if total > self.qty_limit or net > self.delta_limit:
            fills.clear()
            self.frozen_until = now + self.frozen_period if self.frozen_period else -1
            return True
        return False

    def reset(self) -> None:
        self.fills.clear()
        self.frozen_until = 0

    def settings(self) -> dict[str, str]:
        return {
            "window": str(self.window),
            "frozenPeriod": str(self.frozen_period),
            "qtyLimit": fmt(self.qty_limit),
            "deltaLimit": fmt(self.delta_limit),
            "vegaLimit": self.vega_limit,
        }


class OptionDesk(Liquidation):
    """The desk with options: MMP on fills, delivery at expiry, greeks per coin."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.mmp: dict[tuple[str, str], Mmp] = {}
        """(uid, base coin) -> its MMP."""
        self._mmp_due: list[tuple[Order, int, int]] = []
        """Maker fills of MMP orders in the sweep being settled: (order, lots, time)."""
        self.deliveries: list[dict[str, Any]] = []
        """Delivered options: symbol, deliveryPrice, deliveryTime (newest last)."""
        self.greeks_due: set[tuple[str, str]] = set()
        """(uid, base coin) whose option positions changed since the last push."""
        self._next_expiry = 0
        """The earliest expiry not yet delivered (0: not worked out yet)."""

    # ---- MMP ----------------------------------------------------------------------------

    def _check_mmp(self, acct: Account, inst: Instrument, now: int) -> None:
        state = self.mmp.get((acct.uid, inst.base))
        if state is not None and state.frozen(now):
            until = "a reset" if state.frozen_until < 0 else str(state.frozen_until)
            raise ApiError(MMP_FROZEN, MMP_FROZEN_MESSAGE.format(coin=inst.base, until=until))

    def _on_option_fill(self, order: Order, lots: int, maker: bool, now: int) -> None:
        self.greeks_due.add((order.uid, order.inst.base))
        if maker and order.mmp and (order.uid, order.inst.base) in self.mmp:
            self._mmp_due.append((order, lots, now))

    def _after_fills(self, now: int) -> None:
        """Once a sweep is settled, count its MMP fills; a breach cancels the coin's MMP
        orders (never during a sweep: its fills are already off the book)."""
        super()._after_fills(now)
        due, self._mmp_due = self._mmp_due, []
        for order, lots, t in due:
            inst = order.inst
            state = self.mmp.get((order.uid, inst.base))
            if state is None or state.frozen(t):
                continue
            qty = inst.qty_dec(lots)
            delta = Decimal(repr(option_greeks(inst, float(self.index(inst.base)), t)["delta"]))
            signed = qty * delta * (1 if order.side == "Buy" else -1)
            if state.record(t, qty, signed):
                self._mmp_cancel(self.accounts[order.uid], inst.base, now)

    def _mmp_cancel(self, acct: Account, base: str, now: int) -> None:
        for o in list(acct.open_orders.values()):
            if o.mmp and o.inst.base == base and o.inst.category == "option":
                self.cancel_order(o, now, "CancelByMmp")

    def set_mmp(self, acct: Account, base: str, settings: dict[str, Any]) -> None:
        state = Mmp(
            int(settings["window"]),
            int(settings["frozenPeriod"]),
            Decimal(settings["qtyLimit"]),
            Decimal(settings["deltaLimit"]),
            str(settings.get("vegaLimit") or ""),
        )
        old = self.mmp.get((acct.uid, base))
        if old is not None:  # new settings keep a freeze in force
            state.frozen_until = old.frozen_until
        self.mmp[(acct.uid, base)] = state
        acct.mmp[base] = state.settings()

    # ---- marks, greeks, delivery ----------------------------------------------------------

    def refresh_option_marks(self, now: int) -> None:
        """Re-mark every option somebody has held (their marks move with the index)."""
        for symbol in [s for s in self.marks if "-" in s]:
            inst = self.catalogue.get("option", symbol)
            if inst is not None and symbol not in self.expired:
                self.marks[symbol] = option_mark(inst, self.index(inst.base), now)

    def option_row(self, acct: Account, pos: Position, now: int) -> dict[str, Any]:
        """An option position as `/v5/position/list` and the `position` stream show it: the
        perpetual's row with its own margins (a long is paid for, a short holds margin), its
        mark unrounded, and its greeks."""
        inst = pos.inst
        index = self.index(inst.base)
        mark = self.marks[inst.symbol]
        row = pos.to_dict(mark)
        g = option_greeks(inst, float(index), now)
        qty = float(inst.qty_dec(pos.size))
        im = mm = ZERO
        if pos.size < 0:
            per_im, per_mm = short_margins(inst, index, mark)
            im, mm = (
                money(per_im * inst.qty_dec(-pos.size)),
                money(per_mm * inst.qty_dec(-pos.size)),
            )
        row.update({
            "positionIM": fmt(im), "positionIMByMp": fmt(im), "positionMM": fmt(mm),
            "positionMMByMp": fmt(mm), "positionBalance": fmt(im), "markPrice": fmt(mark),
            "leverage": "", "liqPrice": "", "bustPrice": "",
            "delta": f"{g['delta'] * qty:.8f}", "gamma": f"{g['gamma'] * qty:.8f}",
            "vega": f"{g['vega'] * qty:.8f}", "theta": f"{g['theta'] * qty:.8f}",
        })  # fmt: skip
        return row

    def coin_greeks(self, acct: Account, base: str | None, now: int) -> list[dict[str, str]]:
        """Total delta, gamma, vega and theta of the account's options, per base coin."""
        totals: dict[str, list[float]] = {}
        for pos in acct.positions.values():
            inst = pos.inst
            if inst.category != "option" or not pos.size or (base and inst.base != base):
                continue
            g = option_greeks(inst, float(self.index(inst.base)), now)
            qty = float(inst.qty_dec(pos.size))
            t = totals.setdefault(inst.base, [0.0, 0.0, 0.0, 0.0])
            for i, k in enumerate(("delta", "gamma", "vega", "theta")):
                t[i] += g[k] * qty
        if base and base not in totals:
            totals[base] = [0.0, 0.0, 0.0, 0.0]
        return [
            {"baseCoin": b, "totalDelta": f"{t[0]:.8f}", "totalGamma": f"{t[1]:.8f}",
             "totalVega": f"{t[2]:.8f}", "totalTheta": f"{t[3]:.8f}"}
            for b, t in sorted(totals.items())
        ]  # fmt: skip

    def check_expiries(self, now: int) -> None:
        """Deliver every option whose expiry `now` has reached."""
        if now < self._next_expiry:
            return
        for (cat, symbol), inst in self.catalogue.books.items():
            if cat == "option" and inst.expiry <= now and symbol not in self.expired:
                self.deliver(inst, inst.expiry)
        live = [i.expiry for (c, s), i in self.catalogue.books.items()
                if c == "option" and s not in self.expired]  # fmt: skip
        self._next_expiry = min(live, default=1 << 62)

    def deliver(self, inst: Instrument, when: int) -> None:
        """Cancel the option's orders and settle each position in cash at the index: a long
        receives the payoff, a short pays it, both minus the delivery fee."""
        index = self.index(inst.base)
        self.expired.add(inst.symbol)
        inst.info["status"] = "Closed"
        self.deliveries.append(
            {"symbol": inst.symbol, "deliveryPrice": fmt(index), "deliveryTime": str(when)}
        )
        for acct in self.accounts.values():
            for o in list(acct.open_orders.values()):
                if o.inst is inst:
                    self.cancel_order(o, when, "CancelBySettle")
            pos = acct.positions.get((inst.symbol, 0))
            if pos is not None and pos.size:
                self._deliver_position(acct, pos, index, when)

    def _deliver_position(self, acct: Account, pos: Position, index: Decimal, when: int) -> None:
        inst = pos.inst
        long = pos.size > 0
        qty = inst.qty_dec(abs(pos.size))
        value = money(payoff(inst, index) * qty)
        fee = money(delivery_fee(index, qty, value))
        pnl = gain(inst, long, pos.entry_value, value)
        cash = value if long else -value
        carried = pos.open_fee
        net = pnl - fee
        pos.cur_realised += net
        pos.cum_realised += net
        acct.cum_realised[inst.settle] = acct.cum_realised.get(inst.settle, ZERO) + net
        side = "Buy" if long else "Sell"
        acct.book_change(inst.settle, cash - fee, when, {
            "symbol": inst.symbol, "category": "option", "side": side, "type": "DELIVERY",
            "transSubType": "", "qty": inst.qty_str(abs(pos.size)), "size": "0",
            "tradePrice": fmt(index), "funding": "", "fee": fmt(fee), "feeRate": "",
            "cashFlow": fmt(cash), "bonusChange": "", "orderId": "", "orderLinkId": "",
            "tradeId": "", "extraFees": "",
        })  # fmt: skip
        acct.deliveries.append({
            "symbol": inst.symbol, "side": side, "deliveryTime": when,
            "strike": fmt(inst.strike), "fee": fmt(fee), "position": fmt(qty),
            "deliveryPrice": fmt(index), "deliveryRpl": fmt(net - carried),
        })  # fmt: skip
        acct.closed_pnl.append({
            "symbol": inst.symbol, "orderId": "", "orderType": "UNKNOWN", "leverage": "",
            "updatedTime": str(when), "side": "Sell" if long else "Buy",
            "closedPnl": fmt(net - carried), "avgEntryPrice": fmt(pos.avg_price()),
            "qty": fmt(qty), "cumEntryValue": fmt(pos.entry_value), "createdTime": str(when),
            "orderPrice": "", "closedSize": fmt(qty), "avgExitPrice": fmt(payoff(inst, index)),
            "execType": "Delivery", "fillCount": "1", "cumExitValue": fmt(value),
        })  # fmt: skip
        self.out.closed.setdefault(acct.uid, {})[f"delivery:{inst.symbol}"] = acct.closed_pnl[-1]
        pos.size, pos.entry_value, pos.open_fee = 0, ZERO, ZERO
        pos.updated, pos.seq = when, acct.next_seq()
        self.out.position(acct.uid, inst.symbol, 0)
        self.out.wallet(acct.uid, inst.coins)
        self.greeks_due.add((acct.uid, inst.base))
