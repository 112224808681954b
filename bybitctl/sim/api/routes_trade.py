"""Trading REST routes of the core: orders, executions and positions."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar

from bybitctl import catalog
from bybitctl.sim.api import params
from bybitctl.sim.api.params import shown
from bybitctl.sim.api.routes_market import category, int_param, opt_int, opt_time
from bybitctl.sim.core.accounts import DEFAULT_LEVERAGE, Account
from bybitctl.sim.core.entry import TRADE_CATEGORIES
from bybitctl.sim.core.errors import ApiError, params_error
from bybitctl.sim.core.margin import Risk, position_row
from bybitctl.sim.core.orders import ZERO, Order, fmt
from bybitctl.sim.core.positions import money

if TYPE_CHECKING:
    from bybitctl.sim.api.exchange import Exchange

BATCH_MAX = {"linear": 20, "inverse": 20, "spot": 10, "option": 20}
"""Most orders one batch request may carry, per category."""

WS_OPS = {
    "order.create": "/v5/order/create",
    "order.amend": "/v5/order/amend",
    "order.cancel": "/v5/order/cancel",
    "order.create-batch": "/v5/order/create-batch",
    "order.amend-batch": "/v5/order/amend-batch",
    "order.cancel-batch": "/v5/order/cancel-batch",
}
"""Trade-WebSocket op -> the REST route it runs."""

T = TypeVar("T")


def page(items: Iterable[tuple[int, T]], limit: int, cursor: str | None) -> tuple[list[T], str]:
    """One page of (key, row) pairs given newest first; the cursor is the next row's key."""
    after = None
    if cursor:
        try:
            after = int(cursor)
        except ValueError:
            raise params_error("cursor invalid") from None
    out: list[T] = []
    for key, row in items:
        if after is not None and key > after:
            continue
        if len(out) == limit:
            return out, str(key)
        out.append(row)
    return out, ""


def _acct(acct: Account | None) -> Account:
    if acct is None:
        raise ApiError(10003, "API key is invalid.")
    return acct


def _ack(o: Order) -> dict[str, Any]:
    return {"orderId": o.order_id, "orderLinkId": o.link_id}


