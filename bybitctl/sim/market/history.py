"""Klines at every interval: a deterministic synthetic past joined to the live trade record.

Before the exchange started there were no trades, yet charts and strategies ask for history,
so the past is a smooth seeded function of time (a sum of sinusoids at periods from minutes
to years) that ends exactly at the start price. After the start, candles come from the
engine's one-minute record of real (simulated) trades.
"""

from __future__ import annotations

import calendar
import math
import random
from datetime import UTC, datetime
from decimal import Decimal

from bybitctl.sim.core.engine import Engine
from bybitctl.sim.core.errors import params_error
from bybitctl.sim.core.orders import fmt

MINUTE = 60_000
INTERVALS = {
    "1": MINUTE,
    "3": 3 * MINUTE,
    "5": 5 * MINUTE,
    "15": 15 * MINUTE,
    "30": 30 * MINUTE,
    "60": 60 * MINUTE,
    "120": 120 * MINUTE,
    "240": 240 * MINUTE,
    "360": 360 * MINUTE,
    "720": 720 * MINUTE,
    "D": 1440 * MINUTE,
    "W": 7 * 1440 * MINUTE,
}
_PERIODS_MS = [6e5, 3.6e6, 1.44e7, 8.64e7, 6.048e8, 2.592e9, 1.5552e10, 6.2208e10]
_YEAR_MS = 3.1536e10


class History:
    """The synthetic past of one coin's price, pinned to `price0` at `t0`."""

    def __init__(self, price0: float, t0: int, seed: str) -> None:
        rng = random.Random(seed)
        self.price0 = price0
        self.t0 = t0
        self.waves = [
            (0.25 * math.sqrt(p / _YEAR_MS), 2 * math.pi / p, rng.uniform(0, 2 * math.pi))
            for p in _PERIODS_MS
        ]
        self.offset = self._f(t0)

    def _f(self, t: float) -> float:
        return sum(a * math.sin(w * t + ph) for a, w, ph in self.waves)

    def price(self, t: float) -> float:
        return self.price0 * math.exp(self._f(t) - self.offset)

    def candle(self, start: int, end: int) -> tuple[float, float, float, float]:
        """(open, high, low, close) over [start, end), sampled at nine points."""
        pts = [self.price(start + (end - start) * i / 8) for i in range(9)]
        return pts[0], max(pts), min(pts), pts[-1]


def interval_start(interval: str, t: int) -> int:
    """Start of the candle containing `t` (weeks start on Monday, months on the 1st, UTC)."""
    if interval == "M":
        d = datetime.fromtimestamp(t / 1000, UTC)
        return calendar.timegm((d.year, d.month, 1, 0, 0, 0)) * 1000
    if interval == "W":
        # 1970-01-05 was a Monday
        monday = 4 * 1440 * MINUTE
        return t - (t - monday) % INTERVALS["W"]
    return t - t % INTERVALS[interval]


def _next_start(interval: str, start: int) -> int:
    if interval == "M":
        d = datetime.fromtimestamp(start / 1000, UTC)
        y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
        return calendar.timegm((y, m, 1, 0, 0, 0)) * 1000
    return start + INTERVALS[interval]


def _prev_start(interval: str, start: int) -> int:
    if interval == "M":
        return interval_start("M", start - 1)
    return start - INTERVALS[interval]


def check_interval(interval: str) -> None:
    if interval not in INTERVALS and interval != "M":
        raise params_error("interval invalid")


def candles(
    eng: Engine,
    hist: History,
    interval: str,
    start: int | None,
    end: int | None,
    limit: int,
    now: int,
) -> list[tuple[int, float, float, float, float, int, Decimal]]:
    """Up to `limit` candles, newest first: (start, open, high, low, close, lots, turnover).

    Prices are floats in quote units; the caller rounds them to the instrument's tick.
    """
    check_interval(interval)
    tick = float(eng.inst.tick)
    top = interval_start(interval, min(end if end is not None else now, now))
    out: list[tuple[int, float, float, float, float, int, Decimal]] = []
    s = top
    while len(out) < limit and (start is None or s + _span(interval, s) > start):
        e = _next_start(interval, s)
        out.append(_one(eng, hist, s, e, now, tick))
        if start is not None and s <= start:
            break
        s = _prev_start(interval, s)
    return out


def _span(interval: str, s: int) -> int:
    return _next_start(interval, s) - s


def _one(
    eng: Engine, hist: History, s: int, e: int, now: int, tick: float
) -> tuple[int, float, float, float, float, int, Decimal]:
    t0 = hist.t0
    o = h = low = c = 0.0
    lots, turnover = 0, Decimal(0)
    if s < t0:
        o, h, low, c = hist.candle(s, min(e, t0))
        # the crowd's volume before the start: proportional to the span, steady
        minutes = (min(e, t0) - s) / MINUTE
        lots = int(minutes * eng.market.take_lots * 20)
        turnover = Decimal(repr(round(lots * float(eng.inst.step) * (o + c) / 2, 4)))
    if e > t0:
        last = c if s < t0 else hist.price0
        if s >= t0:
            o = h = low = last
        m = max(s, t0 - t0 % MINUTE)
        stop = min(e, now + 1)
        while m < stop:
            k = eng.candles.get(m)
            if k is not None:
                ko, kh, kl, kc = (x * tick for x in k[:4])
                if m == max(s, t0 - t0 % MINUTE) and s >= t0:
                    o = ko
                h, low, c = max(h, kh), min(low, kl), kc
                lots += k[4]
                turnover += k[5]
            else:
                c = c or last
            m += MINUTE
        if not c:
            c = last
        h, low = max(h, o, c), min(low, o, c)
    return s, o, h, low, c, lots, turnover


def rows(
    eng: Engine, data: list[tuple[int, float, float, float, float, int, Decimal]], kind: str
) -> list[list[str]]:
    """Bybit kline rows: trade klines have volume and turnover, price klines only OHLC."""
    inst = eng.inst

    def px(x: float) -> str:
        return inst.price_str(max(1, round(x / float(inst.tick))))

    if kind == "trade":
        return [
            [str(s), px(o), px(h), px(lo), px(c), inst.qty_str(n), fmt(t)]
            for s, o, h, lo, c, n, t in data
        ]
    if kind == "premium":
        return [
            [str(s), f"{0.0001 * (o - lo) / o:.6f}", f"{0.0001 * (h - lo) / o + 0.0001:.6f}",
             f"{0.0001 * (c - lo) / o - 0.0001:.6f}", f"{0.0001 * (c - o) / o:.6f}"]
            for s, o, h, lo, c, _, _ in data
        ]  # fmt: skip
    return [[str(s), px(o), px(h), px(lo), px(c)] for s, o, h, lo, c, _, _ in data]
