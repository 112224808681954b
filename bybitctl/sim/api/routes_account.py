"""Account and asset REST routes of the core: wallet, fees, ledger, DCP, MMP, transfers."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from bybitctl.sim.api.routes_market import category, int_param, opt_int, opt_time
from bybitctl.sim.api.routes_trade import _acct, page
from bybitctl.sim.core.accounts import FEE_RATES, INITIAL_BALANCES, Account
from bybitctl.sim.core.errors import ApiError, ApiFailure, params_error
from bybitctl.sim.core.margin import MARGIN_MODES, PORTFOLIO_MIN_EQUITY
from bybitctl.sim.core.orders import ZERO, fmt

if TYPE_CHECKING:
    from bybitctl.sim.api.exchange import Exchange

DCP_PRODUCTS = ("OPTIONS", "DERIVATIVES", "SPOT")
ACCOUNT_TYPES = ("UNIFIED", "FUND")


def wallet_balance(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    a = _acct(acct)
    at = p.get("accountType")
    if not at:
        raise params_error("accountType is required")
    if at != "UNIFIED":
        raise ApiError(10001, "accountType only support UNIFIED")
    coins = [c.strip() for c in str(p.get("coin") or "").split(",") if c.strip()] or None
    return {"list": [a.wallet_dict(ex.marks, ex.usd, coins)]}


def fee_rate(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    _acct(acct)
    cat = category(p)
    sym, base = p.get("symbol"), p.get("baseCoin")
    maker, taker = FEE_RATES[cat]
    if cat == "option":
        coins = [base] if base else sorted({i.base for i in ex.catalogue.books.values()})
        rows = [
            {"baseCoin": c, "symbol": "", "takerFeeRate": fmt(taker), "makerFeeRate": fmt(maker)}
            for c in coins
        ]
        return {"list": rows}
    syms = [s for (c, s) in ex.engines if c == cat and (not sym or s == sym)]
    if sym and not syms:
        raise params_error("symbol invalid")
    rows = [{"symbol": s, "baseCoin": "", "takerFeeRate": fmt(taker), "makerFeeRate": fmt(maker)}
            for s in syms]  # fmt: skip
    return {"list": rows}


def transaction_log(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    a = _acct(acct)
    cat, ccy, typ = p.get("category"), p.get("currency"), p.get("type")
    base = p.get("baseCoin")
    start, end = opt_time(p, "startTime"), opt_time(p, "endTime")

    def rows() -> Iterable[tuple[int, dict[str, Any]]]:
        for i in range(len(a.tx_log) - 1, -1, -1):
            r = a.tx_log[i]
            t = int(r["transactionTime"])
            if (
                (cat and r.get("category") != cat)
                or (ccy and r["currency"] != ccy)
                or (typ and r["type"] != typ)
                or (base and not str(r.get("symbol", "")).startswith(base))
                or (start is not None and t < start)
                or (end is not None and t > end)
            ):
                continue
            yield i, r

    limit = int_param(p, "limit", 20)
    out, nxt = page(rows(), limit, p.get("cursor"))
    return {"list": out, "nextPageCursor": nxt}


def account_info(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    a = _acct(acct)
    return {
        "marginMode": a.margin_mode,
        "updatedTime": str(a.created),
        "unifiedMarginStatus": 5,
        "dcpStatus": "ON" if a.dcp else "OFF",
        "timeWindow": max(a.dcp.values()) if a.dcp else 10,
        "smpGroup": 0,
        "isMasterTrader": False,
        "spotHedgingStatus": "OFF",
    }


def set_dcp(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    """Arm disconnect-cancel-all for a product: a window in seconds, in the catalogue's range."""
    a = _acct(acct)
    product = p.get("product") or "OPTIONS"
    if product not in DCP_PRODUCTS:
        raise params_error("product invalid")
    window = opt_int(p, "timeWindow")
    if window is None:
        raise params_error("timeWindow is required")
    a.dcp[product] = window
    ex.trading.out.touched.add(a.uid)
    return {}


