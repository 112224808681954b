"""`bybitctl mm report`: the report of the latest (or a named) run chain in a journal, with
an optional plot of mid, our quotes, fills and inventory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from bybitctl.commands.mm.common import (
    JournalOption,
    TableOrJsonOption,
    check_output_file,
    journal_path,
    output_choice,
    read_journal,
)
from bybitctl.errors import UsageError


@dataclass(frozen=True)
class ReportOptions:
    """Which journal and run, the format, and where to draw the plot."""

    journal: Path
    run_id: str | None
    fmt: str
    plot: Path | None


def run_report(opts: ReportOptions) -> int:
    """Compute the report from the journal alone (works while the bot runs)."""
    from bybitctl.mm.report import build_report, plot, print_report

    journal = read_journal(opts.journal)
    if journal is None:
        raise UsageError(f"no journal at {opts.journal}")
    try:
        runs = journal.chain(opts.run_id)
        if not runs:
            raise UsageError(f"no run {opts.run_id or ''} in {opts.journal}".replace("  ", " "))
        if opts.plot is not None:
            plot(journal, runs, opts.plot)
        report = build_report(journal, runs)
    finally:
        journal.close()
    print_report(report, opts.fmt)
    return 0


def make_report(runner: Callable[[ReportOptions], int] = run_report) -> Callable[..., None]:
    """The `report` command; `runner` is replaced in tests."""

    def report(
        ctx: typer.Context,
        journal: JournalOption = None,
        run: Annotated[
            str | None,
            typer.Option("--run", metavar="RUN_ID", help="Report this run (default: the latest)."),
        ] = None,
        output: TableOrJsonOption = None,
        plot_file: Annotated[
            Path | None,
            typer.Option(
                "--plot",
                metavar="FILE.png",
                help="Also draw mid, quotes, fills and inventory (needs bybitctl[plot]).",
            ),
        ] = None,
    ) -> None:
        """Fills, volume, fees, PnL split, max position, quote uptime, latency of a run."""
        if plot_file is not None:
            if plot_file.suffix.lower() != ".png":
                raise UsageError(f"--plot writes PNG; name the file *.png, not {plot_file.name}")
            check_output_file(plot_file, "--plot", not_any_of={"--journal": journal_path(journal)})
        from bybitctl import parsing

        try:
            run_id = None if run is None else parsing.text(run, required=True)
        except parsing.InvalidValue as exc:
            raise UsageError(f"invalid value for --run: {exc}") from None
        code = runner(
            ReportOptions(
                journal_path(journal),
                run_id,
                output_choice(output, ctx, ("table", "json")),
                plot_file,
            )
        )
        if code:
            raise typer.Exit(code)

    return report
