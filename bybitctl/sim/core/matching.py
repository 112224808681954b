"""Order entry and matching: validation with Bybit's retCodes, price-time matching, settlement.

One `Engine` per (category, symbol) holds the book and the public trade tape; `Trading` owns
the user side: it validates a request, matches it against the book (synthetic liquidity and
other users' orders alike), settles every execution into the accounts, and records what the
private streams must show in an `Outbox` that the facade flushes once per call.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import deque
from decimal import Decimal, InvalidOperation
from typing import Any

from bybitctl.sim.core.accounts import DEFAULT_LEVERAGE, Account, Fill, Position, avg_entry, money
from bybitctl.sim.core.book import Book
from bybitctl.sim.core.errors import ApiError, params_error
from bybitctl.sim.core.instruments import Catalogue, Instrument
from bybitctl.sim.core.orders import ZERO, Order, fmt
from bybitctl.sim.market.synthetic import SyntheticMarket

TRADE_CATEGORIES = ("linear", "inverse", "spot")
"""Categories with a trading model; option books are market data only."""
TIFS = ("GTC", "IOC", "FOK", "PostOnly")
MAX_OPEN_ORDERS = 500
BATCH_MAX = {"linear": 20, "inverse": 20, "spot": 10}
TRIGGER_BY = ("LastPrice", "MarkPrice", "IndexPrice")
PRICE_BAND = Decimal("0.05")
"""Buy orders above fair*(1+band) and sells below fair*(1-band) are out of range (110003)."""

PRODUCT_CATEGORIES = {
    "DERIVATIVES": ("linear", "inverse"),
    "SPOT": ("spot",),
    "OPTIONS": ("option",),
}


class Ids:
    """UUID-shaped ids hashed from (seed, counter): a seed reproduces a session, and a
    persisted counter keeps ids unique across restarts on the same state file."""

    def __init__(self, seed: int, counter: int = 0) -> None:
        self.seed = seed
        self.counter = counter

    def new(self) -> str:
        self.counter += 1
        digest = hashlib.blake2b(f"{self.seed}:{self.counter}".encode(), digest_size=16).digest()
        return str(uuid.UUID(bytes=digest, version=4))


class Engine:
    """The book of one symbol, its synthetic crowd, and the public tape of its trades."""

    def __init__(self, inst: Instrument, market: SyntheticMarket, book: Book) -> None:
        self.inst = inst
        self.book = book
        self.market = market
        self.last_price = 0
        self.tick_direction = "ZeroPlusTick"
        self.cts = 0
        self.recent: deque[dict[str, Any]] = deque(maxlen=1000)
        self.pending: list[dict[str, Any]] = []
        self.volume = 0
        self.turnover = ZERO
        self.high = 0
        self.low = 0
        self.open_price = 0
        self.candles: dict[int, list[Any]] = {}
        """minute start (ms) -> [open, high, low, close, lots, turnover] in ticks/lots/Decimal."""

    def record_trade(self, side: str, price: int, lots: int, now: int, trade_id: str) -> None:
        """Print one trade: last price, tick direction, tape, 24h figures and the 1m candle."""
        inst = self.inst
        last = self.last_price
        if price > last:
            self.tick_direction = "PlusTick"
        elif price < last:
            self.tick_direction = "MinusTick"
        elif self.tick_direction == "PlusTick":
            self.tick_direction = "ZeroPlusTick"
        elif self.tick_direction == "MinusTick":
            self.tick_direction = "ZeroMinusTick"
        self.last_price = price
        self.cts = now
        value = inst.value(price, lots)
        self.volume += lots
        self.turnover += value
        self.high = max(self.high, price)
        self.low = min(self.low, price) if self.low else price
        t = {
            "T": now,
            "s": inst.symbol,
            "S": side,
            "v": inst.qty_str(lots),
            "p": inst.price_str(price),
            "L": self.tick_direction,
            "i": trade_id,
            "BT": False,
            "RPI": False,
            "seq": self.book.seq,
        }
        self.recent.append(t)
        self.pending.append(t)
        start = now - now % 60000
        c = self.candles.get(start)
        if c is None:
            self.candles[start] = [price, price, price, price, lots, value]
        else:
            c[1] = max(c[1], price)
            c[2] = min(c[2], price)
            c[3] = price
            c[4] += lots
            c[5] += value


class Outbox:
    """Private changes gathered during one core call, turned into pushes once at its end."""

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Order]] = {}
        self.execs: dict[str, list[dict[str, Any]]] = {}
        self.positions: dict[str, set[tuple[str, int]]] = {}
        self.wallets: dict[str, set[str]] = {}
        """uid -> coins whose rows the wallet push carries (empty: every coin)."""
        self.closed: dict[str, dict[str, dict[str, Any]]] = {}
        self.touched: set[str] = set()
        """Accounts whose settings changed: persisted, nothing pushed."""

    def order(self, o: Order) -> None:
        self.orders.setdefault(o.uid, {})[o.order_id] = o

    def wallet(self, uid: str, coins: tuple[str, ...] = ()) -> None:
        cur = self.wallets.get(uid)
        if cur is None:
            self.wallets[uid] = set(coins)
        elif cur:
            if coins:
                cur.update(coins)
            else:
                cur.clear()

    def position(self, uid: str, symbol: str, idx: int) -> None:
        self.positions.setdefault(uid, set()).add((symbol, idx))

    def empty(self) -> bool:
        return not (self.orders or self.execs or self.positions or self.wallets or self.touched)


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


class Trading:
    """Orders of every account on every book: create, amend, cancel, match and settle."""

    def __init__(
        self,
        catalogue: Catalogue,
        engines: dict[tuple[str, str], Engine],
        accounts: dict[str, Account],
        marks: dict[str, Decimal],
        ids: Ids,
    ) -> None:
        self.catalogue = catalogue
        self.engines = engines
        self.accounts = accounts
        self.marks = marks
        self.ids = ids
        self.out = Outbox()
        self.order_seq = 0
        self.exec_seq = 0
        self.tpsl: set[tuple[str, str, int]] = set()
        """(uid, symbol, positionIdx) of positions with a take-profit or stop-loss set."""
        self.moved: set[tuple[str, Instrument, int]] = set()
        """Positions changed by the sweep being settled."""
        self.closing: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        """orderId -> (running sums, closed-PnL row) while a closing order is still filling."""
        self.conditional: dict[str, Order] = {}
        """orderId -> untriggered conditional orders, checked against their trigger each step."""

    # ---- validation -------------------------------------------------------------------

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

    def _fair_ticks(self, inst: Instrument) -> int:
        return max(1, round(self.engines[(inst.category, inst.symbol)].market.fair_ticks()))

    def _market_price(self, inst: Instrument, side: str, fair: int) -> int:
        """The limit a market order sweeps to: the price band's edge beyond `fair` on its side."""
        band = int(fair * PRICE_BAND)
        return fair + band if side == "Buy" else max(1, fair - band)

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

    # ---- create -----------------------------------------------------------------------

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
        self.order_seq += 1
        order = Order(
            inst=inst,
            order_id=self.ids.new(),
            link_id=link,
            uid=acct.uid,
            side=side,
            order_type=otype,
            tif=tif,
            price=ticks,
            qty=lots,
            position_idx=idx,
            created=now,
            seq=self.order_seq,
            reduce_only=reduce_only,
            close_on_trigger=close_on_trigger,
            market_unit=market_unit,
            quote_qty=quote_qty,
            leaves=lots,
            updated=now,
            take_profit=fmt(take_profit) if not spot else "",
            stop_loss=fmt(stop_loss) if not spot else "",
            last_price_on_created=inst.price_str(eng.last_price),
        )
        if spot and market:
            order.price = None if quote_qty is not None else ticks
        acct.orders[order.order_id] = order
        if link:
            acct.link_ids[link] = order.order_id
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

    def _reducible(self, acct: Account, inst: Instrument, idx: int, side: str, now: int) -> int:
        """Lots an order of `side` on slot `idx` can close."""
        pos = acct.position(inst, idx, now)
        if side == "Sell" and pos.size > 0:
            return pos.size
        if side == "Buy" and pos.size < 0:
            return -pos.size
        return 0

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
        opening = lots
        if inst.symbol not in acct.hedge:
            opening = max(0, lots - self._reducible(acct, inst, 0, side, now))
        lev = acct.leverage.get(inst.symbol, DEFAULT_LEVERAGE)
        need = money(inst.value(ticks, opening) / lev)
        if need > acct.available(inst.settle, self.marks):
            raise ApiError(110007, "Available balance is insufficient")

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
        if inst.derivative:
            pos = acct.position(inst, order.position_idx, now)
            fill = acct.settle_derivative(order, pos, price, lots, maker, now)
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
        ex = {
            "category": inst.category,
            "symbol": inst.symbol,
            "isLeverage": "0" if inst.category == "spot" else "",
            "orderId": order.order_id,
            "orderLinkId": order.link_id,
            "side": order.side,
            "orderPrice": inst.price_str(order.price) if order.price is not None else "",
            "orderQty": inst.qty_str(order.qty),
            "leavesQty": inst.qty_str(0 if order.quote_qty is not None else order.leaves),
            "createType": order.create_type,
            "orderType": order.order_type,
            "stopOrderType": order.stop_order_type or "UNKNOWN",
            "execFee": fmt(fill.fee),
            "execId": tid if not maker else self.ids.new(),
            "execPrice": inst.price_str(price),
            "execQty": inst.qty_str(lots),
            "execPnl": fmt(fill.pnl),
            "execType": "Trade",
            "execValue": fmt(value),
            "execTime": str(now),
            "isMaker": maker,
            "feeRate": fmt(fill.fee_rate),
            "tradeIv": "",
            "markIv": "",
            "markPrice": fmt(mark),
            "indexPrice": fmt(mark),
            "underlyingPrice": "",
            "blockTradeId": "",
            "closedSize": inst.qty_str(fill.closed_lots) if inst.derivative else "",
            "extraFees": "",
            "seq": self.exec_seq,
            "feeCurrency": fill.fee_coin,
            "marketUnit": order.market_unit,
        }
        acct.executions.append(ex)
        self.out.execs.setdefault(acct.uid, []).append(ex)
        self.out.order(order)
        self.out.wallet(acct.uid, inst.coins)
        if order.leaves == 0:
            self.closing.pop(order.order_id, None)
        if pos is not None:
            self.moved.add((acct.uid, inst, pos.idx))

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
                "execType": "Trade",
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

    # ---- amend / cancel ---------------------------------------------------------------

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

    # ---- take-profit / stop-loss ------------------------------------------------------

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
        self.order_seq += 1
        o = Order(
            inst=inst,
            order_id=self.ids.new(),
            link_id="",
            uid=acct.uid,
            side=side,
            order_type="Market",
            tif="IOC",
            price=self._market_price(inst, side, self._fair_ticks(inst)),
            qty=abs(pos.size),
            position_idx=pos.idx,
            created=now,
            seq=self.order_seq,
            reduce_only=True,
            close_on_trigger=True,
            create_type=f"CreateBy{kind}",
            stop_order_type=kind,
            leaves=abs(pos.size),
            updated=now,
        )
        acct.orders[o.order_id] = o
        self.submit(o, eng, now)
