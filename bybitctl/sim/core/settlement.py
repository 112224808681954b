"""Settlement: each execution into the account's wallet and position, with its fee, its
closed PnL and the private rows it shows, and the funds an order must hold."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bybitctl.sim.core.accounts import DEFAULT_LEVERAGE, FEE_RATES, Account, Fill
from bybitctl.sim.core.desk import Desk
from bybitctl.sim.core.engine import Engine
from bybitctl.sim.core.errors import ApiError
from bybitctl.sim.core.executions import execution_row
from bybitctl.sim.core.instruments import Instrument
from bybitctl.sim.core.options import FEE_CAP, option_mark, short_margins
from bybitctl.sim.core.orders import ZERO, Order, fmt
from bybitctl.sim.core.positions import Position, avg_entry, money


class Settlement(Desk):
    """Fills into accounts and positions; the funds check an order passes before it rests."""

    def _check_funds(
        self,
        acct: Account,
        inst: Instrument,
        side: str,
        ticks: int,
        lots: int,
        quote_qty: Decimal | None,
        reduce_only: bool,
        now: int,
    ) -> None:
        if inst.category == "spot":
            if side == "Buy":
                need = (
                    quote_qty
                    if quote_qty is not None
                    else inst.price_dec(ticks) * inst.qty_dec(lots)
                )
                coin = inst.quote
            else:
                need, coin = inst.qty_dec(lots), inst.base
            if need > acct.available(coin, self.marks):
                raise ApiError(170131, "Balance insufficient")
            return
        if reduce_only:
            return
        if inst.category == "option":
            self._check_option_funds(acct, inst, side, ticks, lots, now)
            return
        opening = lots
        if inst.symbol not in acct.hedge:
            opening = max(0, lots - self._reducible(acct, inst, 0, side, now))
        lev = acct.leverage.get(inst.symbol, DEFAULT_LEVERAGE)
        need = money(inst.value(ticks, opening) / lev)
        if need > acct.available(inst.settle, self.marks):
            raise ApiError(110007, "Available balance is insufficient")

    def _check_option_funds(
        self, acct: Account, inst: Instrument, side: str, ticks: int, lots: int, now: int
    ) -> None:
        """A buy pays its premium; a sell that opens a short holds the short's margin."""
        if side == "Buy":
            need = inst.value(ticks, lots)
        else:
            opening = max(0, lots - self._reducible(acct, inst, 0, side, now))
            index = self.index(inst.base)
            im, _ = short_margins(inst, index, inst.price_dec(ticks))
            need = money(im * inst.qty_dec(opening))
        if need > acct.available(inst.settle, self.marks):
            raise ApiError(110007, "Available balance is insufficient")

    def _option_fee(self, inst: Instrument, price: int, lots: int, maker: bool) -> Decimal:
        """Bybit's option fee: its rate on the index value, at most 12.5 % of the premium."""
        rate = FEE_RATES["option"][0 if maker else 1]
        return money(min(rate * self.index(inst.base) * inst.qty_dec(lots),
                         FEE_CAP * inst.value(price, lots)))  # fmt: skip

    def ensure_option_mark(self, inst: Instrument, now: int) -> None:
        """Options are marked once somebody holds them (and at every step after)."""
        if inst.symbol not in self.marks:
            self.marks[inst.symbol] = option_mark(inst, self.index(inst.base), now)

    def _fill(
        self, order: Order, eng: Engine, price: int, lots: int, maker: bool, now: int, tid: str
    ) -> None:
        """Settle one execution of `order` into its account and queue the private pushes."""
        inst = order.inst
        acct = self.accounts[order.uid]
        value = inst.value(price, lots)
        order.leaves -= lots
        order.cum_qty += lots
        order.cum_value += value
        order.updated = now
        pos: Position | None = None
        bust = order.create_type == "CreateByLiq"
        if inst.category == "option":
            self.ensure_option_mark(inst, now)
            pos = acct.position(inst, order.position_idx, now)
            fee = self._option_fee(inst, price, lots, maker)
            fill = acct.settle_derivative(order, pos, price, lots, maker, now, fee=fee)
            if fill.closed_lots:
                self._closed_pnl(acct, order, pos, fill, price, now)
            self.out.position(acct.uid, inst.symbol, pos.idx)
            self._on_option_fill(order, lots, maker, now)
        elif inst.derivative:
            pos = acct.position(inst, order.position_idx, now)
            fill = acct.settle_derivative(
                order, pos, price, lots, maker, now, ZERO if bust else None
            )
            if fill.closed_lots:
                self._closed_pnl(acct, order, pos, fill, price, now)
            self._apply_order_tpsl(acct, order, pos)
            self.out.position(acct.uid, inst.symbol, pos.idx)
        else:
            fill = acct.settle_spot(order, price, lots, maker, now)
        acct.tx_log[-1]["tradeId"] = tid
        order.cum_fee += fill.fee
        if order.leaves == 0:
            order.status = "Filled"
            acct.open_orders.pop(order.order_id, None)
        else:
            order.status = "PartiallyFilled"
        self.exec_seq += 1
        mark = self.marks.get(inst.symbol, inst.price_dec(price))
        index = self.index(inst.base) if inst.category == "option" else mark
        ex = execution_row(
            inst,
            seq=self.exec_seq,
            now=now,
            side=order.side,
            exec_type="BustTrade" if bust else "Trade",
            exec_id=tid if not maker else self.ids.new(),
            order_id=order.order_id,
            price=inst.price_str(price),
            qty=inst.qty_str(lots),
            value=value,
            fee=fill.fee,
            fee_rate=fill.fee_rate,
            fee_coin=fill.fee_coin,
            mark=mark,
            index=index,
            pnl=fill.pnl,
            maker=maker,
            link_id=order.link_id,
            order_price=inst.price_str(order.price) if order.price is not None else "",
            order_qty=inst.qty_str(order.qty),
            leaves_qty=inst.qty_str(0 if order.quote_qty is not None else order.leaves),
            create_type=order.create_type,
            order_type=order.order_type,
            stop_order_type=order.stop_order_type or "UNKNOWN",
            closed_size=inst.qty_str(fill.closed_lots) if inst.category != "spot" else "",
            market_unit=order.market_unit,
        )
        acct.executions.append(ex)
        self.out.execs.setdefault(acct.uid, []).append(ex)
        self.out.order(order)
        self.out.wallet(acct.uid, inst.coins)
        if order.leaves == 0:
            self.closing.pop(order.order_id, None)
        if pos is not None:
            self.moved.add((acct.uid, inst, pos.idx))

    def settle_funding(
        self, acct: Account, pos: Position, rate: Decimal, mark: Decimal, now: int
    ) -> None:
        """One funding settlement of an open perpetual position, as Bybit books it: a
        `SETTLEMENT` row in the transaction log and an execution of type `Funding` whose
        `feeRate` is the rate as it applies to the position's side (longs pay a positive
        rate) and whose `execFee` is what it paid (negative: received)."""
        inst = pos.inst
        lots = abs(pos.size)
        value = money(inst.value_at(mark, lots))
        side_rate = rate if pos.size > 0 else -rate
        fee = money(value * side_rate)
        side = pos.side()
        acct.settle_funding(
            pos,
            fee,
            {
                "symbol": inst.symbol,
                "category": inst.category,
                "side": side,
                "type": "SETTLEMENT",
                "transSubType": "",
                "qty": inst.qty_str(lots),
                "size": inst.qty_str(lots),
                "tradePrice": fmt(mark),
                "funding": fmt(fee),
                "fee": "0",
                "feeRate": fmt(side_rate),
                "cashFlow": "0",
                "bonusChange": "",
                "orderId": "",
                "orderLinkId": "",
                "tradeId": "",
                "extraFees": "",
            },
            now,
        )
        self.exec_seq += 1
        ex = execution_row(
            inst,
            seq=self.exec_seq,
            now=now,
            side=side,
            exec_type="Funding",
            order_id=self.ids.new(),  # drawn first, as Bybit numbers them
            exec_id=self.ids.new(),
            price=fmt(mark),
            qty=inst.qty_str(lots),
            value=value,
            fee=fee,
            fee_rate=side_rate,
            fee_coin=inst.settle,
            mark=mark,
            closed_size="0",
        )
        acct.executions.append(ex)
        self.out.execs.setdefault(acct.uid, []).append(ex)
        self.out.position(acct.uid, inst.symbol, pos.idx)
        self.out.wallet(acct.uid, inst.coins)

    def _closed_pnl(
        self, acct: Account, order: Order, pos: Position, fill: Fill, price: int, now: int
    ) -> None:
        """Accumulate the order's closed-PnL record: gross PnL minus the fees it carries."""
        inst = order.inst
        got = self.closing.get(order.order_id)
        if got is None:
            acc = {"lots": 0, "cost": ZERO, "exit": ZERO, "pnl": ZERO, "fees": ZERO, "n": 0}
            rec: dict[str, Any] = {"symbol": inst.symbol, "orderId": order.order_id}
            acct.closed_pnl.append(rec)
            self.closing[order.order_id] = (acc, rec)
        else:
            acc, rec = got
        acc["lots"] += fill.closed_lots
        acc["cost"] += fill.closed_cost
        acc["exit"] += inst.value(price, fill.closed_lots)
        acc["pnl"] += fill.pnl
        acc["fees"] += fill.closing_fees
        acc["n"] += 1
        order.closed_pnl = acc["pnl"] - acc["fees"]
        rec.update(
            {
                "orderType": order.order_type,
                "leverage": fmt(pos.leverage),
                "updatedTime": str(now),
                "side": order.side,
                "closedPnl": fmt(order.closed_pnl),
                "avgEntryPrice": fmt(avg_entry(inst, acc["lots"], acc["cost"])),
                "qty": inst.qty_str(order.qty),
                "cumEntryValue": fmt(acc["cost"]),
                "createdTime": str(order.created),
                "orderPrice": inst.price_str(order.price) if order.price is not None else "",
                "closedSize": inst.qty_str(acc["lots"]),
                "avgExitPrice": fmt(avg_entry(inst, acc["lots"], acc["exit"])),
                "execType": "BustTrade" if order.create_type == "CreateByLiq" else "Trade",
                "fillCount": str(acc["n"]),
                "cumExitValue": fmt(acc["exit"]),
            }
        )
        self.out.closed.setdefault(acct.uid, {})[order.order_id] = rec

    def _apply_order_tpsl(self, acct: Account, order: Order, pos: Position) -> None:
        """TP/SL sent with an opening order apply to the position once it fills (Full mode)."""
        if not (order.take_profit or order.stop_loss) or order.reduce_only:
            return
        tp = Decimal(order.take_profit or "0")
        sl = Decimal(order.stop_loss or "0")
        if tp:
            pos.take_profit = tp
        if sl:
            pos.stop_loss = sl
        if tp or sl:
            self.tpsl.add((acct.uid, order.inst.symbol, pos.idx))

    def _fix_reduce_only(self, acct: Account, inst: Instrument, idx: int, now: int) -> None:
        """Shrink or cancel resting reduce-only orders that would now open a position."""
        for o in list(acct.open_orders.values()):
            if (
                o.inst is not inst
                or not o.reduce_only
                or o.position_idx != idx
                or o.status == "Untriggered"  # capped when it triggers
            ):
                continue
            room = self._reducible(acct, inst, idx, o.side, now)
            if o.leaves <= room:
                continue
            book_side = self.engines[(inst.category, inst.symbol)].book.side(o.side)
            if o.entry is not None:
                book_side.change_entry(o.price, o.entry, room)  # type: ignore[arg-type]
            o.qty -= o.leaves - room
            o.leaves = room
            o.updated = now
            if room == 0:
                o.entry = None
                o.status = "Cancelled"
                o.cancel_type = "CancelByReduceOnly"
                acct.open_orders.pop(o.order_id, None)
            self.out.order(o)
