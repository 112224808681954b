"""What `mm start` does to its process: the interpreter tuned while quoting and put back after,
and the signals that stop or resume the engine."""

from __future__ import annotations

import gc
import os
import signal
import sys

import pytest

from bybitctl.commands.mm.process import (
    SWITCH_INTERVAL_S,
    collect_due,
    engine_signals,
    tuned_for_quoting,
)


def test_tuning_holds_while_quoting_and_is_undone_after() -> None:
    switch, enabled = sys.getswitchinterval(), gc.isenabled()
    frozen = gc.get_freeze_count()
    with tuned_for_quoting() as between_ticks:
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
        assert not gc.isenabled() and gc.get_freeze_count() > frozen
        garbage = []
        for _ in range(gc.get_threshold()[0] + 10):  # cycles the disabled GC leaves behind
            cycle: list[object] = []
            cycle.append(cycle)
            garbage.append(cycle)
        del garbage, cycle
        assert gc.get_count()[0] > gc.get_threshold()[0]
        between_ticks()  # the collection that was due
        assert gc.get_count()[0] <= gc.get_threshold()[0]
    assert (sys.getswitchinterval(), gc.isenabled()) == (switch, enabled)
    assert gc.get_freeze_count() == frozen


def test_collect_due_does_nothing_when_nothing_is_due() -> None:
    gc.collect()
    before = gc.get_stats()[0]["collections"]
    collect_due()
    assert gc.get_stats()[0]["collections"] == before


class Requests:
    """What an engine is asked to do (the engine's own two request methods)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def request_stop(self, reason: str) -> None:
        self.seen.append(reason)

    def request_resume(self) -> None:
        self.seen.append("resume")


def test_signals_map_to_stop_and_resume_only_inside() -> None:
    engine = Requests()
    before = signal.getsignal(signal.SIGUSR1)
    with engine_signals(engine):
        os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGTERM)
    assert engine.seen == ["resume", "signal:SIGTERM"]
    assert signal.getsignal(signal.SIGUSR1) == before
