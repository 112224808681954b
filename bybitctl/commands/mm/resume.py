"""`bybitctl mm resume`: re-arm the kill switch of the instance running on a journal after
it paused (`kill_action = pause`) or while it cools down; quoting starts again at once."""

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
from bybitctl.commands.mm.stop import TIMEOUT
from bybitctl.errors import NetworkError

_HALTED = ("paused", "cooling")


@dataclass(frozen=True)
class ResumeOptions:
    """Which journal's instance to resume, and how long to wait for it to re-arm."""

    journal: Path
    timeout: float
    sleep: Callable[[float], None] = time.sleep


def run_resume(opts: ResumeOptions) -> int:
    """SIGUSR1 the running instance if its kill switch holds, and wait until it re-arms."""
    with running_instance(opts.journal) as found:
        if found is None:
            return 0
        journal, instance = found.journal, found.instance
        if instance is None:
            print("the running instance is still starting: nothing to resume", file=sys.stderr)
            return 0
        state = instance.state.get("kill")
        if state not in _HALTED:
            print(f"kill switch is {state or 'unknown'}: nothing to resume", file=sys.stderr)
            return 0
        before = int(instance.state.get("kill_resumes") or 0)
        os.kill(instance.pid, signal.SIGUSR1)
        deadline = time.monotonic() + opts.timeout
        while time.monotonic() < deadline:
            current = journal.instance()
            if current is None or current.run_id != instance.run_id:
                break
            if int(current.state.get("kill_resumes") or 0) > before:
                # it re-armed; the switch may have tripped again since (the since-start
                # loss limit never resets), which its current state shows
                print(
                    f"run {instance.run_id}: kill switch re-armed "
                    f"(now {current.state.get('kill')})",
                    file=sys.stderr,
                )
                return 0
            if current.status != "running":
                break
            opts.sleep(0.1)
        raise NetworkError(
            f"mm instance (pid {instance.pid}) did not re-arm within {opts.timeout:g}s"
        )


def make_resume(runner: Callable[[ResumeOptions], int] = run_resume) -> Callable[..., None]:
    """The `resume` command; `runner` is replaced in tests."""

    def resume(
        journal: JournalOption = None,
        timeout: Annotated[
            str | None,
            typer.Option(
                "--timeout",
                metavar="SECONDS",
                help=f"How long to wait for it (default 10). Accepts: {TIMEOUT.interval()}.",
            ),
        ] = None,
    ) -> None:
        """Re-arm a paused (or cooling) kill switch of the running instance."""
        wait = number_option(timeout, "--timeout", TIMEOUT)
        code = runner(ResumeOptions(journal_path(journal), 10.0 if wait is None else float(wait)))
        if code:
            raise typer.Exit(code)

    return resume
