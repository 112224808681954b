"""Spread trading: orders on a spread's own book, each fill legged into its two instruments.

A spread (`BTCUSDT_BTC/USDT`, contract type FundingRateArb) is bought and sold on its own
book at a price that is the basis, leg 1 minus leg 2. As on Bybit, buying the spread buys its
first leg (the linear perpetual) and sells its second (spot), selling it does the reverse;
each fill trades both legs at once in the spread's quantity: the perpetual at its mark (to
the tick) and spot at that price minus the spread's. The legs settle as trades of their own
categories (position, wallet, fees, `execType` `FutureSpread` in the execution list) and the
spread's orders and fills go to the private `spread.order` and `spread.execution` streams.
Spread trading needs cross (or portfolio) margin and one-way mode, as on Bybit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bybitctl.sim.core.accounts import DEFAULT_LEVERAGE, Account, Fill
from bybitctl.sim.core.engine import Engine
from bybitctl.sim.core.entry import TIFS, _dec
from bybitctl.sim.core.errors import ApiError, params_error
from bybitctl.sim.core.executions import execution_row
from bybitctl.sim.core.instruments import Instrument
from bybitctl.sim.core.option_desk import OptionDesk
from bybitctl.sim.core.orders import Order, fmt
from bybitctl.sim.core.positions import money


class SpreadDesk(OptionDesk):
    """The whole desk: spread orders on top of every other category."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.spread_legs: dict[str, tuple[Instrument, Instrument]] = {}
        for row in self.catalogue.spreads:
            leg1, leg2 = (leg["symbol"] for leg in row["legs"])
            perp, spot = self.catalogue.get("linear", leg1), self.catalogue.get("spot", leg2)
            if perp is not None and spot is not None:
                self.spread_legs[row["symbol"]] = (perp, spot)
        self.spread_execs: dict[str, list[dict[str, Any]]] = {}
        """uid -> the `spread.execution` items of the call being settled."""

    def spread(self, symbol: Any) -> Instrument:
        inst = self.catalogue.get("spread", symbol) if isinstance(symbol, str) else None
        if inst is None or symbol not in self.spread_legs:
            raise params_error("symbol invalid")
        return inst

    # ---- entry ------------------------------------------------------------------------------

    def spread_create(self, acct: Account, p: dict[str, Any], now: int) -> Order:
        inst = self.spread(p.get("symbol"))
        perp = self.spread_legs[inst.symbol][0]
        if acct.margin_mode == "ISOLATED_MARGIN":
            raise ApiError(
                110110, "Spread trading is not available in isolated margin trading mode"
            )
        if perp.symbol in acct.hedge:
            raise ApiError(110113, "Spread trading is not available in hedge mode")
        side, otype = p.get("side"), p.get("orderType")
        if side not in ("Buy", "Sell"):
            raise params_error("side invalid")
        if otype not in ("Market", "Limit"):
            raise params_error("orderType invalid")
        market = otype == "Market"
        tif = p.get("timeInForce") or ("IOC" if market else "GTC")
        if tif not in TIFS or (market and tif not in ("IOC", "FOK", "GTC")):
            raise params_error("timeInForce invalid")
        tif = "IOC" if market and tif == "GTC" else tif
        link = str(p.get("orderLinkId") or "")
        if len(link) > 36:
            raise params_error("orderLinkId is too long")
        if link and link in acct.link_ids:
            raise ApiError(110072, "OrderLinkedID is duplicate")
        qty = _dec(p, "qty")
        if qty is None:
            raise params_error("qty is required")
        lots = self._lots(inst, qty, market)
        if market:
            ticks = self._market_price(inst, side, self._fair_ticks(inst))
        else:
            price = _dec(p, "price")
            if price is None:
                raise params_error("price is required for a Limit order")
            if price <= 0:
                raise params_error("price must be above 0 (this exchange's spread books are)")
            ticks = self._price_ticks(inst, price)
        self._check_spread_funds(acct, inst, side, lots, now)
        order = self.new_order(
            acct,
            inst,
            now,
            side=side,
            order_type=otype,
            tif=tif,
            price=ticks,
            qty=lots,
            position_idx=0,
            link_id=link,
        )
        self.submit(order, self.engines[("spread", inst.symbol)], now)
        return order

    def spread_find(self, acct: Account, p: dict[str, Any]) -> Order:
        oid, link = p.get("orderId") or "", p.get("orderLinkId") or ""
        if not oid and not link:
            raise params_error("orderId or orderLinkId is required")
        o = acct.open_orders.get(oid or acct.link_ids.get(link, ""))
        if o is None or o.inst.category != "spread" or (link and o.link_id != link):
            raise ApiError(110001, "Order does not exist")
        sym = p.get("symbol")
        if sym and o.inst.symbol != sym:
            raise ApiError(110001, "Order does not exist")
        return o

    def spread_amend(self, acct: Account, p: dict[str, Any], now: int) -> Order:
        """A new quantity or price; a smaller quantity keeps its place in the queue."""
        self.spread(p.get("symbol"))
        o = self.spread_find(acct, p)
        inst = o.inst
        qty, price = _dec(p, "qty"), _dec(p, "price")
        if qty is None and price is None:
            raise params_error("nothing to amend")
        lots = o.qty if qty is None else self._lots(inst, qty, False)
        ticks = o.price if price is None else self._price_ticks(inst, price)
        if lots <= o.cum_qty:
            raise ApiError(110064, "The modified contract quantity cannot be less than or "
                                   "equal to the filled quantity.")  # fmt: skip
        eng = self.engines[("spread", inst.symbol)]
        side = eng.book.side(o.side)
        leaves = lots - o.cum_qty
        o.updated = now
        assert o.price is not None and ticks is not None
        if ticks == o.price and leaves <= o.leaves and o.entry is not None:
            side.change_entry(o.price, o.entry, leaves)
            o.qty, o.leaves = lots, leaves
            self.out.order(o)
            return o
        if o.entry is not None:
            side.change_entry(o.price, o.entry, 0)
            o.entry = None
        acct.open_orders.pop(o.order_id, None)
        o.qty, o.leaves, o.price = lots, leaves, ticks
        self.submit(o, eng, now)
        return o

    def spread_cancel(self, acct: Account, p: dict[str, Any], now: int) -> Order:
        o = self.spread_find(acct, p)
        self.cancel_order(o, now)
        return o

    def spread_cancel_all(self, acct: Account, p: dict[str, Any], now: int) -> list[Order]:
        sym = p.get("symbol")
        done = []
        for o in list(acct.open_orders.values()):
            if o.inst.category == "spread" and (not sym or o.inst.symbol == sym):
                self.cancel_order(o, now)
                done.append(o)
        return done

    def spread_max_qty(self, acct: Account, inst: Instrument, side: str) -> Decimal:
        """The most a new spread order of `side` could be, by the legs' funds."""
        lo, hi = 0, inst.max_qty
        while lo < hi:
            mid = (lo + hi + 1) // 2
            try:
                self._check_spread_funds(acct, inst, side, mid, 0)
            except ApiError:
                hi = mid - 1
            else:
                lo = mid
        return inst.qty_dec(lo)

    def _check_spread_funds(
        self, acct: Account, inst: Instrument, side: str, lots: int, now: int
    ) -> None:
        """The perpetual leg's initial margin plus what the spot leg spends: the coin it
        sells (buying the spread) or the quote it pays (selling it)."""
        perp, spot = self.spread_legs[inst.symbol]
        qty = inst.qty_dec(lots)
        mark = self.marks[perp.symbol]
        lev = acct.leverage.get(perp.symbol, DEFAULT_LEVERAGE)
        margin = money(mark * qty / lev)
        if side == "Buy":
            enough = margin <= acct.available(perp.settle, self.marks) and qty <= acct.available(
                spot.base, self.marks
            )
        else:
            spend = margin + mark * qty
            enough = spend <= acct.available(spot.quote, self.marks)
        if not enough:
            raise ApiError(110007, "Available balance is insufficient")

    # ---- settlement -------------------------------------------------------------------------

    def _fill(
        self, order: Order, eng: Engine, price: int, lots: int, maker: bool, now: int, tid: str
    ) -> None:
        if order.inst.category != "spread":
            super()._fill(order, eng, price, lots, maker, now, tid)
            return
        inst, acct = order.inst, self.accounts[order.uid]
        perp, spot = self.spread_legs[inst.symbol]
        qty = inst.qty_dec(lots)
        order.leaves -= lots
        order.cum_qty += lots
        order.cum_value += inst.value(price, lots)
        order.updated = now
        if order.leaves == 0:
            order.status = "Filled"
            acct.open_orders.pop(order.order_id, None)
        else:
            order.status = "PartiallyFilled"
        perp_ticks = max(1, round(self.marks[perp.symbol] / perp.tick))
        spot_price = perp.price_dec(perp_ticks) - inst.price_dec(price)
        spot_ticks = max(1, round(spot_price / spot.tick))
        first = order.side
        second = "Sell" if first == "Buy" else "Buy"
        combo_id = self.ids.new()
        legs = [
            self._leg(acct, order, perp, first, perp_ticks, qty, maker, now, combo_id),
            self._leg(acct, order, spot, second, spot_ticks, qty, maker, now, combo_id),
        ]
        order.cum_fee += sum(Decimal(leg["execFee"] or "0") for leg in legs)
        self.exec_seq += 1
        combo = {
            "category": "combination",
            "symbol": inst.symbol,
            "isLeverage": "",
            "orderId": order.order_id,
            "orderLinkId": order.link_id,
            "side": order.side,
            "orderPrice": inst.price_str(order.price) if order.price is not None else "",
            "orderQty": inst.qty_str(order.qty),
            "leavesQty": inst.qty_str(order.leaves),
            "createType": "CreateByUser",
            "orderType": order.order_type,
            "execFee": "",
            "execFeeV2": "",
            "feeCoin": "",
            "parentExecId": "",
            "execId": combo_id,
            "execPrice": inst.price_str(price),
            "execQty": inst.qty_str(lots),
            "execPnl": "",
            "execType": "Trade",
            "execValue": fmt(inst.value(price, lots)),
            "execTime": str(now),
            "isMaker": maker,
            "feeRate": "",
            "markPrice": "",
            "closedSize": "",
            "seq": self.exec_seq,
        }
        acct.spread_executions.append({**combo, "legs": legs})
        items = self.spread_execs.setdefault(acct.uid, [])
        items.append(combo)
        items.extend({**leg, "parentExecId": combo_id} for leg in legs)
        self.out.order(order)
        self.out.wallet(acct.uid, (perp.settle, spot.base, spot.quote))
        self.out.position(acct.uid, perp.symbol, 0)
        self.moved.add((acct.uid, perp, 0))

    def _leg(
        self,
        acct: Account,
        parent: Order,
        inst: Instrument,
        side: str,
        ticks: int,
        qty: Decimal,
        maker: bool,
        now: int,
        combo_id: str,
    ) -> dict[str, Any]:
        """Trade one leg at `ticks`: settled as a trade of its category, listed in the
        account's executions as `FutureSpread`."""
        lots = int(qty / inst.step)
        self.order_seq += 1
        leg = Order(
            inst=inst, order_id=self.ids.new(), link_id="", uid=acct.uid, side=side,
            order_type="Limit", tif="IOC", price=ticks, qty=lots, position_idx=0, created=now,
            seq=self.order_seq, create_type="CreateByFutureSpread", leaves=0, cum_qty=lots,
            updated=now, status="Filled",
        )  # fmt: skip
        fill: Fill
        if inst.category == "spot":
            fill = acct.settle_spot(leg, ticks, lots, maker, now)
        else:
            pos = acct.position(inst, 0, now)
            fill = acct.settle_derivative(leg, pos, ticks, lots, maker, now)
        exec_id = self.ids.new()
        acct.tx_log[-1]["tradeId"] = exec_id
        self.exec_seq += 1
        mark = self.marks.get(inst.symbol, inst.price_dec(ticks))
        row = execution_row(
            inst,
            seq=self.exec_seq,
            now=now,
            side=side,
            exec_type="FutureSpread",
            exec_id=exec_id,
            order_id=leg.order_id,
            price=inst.price_str(ticks),
            qty=inst.qty_str(lots),
            value=inst.value(ticks, lots),
            fee=fill.fee,
            fee_rate=fill.fee_rate,
            fee_coin=fill.fee_coin,
            mark=mark,
            pnl=fill.pnl,
            maker=maker,
            order_price=inst.price_str(ticks),
            order_qty=inst.qty_str(lots),
            leaves_qty=inst.qty_str(0),
            create_type="CreateByFutureSpread",
            order_type="Limit",
            closed_size=inst.qty_str(fill.closed_lots) if inst.derivative else "",
        )
        acct.executions.append(row)
        self.out.execs.setdefault(acct.uid, []).append(row)
        return {
            "category": "future_leg" if inst.derivative else "spot_leg",
            "symbol": inst.symbol,
            "side": side,
            "execPrice": inst.price_str(ticks),
            "execQty": inst.qty_str(lots),
            "execValue": fmt(inst.value(ticks, lots)),
            "execFee": fmt(fill.fee) if inst.derivative else "",
            "execFeeV2": fmt(fill.fee) if not inst.derivative else "",
            "feeCoin": fill.fee_coin,
            "execType": "FutureSpread",
            "execTime": str(now),
            "execId": exec_id,
            "orderId": "",
            "orderLinkId": "",
            "isMaker": maker,
        }


