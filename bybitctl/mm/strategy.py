"""The quoting decision: a pure function from (parameters, book view, inventory, open orders,
now, state) to immutable order actions.

Nothing here reads a clock, a socket or a random source, so the same inputs give the same
actions live, on paper and in the backtest, and every rule is unit-testable. The hot path
works in floats and integer ticks/lots (Decimal arithmetic would cost several times the
50 µs budget); Decimals appear only on the actions and quotes handed back, where exchange
strings are needed. Prices are on the tick grid and quantities on the lot grid, so integer
ticks and lots are exact and the floats only locate the grid point.

Exposure rule: an order counts against `max_position` for as long as it might fill, at its
full remaining qty: in-flight places, resting orders, orders with a cancel in flight, and
amends in flight (the engine reports a pending amend with the larger of its old and new
qty). A decision only adds exposure that fits, so a full fill of every open and in-flight
order on a side can never take |position| past the limit.

Hedge mode (`hedge_mode`, positionIdx 1 = long leg, 2 = short leg; see `_Hedge`): a side
closes the opposite leg while that leg holds at least a minimum order (asks on idx 1 while
long, bids on idx 2 while short) and opens its own leg otherwise (bids on 1, asks on 2).
With `long`, `short` the legs and `opening` the remaining qty of every open and in-flight
order that opens a leg (both sides), a decision keeps

    long + short + opening <= limit        and, per side,  closing orders <= the leg they close

so a full fill of every open order (any subset of them, both sides at once) can never take
either leg, nor the gross long + short, past the limit; closing fills only shrink a leg.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from bybitctl.mm.config import MMConfig
from bybitctl.mm.rules import MarketRules

BUY = "Buy"
SELL = "Sell"

PENDING_NEW = "pending_new"
OPEN = "open"
PENDING_AMEND = "pending_amend"
PENDING_CANCEL = "pending_cancel"
STATUSES = (PENDING_NEW, OPEN, PENDING_AMEND, PENDING_CANCEL)

_EPS = 1e-9


class BookView(NamedTuple):
    """What the strategy sees of the market: top of book and the guard flags. A NamedTuple
    (immutable, and half the cost of a frozen dataclass to build once per book message).

    `bid`/`ask` are 0 when that side is empty. `ts_ms` is when the book last produced a
    message (the stale guard compares it with `now_ms`). `halt` carries a reason from the
    risk layer (kill switch, MMP); any non-empty value pulls every quote.
    """

    bid: float
    ask: float
    bid_qty: float = 0.0
    ask_qty: float = 0.0
    last: float | None = None
    mark: float | None = None
    vol_bps: float = 0.0
    ts_ms: int = 0
    resyncing: bool = False
    private_ok: bool = True
    halt: str = ""


@dataclass(frozen=True, slots=True)
class Inventory:
    """Net position (signed base qty; hedge mode nets long - short), the last fill times
    that drive `fill_cooldown_ms` and, in hedge mode, the two legs' sizes (both >= 0:
    positionIdx 1 long, positionIdx 2 short), which the exposure rule counts separately."""

    position: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    last_buy_fill_ms: int | None = None
    last_sell_fill_ms: int | None = None
    long: Decimal = Decimal(0)
    short: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """One of our orders as the engine knows it. `qty` is the total order qty (Bybit
    semantics) and `filled` its cumulative fill; for a pending amend `qty`/`price` are the
    worst case (the larger qty) until the exchange answers. `position_idx` is the leg it
    trades in hedge mode (0 in one-way mode). Float copies of price and remaining qty are
    taken once here, not on every decision."""

    link_id: str
    side: str
    price: Decimal
    qty: Decimal
    filled: Decimal = Decimal(0)
    created_ms: int = 0
    status: str = OPEN
    position_idx: int = 0
    price_f: float = field(init=False, repr=False, compare=False)
    remaining_f: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "price_f", float(self.price))
        object.__setattr__(self, "remaining_f", float(self.qty - self.filled))

    @property
    def remaining(self) -> Decimal:
        """Qty that may still fill."""
        return self.qty - self.filled


@dataclass(frozen=True, slots=True)
class Place:
    """Send a new limit order."""

    link_id: str
    side: str
    price: Decimal
    qty: Decimal
    post_only: bool
    position_idx: int
    level: int


@dataclass(frozen=True, slots=True)
class Amend:
    """Move a resting order in place; `qty` is the new total order qty (filled included),
    as Bybit's amend expects."""

    link_id: str
    price: Decimal
    qty: Decimal
    level: int


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel one order; `reason` says why (guard:<name>, requote, age, limit, dropped,
    surplus, leg: hedge mode, the order is on the other leg than its side now trades)."""

    link_id: str
    reason: str


Action = Place | Amend | Cancel


class Quote(NamedTuple):
    """A price/qty the strategy wants on the book (the decision summary for journal and
    dashboard); qty 0 means the level is wanted but has no room under the limits. A
    NamedTuple: one is built per level and side on every decision."""

    side: str
    level: int
    price: Decimal
    qty: Decimal


@dataclass(frozen=True, slots=True)
class StrategyState:
    """What the strategy carries between decisions: the orderLinkId prefix and counter (ids
    derive from inputs, never from randomness) and the time of the last requote."""

    prefix: str
    seq: int = 0
    last_requote_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The actions to perform, the wanted quotes, why quotes were pulled ('' when not),
    and the state to pass to the next call."""

    actions: tuple[Action, ...]
    quotes: tuple[Quote, ...]
    reason: str
    state: StrategyState


