"""`bybitctl mm stop`: ask the instance running on a journal to pull its quotes and exit,
and wait until it has (it confirms over REST that none of its orders remain)."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from bybitctl.commands.mm.common import (
    JournalOption,
    journal_path,
    number_option,
    running_instance,
)
from bybitctl.errors import NetworkError
from bybitctl.parsing import NumberRule

TIMEOUT = NumberRule(minimum=0, maximum=3600, positive=True)
"""`--timeout` of `mm stop` and `mm resume`: seconds, at most an hour."""


@dataclass(frozen=True)
class StopOptions:
    """Which journal's instance to stop, and how long to wait for it."""

    journal: Path
    timeout: float
    sleep: Callable[[float], None] = time.sleep


def run_stop(opts: StopOptions) -> int:
    """SIGTERM the running instance and wait for its exit; 0 when it left no order open."""
    from bybitctl.mm.journal import lock_holder

    with running_instance(opts.journal) as found:
        if found is None:
            return 0
        pid, journal = found.pid, found.journal
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + opts.timeout
        while lock_holder(opts.journal) == pid and time.monotonic() < deadline:
            current = journal.instance()
            if current is not None and current.pid == pid and current.status == "stopped":
                break
            opts.sleep(0.1)
        current = journal.instance()
        if current is None or current.pid != pid or current.status != "stopped":
            raise NetworkError(
                f"mm instance (pid {pid}) did not report a clean stop within {opts.timeout:g}s"
            )
        left = int(current.state.get("open_orders") or 0)
        print(
            f"stopped run {current.run_id} (pid {pid}): {left} order(s) left open",
            file=sys.stderr,
        )
        return 1 if left else 0


def make_stop(runner: Callable[[StopOptions], int] = run_stop) -> Callable[..., None]:
    """The `stop` command; `runner` is replaced in tests."""

    def stop(
        journal: JournalOption = None,
        timeout: Annotated[
            str | None,
            typer.Option(
                "--timeout",
                metavar="SECONDS",
                help=f"How long to wait for the exit (default 60). Accepts: {TIMEOUT.interval()}.",
            ),
        ] = None,
    ) -> None:
        """Stop the running instance: it cancels every order, confirms none remain, exits."""
        wait = number_option(timeout, "--timeout", TIMEOUT)
        code = runner(StopOptions(journal_path(journal), 60.0 if wait is None else float(wait)))
        if code:
            raise typer.Exit(code)

    return stop
