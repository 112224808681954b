"""Kill switch, client-side MMP, rate budget, stale-book guard and reject breaker, stepped with
explicit times."""

from __future__ import annotations

from decimal import Decimal

from bybitctl.mm.actions import Amend, Cancel, Place
from bybitctl.mm.orders import TIMEOUT
from bybitctl.mm.risk import (
    ARMED,
    COOLING,
    PAUSED,
    STOPPED,
    KillSwitch,
    MarketMakerProtection,
    RateBudget,
    RejectBreaker,
    Risk,
    StaleBookGuard,
)

from .helpers import config

D = Decimal


def test_kill_switch_max_loss_since_start() -> None:
    kill = KillSwitch(max_loss=D(50), max_drawdown=None, action="stop")
    assert kill.update(D(-49.99), 0) == ARMED
    assert kill.update(D(-50), 1) == STOPPED and kill.reason == "max_loss"
    assert kill.update(D(100), 2) == STOPPED  # final


def test_kill_switch_trailing_drawdown_from_peak() -> None:
    kill = KillSwitch(max_loss=D(50), max_drawdown=D(25), action="stop")
    for t, pnl in enumerate([D(10), D(40), D(30), D(100)]):
        assert kill.update(pnl, t) == ARMED
    assert kill.peak == D(100)
    # still +76 since start, far from the -50 loss limit, but 24 -> 25 below the peak trips
    assert kill.update(D(76), 5) == ARMED
    assert kill.update(D(75), 6) == STOPPED and kill.reason == "drawdown"


def test_kill_switch_cooldown_rearms_with_new_peak() -> None:
    kill = KillSwitch(max_loss=None, max_drawdown=D(10), action="cooldown", cooldown_ms=1_000)
    kill.update(D(20), 0)
    assert kill.update(D(9), 100) == COOLING and kill.halted
    assert kill.update(D(0), 1_099) == COOLING
    assert kill.update(D(0), 1_100) == ARMED and kill.peak == D(0)  # peak reset on resume
    assert kill.update(D(-9), 1_200) == ARMED
    assert kill.update(D(-10), 1_300) == COOLING and kill.trips == 2


def test_kill_switch_cooldown_cannot_multiply_the_loss_budget() -> None:
    kill = KillSwitch(max_loss=D(50), max_drawdown=None, action="cooldown", cooldown_ms=10)
    kill.update(D(-60), 0)
    assert kill.update(D(-60), 10) == COOLING  # re-armed, still below the limit: trips again
    assert kill.update(D(-40), 20) == ARMED


def test_kill_switch_pause_waits_for_resume() -> None:
    kill = KillSwitch(max_loss=D(5), max_drawdown=None, action="pause")
    assert kill.update(D(-5), 0) == PAUSED
    assert kill.update(D(0), 10_000_000) == PAUSED
    kill.resume(D(0))
    assert kill.state == ARMED and not kill.halted and kill.resumes == 1
    kill.resume(D(0))  # nothing held: not counted (`mm resume` waits for the count)
    assert kill.resumes == 1


def test_mmp_trips_when_window_qty_exceeded_then_freezes() -> None:
    mmp = MarketMakerProtection(window_ms=1_000, max_qty=D(1), freeze_ms=5_000)
    assert not mmp.on_fill(D("0.6"), 0)
    assert not mmp.on_fill(D("0.4"), 500)  # exactly 1.0: not above
    assert mmp.window_qty(999) == D(1)
    assert mmp.on_fill(D("0.1"), 999)
    assert mmp.active(999) and mmp.active(5_998) and not mmp.active(5_999)
    assert mmp.window_qty(1_000) == 0  # the window restarts after a trip


def test_mmp_window_slides_and_ignores_taker_fills() -> None:
    mmp = MarketMakerProtection(window_ms=1_000, max_qty=D(1), freeze_ms=5_000)
    mmp.on_fill(D("0.9"), 0)
    assert not mmp.on_fill(D("0.9"), 1_000)  # the first fill left the window
    assert not mmp.on_fill(D(5), 1_001, is_maker=False)
    off = MarketMakerProtection(window_ms=1_000, max_qty=None, freeze_ms=1)
    assert not off.on_fill(D(1000), 0) and not off.active(0)


