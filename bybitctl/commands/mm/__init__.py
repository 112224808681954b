"""`bybitctl mm`: the market maker (see docs/mm.md). This module only assembles the verbs."""

from __future__ import annotations

import typer

from bybitctl.commands.mm.backtest import make_backtest
from bybitctl.commands.mm.init import make_init
from bybitctl.commands.mm.report import make_report
from bybitctl.commands.mm.resume import make_resume
from bybitctl.commands.mm.runs import make_runs
from bybitctl.commands.mm.start import make_start
from bybitctl.commands.mm.status import make_status
from bybitctl.commands.mm.stop import make_stop
from bybitctl.commands.mm.sweep import make_sweep

app = typer.Typer(
    help="Quote a market on both sides, safely: start, stop, status, resume, report, "
    "backtest, sweep.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("init")(make_init())
app.command("start")(make_start())
app.command("stop")(make_stop())
app.command("status")(make_status())
app.command("runs")(make_runs())
app.command("resume")(make_resume())
app.command("report")(make_report())
app.command("backtest")(make_backtest())
app.command("sweep")(make_sweep())
