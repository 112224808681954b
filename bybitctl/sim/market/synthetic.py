"""The seeded synthetic market: a fair price per base coin and the crowd trading around it.

A `PricePath` random-walks the fair price with stochastic volatility (log-vol mean-reverts),
shared by the spot, linear and inverse books of one coin so they move together. A
`SyntheticMarket` per book keeps ~1,000 levels of anonymous liquidity around that price and
sends the flow that fills passive orders at realistic rates: arbitrageurs take quotes the
fair price has moved through (adverse selection), and noise traders take at `noise_rate`
per second. Everything draws from one `random.Random`, so a seed fixes the whole market.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from bybitctl.sim.core.book import Book, Side
from bybitctl.sim.core.instruments import Instrument
from bybitctl.sim.core.options import option_greeks

TakeFn = Callable[[str, int, int], None]
"""take(side, lots, limit_price_ticks): a synthetic taker order, run through matching."""

DEPTH_LEVELS = 1000
"""Levels of synthetic liquidity kept per side, so orderbook.1000 and REST limit=1000 are full."""

LIQUIDATION_SHARE = 0.02
"""Share of the crowd's derivative trades that are liquidations."""

PULL_STALE = 0.95
"""Chance the crowd cancels a quote the fair price moved through, rather than see it hit."""

MAX_DT_S = 5.0
"""Longest gap simulated in one step; a longer idle is compressed so a step stays cheap."""


class PricePath:
    """Fair price of one coin: geometric random walk with mean-reverting log-volatility."""

    __slots__ = ("log_vol", "mean_log_vol", "price", "rng")

    def __init__(self, price: float, rng: random.Random, annual_vol: float = 0.6) -> None:
        self.price = price
        self.rng = rng
        # per-second volatility: annual / sqrt(seconds per year)
        self.mean_log_vol = math.log(annual_vol / math.sqrt(365 * 24 * 3600))
        self.log_vol = self.mean_log_vol

    def advance(self, dt: float) -> None:
        g = self.rng.gauss
        self.log_vol += -0.05 * (self.log_vol - self.mean_log_vol) * dt + 0.1 * math.sqrt(dt) * g(
            0, 1
        )
        sigma = math.exp(self.log_vol)
        self.price *= math.exp(sigma * math.sqrt(dt) * g(0, 1) - 0.5 * sigma * sigma * dt)


class OptionPath:
    """An option's fair price, read off its underlying's path through the volatility surface
    at the exchange's time (`now`, moved on by every market step)."""

    __slots__ = ("inst", "now", "underlying")

    def __init__(self, underlying: PricePath, inst: Instrument, now: int) -> None:
        self.underlying = underlying
        self.inst = inst
        self.now = now

    @property
    def price(self) -> float:
        return self.greeks()["price"]

    def greeks(self) -> dict[str, float]:
        return option_greeks(self.inst, self.underlying.price, self.now)


