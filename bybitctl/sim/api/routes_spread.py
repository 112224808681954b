"""Spread trading REST routes: orders on the spread books, their history and fills."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bybitctl.sim.api.routes_market import int_param, opt_time
from bybitctl.sim.api.routes_trade import _acct, page
from bybitctl.sim.core.accounts import Account
from bybitctl.sim.core.errors import params_error
from bybitctl.sim.core.orders import Order, fmt
from bybitctl.sim.core.spread_desk import spread_row

if TYPE_CHECKING:
    from bybitctl.sim.api.exchange import Exchange


def _ack(o: Order) -> dict[str, Any]:
    return {"orderId": o.order_id, "orderLinkId": o.link_id}


def create(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    return _ack(ex.trading.spread_create(_acct(acct), p, ex.clock()))


def amend(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    return _ack(ex.trading.spread_amend(_acct(acct), p, ex.clock()))


def cancel(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    return _ack(ex.trading.spread_cancel(_acct(acct), p, ex.clock()))


def cancel_all(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    done = ex.trading.spread_cancel_all(_acct(acct), p, ex.clock())
    return {"list": [_ack(o) for o in done], "success": "1"}


def _orders(ex: Exchange, p: dict[str, Any], a: Account, open_only: bool) -> list[Order]:
    sym, base = p.get("symbol"), p.get("baseCoin")
    oid, link = p.get("orderId"), p.get("orderLinkId")
    start, end = opt_time(p, "startTime"), opt_time(p, "endTime")
    src = a.open_orders.values() if open_only else reversed(a.orders.values())
    return [
        o
        for o in src
        if o.inst.category == "spread"
        and (not sym or o.inst.symbol == sym)
        and (not base or o.inst.base == base)
        and (not oid or o.order_id == oid)
        and (not link or o.link_id == link)
        and (start is None or o.created >= start)
        and (end is None or o.created <= end)
    ]


def realtime(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    a = _acct(acct)
    orders = sorted(_orders(ex, p, a, True), key=lambda o: o.seq, reverse=True)
    rows, nxt = page(((o.seq, o) for o in orders), int_param(p, "limit", 20),
                     p.get("cursor"))  # fmt: skip
    return {"list": [spread_row(o) for o in rows], "nextPageCursor": nxt}


def history(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    a = _acct(acct)
    orders = _orders(ex, p, a, False)
    rows, nxt = page(((o.seq, o) for o in orders), int_param(p, "limit", 20),
                     p.get("cursor"))  # fmt: skip
    return {"list": [spread_row(o, history=True) for o in rows], "nextPageCursor": nxt}


def executions(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    a = _acct(acct)
    sym, oid, link = p.get("symbol"), p.get("orderId"), p.get("orderLinkId")
    start, end = opt_time(p, "startTime"), opt_time(p, "endTime")

    def rows() -> Iterable[tuple[int, dict[str, Any]]]:
        for e in reversed(a.spread_executions):
            t = int(e["execTime"])
            if (
                (sym and e["symbol"] != sym)
                or (oid and e["orderId"] != oid)
                or (link and e["orderLinkId"] != link)
                or (start is not None and t < start)
                or (end is not None and t > end)
            ):
                continue
            yield e["seq"], {k: e[k] for k in _EXEC_KEYS}

    out, nxt = page(rows(), int_param(p, "limit", 20), p.get("cursor"))
    return {"list": out, "nextPageCursor": nxt}


_EXEC_KEYS = ("symbol", "orderLinkId", "side", "orderId", "execPrice", "legs", "execTime",
              "execType", "execQty", "execId")  # fmt: skip


def max_qty(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    """The largest order the account's funds allow for the spread's two legs."""
    a = _acct(acct)
    inst = ex.trading.spread(p.get("symbol"))
    side = {"1": "Buy", "2": "Sell"}.get(str(p.get("side")), p.get("side"))  # both spellings
    if side not in ("Buy", "Sell"):
        raise params_error("side invalid")
    return {"ab": fmt(ex.trading.spread_max_qty(a, inst, side))}


ROUTES = {
    ("POST", "/v5/spread/order/create"): create,
    ("POST", "/v5/spread/order/amend"): amend,
    ("POST", "/v5/spread/order/cancel"): cancel,
    ("POST", "/v5/spread/order/cancel-all"): cancel_all,
    ("GET", "/v5/spread/order/realtime"): realtime,
    ("GET", "/v5/spread/order/history"): history,
    ("GET", "/v5/spread/execution/list"): executions,
    ("GET", "/v5/spread/max-qty"): max_qty,
}