def spread_row(o: Order, history: bool = False) -> dict[str, Any]:
    """A spread order as `/v5/spread/order/realtime` (and, with the legs, `history`) shows
    it, and as `spread.order` pushes it."""
    inst = o.inst
    row = {
        "symbol": inst.symbol,
        "baseCoin": inst.base,
        "orderType": o.order_type,
        "orderLinkId": o.link_id,
        "side": o.side,
        "timeInForce": o.tif,
        "orderId": o.order_id,
        "leavesQty": inst.qty_str(o.leaves),
        "orderStatus": o.status,
        "cumExecQty": inst.qty_str(o.cum_qty),
        "price": inst.price_str(o.price) if o.price is not None else "",
        "qty": inst.qty_str(o.qty),
        "createdTime": str(o.created),
        "updatedTime": str(o.updated or o.created),
    }
    if history:
        legs = inst.info["legs"]
        second = "Sell" if o.side == "Buy" else "Buy"
        row.update({
            "contractType": inst.info["contractType"], "settleCoin": inst.settle,
            "leg1Symbol": legs[0]["symbol"], "leg1Side": o.side, "leg1ProdType": "Futures",
            "leg1OrderId": "", "leg2Symbol": legs[1]["symbol"], "leg2Side": second,
            "leg2ProdType": "Spot", "leg2OrderId": "", "createdAt": str(o.created),
            "updatedAt": str(o.updated or o.created), "cancelType": o.cancel_type,
        })  # fmt: skip
    return row
