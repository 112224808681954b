"""The market maker against the local exchange over real loopback sockets: the engine
in-process (on a thread) or the installed `bybitctl` binary in a subprocess. Every check of
what is on the book is made over REST, the way a user would check it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bybitctl.sim import SimHandle, running_exchange

from .support import SYMBOL, EngineThread


@pytest.fixture
def exchange() -> Iterator[SimHandle]:
    """A fresh exchange per test: every execution on it is the test's own."""
    with running_exchange(symbols=(SYMBOL,), seed=3) as ex:
        yield ex


@pytest.fixture
def run_engine(tmp_path: Path) -> Iterator[Callable[..., EngineThread]]:
    """Start engines; any still running at the end is stopped (never left quoting)."""
    started: list[EngineThread] = []

    def start(ex: SimHandle, **kwargs: Any) -> EngineThread:
        bot = EngineThread(ex, tmp_path / f"journal{len(started)}.sqlite", **kwargs).start()
        started.append(bot)
        return bot

    yield start
    for bot in started:
        if bot._thread.is_alive():
            bot.stop("teardown")
        bot.journal.close()
