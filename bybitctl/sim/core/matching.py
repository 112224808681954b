"""Price-time matching: a user's order, the crowd's or a replayed trade against the book."""

from __future__ import annotations

from bybitctl.sim.core.engine import Engine
from bybitctl.sim.core.orders import Order
from bybitctl.sim.core.settlement import Settlement


class Matching(Settlement):
    """Orders against the book, best price first; every trade is settled as it prints."""

    def submit(self, order: Order, eng: Engine, now: int) -> None:
        """Match an accepted order, then rest, cancel or finish it by its time in force."""
        book = eng.book
        opp = book.opposite(order.side)
        self.out.order(order)
        if order.tif == "PostOnly":
            best = opp.best()
            if best is not None and (
                (order.side == "Buy" and order.price >= best)  # type: ignore[operator]
                or (order.side == "Sell" and order.price <= best)  # type: ignore[operator]
            ):
                order.status = "Cancelled"
                order.reject_reason = "EC_PostOnlyWillTakeLiquidity"
                order.leaves = 0
                return
        elif order.tif == "FOK" and opp.available(order.price, order.leaves) < order.leaves:
            order.status = "Cancelled"
            order.reject_reason = "EC_NoEnoughQtyToFill"
            order.leaves = 0
            return
        budget = None
        if order.quote_qty is not None:
            budget = int(order.quote_qty / (order.inst.tick * order.inst.step))
        self._take(order, eng, now, budget)
        if order.quote_qty is not None:
            # a quote-sized market buy is done when its budget is spent
            order.qty, order.leaves = order.cum_qty, 0
            order.status = "Filled" if order.cum_qty else "Cancelled"
        if order.leaves and order.tif in ("GTC", "PostOnly") and order.order_type == "Limit":
            order.entry = book.side(order.side).add(order.price, order.leaves, order)  # type: ignore[arg-type]
            self.accounts[order.uid].open_orders[order.order_id] = order
            if order.cum_qty == 0:
                order.status = "New"
        elif order.leaves:
            spot = order.inst.category == "spot"
            order.status = "PartiallyFilledCanceled" if spot and order.cum_qty else "Cancelled"
            order.reject_reason = "EC_NoImmediateQtyToFill"
            order.leaves = 0
        if order.status in ("Filled", "Cancelled", "PartiallyFilledCanceled"):
            self.accounts[order.uid].open_orders.pop(order.order_id, None)
        self.out.wallet(order.uid, order.inst.coins)
        if order.inst.derivative:
            self.out.position(order.uid, order.inst.symbol, order.position_idx)

    def _take(self, taker: Order, eng: Engine, now: int, budget: int | None) -> None:
        """Run a user's taker order through the book, best price first."""
        fills = eng.book.opposite(taker.side).take(taker.price, taker.leaves, budget)
        for maker, price, lots in fills:
            self._trade(taker, maker, eng, price, lots, now)
        self._after_fills(now)

    def synthetic_take(self, eng: Engine, side: str, lots: int, limit: int, now: int) -> int:
        """A crowd order: it fills resting user orders exactly as a user's taker would.
        Returns the lots it got."""
        got = 0
        for maker, price, n in eng.book.opposite(side).take(limit, lots, None):
            self._trade(None, maker, eng, price, n, now, side)
            got += n
        self._after_fills(now)
        return got

    def tape_trade(self, eng: Engine, side: str, lots: int, price: int, now: int) -> None:
        """A trade the recording printed (taker `side`, `lots` at `price`): it fills the user
        orders it reached in price-time order, and the rest prints at `price`."""
        rest = lots
        for maker, at, n in eng.book.opposite(side).take_users(price, lots):
            self._trade(None, maker, eng, at, n, now, side)
            rest -= n
        if rest > 0:
            eng.book.seq += 1
            eng.record_trade(side, price, rest, now, self.ids.new())
        self._after_fills(now)

    def _after_fills(self, now: int) -> None:
        """Once a sweep is settled (never during one: its fills are already off the book),
        trim reduce-only orders the changed positions no longer allow."""
        moved, self.moved = self.moved, set()
        for uid, inst, idx in moved:
            self._fix_reduce_only(self.accounts[uid], inst, idx, now)

    def _trade(
        self,
        taker: Order | None,
        maker: Order | None,
        eng: Engine,
        price: int,
        lots: int,
        now: int,
        side: str = "",
    ) -> None:
        eng.book.seq += 1
        trade_id = self.ids.new()
        if taker is not None:
            self._fill(taker, eng, price, lots, False, now, trade_id)
        if maker is not None:
            maker.entry = None if lots >= maker.leaves else maker.entry
            self._fill(maker, eng, price, lots, True, now, trade_id)
        eng.record_trade(taker.side if taker else side, price, lots, now, trade_id)
