"""The warm-up thread: rehearses decisions with the real strategy, sends nothing but its own
loopback probe, and stops cleanly (also on an error of its own)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bybitctl.config import Settings
from bybitctl.mm.engine import Engine
from bybitctl.mm.journal import Journal, now_ms
from bybitctl.mm.strategy import Amend, Inventory, StrategyState, decide
from bybitctl.mm.warmup import Warmup

from .helpers import config, order, params, view


def _inputs() -> tuple[Any, tuple[Any, ...]]:
    """A resting bid and ask with the book moved 50 bps away: the strategy must amend both."""
    p = params(refresh_tolerance_bps=1.0)
    orders = (order("a-1", "Buy", "99.90", "0.1"), order("a-2", "Sell", "100.10", "0.1"))
    return decide, (p, view(100.49, 100.51), Inventory(), orders, 1_000, StrategyState("a"))


def test_a_round_rehearses_the_strategys_actions_and_sends_nothing_else() -> None:
    rehearsed: list[Sequence[Any]] = []
    warm = Warmup(1, _inputs, lambda actions: rehearsed.append(actions) or 0, print)
    try:
        for _ in range(3):
            warm.round()
    finally:
        warm.stop()
    assert warm.rounds == 3
    assert len(rehearsed) == 3
    assert all(sorted(type(a).__name__ for a in acts) == ["Amend", "Amend"] for acts in rehearsed)
    assert {a.link_id for a in rehearsed[0] if isinstance(a, Amend)} == {"a-1", "a-2"}


def test_a_round_without_inputs_does_nothing() -> None:
    rehearsed: list[Sequence[Any]] = []
    warm = Warmup(1, lambda: None, lambda actions: rehearsed.append(actions) or 0, print)
    try:
        warm.round()
    finally:
        warm.stop()
    assert warm.rounds == 0 and rehearsed == []


def test_the_thread_rehearses_until_stopped_and_an_error_ends_only_the_warmup() -> None:
    rounds = threading.Event()
    warm = Warmup(1, _inputs, lambda actions: rounds.set() or 0, print)
    warm.start()
    assert rounds.wait(5), "no round within 5 s"
    if sys.platform.startswith("linux"):  # the lowest priority, for that thread only
        assert os.getpriority(os.PRIO_PROCESS, warm._thread.native_id) == 19
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) != 19
    warm.stop()
    assert not warm._thread.is_alive()

    failed: list[BaseException] = []

    def broken() -> None:
        raise ValueError("bad inputs")

    warm = Warmup(1, broken, lambda actions: 0, failed.append)
    warm.start()
    warm._thread.join(5)
    assert not warm._thread.is_alive()
    assert [str(e) for e in failed] == ["bad inputs"]
    warm.stop()


@pytest.mark.parametrize("reference", ["mid", "microprice", "last", "mark"])
def test_the_engines_rehearsal_makes_the_strategy_act_whatever_its_reference(
    tmp_path: Path, reference: str
) -> None:
    over = {"reference": reference, "refresh_tolerance_bps": 1.0}
    settings = Settings(profile="t", api_key="k", api_secret="s", base_url="http://127.0.0.1:9")
    journal = Journal(tmp_path / "j.sqlite")
    engine = Engine(config(**over), settings, journal, target="test")
    try:
        engine.params = params(**over)
        # resting exactly where the strategy quotes (10 bps from 100): nothing to do as is
        live = view(99.99, 100.01, last=100.0, mark=100.0, ts_ms=now_ms())
        orders = (order("a-1", "Buy", "99.90", "0.1"), order("a-2", "Sell", "100.10", "0.1"))
        engine._basis = (live, Inventory(), orders, StrategyState("a"))
        assert not decide(
            engine.params, live, Inventory(), orders, now_ms(), StrategyState("a")
        ).actions
        for _ in range(2):  # moved down, then up
            rehearsal = engine._rehearsal()
            assert rehearsal is not None
            step, args = rehearsal
            actions = step(*args).actions
            assert sorted(type(a).__name__ for a in actions) == ["Amend", "Amend"], actions
        engine.guard.on_message(now_ms())  # a book message just came: no rehearsal
        assert engine._rehearsal() is None
    finally:
        engine.executor.close()
        journal.close()
