"""Conditional orders and take-profit/stop-loss: what the last or mark price sets off."""

from __future__ import annotations

from bybitctl.sim.core.accounts import Account
from bybitctl.sim.core.errors import ApiError
from bybitctl.sim.core.instruments import Instrument
from bybitctl.sim.core.matching import Matching
from bybitctl.sim.core.orders import ZERO, Order
from bybitctl.sim.core.positions import Position


class Triggers(Matching):
    """Untriggered orders and position TP/SL, checked on every market step."""

    def trigger_reference(self, inst: Instrument, by: str) -> int:
        """The price in ticks a trigger watches: the last trade, or the mark (also the index,
        which the exchange does not model apart)."""
        if by == "LastPrice" or not inst.derivative:
            return self.engines[(inst.category, inst.symbol)].last_price
        return int(self.marks[inst.symbol] / inst.tick)

    def _check_trigger(self, inst: Instrument, direction: int, by: str, ticks: int) -> None:
        """A trigger must lie the way it is expected to be crossed (110092 / 110093)."""
        cur = self.trigger_reference(inst, by)
        trig, now_px = inst.price_str(ticks), inst.price_str(cur)
        if direction == 1 and ticks <= cur:
            raise ApiError(
                110092, f"expect Rising, but trigger_price[{trig}] <= current[{now_px}]??{by}"
            )
        if direction == 2 and ticks >= cur:
            raise ApiError(
                110093, f"expect Falling, but trigger_price[{trig}] >= current[{now_px}]??{by}"
            )

    def check_triggers(self, now: int) -> None:
        """Place every conditional order whose trigger price has been crossed."""
        for oid, o in list(self.conditional.items()):
            cur = self.trigger_reference(o.inst, o.trigger_by)
            trig = o.trigger_price
            assert trig is not None
            if (o.trigger_direction == 1 and cur >= trig) or (
                o.trigger_direction == 2 and cur <= trig
            ):
                del self.conditional[oid]
                self._place_triggered(o, now)

    def _place_triggered(self, o: Order, now: int) -> None:
        """A triggered order enters the book as if just sent: band price for a market order,
        reduce-only capped at the position, funds checked now."""
        inst, acct = o.inst, self.accounts[o.uid]
        eng = self.engines[(inst.category, inst.symbol)]
        acct.open_orders.pop(o.order_id, None)
        o.status, o.updated = "New", now
        fair = self._fair_ticks(inst)
        if o.order_type == "Market" and o.price is not None:
            o.price = self._market_price(inst, o.side, fair)
        if o.reduce_only:
            room = self._reducible(acct, inst, o.position_idx, o.side, now)
            o.qty -= o.leaves - min(o.leaves, room)
            o.leaves = min(o.leaves, room)
            if not o.leaves:
                o.status, o.cancel_type = "Deactivated", "CancelByReduceOnly"
                self.out.order(o)
                return
        try:
            self._check_funds(
                acct, inst, o.side, o.price or fair, o.leaves, o.quote_qty, o.reduce_only, now
            )
        except ApiError:
            o.status, o.reject_reason, o.leaves = "Rejected", "EC_InsufficientBalance", 0
            self.out.order(o)
            return
        self.submit(o, eng, now)

    def check_tpsl(self, now: int) -> None:
        """Close positions whose take-profit or stop-loss the mark price has reached."""
        for key in list(self.tpsl):
            uid, symbol, idx = key
            acct = self.accounts[uid]
            pos = acct.positions.get((symbol, idx))
            if pos is None or pos.size == 0 or not (pos.take_profit or pos.stop_loss):
                self.tpsl.discard(key)
                continue
            mark = self.marks[symbol]
            long = pos.size > 0
            tp, sl = pos.take_profit, pos.stop_loss
            hit = ""
            if tp and (mark >= tp if long else mark <= tp):
                hit = "TakeProfit"
            elif sl and (mark <= sl if long else mark >= sl):
                hit = "StopLoss"
            if not hit:
                continue
            pos.take_profit = pos.stop_loss = ZERO
            self.tpsl.discard(key)
            self._close_position(acct, pos, hit, now)

    def _close_position(self, acct: Account, pos: Position, kind: str, now: int) -> None:
        inst = pos.inst
        eng = self.engines[(inst.category, inst.symbol)]
        side = "Sell" if pos.size > 0 else "Buy"
        o = self.new_order(
            acct,
            inst,
            now,
            side=side,
            order_type="Market",
            tif="IOC",
            price=self._market_price(inst, side, self._fair_ticks(inst)),
            qty=abs(pos.size),
            position_idx=pos.idx,
            reduce_only=True,
            close_on_trigger=True,
            create_type=f"CreateBy{kind}",
            stop_order_type=kind,
        )
        self.submit(o, eng, now)