def query_dcp(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    a = _acct(acct)
    return {
        "dcpInfos": [
            {"product": prod, "dcpStatus": "ON", "timeWindow": str(w)} for prod, w in a.dcp.items()
        ]
    }


def _base_coin(p: dict[str, Any]) -> str:
    base = p.get("baseCoin")
    if not base:
        raise params_error("baseCoin is required")
    return str(base)


def _option_coin(ex: Exchange, p: dict[str, Any]) -> str:
    """A base coin the exchange lists options of (MMP is for options only)."""
    base = _base_coin(p)
    if not any(i.category == "option" and i.base == base for i in ex.catalogue.books.values()):
        raise params_error(f"baseCoin {base[:20]} has no options")
    return base


def mmp_modify(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    """Arm (or re-arm) MMP for a coin: window and frozen period in ms, qty and delta limits."""
    a = _acct(acct)
    base = _option_coin(ex, p)
    settings: dict[str, Any] = {}
    for name in ("window", "frozenPeriod"):
        v = str(p.get(name) or "")
        if not v.isascii() or not v.isdigit() or len(v) > 12:
            raise params_error(f"{name} must be whole milliseconds")
        settings[name] = v
    if int(settings["window"]) <= 0:
        raise params_error("window must be above 0")
    for name in ("qtyLimit", "deltaLimit"):
        try:
            value = Decimal(str(p.get(name)))
        except InvalidOperation:
            raise params_error(f"{name} invalid") from None
        if not value.is_finite() or value <= 0:
            raise params_error(f"{name} must be above 0")
        settings[name] = fmt(value)
    settings["vegaLimit"] = str(p.get("vegaLimit") or "")
    ex.trading.set_mmp(a, base, settings)
    ex.trading.out.touched.add(a.uid)
    return {}


def mmp_reset(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    """Unfreeze at once and forget the fills counted so far."""
    a = _acct(acct)
    base = _base_coin(p)
    state = ex.trading.mmp.get((a.uid, base))
    if state is None:
        raise ApiError(110062, "There is no MMP information of the institution found.")
    state.reset()
    return {}


def mmp_state(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    a = _acct(acct)
    base = _base_coin(p)
    state = ex.trading.mmp.get((a.uid, base))
    if state is None:
        return {"result": []}
    frozen = state.frozen(ex.clock())
    return {
        "result": [
            {
                "baseCoin": base,
                "mmpEnabled": True,
                **state.settings(),
                "mmpFrozenUntil": str(max(state.frozen_until, 0)),
                "mmpFrozen": frozen,
            }
        ]
    }


def coin_greeks(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    a = _acct(acct)
    base = p.get("baseCoin") or None
    return {"list": ex.trading.coin_greeks(a, base, ex.clock())}


def delivery_record(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    """The account's option deliveries, newest first."""
    a = _acct(acct)
    cat = category(p, ("option", "linear", "inverse"))
    sym = p.get("symbol")
    start, end = opt_time(p, "startTime"), opt_time(p, "endTime")
    rows = (
        (i, r)
        for i, r in reversed(list(enumerate(a.deliveries)))
        if cat == "option"
        and (not sym or r["symbol"] == sym)
        and (start is None or r["deliveryTime"] >= start)
        and (end is None or r["deliveryTime"] <= end)
    )
    out, nxt = page(rows, int_param(p, "limit", 20), p.get("cursor"))
    return {"category": cat, "list": out, "nextPageCursor": nxt}


def inter_transfer(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    """Move a coin between UNIFIED and FUND; the UNIFIED side goes through the ledger."""
    a = _acct(acct)
    for name in ("transferId", "coin", "amount", "fromAccountType", "toAccountType"):
        if not p.get(name):
            raise params_error(f"{name} is required")
    src, dst = p["fromAccountType"], p["toAccountType"]
    if src not in ACCOUNT_TYPES or dst not in ACCOUNT_TYPES or src == dst:
        raise params_error("accountType invalid")
    try:
        amount = Decimal(str(p["amount"]))
    except InvalidOperation:
        raise params_error("amount invalid") from None
    if amount <= 0:
        raise params_error("amount invalid")
    coin, now = str(p["coin"]), ex.clock()
    if any(t["transferId"] == p["transferId"] for t in a.transfers):
        raise ApiError(131214, "TransferId exist")
    if src == "UNIFIED":
        if amount > a.available(coin, ex.marks):
            raise ApiError(131212, "Insufficient balance")
        change, kind = -amount, "TRANSFER_OUT"
    else:
        if amount > a.fund.get(coin, ZERO):
            raise ApiError(131212, "Insufficient balance")
        change, kind = amount, "TRANSFER_IN"
    a.fund[coin] = a.fund.get(coin, ZERO) - change
    a.book_change(coin, change, now, {"type": kind, "category": "", "currency": coin})
    a.transfers.append(
        {
            "transferId": str(p["transferId"]),
            "coin": coin,
            "amount": fmt(amount),
            "fromAccountType": src,
            "toAccountType": dst,
            "timestamp": str(now),
            "status": "SUCCESS",
        }
    )
    ex.trading.out.wallet(a.uid, (coin,))
    return {"transferId": str(p["transferId"]), "status": "SUCCESS"}


def transfer_list(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    a = _acct(acct)
    tid, coin = p.get("transferId"), p.get("coin")
    rows = (
        (i, t)
        for i, t in reversed(list(enumerate(a.transfers)))
        if (not tid or t["transferId"] == tid) and (not coin or t["coin"] == coin)
    )
    out, nxt = page(rows, int_param(p, "limit", 20), p.get("cursor"))
    return {"list": out, "nextPageCursor": nxt}


def set_margin_mode(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    """Switch the account between cross, isolated and portfolio margin. Bybit answers a
    switch it refuses with 3400045 and the reasons in the result."""
    a = _acct(acct)
    mode = p.get("setMarginMode")
    if mode not in MARGIN_MODES:
        raise params_error("setMarginMode invalid")
    reasons = []
    if mode == "PORTFOLIO_MARGIN":
        equity = Decimal(a.wallet_dict(ex.marks, ex.usd)["totalEquity"])
        if equity < PORTFOLIO_MIN_EQUITY:
            reasons.append(
                _reason("3400000", "Equity needs to be equal to or greater than 1000 USDC")
            )
    spreads = any(o.inst.category == "spread" for o in a.open_orders.values())
    if mode == "ISOLATED_MARGIN" and spreads:
        reasons.append(
            _reason("110110", "Spread trading is not available in isolated margin trading mode")
        )
    if reasons:
        raise ApiFailure(3400045, "Set margin mode failed", {"reasons": reasons})
    if mode != a.margin_mode:
        a.margin_mode = mode
        for pos in a.positions.values():
            pos.added_margin = ZERO
            if pos.size:
                ex.trading.out.position(a.uid, pos.inst.symbol, pos.idx)
        ex.trading.out.touched.add(a.uid)
        ex.trading.out.wallet(a.uid)
    return {"reasons": []}


def _reason(code: str, message: str) -> dict[str, str]:
    return {"reasonCode": code, "reasonMsg": message}


def demo_apply_money(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    """Add (`adjustType` 0) or take away (1) demo funds, as Bybit's demo trading does: the
    way a test funds an account with what it needs (a small balance, another coin)."""
    a = _acct(acct)
    kind = opt_int(p, "adjustType") or 0
    if kind not in (0, 1):
        raise params_error("adjustType invalid")
    items = p.get("utaDemoApplyMoney")
    if items is None and p.get("coin"):
        items = [{"coin": p.get("coin"), "amountStr": p.get("amountStr")}]
    elif items is None:  # nothing named: a new account's funds
        items = [{"coin": c, "amountStr": str(v)} for c, v in INITIAL_BALANCES.items()]
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise params_error("utaDemoApplyMoney: give a list of {coin, amountStr} objects")
    changes: list[tuple[str, Decimal]] = []
    for item in items:
        coin = item.get("coin")
        if not isinstance(coin, str) or not coin.isalnum() or not coin.isupper():
            raise params_error("coin invalid")
        try:
            amount = Decimal(str(item.get("amountStr")))
        except InvalidOperation:
            raise params_error("amountStr invalid") from None
        if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("1e-8")):
            raise params_error("amountStr invalid")
        if kind == 1:
            amount = -min(amount, max(ZERO, a.wallet.get(coin, ZERO)))
        changes.append((coin, amount))
    now = ex.clock()
    for coin, amount in changes:
        if amount:
            kind_name = "TRANSFER_IN" if amount > 0 else "TRANSFER_OUT"
            a.book_change(coin, amount, now, {"type": kind_name, "category": "", "currency": coin})
        ex.trading.out.wallet(a.uid, (coin,))
    return {}


def coin_info(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    """Every coin the exchange holds: its instruments' coins and any coin in the account."""
    coins = {c for i in ex.catalogue.books.values() for c in (i.base, i.quote, i.settle)}
    coins.discard("USD")
    if acct is not None:
        coins.update(acct.wallet)
    want = p.get("coin")
    rows = [_coin_row(c) for c in sorted(coins) if not want or c == want]
    return {"rows": rows}


def _coin_row(coin: str) -> dict[str, Any]:
    chain = {
        "chainType": coin,
        "confirmation": "6",
        "withdrawFee": "0",
        "depositMin": "0",
        "withdrawMin": "0",
        "chain": coin,
        "chainDeposit": "1",
        "chainWithdraw": "1",
        "minAccuracy": "8",
        "withdrawPercentageFee": "0",
        "contractAddress": "",
        "safeConfirmNumber": "6",
        "withdrawMax": "10000000",
    }
    return {"name": coin, "coin": coin, "remainAmount": "10000000", "chains": [chain]}


ROUTES = {
    ("GET", "/v5/account/wallet-balance"): wallet_balance,
    ("GET", "/v5/account/fee-rate"): fee_rate,
    ("GET", "/v5/account/transaction-log"): transaction_log,
    ("GET", "/v5/account/info"): account_info,
    ("POST", "/v5/order/disconnected-cancel-all"): set_dcp,
    ("GET", "/v5/account/query-dcp-info"): query_dcp,
    ("POST", "/v5/account/mmp-modify"): mmp_modify,
    ("POST", "/v5/account/mmp-reset"): mmp_reset,
    ("GET", "/v5/account/mmp-state"): mmp_state,
    ("POST", "/v5/asset/transfer/inter-transfer"): inter_transfer,
    ("GET", "/v5/asset/transfer/query-inter-transfer-list"): transfer_list,
    ("POST", "/v5/account/set-margin-mode"): set_margin_mode,
    ("POST", "/v5/account/demo-apply-money"): demo_apply_money,
    ("GET", "/v5/asset/coin/query-info"): coin_info,
    ("GET", "/v5/asset/coin-greeks"): coin_greeks,
    ("GET", "/v5/asset/delivery-record"): delivery_record,
}
