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
from collections.abc import Sequence
from operator import itemgetter

from bybitctl.mm.actions import (
    BUY,
    OPEN,
    PENDING_CANCEL,
    SELL,
    Action,
    Amend,
    Cancel,
    Decision,
    Inventory,
    OpenOrder,
    Place,
    Quote,
    StrategyState,
)
from bybitctl.mm.plan import EPS, QuoteParams, QuotePlan, quote_plan
from bybitctl.mm.view import BookView


def pull_all(orders: Sequence[OpenOrder], state: StrategyState, reason: str) -> Decision:
    """Cancel every order that has no cancel in flight yet, and place nothing."""
    actions = tuple(Cancel(o.link_id, reason) for o in orders if o.status != PENDING_CANCEL)
    return Decision(actions, (), reason, state)


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
    step = p.step
    cap_lots = plan.cap_lots
    pos_lots = inventory.position_f / step
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
    min_notional = p.min_notional * (1 - EPS)
    hedge = _Hedge(p, inventory, by_side, cap_lots) if p.hedge_mode else None
    tick, min_lots, max_age = p.tick, p.min_lots, p.max_age_ms
    prices, qtys = p.prices, p.qtys
    for side in (BUY, SELL):
        buy = side is BUY
        if buy:
            pos_side = math.ceil(pos_lots - EPS)
            last_fill = inventory.last_buy_fill_ms
            wanted = plan.bids
        else:
            pos_side = math.ceil(-pos_lots - EPS)
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
            slots.sort(key=_ticks_of, reverse=buy)
        allow = cap_lots - pos_side - in_flight  # lots that may rest once actions settle
        room = cap_lots - pos_side - committed  # lots the worst case may still grow by
        idx, min_value = 0, min_notional
        if hedge is not None:  # the side's pool: closing the opposite leg or opening its own
            slots, allow, room, idx, min_value = hedge.pool(side, slots, actions, min_value)

        paired, surplus = _match(wanted, slots, tol_ticks)

        for level, slot in enumerate(paired):
            ticks, lots = wanted[level]
            px = ticks * tick
            if slot is not None and slot[2].status != OPEN:
                quotes.append(_new_quote(Quote, (side, level, prices[ticks], qtys[lots])))
                continue  # in flight: wait for the exchange's answer
            want = lots if lots <= allow else max(allow, 0)
            if want < min_lots or want * step * px < min_value:
                want = 0
            quotes.append(_new_quote(Quote, (side, level, prices[ticks], qtys[want])))
            if slot is None:
                if want and may_add:
                    if want > room:
                        want = room
                    if want >= min_lots and want * step * px >= min_value:
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
            too_old = max_age > 0 and now_ms - o.created_ms >= max_age
            if may_add and (stale_price or too_old):
                requoted = True
                if too_old or not p.use_amend:
                    actions.append(Cancel(o.link_id, "age" if too_old else "requote"))
                    new = want if want <= room else room
                    if new >= min_lots and new * step * px >= min_value:
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
                actions.append(Amend(o.link_id, prices[ticks], o.filled + qtys[want], level))
                if want > rem:
                    room -= want - rem
                allow -= want
                continue
            if rem > allow:  # the limit shrank under this order: cut it, far levels first
                keep = max(allow, 0)
                if keep >= min_lots and keep * step * o_ticks * tick >= min_value:
                    actions.append(Amend(o.link_id, o.price, o.filled + qtys[keep], level))
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
    return Place(link_id, side, p.prices[ticks], p.qtys[lots], p.post_only, idx, level)


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


_ticks_of = itemgetter(0)
"""A slot's price in ticks (its sort key)."""

_new_quote = tuple.__new__
"""Builds a `Quote` from its field tuple without the NamedTuple's Python-level `__new__`:
the decision builds one per level and side every time."""


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
