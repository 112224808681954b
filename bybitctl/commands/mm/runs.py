"""`bybitctl mm runs`: the runs of a journal, newest first: id, start, duration, fills, PnL
and exit reason, as a table for people or json/jsonl/csv for scripts."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from bybitctl.commands.mm.common import (
    JournalOption,
    journal_path,
    number_option,
    output_choice,
    read_journal,
)
from bybitctl.errors import UsageError
from bybitctl.parsing import NumberRule

LIMIT = NumberRule(minimum=1, maximum=1_000_000)
"""`--limit`: how many of the newest runs to list."""
DEFAULT_LIMIT = 20
FORMATS = ("table", "json", "jsonl", "csv")


@dataclass(frozen=True)
class RunsOptions:
    """Which journal, how many runs, and the format."""

    journal: Path
    limit: int
    fmt: str


def run_runs(opts: RunsOptions) -> int:
    """List the runs (works while an instance runs: its run says `running`)."""
    from bybitctl.mm.journal import lock_holder
    from bybitctl.mm.report import plain, run_list
    from bybitctl.output import render

    journal = read_journal(opts.journal)
    if journal is None:
        raise UsageError(f"no journal at {opts.journal}")
    try:
        pid = lock_holder(opts.journal)
        instance = journal.instance() if pid else None
        running = instance.run_id if instance is not None and instance.pid == pid else None
        rows = run_list(journal, running)[: opts.limit]
    finally:
        journal.close()
    if not rows:
        print(f"no runs in {opts.journal}", file=sys.stderr)
    if opts.fmt in ("table", "csv"):  # text for people and spreadsheets: never 1e-05
        rows = [{key: plain(value) for key, value in row.items()} for row in rows]
    render({"result": rows}, opts.fmt)
    return 0


def make_runs(runner: Callable[[RunsOptions], int] = run_runs) -> Callable[..., None]:
    """The `runs` command; `runner` is replaced in tests."""

    def runs(
        ctx: typer.Context,
        journal: JournalOption = None,
        limit: Annotated[
            str | None,
            typer.Option(
                "--limit",
                metavar="N",
                help=f"List the newest N runs (default {DEFAULT_LIMIT}). "
                f"Accepts: {LIMIT.interval()}.",
            ),
        ] = None,
        output: Annotated[
            str | None,
            typer.Option("-o", "--output", metavar="FORMAT", help="table | json | jsonl | csv."),
        ] = None,
    ) -> None:
        """Past runs, newest first: id, start, duration, fills, PnL, exit reason."""
        count = number_option(limit, "--limit", LIMIT, integral=True)
        code = runner(
            RunsOptions(
                journal_path(journal),
                DEFAULT_LIMIT if count is None else int(count),
                output_choice(output, ctx, FORMATS),
            )
        )
        if code:
            raise typer.Exit(code)

    return runs