@dataclass(frozen=True, slots=True)
class QuoteParams:
    """`MMConfig` + `MarketRules` precompiled to the floats and ints the hot path uses.

    Build once per run with `QuoteParams.build`. `_prices`/`_qtys` memoise tick/lot counts
    as exact Decimals: quotes revisit the same few prices, so a conversion is a dict hit.
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
    _prices: dict[int, Decimal] = field(default_factory=dict, compare=False, repr=False)
    _qtys: dict[int, Decimal] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, config: MMConfig, rules: MarketRules) -> QuoteParams:
        """Compile a validated config against its instrument rules."""
        step = float(rules.qty_step)
        mults = [config.multiplier(i) for i in range(config.levels)]
        level_lots = level_notional = None
        if config.order_qty is not None:
            base = float(config.order_qty)
            level_lots = tuple(math.floor(base * m / step + _EPS) for m in mults)
        else:
            assert config.order_notional is not None
            level_notional = tuple(float(config.order_notional) * m for m in mults)
        max_lots = math.floor(float(rules.max_qty) / step + _EPS) if rules.max_qty else 1 << 62
        return cls(
            tick=float(rules.tick_size),
            step=step,
            tick_d=rules.tick_size,
            step_d=rules.qty_step,
            min_lots=max(1, math.ceil(float(rules.min_qty) / step - _EPS)),
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
        value = self._prices.get(ticks)
        if value is None:
            if len(self._prices) > 100_000:
                self._prices.clear()
            value = self._prices[ticks] = self.tick_d * ticks
        return value

    def qty(self, lots: int) -> Decimal:
        """Exact qty of a lot count."""
        value = self._qtys.get(lots)
        if value is None:
            if len(self._qtys) > 100_000:
                self._qtys.clear()
            value = self._qtys[lots] = self.step_d * lots
        return value


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


def pull_all(orders: Sequence[OpenOrder], state: StrategyState, reason: str) -> Decision:
    """Cancel every order that has no cancel in flight yet, and place nothing."""
    actions = tuple(Cancel(o.link_id, reason) for o in orders if o.status != PENDING_CANCEL)
    return Decision(actions, (), reason, state)


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
    pos = float(inventory.position)
    cap = p.max_position
    if p.max_notional is not None and p.max_notional / ref < cap:
        cap = p.max_notional / ref
    q = pos / p.max_position
    q = 1.0 if q > 1.0 else -1.0 if q < -1.0 else q
    shift = -p.skew * half * q * 1e-4
    inv_tick = 1.0 / p.tick
    tol_ticks = p.tol_bps * ref * 1e-4 * inv_tick
    best_bid_ticks = round(view.bid * inv_tick)
    best_ask_ticks = round(view.ask * inv_tick)
    level_lots = p.level_lots
    max_lots = p.max_lots
    sides: list[tuple[tuple[int, int], ...]] = []
    for buy in (True, False):
        wanted: list[tuple[int, int]] = []
        for level in range(p.levels):
            dist = (half + level * p.spacing_bps) * 1e-4
            if buy:
                ticks = math.floor(ref * (1.0 - dist + shift) * inv_tick + _EPS)
                if ticks >= best_ask_ticks:
                    ticks = best_ask_ticks - 1
            else:
                ticks = math.ceil(ref * (1.0 + dist + shift) * inv_tick - _EPS)
                if ticks <= best_bid_ticks:
                    ticks = best_bid_ticks + 1
            if ticks <= 0:
                wanted.append((1, 0))
                continue
            if level_lots is not None:
                lots = level_lots[level]
            else:
                notional = p.level_notional[level]  # type: ignore[index]
                lots = math.floor(notional / (ticks * p.tick) / p.step + _EPS)
            wanted.append((ticks, lots if lots <= max_lots else max_lots))
        sides.append(tuple(wanted))
    cap_lots = math.floor(cap / p.step + _EPS)
    return QuotePlan("", cap_lots, math.floor(tol_ticks), sides[0], sides[1])


def decide(
    p: QuoteParams,
    view: BookView,
    inventory: Inventory,
    orders: Sequence[OpenOrder],
    now_ms: int,
    state: StrategyState,
) -> Decision:
    """Decide the order actions for this instant. Pure: same inputs, same Decision.

    Rules (docs/mm.md "Strategy"): `quote_plan` places the wanted quotes; `settle` pairs
    them with our orders: a resting order moves only when its price is off by more than the
    tolerance or it is older than max age, at most once per min requote interval; exposure
    at worst case (see module docstring) is never increased past the limit, and is cut (far
    levels first) when the limit shrinks below it.
    """
    return settle(p, quote_plan(p, view, inventory, now_ms), inventory, orders, now_ms, state)


def settle(
    p: QuoteParams,
    plan: QuotePlan,
    inventory: Inventory,
    orders: Sequence[OpenOrder],
    now_ms: int,
    state: StrategyState,
) -> Decision:
    """The second half of `decide`: the actions that bring our orders to `plan`."""
    if plan.reason:
        return pull_all(orders, state, plan.reason)
    pos = float(inventory.position)
    step = p.step
    cap_lots = plan.cap_lots
    pos_lots = pos / step
    tol_ticks = plan.tol
    inv_tick = 1.0 / p.tick
    last_requote = state.last_requote_ms
    may_requote = last_requote is None or now_ms - last_requote >= p.min_requote_ms

    by_side: dict[str, list[OpenOrder]] = {BUY: [], SELL: []}
    for o in orders:
        by_side[o.side].append(o)

    actions: list[Action] = []
    quotes: list[Quote] = []
    seq = state.seq
    requoted = False
    min_notional = p.min_notional * (1 - _EPS)
    hedge = _Hedge(p, inventory, by_side, cap_lots) if p.hedge_mode else None
    for side in (BUY, SELL):
        buy = side is BUY
        if buy:
            pos_side = math.ceil(pos_lots - _EPS)
            last_fill = inventory.last_buy_fill_ms
            wanted = plan.bids
        else:
            pos_side = math.ceil(-pos_lots - _EPS)
            last_fill = inventory.last_sell_fill_ms
            wanted = plan.asks
        cooling = last_fill is not None and now_ms - last_fill < p.fill_cooldown_ms
        may_add = may_requote and not cooling

        slots: list[tuple[int, int, OpenOrder]] = []  # (ticks, remaining lots, order)
        committed = 0  # remaining lots of every order on the side (all may still fill)
        in_flight = 0  # ... of those the strategy cannot touch
        for o in by_side[side]:
            rem = round(o.remaining_f / step)
            committed += rem
            if o.status == PENDING_CANCEL:
                in_flight += rem
                continue
            if o.status != OPEN:
                in_flight += rem
            slots.append((round(o.price_f * inv_tick), rem, o))
        if len(slots) > 1:
            slots.sort(key=_slot_ticks, reverse=buy)
        allow = cap_lots - pos_side - in_flight  # lots that may rest once actions settle
        room = cap_lots - pos_side - committed  # lots the worst case may still grow by
        idx, min_value = 0, min_notional
        if hedge is not None:  # the side's pool: closing the opposite leg or opening its own
            slots, allow, room, idx, min_value = hedge.pool(side, slots, actions, min_value)

        paired, surplus = _match(wanted, slots, tol_ticks)

        for level in range(p.levels):
            ticks, lots = wanted[level]
            px = ticks * p.tick
            slot = paired[level]
            if slot is not None and slot[2].status != OPEN:
                quotes.append(Quote(side, level, p.price(ticks), p.qty(lots)))
                continue  # in flight: wait for the exchange's answer
            want = lots if lots <= allow else max(allow, 0)
            if want < p.min_lots or want * step * px < min_value:
                want = 0
            quotes.append(Quote(side, level, p.price(ticks), p.qty(want)))
            if slot is None:
                if want and may_add:
                    if want > room:
                        want = room
                    if want >= p.min_lots and want * step * px >= min_value:
                        seq += 1
                        link = f"{state.prefix}-{seq}"
                        actions.append(_place(p, link, side, ticks, want, level, idx))
                        room -= want
                        allow -= want
                        requoted = True
                continue
            o_ticks, rem, o = slot
            if want == 0:
                actions.append(Cancel(o.link_id, "limit" if lots > allow else "dropped"))
                continue
            stale_price = abs(ticks - o_ticks) > tol_ticks
            too_old = p.max_age_ms > 0 and now_ms - o.created_ms >= p.max_age_ms
            if may_add and (stale_price or too_old):
                requoted = True
                if too_old or not p.use_amend:
                    actions.append(Cancel(o.link_id, "age" if too_old else "requote"))
                    new = want if want <= room else room
                    if new >= p.min_lots and new * step * px >= min_value:
                        seq += 1
                        link = f"{state.prefix}-{seq}"
                        actions.append(_place(p, link, side, ticks, new, level, idx))
                        room -= new
                        allow -= new
                    continue
                if want > rem and want - rem > room:  # grow only into the room left
                    want = max(rem, rem + room)
                if want * step * px < min_value:
                    actions.append(Cancel(o.link_id, "limit"))
                    continue
                actions.append(Amend(o.link_id, p.price(ticks), o.filled + p.qty(want), level))
                if want > rem:
                    room -= want - rem
                allow -= want
                continue
            if rem > allow:  # the limit shrank under this order: cut it, far levels first
                keep = max(allow, 0)
                if keep >= p.min_lots and keep * step * o_ticks * p.tick >= min_value:
                    actions.append(Amend(o.link_id, o.price, o.filled + p.qty(keep), level))
                    allow -= keep
                else:
                    actions.append(Cancel(o.link_id, "limit"))
                continue
            allow -= rem
        for _, _, o in surplus:
            if o.status == OPEN:
                actions.append(Cancel(o.link_id, "surplus"))
        if hedge is not None:
            hedge.settle(side, allow, room)

    if requoted:
        state = StrategyState(state.prefix, seq, now_ms)
    return Decision(tuple(actions), tuple(quotes), "", state)


def _place(
    p: QuoteParams, link_id: str, side: str, ticks: int, lots: int, level: int, idx: int
) -> Place:
    """A new order of `lots` at `ticks` on position index `idx` (0 in one-way mode)."""
    return Place(link_id, side, p.price(ticks), p.qty(lots), p.post_only, idx, level)


def _match(
    wanted: Sequence[tuple[int, int]], slots: list[tuple[int, int, OpenOrder]], tol_ticks: int
) -> tuple[list[tuple[int, int, OpenOrder] | None], list[tuple[int, int, OpenOrder]]]:
    """Pair wanted levels with our orders: an order already within tolerance of a level
    keeps it (so a fill at level 1 does not drag every order behind it forward and cost
    their queue places); the rest pair best-first; orders left over are surplus."""
    if len(slots) <= 1 and len(wanted) == 1:  # the one order keeps the one level, in or out
        return [slots[0] if slots else None], []
    paired: list[tuple[int, int, OpenOrder] | None] = [None] * len(wanted)
    free = []
    for slot in slots:
        for level, want in enumerate(wanted):
            if paired[level] is None and abs(want[0] - slot[0]) <= tol_ticks:
                paired[level] = slot
                break
        else:
            free.append(slot)
    rest = iter(free)
    for level in range(len(paired)):
        if paired[level] is None:
            paired[level] = next(rest, None)
    return paired, list(rest)


def _slot_ticks(slot: tuple[int, int, Any]) -> int:
    return slot[0]


class _Hedge:
    """Hedge mode's exposure pools for one decision (module docstring, "Hedge mode").

    Each side quotes from one pool: closing, while the leg it closes holds at least a
    minimum order (capacity: that leg; bids close the short leg on positionIdx 2, asks the
    long leg on 1), else opening (capacity shared by both sides: limit - long - short).
    Orders of the side's other kind are cancelled (reason `leg`) unless in flight; opening
    ones keep counting until they are gone. Within a pool the usual `allow`/`room` rules
    of `decide` apply; bids are settled first, so the asks' opening pool is what the bids'
    orders leave once their actions land. Per side, index 0 is bids and 1 asks.
    """

    __slots__ = ("base", "bids_open", "busy", "ceiling", "closing", "every", "legs", "room")

    def __init__(
        self,
        p: QuoteParams,
        inventory: Inventory,
        by_side: dict[str, list[OpenOrder]],
        cap_lots: int,
    ) -> None:
        step = p.step
        long = max(round(float(inventory.long) / step), 0)
        short = max(round(float(inventory.short) / step), 0)
        self.legs = (short, long)  # the leg each side would close
        self.closing = (short >= p.min_lots, long >= p.min_lots)
        # remaining lots of bids closing, bids opening, asks closing, asks opening: of every
        # order (each may fill) and of the busy ones (in flight: the strategy cannot touch)
        every = [0, 0, 0, 0]
        busy = [0, 0, 0, 0]
        for k, side, close_idx in ((0, BUY, 2), (2, SELL, 1)):
            for o in by_side[side]:
                j = k if o.position_idx == close_idx else k + 1
                rem = round(o.remaining_f / step)
                every[j] += rem
                if o.status != OPEN:
                    busy[j] += rem
        self.every = every
        self.busy = busy
        self.base = cap_lots - long - short  # what opening orders of both sides may add
        self.room = self.base - every[1] - every[3]
        self.ceiling = 0
        self.bids_open: int | None = None  # opening lots of the bids once their actions land

    def pool(
        self,
        side: str,
        slots: list[tuple[int, int, OpenOrder]],
        actions: list[Action],
        min_value: float,
    ) -> tuple[list[tuple[int, int, OpenOrder]], int, int, int, float]:
        """The side's slots of its pool, its `allow` and `room`, the position index of new
        orders and the minimum order value (`min_value` for opening orders; closing ones
        are reduce-only, which Bybit and the local exchange exempt from it); cancels the
        side's orders of the other kind."""
        s = 0 if side is BUY else 1
        close_idx = 2 - s
        closing = self.closing[s]
        kept = []
        for slot in slots:
            o = slot[2]
            if (o.position_idx == close_idx) == closing:
                kept.append(slot)
            elif o.status == OPEN:
                actions.append(Cancel(o.link_id, "leg"))
        if closing:
            leg = self.legs[s]
            return kept, leg - self.busy[2 * s], leg - self.every[2 * s], close_idx, 0.0
        self.ceiling = self.base - (self.every[3] if self.bids_open is None else self.bids_open)
        return kept, self.ceiling - self.busy[2 * s + 1], self.room, 1 + s, min_value

    def settle(self, side: str, allow: int, room: int) -> None:
        """After a side's actions: what the bids' opening orders hold once they land, and
        the shared room their places and amends left."""
        if side is not BUY:
            return
        if self.closing[0]:
            self.bids_open = self.busy[1]  # the rest are being cancelled
        else:
            self.bids_open = self.ceiling - allow
            self.room = room