class SyntheticMarket:
    """Anonymous liquidity and flow for one book around its coin's `PricePath`."""

    __slots__ = (
        "book",
        "churn_rate",
        "depth",
        "inst",
        "last_ms",
        "level_lots",
        "liquidations",
        "min_step_ms",
        "noise_rate",
        "path",
        "rng",
        "take_lots",
    )

    def __init__(
        self,
        inst: Instrument,
        book: Book,
        path: PricePath | OptionPath,
        rng: random.Random,
        noise_rate: float,
        depth: int = DEPTH_LEVELS,
        min_step_ms: int = 0,
        churn_rate: float = 20.0,
    ) -> None:
        self.depth = depth
        self.churn_rate = churn_rate
        """Adds and cancels per second on each side near the touch."""
        self.min_step_ms = min_step_ms
        self.inst = inst
        self.book = book
        self.path = path
        self.rng = rng
        self.noise_rate = noise_rate
        self.last_ms = 0
        # typical sizes in lots: a level holds ~20k quote, a noise trade ~3k quote
        unit = float(inst.step) * (float(path.price) if not inst.inverse else 1.0)
        self.level_lots = max(1, round(20000 / unit)) if not inst.inverse else 20000
        self.take_lots = max(1, round(3000 / unit)) if not inst.inverse else 3000
        self.liquidations: list[tuple[str, int, int, bool]] = []
        """Where the crowd's forced closes go (the engine's `liquidations`, once built)."""

    def fair_ticks(self) -> float:
        return self.path.price / float(self.inst.tick)

    def _size(self, depth: int) -> int:
        """Synthetic level size: thin at the touch, thicker further out, lognormal noise."""
        base = self.level_lots * (0.3 + depth / 60)
        return max(1, int(base * self.rng.lognormvariate(0, 0.8)))

    def seed_book(self, now_ms: int) -> None:
        """Fill both sides with DEPTH_LEVELS levels around the fair price, without crossing
        any resting user order (used at start and after reloading persisted orders)."""
        self.last_ms = now_ms
        fair = self.fair_ticks()
        bids, asks = self.book.bids, self.book.asks
        bb = math.floor(fair - 0.5)
        ba = bb + 1
        ub, ua = bids.best(), asks.best()
        if ua is not None:
            bb = min(bb, ua - 1)
        if ub is not None:
            ba = max(ba, ub + 1)
        p, n = bb, 0
        while n < self.depth and p > 0:
            if n < 5 or self.rng.random() < 0.85:
                bids.add(p, self._size(n))
                n += 1
            p -= 1
        p, n = ba, 0
        while n < self.depth:
            if n < 5 or self.rng.random() < 0.85:
                asks.add(p, self._size(n))
                n += 1
            p += 1

    def due(self, now_ms: int) -> bool:
        """Whether a step at `now_ms` would move the book (time has passed, and at least
        `min_step_ms` of it)."""
        gap = now_ms - self.last_ms
        return gap > 0 and gap >= self.min_step_ms

    def step(self, now_ms: int, take: TakeFn) -> None:
        """Advance to `now_ms`: arbitrage to the fair price, noise trades, refill, trim.

        Steps closer together than `min_step_ms` are skipped (the next one covers the gap),
        which keeps many slow books (options) cheap.
        """
        if not self.due(now_ms):
            return
        dt = min((now_ms - self.last_ms) / 1000.0, MAX_DT_S)
        self.last_ms = now_ms
        rng = self.rng
        fair = self.fair_ticks()
        bids, asks = self.book.bids, self.book.asks
        # quotes the fair price moved through: most of the crowd's are pulled, the rest and
        # every user order there get picked off by arbitrageurs (adverse selection)
        ba = asks.best()
        if ba is not None and ba < fair - 0.5:
            self._pull_stale(asks, math.floor(fair - 0.5))
            take("Buy", 1 << 60, math.floor(fair - 0.5))
        bb = bids.best()
        if bb is not None and bb > fair + 0.5:
            self._pull_stale(bids, math.ceil(fair + 0.5))
            take("Sell", 1 << 60, math.ceil(fair + 0.5))
        # noise takers: Poisson arrivals, lognormal sizes, capped 30 ticks through the fair price
        n = _poisson(rng, self.noise_rate * dt)
        for _ in range(n):
            lots = max(1, int(self.take_lots * rng.lognormvariate(0, 1.0)))
            buy = rng.random() < 0.5
            if self.inst.derivative and rng.random() < LIQUIDATION_SHARE:
                # a forced close: a short bought in (S "Sell") or a long sold out (S "Buy")
                best = (asks if buy else bids).best()
                if best is not None:
                    self.liquidations.append(("Sell" if buy else "Buy", lots, best, True))
            if buy:
                take("Buy", lots, math.ceil(fair) + 30)
            else:
                take("Sell", lots, max(1, math.floor(fair) - 30))
        self._refill(fair, dt)
        self._churn(dt)
        self._trim()

    def _pull_stale(self, side: Side, limit: int) -> None:
        rng = self.rng
        for price in side.prices_through(limit):
            if rng.random() < PULL_STALE:
                side.cancel_synthetic(price, side.qty_at(price))

    def _refill(self, fair: float, dt: float) -> None:
        """Liquidity providers join the 30 levels nearest the fair price where they are missing."""
        rng = self.rng
        bids, asks = self.book.bids, self.book.asks
        p_join = 1.0 - math.exp(-8.0 * dt)
        ua, ub = asks.best(), bids.best()
        top_bid = math.floor(fair - 0.5)
        if ua is not None:
            top_bid = min(top_bid, ua - 1)
        top_ask = max(top_bid + 1, math.ceil(fair + 0.5))
        if ub is not None:
            top_ask = max(top_ask, ub + 1)
        bid_levels, ask_levels, rand = bids.levels, asks.levels, rng.random
        for i in range(30):
            p = top_bid - i
            if -p not in bid_levels and p > 0 and rand() < p_join:
                bids.add(p, self._size(i))
            p = top_ask + i
            if p not in ask_levels and rand() < p_join:
                asks.add(p, self._size(i))

    def _churn(self, dt: float) -> None:
        """Random adds and cancels near the touch, so queues ahead of a user order move."""
        rng = self.rng
        for side in (self.book.bids, self.book.asks):
            best = side.best()
            if best is None:
                continue
            for _ in range(_poisson(rng, self.churn_rate * dt)):
                d = min(int(rng.expovariate(0.1)), 200)
                p = best - d if side.sign < 0 else best + d
                if p <= 0:
                    continue
                if rng.random() < 0.5:
                    side.add(p, self._size(d) // 2 + 1)
                else:
                    lvl_qty = side.qty_at(p)
                    if lvl_qty:
                        side.cancel_synthetic(p, max(1, lvl_qty // 2))

    def _trim(self) -> None:
        """Keep each side near `depth` levels: extend the far end or drop it."""
        depth = self.depth
        for side in (self.book.bids, self.book.asks):
            n = len(side)
            if n < depth:
                w = side.worst()
                if w is None:
                    continue
                step = -1 if side.sign < 0 else 1
                for i in range(depth - n):
                    p = w + step * (i + 1)
                    if p <= 0:
                        break
                    side.add(p, self._size(depth))
            elif n > depth + 50:
                # drop the farthest synthetic levels; a level holding a user order stays
                excess, i, keys = n - depth, 1, side.keys
                while excess > 0 and i <= len(keys):
                    price = keys[-i] * side.sign
                    side.cancel_synthetic(price, side.qty_at(price))
                    if side.qty_at(price):
                        i += 1
                    else:
                        excess -= 1


def _poisson(rng: random.Random, lam: float) -> int:
    """Poisson draw (Knuth); lam stays small here (< 100 per step)."""
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k