def _place(n: int) -> Place:
    return Place(f"p{n}", "Buy", D(1), D(1), True, 0, 0)


def test_rate_budget_defers_beyond_budget_cancels_first() -> None:
    budget = RateBudget(per_second=4)
    actions = [
        _place(1),
        _place(2),
        Cancel("c1", "x"),
        Amend("a1", D(1), D(1), 0),
        Cancel("c2", "x"),
        _place(3),
    ]
    sent, deferred = budget.admit(actions, 0)
    assert sent == (Cancel("c1", "x"), Cancel("c2", "x"), Amend("a1", D(1), D(1), 0), _place(1))
    assert deferred == (_place(2), _place(3))
    assert budget.admit([_place(4)], 100) == ((), (_place(4),))  # 0.4 token
    assert budget.admit([_place(4)], 250) == ((_place(4),), ())  # 1.0 token
    sent, _ = budget.admit([_place(n) for n in range(10)], 60_000)
    assert len(sent) == 4  # refills to the burst (one second's worth) only


def test_rate_budget_backs_off_after_the_exchange_refuses_and_recovers() -> None:
    budget = RateBudget(per_second=20)
    assert len(budget.admit([_place(n) for n in range(20)], 0)[0]) == 20
    budget.throttle(0)  # a 10006: empty, and refill at 10/s instead of 20/s
    budget.throttle(0)  # another: 5/s
    assert budget.admit([_place(1)], 0) == ((), (_place(1),))
    assert len(budget.admit([_place(n) for n in range(5)], 150)[0]) == 0  # < 1 token
    assert len(budget.admit([_place(n) for n in range(5)], 250)[0]) == 1
    for n in range(3):
        budget.throttle(300 + n)
    assert budget.rate == 0.001  # never below one action per second
    sent, _ = budget.admit([_place(n) for n in range(40)], 30_000)
    assert len(sent) == 20 and budget.rate == budget.configured  # recovered in ~10 s
    assert budget.throttles == 5


def test_stale_book_guard_states_and_episodes() -> None:
    guard = StaleBookGuard(stale_ms=1_000)
    guard.on_snapshot(0)
    assert not guard.stale(1_000) and guard.stale(1_001) and guard.stale(1_500)
    assert guard.stale_episodes == 1
    guard.on_message(1_600)
    assert not guard.stale(1_700)
    guard.on_gap()
    guard.on_gap()
    assert guard.resyncing and guard.resyncs == 1
    guard.on_snapshot(2_000)
    assert not guard.resyncing and guard.ts_ms == 2_000


def test_risk_halt_reason_from_config() -> None:
    risk = Risk(config(kill_max_loss="10", mmp_max_qty="0.5", mmp_freeze_s=1.0))
    assert risk.halt(0) == ""
    risk.mmp.on_fill(D("0.6"), 0)
    assert risk.halt(500) == "mmp" and risk.halt(1_000) == ""
    risk.kill.update(D(-10), 1_000)
    assert risk.halt(1_000) == "kill:max_loss"


def test_reject_breaker_counts_one_code_in_a_row_within_the_window() -> None:
    breaker = RejectBreaker(limit=3, window_ms=1_000)
    answers = [
        (110007, 0, False),
        (110007, 10, False),
        (0, 20, False),  # accepted: the count starts again
        (110007, 30, False),
        (110003, 40, False),  # another code: starts again, with this one
        (110007, 50, False),
        (110007, 60, False),
        (TIMEOUT, 70, False),  # neither counted nor restarting the count
        (10006, 80, False),  # a rate limit: the same
        (110007, 90, True),  # the third 110007 in a row
    ]
    for code, at, tripped in answers:
        assert breaker.on_place(code, at) is tripped, (code, at)
    assert (breaker.code, breaker.count) == (110007, 3)


def test_reject_breaker_forgets_rejects_older_than_the_window_and_can_be_off() -> None:
    breaker = RejectBreaker(limit=2, window_ms=100)
    assert not breaker.on_place(110007, 0)
    assert not breaker.on_place(110007, 150)  # the first is out of the window
    assert breaker.on_place(110007, 200)
    off = RejectBreaker(limit=0, window_ms=100)
    assert not any(off.on_place(110007, t) for t in range(10))
