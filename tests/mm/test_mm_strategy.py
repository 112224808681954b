"""decide(): placement, rounding, requote rules, skew, guards, ids and the exposure limit."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.examples import examples

from bybitctl.mm.actions import (
    BUY,
    OPEN,
    PENDING_AMEND,
    PENDING_CANCEL,
    PENDING_NEW,
    SELL,
    STATUSES,
    Amend,
    Cancel,
    Decision,
    Inventory,
    OpenOrder,
    Place,
    StrategyState,
    legs_after_fill,
)
from bybitctl.mm.strategy import _match, decide
from bybitctl.mm.view import VolEstimator

from .helpers import order, params, view

D = Decimal
STATE = StrategyState("mmT")


def places(decision: Decision, side: str | None = None) -> list[Place]:
    return [a for a in decision.actions if isinstance(a, Place) and side in (None, a.side)]


def prices(decision: Decision, side: str) -> list[Decimal]:
    return [p.price for p in places(decision, side)]


def test_both_sides_at_configured_distance_and_levels() -> None:
    p = params(levels=3, level_spacing_bps=5.0)
    d = decide(p, view(), Inventory(), (), 1_000, STATE)
    assert prices(d, BUY) == [D("99.90"), D("99.85"), D("99.80")]
    assert prices(d, SELL) == [D("100.10"), D("100.15"), D("100.20")]
    assert all(a.qty == D("0.100") and a.post_only for a in places(d))
    assert [a.level for a in places(d, BUY)] == [0, 1, 2]
    assert d.reason == "" and len(d.quotes) == 6


def test_rounds_to_tick_away_from_mid() -> None:
    # mid 100.005: 10 bps gives 99.904995 and 100.105005 -> bid down, ask up
    d = decide(params(), view(100.00, 100.01), Inventory(), (), 1_000, STATE)
    assert prices(d, BUY) == [D("99.90")] and prices(d, SELL) == [D("100.11")]


def test_on_grid_prices_are_not_pushed_a_tick_further() -> None:
    for spread in (1.0, 3.0, 7.0, 10.0, 25.0):
        d = decide(params(spread_bps=spread), view(), Inventory(), (), 1_000, STATE)
        assert prices(d, BUY) == [D(100) - D(spread) / 100]
        assert prices(d, SELL) == [D(100) + D(spread) / 100]


def test_microprice_last_and_mark_references() -> None:
    micro = decide(
        params(reference="microprice"),
        view(bid_qty=3.0, ask_qty=1.0),
        Inventory(),
        (),
        1_000,
        STATE,
    )
    # microprice = (99.99*1 + 100.01*3)/4 = 100.005 -> 99.904995 / 100.105005
    assert prices(micro, BUY) == [D("99.90")] and prices(micro, SELL) == [D("100.11")]
    last = decide(params(reference="last"), view(last=100.5), Inventory(), (), 1_000, STATE)
    assert prices(last, SELL) == [D("100.61")]
    assert prices(last, BUY) == [D("100.00")]  # 100.39 would cross the ask: one tick below
    nolast = decide(params(reference="mark"), view(), Inventory(), (), 1_000, STATE)
    assert nolast.reason == "guard:no_reference" and not nolast.actions


def test_fee_aware_floor_and_vol_scaling_widen() -> None:
    fee = decide(
        params(spread_bps=1.0, maker_fee_bps=2.0, min_edge_bps=1.0),
        view(),
        Inventory(),
        (),
        1_000,
        STATE,
    )
    assert prices(fee, BUY) == [D("99.97")] and prices(fee, SELL) == [D("100.03")]
    rebate = decide(
        params(spread_bps=1.0, maker_fee_bps=-1.0, min_edge_bps=0.5),
        view(),
        Inventory(),
        (),
        1_000,
        STATE,
    )
    assert prices(rebate, BUY) == [D("99.99")]
    vol = decide(
        params(spread_bps=10.0, vol_scaling=True, vol_multiplier=2.0),
        view(vol_bps=8.0),
        Inventory(),
        (),
        1_000,
        STATE,
    )
    assert prices(vol, BUY) == [D("99.84")] and prices(vol, SELL) == [D("100.16")]


def test_notional_sizing_rounds_qty_down() -> None:
    p = params(
        order_qty=None,
        order_notional="10.05",
        levels=2,
        level_spacing_bps=10.0,
        level_multipliers=[1, 2],
    )
    d = decide(p, view(), Inventory(), (), 1_000, STATE)
    # 10.05 / 99.90 = 0.100600.. -> 0.100; 20.10 / 99.80 = 0.201402.. -> 0.201
    assert [(a.price, a.qty) for a in places(d, BUY)] == [
        (D("99.90"), D("0.100")),
        (D("99.80"), D("0.201")),
    ]


def test_level_below_min_notional_at_its_price_is_dropped() -> None:
    # 0.001 x 99.90 = 0.0999 < 0.1 minimum value: no bid; 0.001 x 100.10 passes
    d = decide(params(order_qty="0.001"), view(), Inventory(), (), 1_000, STATE)
    assert not places(d, BUY) and prices(d, SELL) == [D("100.10")]
    assert [q.qty for q in d.quotes] == [D(0), D("0.001")]
    resting = (order("a", BUY, "99.95", "0.001"),)
    again = decide(params(order_qty="0.001"), view(), Inventory(), resting, 1_000, STATE)
    assert Cancel("a", "dropped") in again.actions


def test_ids_are_prefix_and_counter_and_decision_is_pure() -> None:
    p = params(levels=2, level_spacing_bps=5.0)
    first = decide(p, view(), Inventory(), (), 1_000, STATE)
    again = decide(p, view(), Inventory(), (), 1_000, STATE)
    assert first == again
    assert [a.link_id for a in first.actions] == ["mmT-1", "mmT-2", "mmT-3", "mmT-4"]
    assert first.state.seq == 4 and first.state.last_requote_ms == 1_000
    nxt = decide(p, view(), Inventory(), (), 2_000, first.state)
    assert places(nxt)[0].link_id == "mmT-5"


def test_within_tolerance_no_action_beyond_it_amend_in_place() -> None:
    p = params(refresh_tolerance_bps=2.0)
    resting = (order("a", BUY, "99.90", "0.1"), order("b", SELL, "100.10", "0.1"))
    # mid moves 1 bp: desired 99.89/100.09, 1 tick off, inside the 2 bp tolerance
    small = decide(p, view(99.98, 100.00), Inventory(), resting, 1_000, STATE)
    assert small.actions == ()
    # mid moves 3 bp: 3 ticks off -> amend both in place, ids kept
    big = decide(p, view(99.96, 99.98), Inventory(), resting, 1_000, STATE)
    assert big.actions == (
        Amend("a", D("99.87"), D("0.100"), 0),
        Amend("b", D("100.07"), D("0.100"), 0),
    )
    assert big.state.seq == 0 and big.state.last_requote_ms == 1_000


def test_amend_keeps_filled_part_in_total_qty() -> None:
    resting = (order("a", BUY, "99.90", "0.1", filled="0.04"),)
    d = decide(params(), view(99.96, 99.98), Inventory(D("0.04")), resting, 1_000, STATE)
    amend = next(a for a in d.actions if isinstance(a, Amend))
    assert amend.qty == D("0.140")  # 0.04 filled + a fresh 0.100 remaining


def test_cancel_and_place_when_amend_disabled() -> None:
    p = params(use_amend=False)
    resting = (order("a", BUY, "99.90", "0.1"),)
    d = decide(p, view(99.96, 99.98), Inventory(), resting, 1_000, STATE)
    assert Cancel("a", "requote") in d.actions
    assert prices(d, BUY) == [D("99.87")]


def test_min_requote_interval_defers_moves() -> None:
    p = params(min_requote_interval_ms=500)
    resting = (order("a", BUY, "99.90", "0.1"), order("b", SELL, "100.10", "0.1"))
    state = StrategyState("mmT", 2, last_requote_ms=1_000)
    early = decide(p, view(99.96, 99.98), Inventory(), resting, 1_200, state)
    assert early.actions == ()
    late = decide(p, view(99.96, 99.98), Inventory(), resting, 1_500, state)
    assert len(late.actions) == 2


def test_max_order_age_replaces_order() -> None:
    p = params(max_order_age_ms=10_000)
    resting = (
        order("a", BUY, "99.90", "0.1", created_ms=0),
        order("b", SELL, "100.10", "0.1", created_ms=5_000),
    )
    d = decide(p, view(ts_ms=10_000), Inventory(), resting, 10_000, STATE)
    assert d.actions[0] == Cancel("a", "age")
    assert places(d) == [Place("mmT-1", BUY, D("99.90"), D("0.100"), True, 0, 0)]
    assert len(d.actions) == 2  # b is younger than the max age


def test_inventory_skew_shifts_both_quotes_toward_flattening() -> None:
    p = params(inventory_skew=True, skew_strength=1.0, max_position="1")
    flat = decide(p, view(), Inventory(), (), 1_000, STATE)
    long = decide(p, view(), Inventory(D("0.5")), (), 1_000, STATE)
    short = decide(p, view(), Inventory(D("-0.5")), (), 1_000, STATE)
    # +0.5 of max with strength 1: shift = -0.5 x 10 bps = -5 bps on both sides
    assert prices(long, BUY) == [D("99.85")] and prices(long, SELL) == [D("100.05")]
    assert prices(short, BUY) == [D("99.95")] and prices(short, SELL) == [D("100.15")]
    assert prices(flat, BUY) == [D("99.90")]


def test_quotes_never_cross_the_book() -> None:
    p = params(reference="last", spread_bps=1.0)
    d = decide(p, view(99.99, 100.01, last=99.0), Inventory(), (), 1_000, STATE)
    assert prices(d, SELL) == [D("100.00")] and prices(d, BUY) == [D("98.99")]


def test_hedge_mode_position_idx_and_post_only_flag() -> None:
    d = decide(params(hedge_mode=True, post_only=False), view(), Inventory(), (), 1_000, STATE)
    assert [(a.side, a.position_idx, a.post_only) for a in places(d)] == [
        (BUY, 1, False),
        (SELL, 2, False),
    ]


def test_fill_cooldown_blocks_that_side_only() -> None:
    p = params(fill_cooldown_ms=1_000)
    inv = Inventory(D("0.1"), last_buy_fill_ms=900)
    d = decide(p, view(), inv, (), 1_500, STATE)
    assert not places(d, BUY) and len(places(d, SELL)) == 1
    later = decide(p, view(), inv, (), 1_900, STATE)
    assert len(places(later, BUY)) == 1


def test_surplus_orders_cancelled_in_flight_left_alone() -> None:
    resting = (
        order("a", BUY, "99.90", "0.1"),
        order("b", BUY, "99.80", "0.1"),
        order("c", SELL, "100.10", "0.1", status=PENDING_NEW),
        order("e", SELL, "100.30", "0.1", status=PENDING_AMEND),
    )
    d = decide(params(), view(), Inventory(), resting, 1_000, STATE)
    assert d.actions == (Cancel("b", "surplus"),)


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"ts_ms": 1_000 - 6_000}, "guard:stale"),
        ({"resyncing": True}, "guard:resyncing"),
        ({"private_ok": False}, "guard:private_down"),
        ({"halt": "kill:max_loss"}, "kill:max_loss"),
        ({"halt": "mmp"}, "mmp"),
        ({"bid": 100.02}, "guard:crossed"),
        ({"bid": 0.0}, "guard:no_book"),
    ],
)
def test_guards_cancel_everything_and_place_nothing(kw: dict, reason: str) -> None:
    resting = (
        order("a", BUY, "99.90", "0.1"),
        order("b", SELL, "100.10", "0.1"),
        order("c", SELL, "100.20", "0.1", status=PENDING_NEW),
        order("d", BUY, "99.80", "0.1", status=PENDING_CANCEL),
    )
    d = decide(params(), view(**kw), Inventory(), resting, 1_000, STATE)
    assert d.reason == reason
    assert d.actions == (Cancel("a", reason), Cancel("b", reason), Cancel("c", reason))
    assert d.state == STATE


def test_limit_cuts_far_levels_first_when_it_shrinks() -> None:
    p = params(levels=3, level_spacing_bps=5.0, max_position="0.25")
    resting = (
        order("a", BUY, "99.90", "0.1"),
        order("b", BUY, "99.85", "0.1"),
        order("c", BUY, "99.80", "0.1"),
    )
    # position 0.1 long: 0.15 of room left on the buy side; the 0.3 resting would breach
    d = decide(p, view(), Inventory(D("0.1")), resting, 1_000, STATE)
    buys = [a for a in d.actions if not isinstance(a, Place) or a.side == BUY]
    assert buys[:2] == [Amend("b", D("99.85"), D("0.050"), 1), Cancel("c", "limit")]


def test_max_notional_caps_like_max_position() -> None:
    p = params(
        max_position="10", max_notional="15", order_qty="0.1", levels=3, level_spacing_bps=5.0
    )
    d = decide(p, view(), Inventory(D("0.05")), (), 1_000, STATE)
    # cap = 15 / 100 = 0.15 base; long 0.05 leaves 0.1 for bids, sells get 0.2 of room
    assert [a.qty for a in places(d, BUY)] == [D("0.100")]
    assert [a.qty for a in places(d, SELL)] == [D("0.100"), D("0.100")]


def test_vol_estimator_is_window_root_sum_of_squares() -> None:
    vol = VolEstimator(1_000)
    assert vol.update(100.0, 0) == 0.0
    vol.update(100.1, 100)  # ~+10 bps
    v = vol.update(100.0, 200)  # ~-10 bps
    assert 14.0 < v < 14.2
    assert vol.value(1_150) == pytest.approx(9.995, abs=0.01)  # first return left the window
    assert vol.value(5_000) == 0.0


# -- the exposure limit, over random inventories, open orders and configs -------------------

STEP = D("0.001")


@st.composite
def scenario(draw: st.DrawFn) -> tuple:
    levels = draw(st.integers(1, 3))
    qty_lots = draw(st.integers(1, 200))
    cap_lots = draw(st.integers(1, 600))
    over = {
        "levels": levels,
        "level_spacing_bps": draw(st.sampled_from([1.0, 5.0])),
        "order_qty": str(qty_lots * STEP),
        "max_position": str(cap_lots * STEP),
        "inventory_skew": draw(st.booleans()),
        "skew_strength": 1.0,
        "spread_bps": draw(st.sampled_from([1.0, 5.0, 20.0])),
        "refresh_tolerance_bps": draw(st.sampled_from([0.0, 2.0])),
        "use_amend": draw(st.booleans()),
        "max_order_age_ms": draw(st.sampled_from([0, 500])),
    }
    pos = draw(st.integers(-cap_lots * 3 // 2, cap_lots * 3 // 2)) * STEP
    orders = []
    for i in range(draw(st.integers(0, 8))):
        side = draw(st.sampled_from([BUY, SELL]))
        ticks = draw(st.integers(9_950, 10_050))
        qty = draw(st.integers(1, 300))
        filled = draw(st.integers(0, qty - 1))
        orders.append(
            OpenOrder(
                f"o{i}",
                side,
                ticks * D("0.01"),
                qty * STEP,
                filled * STEP,
                draw(st.integers(0, 1_000)),
                draw(st.sampled_from(STATUSES)),
            )
        )
    mid = draw(st.integers(9_980, 10_020))
    v = view(mid / 100 - 0.01, mid / 100 + 0.01)
    return params(**over), D(over["max_position"]), pos, tuple(orders), v


def _worst(orders: list[OpenOrder], pos: Decimal, side: str) -> Decimal:
    base = pos if side == BUY else -pos
    return base + sum((o.qty - o.filled for o in orders if o.side == side), D(0))


def _after(orders: tuple[OpenOrder, ...], d: Decision, settle: bool) -> list[OpenOrder]:
    """Orders after the actions: in flight (cancels still count, amends at the larger qty) or
    settled (cancels gone, amends at their new qty)."""
    by_id = {o.link_id: o for o in orders}
    for a in d.actions:
        if isinstance(a, Place):
            by_id[a.link_id] = _placed(a)
        elif isinstance(a, Amend):
            old = by_id[a.link_id]
            qty = a.qty if settle else max(a.qty, old.qty)
            by_id[a.link_id] = replace(old, price=a.price, qty=qty, status=PENDING_AMEND)
        elif settle:
            del by_id[a.link_id]
    return list(by_id.values())


@settings(max_examples=examples(400), deadline=None)
@given(scenario())
def test_full_fill_of_every_order_never_breaches_max_position(case: tuple) -> None:
    p, cap, pos, orders, v = case
    d = decide(p, v, Inventory(pos), orders, 1_000, STATE)
    in_flight = _after(orders, d, settle=False)
    settled = _after(orders, d, settle=True)
    for side in (BUY, SELL):
        before = _worst(list(orders), pos, side)
        worst = _worst(in_flight, pos, side)
        # never grows past the limit, and never grows at all while over it
        assert worst <= max(cap, before)
        added = any(isinstance(a, Place) and a.side == side for a in d.actions)
        if added:
            assert worst <= cap
        # once cancels and amends land, only orders the strategy could not touch exceed it
        untouchable = [o for o in orders if o.side == side and o.status != OPEN]
        assert _worst(settled, pos, side) <= max(cap, _worst(untouchable, pos, side))
    for a in d.actions:
        if isinstance(a, Place):
            assert a.qty % STEP == 0 and a.qty >= STEP
            assert a.price % D("0.01") == 0
            assert (a.side == BUY and a.price < D(str(v.ask))) or (
                a.side == SELL and a.price > D(str(v.bid))
            )


def test_fill_at_the_front_level_does_not_shift_the_orders_behind() -> None:
    p = params(levels=3, level_spacing_bps=5.0, refresh_tolerance_bps=1.0)
    resting = (
        order("b", BUY, "99.85", "0.1"),
        order("c", BUY, "99.80", "0.1"),
        order("x", SELL, "100.10", "0.1"),
        order("y", SELL, "100.15", "0.1"),
        order("z", SELL, "100.20", "0.1"),
    )
    d = decide(p, view(), Inventory(D("0.1")), resting, 1_000, STATE)
    assert d.actions == (Place("mmT-1", BUY, D("99.90"), D("0.100"), True, 0, 0),)


def test_rising_price_shrinks_notional_cap_and_cuts_resting_orders() -> None:
    p = params(max_position="10", max_notional="25", levels=3, level_spacing_bps=5.0)
    resting = (
        order("a", BUY, "99.90", "0.1"),
        order("b", BUY, "99.85", "0.1"),
        order("c", BUY, "99.80", "0.1"),
    )
    calm = decide(p, view(), Inventory(), resting, 1_000, STATE)
    assert Amend("c", D("99.80"), D("0.050"), 2) in calm.actions  # 25 / 100 = 0.25 base
    higher = decide(p, view(124.99, 125.01), Inventory(), resting, 1_000, STATE)
    # the reference moved 25%: only 0.2 base fits (25 / 125) on each side
    assert higher.actions[:3] == (
        Amend("a", D("124.87"), D("0.100"), 0),
        Amend("b", D("124.81"), D("0.100"), 1),
        Cancel("c", "limit"),
    )
    assert [a.qty for a in places(higher, SELL)] == [D("0.100"), D("0.100")]


# -- hedge mode: closing and opening legs ---------------------------------------------------


def legs(long: str = "0", short: str = "0") -> Inventory:
    return Inventory(D(long) - D(short), long=D(long), short=D(short))


def test_hedge_asks_close_the_long_leg_on_its_index_up_to_the_leg() -> None:
    p = params(hedge_mode=True, levels=2, level_spacing_bps=5.0, max_position="0.5")
    d = decide(p, view(), legs(long="0.15"), (), 1_000, STATE)
    # the asks close the 0.15 long leg on index 1 (0.1 + 0.05, never more); the bids open
    # more long on index 1 within 0.5 - 0.15
    assert [(a.qty, a.position_idx) for a in places(d, SELL)] == [
        (D("0.100"), 1),
        (D("0.050"), 1),
    ]
    assert [(a.qty, a.position_idx) for a in places(d, BUY)] == [(D("0.100"), 1)] * 2
    short = decide(p, view(), legs(short="0.3"), (), 1_000, STATE)
    assert {a.position_idx for a in places(short, BUY)} == {2}
    assert {a.position_idx for a in places(short, SELL)} == {2}


def test_hedge_opening_orders_share_one_room_bids_first() -> None:
    p = params(hedge_mode=True, levels=3, level_spacing_bps=5.0, max_position="0.25")
    d = decide(p, view(), legs(), (), 1_000, STATE)
    # flat: both sides open, 0.25 in all: the bids take 0.1 + 0.1 + 0.05, the asks nothing
    assert [a.qty for a in places(d, BUY)] == [D("0.100"), D("0.100"), D("0.050")]
    assert places(d, SELL) == []
    resting = (
        order("a", BUY, "99.90", "0.1", position_idx=1),
        order("b", BUY, "99.85", "0.1", position_idx=1),
    )
    d = decide(p, view(), legs(long="0.05"), resting, 1_000, STATE)
    # long 0.05 + bids 0.2 fill the cap; the asks only close the long leg
    assert [(a.side, a.qty, a.position_idx) for a in places(d)] == [(SELL, D("0.050"), 1)]


def test_hedge_order_on_the_wrong_leg_is_cancelled_and_replaced() -> None:
    p = params(hedge_mode=True)
    resting = (
        order("ask", SELL, "100.10", "0.1", position_idx=2),  # opens short while long: replace it
        order("ask2", SELL, "100.20", "0.1", status=PENDING_NEW, position_idx=2),  # in flight: wait
        order("bid", BUY, "99.90", "0.1", status=PENDING_NEW, position_idx=1),
    )
    d = decide(p, view(), legs(long="0.2"), resting, 1_000, STATE)
    assert d.actions == (
        Cancel("ask", "leg"),
        Place("mmT-1", SELL, D("100.10"), D("0.100"), True, 1, 0),
    )
    # the long leg is gone: a closing ask left on index 1 can do nothing useful
    gone = decide(
        p, view(), legs(), (order("c", SELL, "100.10", "0.1", position_idx=1),), 1_000, STATE
    )
    assert Cancel("c", "leg") in gone.actions
    assert [(a.side, a.position_idx) for a in places(gone)] == [(BUY, 1), (SELL, 2)]


def test_hedge_closing_orders_are_exempt_from_the_minimum_value_only() -> None:
    # 0.001 x 99.90 = 0.0999 is below the 0.1 minimum value, but a bid on index 2 only
    # closes the short leg (reduce-only): it goes out
    d = decide(params(hedge_mode=True), view(), legs(short="0.001"), (), 1_000, STATE)
    assert [(a.qty, a.position_idx) for a in places(d, BUY)] == [(D("0.001"), 2)]


def test_hedge_both_legs_open_both_sides_close() -> None:
    p = params(hedge_mode=True, max_position="0.3")
    d = decide(p, view(), legs(long="0.2", short="0.1"), (), 1_000, STATE)
    assert [(a.side, a.qty, a.position_idx) for a in places(d)] == [
        (BUY, D("0.100"), 2),
        (SELL, D("0.100"), 1),
    ]


def test_legs_after_fill() -> None:
    assert legs_after_fill(D(1), D(2), BUY, D("0.5"), 1) == (D("1.5"), D(2))
    assert legs_after_fill(D(1), D(2), SELL, D("0.5"), 1) == (D("0.5"), D(2))
    assert legs_after_fill(D(1), D(2), SELL, D("0.5"), 2) == (D(1), D("2.5"))
    assert legs_after_fill(D(1), D(2), BUY, D("0.5"), 2) == (D(1), D("1.5"))


@st.composite
def hedge_scenario(draw: st.DrawFn) -> tuple:
    p, cap, _, _, v = draw(scenario())
    cap_lots = int(cap / STEP)
    long = draw(st.integers(0, cap_lots * 3 // 2)) * STEP
    short = draw(st.integers(0, cap_lots * 3 // 2)) * STEP
    orders = []
    for i in range(draw(st.integers(0, 8))):
        qty = draw(st.integers(1, 300))
        orders.append(
            OpenOrder(
                f"o{i}",
                draw(st.sampled_from([BUY, SELL])),
                draw(st.integers(9_950, 10_050)) * D("0.01"),
                qty * STEP,
                draw(st.integers(0, qty - 1)) * STEP,
                draw(st.integers(0, 1_000)),
                draw(st.sampled_from(STATUSES)),
                draw(st.sampled_from([1, 2])),
            )
        )
    return replace(p, hedge_mode=True), cap, long, short, tuple(orders), v


def _opening(o: OpenOrder) -> bool:
    return (o.side == BUY) == (o.position_idx == 1)


def _gross(orders: list[OpenOrder], long: Decimal, short: Decimal) -> Decimal:
    """long + short after a full fill of every opening order (closing fills only shrink)."""
    return long + short + sum((o.qty - o.filled for o in orders if _opening(o)), D(0))


def _closing(orders: list[OpenOrder], side: str) -> Decimal:
    return sum((o.qty - o.filled for o in orders if o.side == side and not _opening(o)), D(0))


@settings(max_examples=examples(400), deadline=None)
@given(hedge_scenario())
def test_hedge_full_fill_of_every_order_never_breaches_either_leg_or_the_gross(
    case: tuple,
) -> None:
    p, cap, long, short, orders, v = case
    d = decide(p, v, legs(str(long), str(short)), orders, 1_000, STATE)
    in_flight = _after(orders, d, settle=False)
    settled = _after(orders, d, settle=True)
    untouchable = [o for o in orders if o.status != OPEN]
    before = _gross(list(orders), long, short)
    # the gross bounds each leg too: long + opening bids, short + opening asks
    assert _gross(in_flight, long, short) <= max(cap, before)
    if any(isinstance(a, Place) and _opening(_placed(a)) for a in d.actions):
        assert _gross(in_flight, long, short) <= cap
    assert _gross(settled, long, short) <= max(cap, _gross(untouchable, long, short))
    for side, leg in ((SELL, long), (BUY, short)):  # closing orders never exceed their leg
        assert _closing(in_flight, side) <= max(leg, _closing(list(orders), side))
        if any(
            isinstance(a, Place) and a.side == side and not _opening(_placed(a)) for a in d.actions
        ):
            assert _closing(in_flight, side) <= leg
        assert _closing(settled, side) <= max(leg, _closing(untouchable, side))
    assert all(a.position_idx in (1, 2) for a in places(d))


def _placed(a: Place) -> OpenOrder:
    return OpenOrder(a.link_id, a.side, a.price, a.qty, D(0), 0, PENDING_NEW, a.position_idx)


def _pairing_rule(wanted: list[tuple[int, int]], slots: list, tol: int) -> tuple[list, list]:
    """The documented pairing, spelled out: an order within tolerance of a free level keeps
    it (levels in order), the rest pair best-first, what is left over is surplus."""
    paired: list = [None] * len(wanted)
    free = []
    for slot in slots:
        near = [k for k, w in enumerate(wanted) if paired[k] is None and abs(w[0] - slot[0]) <= tol]
        if near:
            paired[near[0]] = slot
        else:
            free.append(slot)
    for k in range(len(paired)):
        if paired[k] is None and free:
            paired[k] = free.pop(0)
    return paired, free


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(990, 1010), min_size=1, max_size=3),
    st.lists(st.integers(990, 1010), max_size=3),
    st.integers(0, 5),
)
def test_match_pairs_by_the_rule(levels: list[int], prices: list[int], tol: int) -> None:
    """`_match` (with its shortcut for one level and at most one order) pairs exactly as the
    rule says: a lone order keeps the lone level whether within tolerance or not."""
    wanted = [(t, 1) for t in levels]
    slots = [(t, 1, order(f"o{k}", BUY, str(t), "1")) for k, t in enumerate(prices)]
    assert _match(wanted, slots, tol) == _pairing_rule(wanted, slots, tol)