def leg_index(side: str, *, closing: bool) -> int:
    """The hedge-mode positionIdx an order of `side` trades in: a buy opens the long leg (1)
    and closes the short one (2); a sell opens the short leg (2) and closes the long one (1).

    >>> leg_index("Buy", closing=False), leg_index("Sell", closing=True)
    (1, 1)
    """
    return 2 if (side == BUY) == closing else 1


def legs_after_fill(
    long: Decimal, short: Decimal, side: str, qty: Decimal, position_idx: int
) -> tuple[Decimal, Decimal]:
    """Hedge legs (long, short) after one fill of an order on `position_idx`: a buy on 1
    grows the long leg and a sell on 1 shrinks it; a sell on 2 grows the short leg and a
    buy on 2 shrinks it."""
    if position_idx == 2:
        return long, short - qty if side == BUY else short + qty
    return (long + qty if side == BUY else long - qty), short


class VolEstimator:
    """Short-term volatility of the mid in bps: the root of the summed squared log-returns
    of mid changes within the last `window_ms` (how far the price typically travels in the
    window). Feeds `BookView.vol_bps` for the volatility-scaled spread. O(1) amortised."""

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self._returns: deque[tuple[int, float]] = deque()
        self._sum = 0.0
        self._last: float | None = None

    def update(self, mid: float, now_ms: int) -> float:
        """Record the mid at `now_ms` and return the current estimate."""
        last = self._last
        if last is not None and mid != last and last > 0 and mid > 0:
            r = math.log(mid / last) * 1e4
            self._returns.append((now_ms, r * r))
            self._sum += r * r
        self._last = mid
        return self.value(now_ms)

    def value(self, now_ms: int) -> float:
        """The estimate at `now_ms`, dropping returns older than the window."""
        returns = self._returns
        horizon = now_ms - self.window_ms
        while returns and returns[0][0] < horizon:
            self._sum -= returns.popleft()[1]
        if not returns:
            self._sum = 0.0
        return math.sqrt(self._sum) if self._sum > 0 else 0.0


def book_view(
    book: Any,
    ts_ms: int,
    *,
    resyncing: bool = False,
    last: float | None = None,
    mark: float | None = None,
    vol_bps: float = 0.0,
    private_ok: bool = True,
    halt: str = "",
) -> BookView:
    """A BookView of a `bybitctl.book.OrderBook` (read only) plus the other fields. An
    empty side reads as 0; `resyncing` adds the caller's own resync state to the book's.
    Built positionally: it runs on every book message, ahead of the decision."""
    bb = book.best_bid()
    ba = book.best_ask()
    return BookView(
        float(bb[0]) if bb else 0.0,
        float(ba[0]) if ba else 0.0,
        float(bb[1]) if bb else 0.0,
        float(ba[1]) if ba else 0.0,
        last,
        mark,
        vol_bps,
        ts_ms,
        resyncing or bool(book.needs_resync),
        private_ok,
        halt,
    )