def create(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    return _ack(ex.trading.create(_acct(acct), p, ex.clock()))


def amend(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    return _ack(ex.trading.amend(_acct(acct), p, ex.clock()))


def cancel(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    return _ack(ex.trading.cancel(_acct(acct), p, ex.clock()))


def cancel_all(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    done = ex.trading.cancel_all(_acct(acct), p, ex.clock())
    return {"list": [_ack(o) for o in done], "success": "1"}


def item_route(batch_path: str) -> str:
    """The single-order route one item of a batch is a request to (the catalogue's `items`
    fact), with the batch's category: bound by that route's types and required parameters."""
    row = catalog.by_route("POST", batch_path)
    assert row is not None
    return next(p.items for p in row.params if p.items)


def _text(value: Any) -> str:
    """A batch row echoes an item's symbol and orderLinkId only when they are strings."""
    return value if isinstance(value, str) else ""


def _batch(kind: str) -> Any:
    def route(
        ex: Exchange, p: dict[str, Any], acct: Account | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Every item answers for itself in `retExtInfo.list` (in `result.list`, its ids): a
        bad item fails alone and never hides the orders its neighbours placed."""
        a = _acct(acct)
        cat = category(p, TRADE_CATEGORIES)
        reqs = p.get("request")
        if not isinstance(reqs, list) or not reqs:
            raise params_error("request must be a non-empty array of orders")
        if len(reqs) > BATCH_MAX[cat]:
            raise params_error(f"request has more than {BATCH_MAX[cat]} orders")
        now = ex.clock()
        fn = {"create": ex.trading.create, "amend": ex.trading.amend, "cancel": ex.trading.cancel}[
            kind
        ]
        bound = params.binding("POST", item_route(f"/v5/order/{kind}-batch"))
        rows, codes = [], []
        for r in reqs:
            given = r if isinstance(r, dict) else {}
            row = {
                "category": cat,
                "symbol": _text(given.get("symbol", "")),
                "orderId": "",
                "orderLinkId": _text(given.get("orderLinkId", "")),
            }
            try:
                if not isinstance(r, dict):
                    raise params_error(f"each request item must be an object, got {shown(r)}")
                item = {**r, "category": cat}
                params.check(bound, item, query=False)
                o = fn(a, item, now)
            except ApiError as e:
                codes.append({"code": e.code, "msg": e.msg})
            else:
                row.update(_ack(o))
                codes.append({"code": 0, "msg": "OK"})
                if kind == "create":
                    row["createAt"] = str(o.created)
            if kind == "create" and "createAt" not in row:
                row["createAt"] = ""
            rows.append(row)
        return {"list": rows}, {"list": codes}

    return route


def _order_filter(p: dict[str, Any], cat: str) -> Any:
    sym, base, settle = p.get("symbol"), p.get("baseCoin"), p.get("settleCoin")
    oid, link = p.get("orderId"), p.get("orderLinkId")
    status = p.get("orderStatus")
    start, end = opt_time(p, "startTime"), opt_time(p, "endTime")
    kind = p.get("orderFilter")
    conditional = {"StopOrder": True, "Order": False}.get(kind) if isinstance(kind, str) else None

    def keep(o: Order) -> bool:
        i = o.inst
        return not (
            i.category != cat
            or (conditional is not None and (o.trigger_price is not None) != conditional)
            or (sym and i.symbol != sym)
            or (base and i.base != base)
            or (settle and i.settle != settle)
            or (oid and o.order_id != oid)
            or (link and o.link_id != link)
            or (status and o.status != status)
            or (start is not None and o.created < start)
            or (end is not None and o.created > end)
        )

    return keep


def realtime(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    """Open orders; with orderId/orderLinkId also a recently closed one, as on Bybit."""
    a = _acct(acct)
    cat = category(p)
    keep = _order_filter(p, cat)
    by_id = p.get("orderId") or p.get("orderLinkId")
    src = a.orders.values() if by_id else a.open_orders.values()
    orders = sorted((o for o in src if keep(o)), key=lambda o: o.seq, reverse=True)
    limit = int_param(p, "limit", 20)
    rows, nxt = page(((o.seq, o) for o in orders), limit, p.get("cursor"))
    return {"category": cat, "list": [o.to_dict() for o in rows], "nextPageCursor": nxt}


def history(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    a = _acct(acct)
    cat = category(p)
    keep = _order_filter(p, cat)
    limit = int_param(p, "limit", 20)
    # orders are kept in creation order, so newest-first is a reverse walk that stops early
    newest = ((o.seq, o) for o in reversed(a.orders.values()) if keep(o))
    rows, nxt = page(newest, limit, p.get("cursor"))
    return {"category": cat, "list": [o.to_dict() for o in rows], "nextPageCursor": nxt}


def executions(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    a = _acct(acct)
    cat = category(p)
    sym, oid, link = p.get("symbol"), p.get("orderId"), p.get("orderLinkId")
    base, etype = p.get("baseCoin"), p.get("execType")
    start, end = opt_time(p, "startTime"), opt_time(p, "endTime")

    def rows() -> Iterable[tuple[int, dict[str, Any]]]:
        for e in reversed(a.executions):
            t = int(e["execTime"])
            if (
                e["category"] != cat
                or (sym and e["symbol"] != sym)
                or (oid and e["orderId"] != oid)
                or (link and e["orderLinkId"] != link)
                or (etype and e["execType"] != etype)
                or (base and not e["symbol"].startswith(base))
                or (start is not None and t < start)
                or (end is not None and t > end)
            ):
                continue
            yield e["seq"], e

    limit = int_param(p, "limit", 50)
    out, nxt = page(rows(), limit, p.get("cursor"))
    return {"category": cat, "list": out, "nextPageCursor": nxt}


def pre_check(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    """Validate like create (quantity step and limits, tick grid, price band), and report
    margin rates before/after in basis points."""
    a = _acct(acct)
    t = ex.trading
    inst = t.instrument(p.get("category"), p.get("symbol"))
    view = a.coin_view(inst.settle, ex.marks)
    eq = view["equity"] or Decimal(1)
    pre_im = view["pos_im"] + view["order_im"]
    lots, ticks = t.sized(inst, p)
    qty = inst.qty_dec(lots)
    price = ex.marks.get(inst.symbol, inst.start_price) if ticks is None else inst.price_dec(ticks)
    lev = a.leverage.get(inst.symbol, DEFAULT_LEVERAGE)
    post_im = pre_im + money(qty * price / lev)

    def e4(x: Decimal) -> int:
        return int(x / eq * 10000)

    return {
        "orderId": "",
        "orderLinkId": p.get("orderLinkId", ""),
        "preImrE4": e4(pre_im),
        "preMmrE4": e4(view["pos_mm"]),
        "postImrE4": e4(post_im),
        "postMmrE4": e4(view["pos_mm"] + money(qty * price * Decimal("0.005"))),
    }


def spot_borrow_check(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    """No borrowing: the quota is what the free balance buys or sells."""
    a = _acct(acct)
    category(p, ("spot",))
    inst = ex.trading.instrument("spot", p.get("symbol"))
    side = p.get("side")
    if side not in ("Buy", "Sell"):
        raise params_error("side invalid")
    price = ex.usd.get(inst.base, inst.start_price)
    if side == "Buy":
        amount = max(ZERO, a.available(inst.quote, ex.marks))
        qty = (amount / price).quantize(inst.step)
        coin = inst.quote
    else:
        qty = max(ZERO, a.available(inst.base, ex.marks)).quantize(inst.step)
        amount = money(qty * price)
        coin = inst.base
    return {
        "symbol": inst.symbol,
        "side": side,
        "maxTradeQty": fmt(qty),
        "maxTradeAmount": fmt(amount),
        "spotMaxTradeQty": fmt(qty),
        "spotMaxTradeAmount": fmt(amount),
        "borrowCoin": coin,
    }


# ---- positions ---------------------------------------------------------------------------


def positions(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    a = _acct(acct)
    cat = category(p, ("linear", "inverse", "option"))
    sym, base, settle = p.get("symbol"), p.get("baseCoin"), p.get("settleCoin")
    if cat == "linear" and not (sym or settle):
        raise params_error("symbol or settleCoin is required")
    now = ex.clock()
    risk = Risk(a, ex.marks, ex.usd) if any(p.size for p in a.positions.values()) else None
    out = []
    for (c, s), eng in ex.engines.items():
        inst = eng.inst
        if c != cat or (sym and s != sym):
            continue
        if (base and inst.base != base) or (settle and inst.settle != settle):
            continue
        if cat == "option":
            pos = a.positions.get((s, 0))
            if pos is not None and pos.size:
                out.append(ex.trading.option_row(a, pos, ex.clock()))
            continue
        for pos in a.positions_of(inst, now):
            if sym or pos.size:
                out.append(position_row(a, pos, ex.marks, ex.usd, risk))
    if sym and not out and cat != "option":
        raise params_error("symbol invalid")
    limit = int_param(p, "limit", 20)
    rows, nxt = page(enumerate(out), limit, p.get("cursor"))
    return {"category": cat, "list": rows, "nextPageCursor": nxt}


def _perp(ex: Exchange, p: dict[str, Any]) -> Any:
    """The linear or inverse perpetual a position route names."""
    cat = category(p, ("linear", "inverse"))
    return ex.trading.instrument(cat, p.get("symbol"))


def set_leverage(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    a = _acct(acct)
    inst = _perp(ex, p)
    try:
        buy, sell = Decimal(str(p.get("buyLeverage"))), Decimal(str(p.get("sellLeverage")))
    except InvalidOperation:
        raise params_error("buyLeverage invalid") from None
    if buy != sell and inst.symbol not in a.hedge:
        raise params_error("buyLeverage must equal sellLeverage in one-way mode")
    if not (1 <= buy <= inst.max_leverage) or buy != buy.quantize(Decimal("0.01")):
        raise ApiError(10001, f"leverage invalid: must be between 1 and {inst.max_leverage}")
    if a.leverage.get(inst.symbol, DEFAULT_LEVERAGE) == buy:
        raise ApiError(110043, "Set leverage has not been modified.")
    a.leverage[inst.symbol] = buy
    now = ex.clock()
    for pos in a.positions_of(inst, now):
        pos.leverage = buy
        ex.trading.out.position(a.uid, inst.symbol, pos.idx)
    ex.trading.out.wallet(a.uid, inst.coins)
    return {}


def switch_mode(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    a = _acct(acct)
    cat = category(p, ("linear", "inverse"))
    mode = opt_int(p, "mode")
    if mode not in (0, 3):
        raise params_error("mode invalid")
    sym, coin = p.get("symbol"), p.get("coin")
    if not (sym or coin):
        raise params_error("symbol or coin is required")
    insts = [
        e.inst
        for (c, s), e in ex.engines.items()
        if c == cat and ((sym and s == sym) or (coin and not sym and e.inst.settle == coin))
    ]
    if not insts:
        raise params_error("symbol invalid")
    hedge = mode == 3
    if hedge and cat == "inverse":
        raise ApiError(110029, "Hedge mode is not supported for this symbol.")
    if all((i.symbol in a.hedge) == hedge for i in insts):
        raise ApiError(110025, "Position mode has not been modified.")
    for i in insts:
        if any(pos.size for (s, _), pos in a.positions.items() if s == i.symbol):
            raise ApiError(
                110024, "You have an existing position, so the position mode cannot be switched."
            )
        if any(o.inst is i for o in a.open_orders.values()):
            raise ApiError(
                110028, "You have existing open orders, so the position mode cannot be switched."
            )
    for i in insts:
        if hedge:
            a.hedge.add(i.symbol)
        else:
            a.hedge.discard(i.symbol)
    ex.trading.out.touched.add(a.uid)
    return {}


def trading_stop(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    a = _acct(acct)
    inst = _perp(ex, p)
    idx = opt_int(p, "positionIdx")
    if idx is None:
        raise params_error("positionIdx is required")
    hedge = inst.symbol in a.hedge
    if (hedge and idx not in (1, 2)) or (not hedge and idx != 0):
        raise ApiError(10001, "position idx not match position mode")
    pos = a.positions.get((inst.symbol, idx))
    if pos is None or pos.size == 0:
        raise ApiError(10001, "can not set tp/sl/ts for zero position")
    vals = {}
    for name in ("takeProfit", "stopLoss"):
        v = p.get(name)
        if v is None or v == "":
            continue
        try:
            vals[name] = Decimal(str(v))
        except InvalidOperation:
            raise params_error(f"{name} invalid") from None
        if vals[name] < 0:
            raise params_error(f"{name} invalid")
    if not vals:
        raise ApiError(34040, "Not modified. Indicates you already set this TP/SL value or you "
                              "didn't pass a required parameter")  # fmt: skip
    mark = ex.marks[inst.symbol]
    long = pos.size > 0
    side = "Buy" if long else "Sell"
    tp, sl = vals.get("takeProfit"), vals.get("stopLoss")
    if tp and (tp <= mark if long else tp >= mark):
        way = "higher" if long else "lower"
        raise ApiError(10001, f"TakeProfit:{fmt(tp)} set for {side} position should be {way} "
                              f"than base_price:{fmt(mark)}??LastPrice")  # fmt: skip
    if sl and (sl >= mark if long else sl <= mark):
        way = "lower" if long else "higher"
        raise ApiError(10001, f"StopLoss:{fmt(sl)} set for {side} position should be {way} "
                              f"than base_price:{fmt(mark)}??LastPrice")  # fmt: skip
    if tp is not None:
        pos.take_profit = tp
    if sl is not None:
        pos.stop_loss = sl
    if pos.take_profit or pos.stop_loss:
        ex.trading.tpsl.add((a.uid, inst.symbol, idx))
    ex.trading.out.position(a.uid, inst.symbol, idx)
    return {}


def auto_add_margin(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    a = _acct(acct)
    inst = _perp(ex, p)
    flag = opt_int(p, "autoAddMargin")
    if flag not in (0, 1):
        raise params_error("autoAddMargin invalid")
    idx = opt_int(p, "positionIdx") or 0
    now = ex.clock()
    pos = a.position(inst, idx, now)
    pos.auto_add_margin = flag
    ex.trading.out.position(a.uid, inst.symbol, idx)
    return {}


def add_margin(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    """Add (or, negative, take back) margin of an isolated position."""
    a = _acct(acct)
    inst = _perp(ex, p)
    if a.margin_mode != "ISOLATED_MARGIN":
        raise ApiError(110015, "The position is in cross margin mode.")
    try:
        amount = Decimal(str(p.get("margin")))
    except InvalidOperation:
        raise params_error("margin invalid") from None
    if not amount.is_finite() or amount == 0:
        raise params_error("margin invalid")
    idx = opt_int(p, "positionIdx") or 0
    pos = a.positions.get((inst.symbol, idx))
    if pos is None or not pos.size:
        raise ApiError(110030, "Position does not exist")
    if amount > 0 and amount > a.available(inst.settle, ex.marks):
        raise ApiError(110007, "Available balance is insufficient")
    if pos.added_margin + amount < 0:
        raise ApiError(110046, "Liquidation will be triggered immediately by this adjustment.")
    pos.added_margin += amount
    pos.updated = ex.clock()
    ex.trading.out.position(a.uid, inst.symbol, idx)
    ex.trading.out.wallet(a.uid, inst.coins)
    row = position_row(a, pos, ex.marks, ex.usd)
    keep = ("category", "symbol", "positionIdx", "riskId", "riskLimitValue", "size",
            "positionValue", "avgPrice", "liqPrice", "bustPrice", "markPrice", "leverage",
            "autoAddMargin", "positionStatus", "positionIM", "positionMM", "unrealisedPnl",
            "cumRealisedPnl", "stopLoss", "takeProfit", "trailingStop", "createdTime",
            "updatedTime")  # fmt: skip
    return {k: row[k] for k in keep}


def closed_pnl(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    a = _acct(acct)
    cat = category(p, ("linear", "inverse", "option"))
    sym = p.get("symbol")
    start, end = opt_time(p, "startTime"), opt_time(p, "endTime")

    def rows() -> Iterable[tuple[int, dict[str, Any]]]:
        for i in range(len(a.closed_pnl) - 1, -1, -1):
            r = a.closed_pnl[i]
            t = int(r["updatedTime"])
            if ex.catalogue.get(cat, r["symbol"]) is None or (sym and r["symbol"] != sym):
                continue
            if (start is not None and t < start) or (end is not None and t > end):
                continue
            yield i, r

    limit = int_param(p, "limit", 50)
    out, nxt = page(rows(), limit, p.get("cursor"))
    return {"category": cat, "list": out, "nextPageCursor": nxt}


ROUTES = {
    ("POST", "/v5/order/create"): create,
    ("POST", "/v5/order/amend"): amend,
    ("POST", "/v5/order/cancel"): cancel,
    ("POST", "/v5/order/cancel-all"): cancel_all,
    ("POST", "/v5/order/create-batch"): _batch("create"),
    ("POST", "/v5/order/amend-batch"): _batch("amend"),
    ("POST", "/v5/order/cancel-batch"): _batch("cancel"),
    ("GET", "/v5/order/realtime"): realtime,
    ("GET", "/v5/order/history"): history,
    ("POST", "/v5/order/pre-check"): pre_check,
    ("GET", "/v5/order/spot-borrow-check"): spot_borrow_check,
    ("GET", "/v5/execution/list"): executions,
    ("GET", "/v5/position/list"): positions,
    ("POST", "/v5/position/set-leverage"): set_leverage,
    ("POST", "/v5/position/switch-mode"): switch_mode,
    ("POST", "/v5/position/trading-stop"): trading_stop,
    ("POST", "/v5/position/set-auto-add-margin"): auto_add_margin,
    ("GET", "/v5/position/closed-pnl"): closed_pnl,
    ("POST", "/v5/position/add-margin"): add_margin,
}
