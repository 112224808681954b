"""The exchange's market maker protection, for option quotes: Bybit's MMP, armed per base
coin with the run's MMP settings (`mmp_window_ms`, `mmp_max_qty`, `mmp_max_delta`,
`mmp_freeze_s`: one source of truth for the client-side machine of other categories and the
exchange's here), with every quote placed under it (`mmp=true`).

When maker fills in the window exceed a limit, the exchange cancels every MMP order of the
coin (`cancelType` `CancelByMmp`) and refuses new ones (retCode 110066) until its frozen
period ends. Either sign freezes the run's quotes at once for the configured period (the
client-side machine's `freeze`, so the strategy sees `mmp` as for a trip of its own), and
the next timer reads `mmp-state` for the exchange's own end of the freeze; quoting resumes
by itself once it has passed. A 110066 refusal is the freeze, not a rejection: it neither
counts toward the reject breaker nor shows among the refusals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bybitctl.mm.engine import Engine

MMP_FROZEN = 110066
"""Bybit's refusal of a new MMP order while the coin's MMP is frozen."""
CANCEL_BY_MMP = "CancelByMmp"
"""The `cancelType` of an order the exchange's MMP cancelled."""


def arm(engine: Engine, base_coin: str) -> None:
    """Arm the exchange's MMP for `base_coin` from the config, then read its state: a freeze
    still running (an earlier run tripped it) holds the quotes until it ends."""
    c = engine.config
    assert c.mmp_max_qty is not None  # the config requires it for option
    delta = c.mmp_max_delta if c.mmp_max_delta is not None else c.mmp_max_qty
    engine.rest.set_mmp(
        base_coin, c.mmp_window_ms, int(c.mmp_freeze_s * 1000), c.mmp_max_qty, delta
    )
    engine.emit({"event": "mmp", "state": "armed", "coin": base_coin})
    _read_state(engine)


def frozen(engine: Engine, why: str) -> None:
    """The exchange says MMP fired (`why`: a CancelByMmp update or a 110066 refusal): pull
    the quotes now for the configured period; the timer asks the exchange for its end."""
    now = engine.clock.now_ms()
    mmp = engine.risk.mmp
    if not mmp.active(now):
        mmp.freeze(now + int(engine.config.mmp_freeze_s * 1000), now)
        engine.journal.order_event("", "mmp_freeze", detail=why)
        engine.emit({"event": "mmp", "state": "frozen", "reason": why, "source": "exchange"})
    engine.mmp_check_due = True


def check(engine: Engine) -> None:
    """Timer: after a freeze, read the exchange's end of it (once per freeze); and say when
    the quotes are free again."""
    now = engine.clock.now_ms()
    if engine.mmp_check_due and engine.mmp_coin and engine.stop_asked is None:
        engine.mmp_check_due = False
        try:
            _read_state(engine)
        except Exception as exc:  # unreachable: the configured period stands
            engine.emit({"event": "warning", "message": f"mmp-state not read: {exc}"})
    active = engine.risk.mmp.active(now)
    if engine.mmp_held and not active:
        engine.emit({"event": "mmp", "state": "released"})
    engine.mmp_held = active


def _read_state(engine: Engine) -> None:
    row = engine.rest.mmp_state(engine.mmp_coin)
    if not row or not _is_true(row.get("mmpFrozen")):
        return
    now = engine.clock.now_ms()
    until = int(row.get("mmpFrozenUntil") or 0)
    # 0: until a reset, which the config's frozen period (> 0) never asks for: hold the
    # configured period; a refusal after it freezes (and reads) again
    engine.risk.mmp.freeze(until or now + int(engine.config.mmp_freeze_s * 1000), now)


def _is_true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"
