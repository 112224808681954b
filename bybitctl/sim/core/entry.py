"""Order entry: a user's create, amend and cancel, validated with Bybit's retCodes.

`Trading` is the whole desk: entry on top of triggers, matching and settlement.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from bybitctl.sim.core.accounts import Account
from bybitctl.sim.core.desk import PRICE_BAND
from bybitctl.sim.core.errors import ApiError, params_error
from bybitctl.sim.core.instruments import Instrument
from bybitctl.sim.core.orders import ZERO, Order, fmt
from bybitctl.sim.core.triggers import Triggers

TRADE_CATEGORIES = ("linear", "inverse", "spot", "option")
"""Categories orders are placed in (spread orders have routes of their own)."""
TIFS = ("GTC", "IOC", "FOK", "PostOnly")
MAX_OPEN_ORDERS = 500
TRIGGER_BY = ("LastPrice", "MarkPrice", "IndexPrice")

PRODUCT_CATEGORIES = {
    "DERIVATIVES": ("linear", "inverse"),
    "SPOT": ("spot",),
    "OPTIONS": ("option",),
}


def _dec(p: dict[str, Any], name: str) -> Decimal | None:
    """A price, quantity or trigger: absent or "" is None; a negative one is 10001 naming it
    (zero is left to the rule of the field, e.g. spot's 170136)."""
    v = p.get(name)
    if v is None or v == "":
        return None
    try:
        d = Decimal(str(v))
    except InvalidOperation:
        raise params_error(f"{name} invalid") from None
    if not d.is_finite() or d < 0:
        raise params_error(f"{name} invalid")
    return d


def _bool(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.lower() == "true") or v == 1


class Trading(Triggers):
    """Orders of every account on every book: create, amend, cancel, match and settle."""

    def instrument(self, category: Any, symbol: Any) -> Instrument:
        if category not in ("linear", "spot", "inverse", "option"):
            raise params_error("category invalid")
        if category not in TRADE_CATEGORIES:
            raise ApiError(10001, f"category {category} trading is not modelled by the exchange")
        inst = self.catalogue.get(category, symbol)
        if inst is None:
            if category == "spot":
                raise ApiError(170121, "Invalid symbol.")
            raise ApiError(10001, "params error: symbol invalid")
        if inst.symbol in self.expired:
            raise ApiError(110074, "This contract is not live")
        return inst

    def _price_ticks(self, inst: Instrument, price: Decimal) -> int:
        spot = inst.category == "spot"
        if price <= 0:
            raise (
                ApiError(170133, "Order price lower than the minimum.")
                if spot
                else ApiError(110003, "Order price exceeds the allowable range .")
            )
        ticks = inst.to_ticks(price)
        if ticks is None:
            if spot:
                raise ApiError(170134, "Order price decimal too long.")
            raise params_error(f"price must be a multiple of tickSize {fmt(inst.tick)}")
        return ticks

    def _band(self, inst: Instrument, side: str, ticks: int) -> None:
        if inst.category == "option":
            return  # option prices have no band here: the book is the only limit
        fair = Decimal(repr(self.engines[(inst.category, inst.symbol)].market.path.price))
        px = inst.price_dec(ticks)
        spot = inst.category == "spot"
        if side == "Buy" and px > fair * (1 + PRICE_BAND):
            lim = fmt((fair * (1 + PRICE_BAND)).quantize(inst.tick))
            if spot:
                raise ApiError(170193, f"Buy order price cannot be higher than {lim}.")
            raise ApiError(110003, "Order price exceeds the allowable range .")
        if side == "Sell" and px < fair * (1 - PRICE_BAND):
            lim = fmt((fair * (1 - PRICE_BAND)).quantize(inst.tick))
            if spot:
                raise ApiError(170194, f"Sell order price cannot be lower than {lim}.")
            raise ApiError(110003, "Order price exceeds the allowable range .")

    def _lots(self, inst: Instrument, qty: Decimal, market: bool) -> int:
        spot = inst.category == "spot"
        if qty <= 0:
            raise (
                ApiError(170136, "Order quantity lower than the minimum.")
                if spot
                else (params_error("qty invalid"))
            )
        lots = inst.to_lots(qty)
        if lots is None:
            if spot:
                raise ApiError(170137, "Order volume decimal too long")
            raise params_error(f"qty must be a multiple of qtyStep {fmt(inst.step)}")
        if lots < inst.min_qty:
            if spot:
                raise ApiError(170136, "Order quantity lower than the minimum.")
            raise ApiError(10001, "The number of contracts exceeds minimum limit allowed")
        if lots > (inst.max_mkt_qty if market else inst.max_qty):
            if spot:
                raise ApiError(170381, "Order quantity too large.")
            raise ApiError(
                10001, "The number of contracts exceeds maximum limit allowed: too large"
            )
        return lots

    def sized(self, inst: Instrument, p: dict[str, Any]) -> tuple[int, int | None]:
        """(lots, ticks) of the order `p` describes, checked as `create` checks them, without
        placing it; ticks is None for a market order or one without a price."""
        qty = _dec(p, "qty")
        if qty is None:
            raise params_error("qty is required")
        market = p.get("orderType") == "Market"
        lots = self._lots(inst, qty, market)
        price = _dec(p, "price")
        if market or price is None:
            return lots, None
        ticks = self._price_ticks(inst, price)
        self._band(inst, p.get("side"), ticks)
        return lots, ticks

    def _resolve_idx(self, acct: Account, inst: Instrument, p: dict[str, Any]) -> int:
        if inst.category == "spot":
            return 0
        raw = p.get("positionIdx", 0)
        try:
            idx = int(raw)
        except (TypeError, ValueError):
            raise params_error("positionIdx invalid") from None
        hedge = inst.symbol in acct.hedge
        if (hedge and idx not in (1, 2)) or (not hedge and idx != 0):
            raise ApiError(10001, "position idx not match position mode")
        return idx

    def create(self, acct: Account, p: dict[str, Any], now: int) -> Order:
        """Validate, match and rest one order; raises ApiError for a rejected request."""
        inst = self.instrument(p.get("category"), p.get("symbol"))
        spot = inst.category == "spot"
        side = p.get("side")
        if side not in ("Buy", "Sell"):
            raise ApiError(170117, "Invalid side.") if spot else params_error("side invalid")
        otype = p.get("orderType")
        if otype not in ("Market", "Limit"):
            raise (
                ApiError(170116, "Invalid orderType.")
                if spot
                else params_error("orderType invalid")
            )
        market = otype == "Market"
        tif = p.get("timeInForce") or ("IOC" if market else "GTC")
        if tif not in TIFS or (market and tif == "PostOnly"):
            raise (
                ApiError(170115, "Invalid timeInForce.")
                if spot
                else params_error("timeInForce invalid")
            )
        if market and tif == "GTC":
            tif = "IOC"
        link = str(p.get("orderLinkId") or "")
        if len(link) > 36:
            raise params_error("orderLinkId is too long")
        option = inst.category == "option"
        if option and not link:
            raise params_error("orderLinkId is required for option orders")
        mmp = option and _bool(p.get("mmp"))
        if mmp:
            self._check_mmp(acct, inst, now)
        if link and link in acct.link_ids:
            raise (
                ApiError(170141, "Duplicate clientOrderId")
                if spot
                else ApiError(110072, "OrderLinkedID is duplicate")
            )
        qty = _dec(p, "qty")
        if qty is None:
            raise params_error("qty is required")
        price = _dec(p, "price")
        take_profit, stop_loss = _dec(p, "takeProfit") or ZERO, _dec(p, "stopLoss") or ZERO
        if option and _dec(p, "triggerPrice"):
            raise params_error("option orders cannot be conditional")
        trigger = self._trigger(inst, p)
        idx = self._resolve_idx(acct, inst, p)
        reduce_only = _bool(p.get("reduceOnly")) and not spot
        close_on_trigger = _bool(p.get("closeOnTrigger")) and not spot
        market_unit = ""
        quote_qty: Decimal | None = None
        if spot and market:
            market_unit = p.get("marketUnit") or ("quoteCoin" if side == "Buy" else "baseCoin")
            if market_unit not in ("baseCoin", "quoteCoin"):
                raise ApiError(170130, "Data sent for paramter 'marketUnit' is not valid.")
        if market_unit == "quoteCoin":
            if qty <= 0:
                raise ApiError(170136, "Order quantity lower than the minimum.")
            if qty < inst.min_notional:
                raise ApiError(170140, "Order value exceeded lower limit")
            quote_qty = qty
            lots = inst.max_mkt_qty
        else:
            lots = self._lots(inst, qty, market)
        if market:
            ticks = self._market_price(inst, side, self._fair_ticks(inst))
        else:
            if price is None:
                raise params_error("price is required for a Limit order")
            ticks = self._price_ticks(inst, price)
            if trigger is None:  # a conditional order meets the band when it triggers
                self._band(inst, side, ticks)
        # a reduce-only order may close, never open: cap it at what is there to close
        hedge_close = idx in (1, 2) and (side == "Sell") == (idx == 1)
        if reduce_only or close_on_trigger or hedge_close:
            reducible = self._reducible(acct, inst, idx, side, now)
            if reducible <= 0:
                raise ApiError(110017, "orderQty will be truncated to zero")
            if reduce_only or hedge_close:
                reduce_only = True
                lots = min(lots, reducible)
        value = inst.value(ticks, lots)
        if spot and quote_qty is None and value < inst.min_notional:
            raise ApiError(170140, "Order value exceeded lower limit")
        if not spot and not reduce_only and value < inst.min_notional:
            raise ApiError(110094, "Order notional value below the lower limit")
        if sum(1 for o in acct.open_orders.values() if o.inst is inst) >= MAX_OPEN_ORDERS:
            raise ApiError(110020, "Not allowed to have more than 500 active orders.")
        if trigger is None:  # a conditional order holds no funds until it triggers
            self._check_funds(acct, inst, side, ticks, lots, quote_qty, reduce_only, now)
        eng = self.engines[(inst.category, inst.symbol)]
        order = self.new_order(
            acct,
            inst,
            now,
            side=side,
            order_type=otype,
            tif=tif,
            price=None if spot and market and quote_qty is not None else ticks,
            qty=lots,
            position_idx=idx,
            link_id=link,
            reduce_only=reduce_only,
            close_on_trigger=close_on_trigger,
            market_unit=market_unit,
            quote_qty=quote_qty,
            take_profit=fmt(take_profit) if inst.derivative else "",
            stop_loss=fmt(stop_loss) if inst.derivative else "",
            last_price_on_created=inst.price_str(eng.last_price),
            mmp=mmp,
        )
        if trigger is not None:
            order.trigger_price, order.trigger_direction, order.trigger_by = trigger
            order.status, order.stop_order_type = "Untriggered", "Stop"
            acct.open_orders[order.order_id] = order
            self.conditional[order.order_id] = order
            self.out.order(order)
            return order
        self.submit(order, eng, now)
        return order

    def _trigger(self, inst: Instrument, p: dict[str, Any]) -> tuple[int, int, str] | None:
        """(trigger ticks, direction, triggerBy) of a conditional order, None for a plain one.

        Spot orders are conditional with `orderFilter=StopOrder` only and always trigger on
        the last price, in the direction the trigger lies from it.
        """
        price = _dec(p, "triggerPrice")
        spot = inst.category == "spot"
        if not price or (spot and p.get("orderFilter") != "StopOrder"):
            return None
        ticks = self._price_ticks(inst, price)
        by = "LastPrice" if spot else p.get("triggerBy") or "LastPrice"
        if by not in TRIGGER_BY:
            raise params_error("triggerBy invalid")
        if spot:
            last = self.engines[(inst.category, inst.symbol)].last_price
            direction = 1 if ticks > last else 2
        else:
            raw = p.get("triggerDirection")
            direction = int(raw) if str(raw) in ("1", "2") else 0
            if not direction:
                raise params_error("triggerDirection invalid")
        self._check_trigger(inst, direction, by, ticks)
        return ticks, direction, by

    def find(self, acct: Account, inst: Instrument, p: dict[str, Any]) -> Order:
        """The open order named by orderId or orderLinkId (110001 / 170213 when there is none)."""
        oid, link = p.get("orderId") or "", p.get("orderLinkId") or ""
        if not oid and not link:
            raise params_error("orderId or orderLinkId is required")
        if not oid:
            oid = acct.link_ids.get(link, "")
        o = acct.open_orders.get(oid)
        if o is None or o.inst is not inst or (link and o.link_id != link):
            if inst.category == "spot":
                raise ApiError(170213, "Order does not exist.")
            raise ApiError(110001, "Order does not exist")
        return o

    def amend(self, acct: Account, p: dict[str, Any], now: int) -> Order:
        """Change price and/or qty; a smaller qty keeps queue priority, anything else requeues."""
        inst = self.instrument(p.get("category"), p.get("symbol"))
        o = self.find(acct, inst, p)
        qty, price = _dec(p, "qty"), _dec(p, "price")
        new_lots = o.qty if qty is None else self._lots(inst, qty, False)
        new_ticks = o.price if price is None else self._price_ticks(inst, price)
        tp, sl = _dec(p, "takeProfit"), _dec(p, "stopLoss")
        trigger = _dec(p, "triggerPrice") if o.status == "Untriggered" else None
        if qty is None and price is None and tp is None and sl is None and trigger is None:
            raise params_error("nothing to amend")
        if new_lots <= o.cum_qty:
            raise ApiError(
                110064,
                "The modified contract quantity cannot be less than or equal to the filled "
                "quantity.",
            )
        if o.status == "Untriggered":
            # off the book until it triggers: only its terms change
            if trigger is not None:
                ticks = self._price_ticks(inst, trigger)
                self._check_trigger(inst, o.trigger_direction, o.trigger_by, ticks)
                o.trigger_price = ticks
            o.qty = o.leaves = new_lots
            o.price = new_ticks
            if tp is not None:
                o.take_profit = fmt(tp)
            if sl is not None:
                o.stop_loss = fmt(sl)
            o.updated = now
            self.out.order(o)
            return o
        if new_ticks != o.price:
            self._band(inst, o.side, new_ticks)  # type: ignore[arg-type]
        eng = self.engines[(inst.category, inst.symbol)]
        side = eng.book.side(o.side)
        new_leaves = new_lots - o.cum_qty
        if inst.category == "spot":
            extra = ZERO
            if o.side == "Buy":
                extra = inst.price_dec(new_ticks) * inst.qty_dec(new_leaves) - inst.price_dec(
                    o.price  # type: ignore[arg-type]
                ) * inst.qty_dec(o.leaves)
                coin = inst.quote
            else:
                extra, coin = inst.qty_dec(new_leaves - o.leaves), inst.base
            if extra > acct.available(coin, self.marks):
                raise ApiError(170131, "Balance insufficient")
        if tp is not None:
            o.take_profit = fmt(tp)
        if sl is not None:
            o.stop_loss = fmt(sl)
        o.updated = now
        if new_ticks == o.price and new_leaves <= o.leaves and o.entry is not None:
            side.change_entry(o.price, o.entry, new_leaves)  # type: ignore[arg-type]
            o.qty, o.leaves = new_lots, new_leaves
            self.out.order(o)
            self.out.wallet(acct.uid, inst.coins)
            return o
        if o.entry is not None:
            side.change_entry(o.price, o.entry, 0)  # type: ignore[arg-type]
            o.entry = None
        acct.open_orders.pop(o.order_id, None)
        o.qty, o.leaves, o.price = new_lots, new_leaves, new_ticks
        self.submit(o, eng, now)
        return o

    def cancel_order(self, o: Order, now: int, cancel_type: str = "CancelByUser") -> None:
        """Take an open order off the book; it keeps what it filled."""
        if o.entry is not None:
            eng = self.engines[(o.inst.category, o.inst.symbol)]
            eng.book.side(o.side).change_entry(o.price, o.entry, 0)  # type: ignore[arg-type]
            o.entry = None
        spot = o.inst.category == "spot"
        if o.status == "Untriggered":
            o.status = "Deactivated"
            self.conditional.pop(o.order_id, None)
        else:
            o.status = "PartiallyFilledCanceled" if spot and o.cum_qty else "Cancelled"
        o.cancel_type = cancel_type
        o.leaves = 0
        o.updated = now
        acct = self.accounts[o.uid]
        acct.open_orders.pop(o.order_id, None)
        self.closing.pop(o.order_id, None)
        self.out.order(o)
        self.out.wallet(o.uid, o.inst.coins)
        if not spot:
            self.out.position(o.uid, o.inst.symbol, o.position_idx)

    def cancel(self, acct: Account, p: dict[str, Any], now: int) -> Order:
        inst = self.instrument(p.get("category"), p.get("symbol"))
        o = self.find(acct, inst, p)
        self.cancel_order(o, now)
        return o

    def cancel_all(self, acct: Account, p: dict[str, Any], now: int) -> list[Order]:
        """Cancel open orders of a category, narrowed by symbol, baseCoin or settleCoin."""
        cat = p.get("category")
        if cat not in ("linear", "spot", "inverse", "option"):
            raise params_error("category invalid")
        symbol, base, settle = p.get("symbol"), p.get("baseCoin"), p.get("settleCoin")
        if cat in ("linear", "inverse") and not (symbol or base or settle):
            raise params_error("symbol, baseCoin or settleCoin is required")
        done = []
        for o in list(acct.open_orders.values()):
            i = o.inst
            if i.category != cat or (symbol and i.symbol != symbol):
                continue
            if (base and i.base != base) or (settle and i.settle != settle):
                continue
            self.cancel_order(o, now)
            done.append(o)
        return done

    def cancel_products(self, acct: Account, product: str, now: int) -> None:
        """Cancel every open order of a DCP product (DERIVATIVES, SPOT, OPTIONS)."""
        cats = PRODUCT_CATEGORIES.get(product, ())
        for o in list(acct.open_orders.values()):
            if o.inst.category in cats:
                self.cancel_order(o, now, "CancelByDcp")
