"""Public market REST routes of the core (`/v5/market/...`)."""

from __future__ import annotations

import random
import zlib
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bybitctl.sim.api.params import INT64_MAX
from bybitctl.sim.core.engine import Engine
from bybitctl.sim.core.errors import params_error
from bybitctl.sim.core.orders import fmt
from bybitctl.sim.market.history import candles, check_interval, rows
from bybitctl.sim.market.tickers import price_limit_row, rest_row, ticker

if TYPE_CHECKING:
    from collections.abc import Callable

    from bybitctl.sim.api.exchange import Exchange
    from bybitctl.sim.core.accounts import Account

CATEGORIES = ("spot", "linear", "inverse", "option")
MAX_TIME_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z."""


def int_param(
    p: dict[str, Any], name: str, default: int, lo: int | None = None, hi: int | None = None
) -> int:
    """An integer parameter, in [lo, hi] when given; 10001 naming it when it is not. Give the
    bounds only where the catalogue has none: its ranges are checked when a request is bound
    (`bybitctl.sim.api.params.check`)."""
    v = p.get(name)
    if v is None or v == "":
        return default
    try:
        n = int(v)
    except (TypeError, ValueError):
        raise params_error(f"{name} invalid") from None
    if lo is not None and hi is not None and not lo <= n <= hi:
        raise params_error(f"{name} out of range [{lo}, {hi}]")
    return n


def opt_int(p: dict[str, Any], name: str) -> int | None:
    v = p.get(name)
    if v is None or v == "":
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        raise params_error(f"{name} invalid") from None


def opt_time(p: dict[str, Any], name: str) -> int | None:
    """A timestamp in milliseconds, or None; 10001 naming it when it lies before 1970 or
    after the last millisecond a calendar date (and so a monthly kline) can name."""
    t = opt_int(p, name)
    if t is not None and not 0 <= t <= MAX_TIME_MS:
        raise params_error(f"{name} out of range [0, {MAX_TIME_MS}]")
    return t


def category(p: dict[str, Any], allowed: tuple[str, ...] = CATEGORIES) -> str:
    cat = p.get("category")
    if not cat:
        raise params_error("category is required")
    if cat not in allowed:
        raise params_error("category invalid")
    return str(cat)


def engine(ex: Exchange, cat: str, symbol: Any) -> Engine:
    if not symbol:
        raise params_error("symbol is required")
    eng = ex.engines.get((cat, symbol))
    if eng is None:
        raise params_error("symbol invalid")
    return eng


def server_time(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    now = ex.clock()
    return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}


def instruments(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    cat = category(p)
    out = ex.catalogue.rows(cat)
    if p.get("symbol"):
        out = [r for r in out if r["symbol"] == p["symbol"]]
    if p.get("baseCoin"):
        out = [r for r in out if r["baseCoin"] == p["baseCoin"]]
    if p.get("status"):
        out = [r for r in out if r["status"] == p["status"]]
    else:  # delivered options are listed only when asked for by status
        out = [r for r in out if r["status"] != "Closed"]
    limit = int_param(p, "limit", 500)
    start = int_param(p, "cursor", 0, 0, INT64_MAX)
    page = out[start : start + limit]
    nxt = str(start + limit) if start + limit < len(out) else ""
    return {"category": cat, "list": page, "nextPageCursor": nxt}


def orderbook(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    cat = category(p)
    eng = engine(ex, cat, p.get("symbol"))
    top = 100 if cat == "option" else 1000
    limit = int_param(p, "limit", 1 if cat in ("spot", "option") else 25, 1, top)
    feed = ex.feeds[(cat, eng.inst.symbol)]
    pending, res = feed.rest(limit, ex.clock())
    ex.public.emit(cat, pending)
    return res


def tickers(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    cat = category(p)
    now = ex.clock()
    sym = p.get("symbol")
    engs = [e for (c, s), e in ex.engines.items() if c == cat and (not sym or s == sym)]
    if sym and not engs:
        raise params_error("symbol invalid")
    if p.get("baseCoin"):
        engs = [e for e in engs if e.inst.base == p["baseCoin"]]
    return {"category": cat, "list": [rest_row(ticker(e, ex, now), cat) for e in engs]}


def _kline(kind: str) -> Callable[[Exchange, dict[str, Any], Account | None], dict[str, Any]]:
    def route(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
        cat = p.get("category") or "linear"
        if cat not in ("spot", "linear", "inverse") or (kind != "trade" and cat == "spot"):
            raise params_error("category invalid")
        eng = engine(ex, cat, p.get("symbol"))
        interval = str(p.get("interval") or "")
        if not interval:
            raise params_error("interval is required")
        check_interval(interval)
        limit = int_param(p, "limit", 200)
        now = ex.clock()
        data = candles(
            eng, ex.histories[eng.inst.base], interval, opt_time(p, "start"), opt_time(p, "end"),
            limit, now,
        )  # fmt: skip
        return {"symbol": eng.inst.symbol, "category": cat, "list": rows(eng, data, kind)}

    return route


def recent_trades(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    cat = category(p, ("spot", "linear", "inverse", "option"))
    if cat == "option" and not p.get("symbol"):
        base = p.get("baseCoin") or "BTC"
        engs = [e for (c, _), e in ex.engines.items() if c == "option" and e.inst.base == base]
    else:
        engs = [engine(ex, cat, p.get("symbol"))]
    limit = int_param(p, "limit", 60 if cat == "spot" else 500, 1, 1000)
    trades = sorted((t for e in engs for t in e.recent), key=lambda t: t["T"])[-limit:]
    trades.reverse()
    return {
        "category": cat,
        "list": [
            {
                "execId": t["i"],
                "symbol": t["s"],
                "price": t["p"],
                "size": t["v"],
                "side": t["S"],
                "time": str(t["T"]),
                "isBlockTrade": False,
                "isRPITrade": False,
                "seq": str(t["seq"]),
            }
            for t in trades
        ],
    }


def _rng(ex: Exchange, *key: Any) -> random.Random:
    return random.Random(zlib.crc32(":".join(map(str, (ex.seed, *key))).encode()))


def funding_history(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    """The rates settled at each funding time up to now (the same rates positions paid)."""
    cat = category(p, ("linear", "inverse"))
    eng = engine(ex, cat, p.get("symbol"))
    limit = int_param(p, "limit", 200)
    interval = ex.funding_interval
    end = min(opt_time(p, "endTime") or ex.clock(), ex.next_funding - interval)
    start = opt_time(p, "startTime")
    t = end - end % interval
    out = []
    while len(out) < limit and (start is None or t >= start):
        rate = ex.funding_rate(eng.inst.symbol, t)
        out.append(
            {"symbol": eng.inst.symbol, "fundingRate": fmt(rate), "fundingRateTimestamp": str(t)}
        )
        t -= interval
    return {"category": cat, "list": out}


_OI_INTERVALS = {"5min": 300_000, "15min": 900_000, "30min": 1_800_000, "1h": 3_600_000,
                 "4h": 14_400_000, "1d": 86_400_000}  # fmt: skip
_RATIO_PERIODS = {**_OI_INTERVALS}


def _series(
    ex: Exchange, p: dict[str, Any], step: int, make: Callable[[int], dict]
) -> tuple[list[dict[str, Any]], str]:
    """A time series newest first, paged by a cursor holding the next timestamp."""
    limit = int_param(p, "limit", 50)
    end = opt_time(p, "cursor") or opt_time(p, "endTime") or ex.clock()
    start = opt_time(p, "startTime")
    t = end - end % step
    out = []
    while len(out) < limit and (start is None or t >= start):
        out.append(make(t))
        t -= step
    more = start is None or t >= start
    return out, str(t) if more else ""


def open_interest(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    cat = category(p, ("linear", "inverse"))
    eng = engine(ex, cat, p.get("symbol"))
    step = _OI_INTERVALS.get(str(p.get("intervalTime") or ""))
    if step is None:
        raise params_error("intervalTime invalid")
    base = eng.inst.qty_dec(eng.market.level_lots * 500)

    def make(t: int) -> dict[str, Any]:
        r = _rng(ex, "oi", eng.inst.symbol, t)
        oi = (base * Decimal(repr(round(1 + r.uniform(-0.05, 0.05), 4)))).quantize(Decimal("0.001"))
        return {"openInterest": fmt(oi), "timestamp": str(t)}

    out, nxt = _series(ex, p, step, make)
    return {"symbol": eng.inst.symbol, "category": cat, "list": out, "nextPageCursor": nxt}


def account_ratio(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    category(p, ("linear", "inverse"))
    sym = p.get("symbol")
    if not sym:
        raise params_error("symbol is required")
    step = _RATIO_PERIODS.get(str(p.get("period") or ""))
    if step is None:
        raise params_error("period invalid")

    def make(t: int) -> dict[str, Any]:
        buy = round(0.5 + _rng(ex, "ratio", sym, t).uniform(-0.08, 0.08), 4)
        return {
            "symbol": sym,
            "buyRatio": f"{buy:.4f}".rstrip("0"),
            "sellRatio": f"{1 - buy:.4f}".rstrip("0"),
            "timestamp": str(t),
        }

    out, nxt = _series(ex, p, step, make)
    return {"list": out, "nextPageCursor": nxt}


def risk_limit(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    cat = category(p, ("linear", "inverse"))
    sym = p.get("symbol")
    out = []
    for (c, s), eng in ex.engines.items():
        if c != cat or (sym and s != sym):
            continue
        lev = eng.inst.max_leverage
        for i in range(1, 6):
            cap = Decimal(2_000_000) * i if cat == "linear" else Decimal(150) * i
            mm = Decimal("0.005") * i
            out.append(
                {
                    "id": i,
                    "symbol": s,
                    "riskLimitValue": fmt(cap),
                    "maintenanceMargin": fmt(mm),
                    "initialMargin": fmt(Decimal(1) / (lev / i)),
                    "isLowestRisk": 1 if i == 1 else 0,
                    "maxLeverage": f"{lev / i:.2f}",
                    "mmDeduction": "" if i == 1 else fmt(cap * Decimal("0.0025")),
                }
            )
    return {"category": cat, "list": out}


def insurance(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    coin = p.get("coin")
    now = ex.clock()
    out = []
    for c in ("USDT", "USDC"):
        if coin and coin != c:
            continue
        for pool in ex.public.insurance_pools(c, now):
            value = str(
                (ex.public.insurance[c] * ex.usd.get(c, Decimal(1))).quantize(Decimal("1e-8"))
            )
            out.append({"coin": c, "symbols": pool["symbols"], "balance": pool["balance"],
                        "value": value})  # fmt: skip
    return {"updatedTime": str(now - now % 86_400_000), "list": out}


def delivery_price(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    """The delivery prices of the options delivered so far, newest first."""
    cat = category(p, ("linear", "inverse", "option"))
    sym, base = p.get("symbol"), p.get("baseCoin")
    rows = [
        r
        for r in reversed(ex.trading.deliveries)
        if cat == "option"
        and (not sym or r["symbol"] == sym)
        and (not base or r["symbol"].startswith(f"{base}-"))
    ]
    limit = int_param(p, "limit", 50)
    return {"category": cat, "list": rows[:limit], "nextPageCursor": ""}


def historical_volatility(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    category(p, ("option",))
    base = p.get("baseCoin") or "BTC"
    period = int_param(p, "period", 7, 7, 180)
    now = ex.clock()
    hour = 3_600_000
    t = now - now % hour
    out = []
    for i in range(24):
        ts = t - i * hour
        v = 0.45 + _rng(ex, "hv", base, period, ts).uniform(-0.05, 0.05)
        out.append({"period": period, "value": f"{v:.8f}", "time": str(ts)})
    return out  # type: ignore[return-value]


def price_limit(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    cat = p.get("category") or "linear"
    eng = engine(ex, str(cat), p.get("symbol"))
    return {**price_limit_row(eng), "ts": str(ex.clock())}


def spread_instruments(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    out = ex.catalogue.spreads
    if p.get("symbol"):
        out = [r for r in out if r["symbol"] == p["symbol"]]
    if p.get("baseCoin"):
        out = [r for r in out if r["baseCoin"] == p["baseCoin"]]
    return {"list": out, "nextPageCursor": ""}


def spread_orderbook(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    """The spread book as orderbook.25 publishes it (its `u` is that stream's)."""
    eng = engine(ex, "spread", p.get("symbol"))
    limit = int_param(p, "limit", 1)
    pending, res = ex.feeds[("spread", eng.inst.symbol)].rest(limit, ex.clock())
    ex.public.emit("spread", pending)
    return res


def spread_tickers(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    eng = engine(ex, "spread", p.get("symbol"))
    return {"list": [ticker(eng, ex, ex.clock())]}


def spread_recent_trades(ex: Exchange, p: dict[str, Any], acct: Account | None) -> dict[str, Any]:
    eng = engine(ex, "spread", p.get("symbol"))
    limit = int_param(p, "limit", 500)
    trades = list(eng.recent)[-limit:]
    trades.reverse()
    return {
        "list": [
            {"execId": t["i"], "symbol": t["s"], "price": t["p"], "size": t["v"],
             "side": t["S"], "time": str(t["T"]), "seq": str(t["seq"])}
            for t in trades
        ]
    }  # fmt: skip


ROUTES = {
    ("GET", "/v5/market/time"): server_time,
    ("GET", "/v5/market/instruments-info"): instruments,
    ("GET", "/v5/market/orderbook"): orderbook,
    ("GET", "/v5/market/tickers"): tickers,
    ("GET", "/v5/market/kline"): _kline("trade"),
    ("GET", "/v5/market/mark-price-kline"): _kline("mark"),
    ("GET", "/v5/market/index-price-kline"): _kline("index"),
    ("GET", "/v5/market/premium-index-price-kline"): _kline("premium"),
    ("GET", "/v5/market/recent-trade"): recent_trades,
    ("GET", "/v5/market/funding/history"): funding_history,
    ("GET", "/v5/market/open-interest"): open_interest,
    ("GET", "/v5/market/account-ratio"): account_ratio,
    ("GET", "/v5/market/risk-limit"): risk_limit,
    ("GET", "/v5/market/insurance"): insurance,
    ("GET", "/v5/market/delivery-price"): delivery_price,
    ("GET", "/v5/market/historical-volatility"): historical_volatility,
    ("GET", "/v5/market/price-limit"): price_limit,
    ("GET", "/v5/spread/instrument"): spread_instruments,
    ("GET", "/v5/spread/orderbook"): spread_orderbook,
    ("GET", "/v5/spread/tickers"): spread_tickers,
    ("GET", "/v5/spread/recent-trade"): spread_recent_trades,
}
