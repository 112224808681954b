"""The first half of the quoting decision: the wanted quotes, before our orders are looked at.

`QuoteParams` compiles the config and the instrument rules once per run to the floats and
integer ticks/lots the hot path uses; `quote_plan` reduces a book view and the inventory to a
`QuotePlan`: why no quote may rest, the exposure cap, and the wanted (ticks, lots) per level.
Pure: no clock, socket or random source (see `bybitctl.mm.strategy`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from bybitctl.mm.actions import Inventory
from bybitctl.mm.config import MMConfig
from bybitctl.mm.rules import MarketRules
from bybitctl.mm.view import BookView

EPS = 1e-9
"""Slack for float rounding when a price or qty is snapped to its integer grid."""


class Grid(dict[int, Decimal]):
    """Exact multiples of one grid unit (tick or lot) by count, made on first use: a hit is
    a plain dict lookup, with no Python call. Bounded: cleared past 100,000 entries."""

    __slots__ = ("unit",)

    def __init__(self, unit: Decimal) -> None:
        super().__init__()
        self.unit = unit

    def __missing__(self, count: int) -> Decimal:
        if len(self) > 100_000:
            self.clear()
        value = self[count] = self.unit * count
        return value


@dataclass(frozen=True, slots=True)
class QuoteParams:
    """`MMConfig` + `MarketRules` precompiled to the floats and ints the hot path uses.

    Build once per run with `QuoteParams.build`. `prices`/`qtys` map tick/lot counts to
    exact Decimals, memoised: quotes revisit the same few prices, so a conversion is a
    plain dict lookup.
    """

    tick: float
    step: float
    tick_d: Decimal
    step_d: Decimal
    min_lots: int
    max_lots: int
    min_notional: float
    reference: str
    spread_bps: float
    floor_bps: float
    levels: int
    spacing_bps: float
    level_lots: tuple[int, ...] | None
    level_notional: tuple[float, ...] | None
    max_position: float
    max_notional: float | None
    skew: float
    tol_bps: float
    min_requote_ms: int
    max_age_ms: int
    post_only: bool
    use_amend: bool
    vol_multiplier: float
    stale_ms: int
    fill_cooldown_ms: int
    hedge_mode: bool
    prices: Grid = field(init=False, compare=False, repr=False)
    qtys: Grid = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prices", Grid(self.tick_d))
        object.__setattr__(self, "qtys", Grid(self.step_d))

    @classmethod
    def build(cls, config: MMConfig, rules: MarketRules) -> QuoteParams:
        """Compile a validated config against its instrument rules."""
        step = float(rules.qty_step)
        mults = [config.multiplier(i) for i in range(config.levels)]
        level_lots = level_notional = None
        if config.order_qty is not None:
            base = float(config.order_qty)
            level_lots = tuple(math.floor(base * m / step + EPS) for m in mults)
        else:
            assert config.order_notional is not None
            level_notional = tuple(float(config.order_notional) * m for m in mults)
        max_lots = math.floor(float(rules.max_qty) / step + EPS) if rules.max_qty else 1 << 62
        return cls(
            tick=float(rules.tick_size),
            step=step,
            tick_d=rules.tick_size,
            step_d=rules.qty_step,
            min_lots=max(1, math.ceil(float(rules.min_qty) / step - EPS)),
            max_lots=max_lots,
            min_notional=float(rules.min_notional),
            reference=config.reference,
            spread_bps=config.spread_bps,
            floor_bps=config.half_spread_floor_bps,
            levels=config.levels,
            spacing_bps=config.level_spacing_bps,
            level_lots=level_lots,
            level_notional=level_notional,
            max_position=float(config.max_position),
            max_notional=float(config.max_notional) if config.max_notional else None,
            skew=config.skew_strength if config.inventory_skew else 0.0,
            tol_bps=config.refresh_tolerance_bps,
            min_requote_ms=config.min_requote_interval_ms,
            max_age_ms=config.max_order_age_ms,
            post_only=config.post_only,
            use_amend=config.use_amend,
            vol_multiplier=config.vol_multiplier if config.vol_scaling else 0.0,
            stale_ms=config.stale_book_ms,
            fill_cooldown_ms=config.fill_cooldown_ms,
            hedge_mode=config.hedge_mode,
        )

    def price(self, ticks: int) -> Decimal:
        """Exact price of a tick count."""
        return self.prices[ticks]

    def qty(self, lots: int) -> Decimal:
        """Exact qty of a lot count."""
        return self.qtys[lots]


def reference_price(p: QuoteParams, view: BookView) -> float | None:
    """The configured reference price, or None when it is not available yet."""
    ref = p.reference
    if ref == "mid":
        return (view.bid + view.ask) * 0.5
    if ref == "microprice":
        total = view.bid_qty + view.ask_qty
        if total <= 0:
            return (view.bid + view.ask) * 0.5
        return (view.bid * view.ask_qty + view.ask * view.bid_qty) / total
    value = view.last if ref == "last" else view.mark
    return value if value and value > 0 else None


def guard_reason(p: QuoteParams, view: BookView, now_ms: int) -> str:
    """Why no quote may rest right now ('' when quoting is allowed)."""
    if view.halt:
        return view.halt
    if not view.private_ok:
        return "guard:private_down"
    if view.resyncing:
        return "guard:resyncing"
    if view.bid <= 0 or view.ask <= 0:
        return "guard:no_book"
    if view.bid >= view.ask:
        return "guard:crossed"
    if now_ms - view.ts_ms > p.stale_ms:
        return "guard:stale"
    return ""


class QuotePlan(NamedTuple):
    """Everything a decision reads of the market, reduced to the tick and lot grids: why no
    quote may rest ('' when quoting is allowed), the exposure cap in lots, the refresh
    tolerance in whole ticks (the decision only compares it with whole tick distances, so
    its floor decides exactly as the fraction would) and the wanted (ticks, lots) per level,
    best first, of the bids and the asks. Two views with equal plans give equal decisions
    (the inventory, our orders, the time and the state being equal): a replay decides again
    only when the plan changed."""

    reason: str
    cap_lots: int = 0
    tol: int = 0
    bids: tuple[tuple[int, int], ...] = ()
    asks: tuple[tuple[int, int], ...] = ()


def quote_plan(p: QuoteParams, view: BookView, inventory: Inventory, now_ms: int) -> QuotePlan:
    """The first half of `decide`: the guards, the reference price and the wanted quotes.

    Quotes at reference +- half-spread, further levels `spacing_bps` apart, shifted by the
    inventory skew; bids rounded down and asks up to the tick (away from the mid) and never
    crossing the book; qty rounded down to the lot, capped at the maximum order qty.
    """
    reason = guard_reason(p, view, now_ms)
    if reason:
        return QuotePlan(reason)
    ref = reference_price(p, view)
    if ref is None:
        return QuotePlan("guard:no_reference")

    half = p.spread_bps
    if p.floor_bps > half:
        half = p.floor_bps
    vol_half = p.vol_multiplier * view.vol_bps
    if vol_half > half:
        half = vol_half
    cap = p.max_position
    if p.max_notional is not None and p.max_notional / ref < cap:
        cap = p.max_notional / ref
    q = inventory.position_f / p.max_position
    q = 1.0 if q > 1.0 else -1.0 if q < -1.0 else q
    shift = -p.skew * half * q * 1e-4
    tick, step, spacing = p.tick, p.step, p.spacing_bps
    inv_tick = 1.0 / tick
    tol_ticks = p.tol_bps * ref * 1e-4 * inv_tick
    best_bid_ticks = round(view.bid * inv_tick)
    best_ask_ticks = round(view.ask * inv_tick)
    level_lots, level_notional, max_lots = p.level_lots, p.level_notional, p.max_lots
    floor, ceil = math.floor, math.ceil
    bids: list[tuple[int, int]] = []
    asks: list[tuple[int, int]] = []
    for level in range(p.levels):  # both sides of a level at once: they share its distance
        dist = (half + level * spacing) * 1e-4
        bid = floor(ref * (1.0 - dist + shift) * inv_tick + EPS)
        if bid >= best_ask_ticks:
            bid = best_ask_ticks - 1
        ask = ceil(ref * (1.0 + dist + shift) * inv_tick - EPS)
        if ask <= best_bid_ticks:
            ask = best_bid_ticks + 1
        if level_lots is not None:  # a fixed qty: the same lots on both sides
            lots = level_lots[level]
            bid_lots = ask_lots = lots if lots <= max_lots else max_lots
        else:  # a fixed notional: the lots it buys at each side's own price
            notional = level_notional[level]  # type: ignore[index]
            bid_lots = floor(notional / (bid * tick) / step + EPS) if bid > 0 else 0
            ask_lots = floor(notional / (ask * tick) / step + EPS) if ask > 0 else 0
            bid_lots = bid_lots if bid_lots <= max_lots else max_lots
            ask_lots = ask_lots if ask_lots <= max_lots else max_lots
        bids.append((bid, bid_lots) if bid > 0 else (1, 0))
        asks.append((ask, ask_lots) if ask > 0 else (1, 0))
    cap_lots = floor(cap / step + EPS)
    return _new_plan(QuotePlan, ("", cap_lots, floor(tol_ticks), tuple(bids), tuple(asks)))


_new_plan = tuple.__new__
"""Builds a `QuotePlan` from its field tuple without the NamedTuple's Python-level
`__new__` (one per decision)."""
