"""`bybitctl mm status`: whether an instance runs on a journal, and its live state (quotes,
inventory, PnL, uptime), read from the journal's control row while it runs."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from bybitctl.commands.mm.common import (
    JournalOption,
    TableOrJsonOption,
    journal_path,
    output_choice,
    read_journal,
)


@dataclass(frozen=True)
class StatusOptions:
    """Which journal, and table or json."""

    journal: Path
    fmt: str


def status_of(path: Path) -> dict[str, Any]:
    """The status document: running or not (whether an instance holds the journal's lock),
    plus the last state the instance reported. A control row left by an instance that holds
    the lock no more, without reporting its stop, says `crashed`."""
    from bybitctl.mm.journal import lock_holder, now_ms

    journal = read_journal(path)
    if journal is None:
        return {"running": False, "journal": str(path)}
    try:
        pid = lock_holder(path)
        instance = journal.instance()
        if instance is None or (pid is not None and instance.pid != pid):
            # nothing ran yet, or a new instance has not registered its run yet
            doc: dict[str, Any] = {"running": pid is not None, "journal": str(path)}
            return {**doc, "pid": pid, "status": "starting"} if pid is not None else doc
        status = instance.status
        if pid is None and status != "stopped":
            status = "crashed"
        return {
            "running": pid is not None,
            "journal": str(path),
            "pid": instance.pid,
            "run_id": instance.run_id,
            "status": status,
            "heartbeat_age_ms": now_ms() - instance.heartbeat_ms,
            **instance.state,
        }
    finally:
        journal.close()


_TABLE_KEYS = (
    "running",
    "journal",
    "pid",
    "run_id",
    "status",
    "uptime_s",
    "guard",
    "kill",
    "mmp",
    "bid",
    "ask",
    "position",
    "realized_pnl",
    "unrealized_pnl",
    "fees",
    "fills",
    "rejects",
    "quote_uptime_pct",
    "reason",
    "open_orders",
)
_QUOTE_KEYS = ("side", "price", "qty", "status", "level", "level_qty", "queue_ahead")


def run_status(opts: StatusOptions) -> int:
    """Print the status; "not running" is an answer, not a failure (exit 0). json is the
    whole document, its figures JSON numbers; the table shows the fields a person checks,
    then one row per quote, every figure in plain notation (as `mm report` prints it)."""
    from bybitctl.mm.report import plain
    from bybitctl.output import render

    doc = status_of(opts.journal)
    if opts.fmt == "json":
        sys.stdout.write(json.dumps(doc) + "\n")
        return 0
    fields = {key: _cell(doc[key]) for key in _TABLE_KEYS if key in doc}
    render({"result": fields}, "table")
    quotes = doc.get("quotes") or []
    if quotes:
        sys.stdout.write("\n")
        rows = [{key: plain(q.get(key)) for key in _QUOTE_KEYS} for q in quotes]
        render({"result": {"list": rows}}, "table")
    return 0


def _cell(value: Any) -> str:
    """A status field as text: a book side `[price, size]` as "price x size"."""
    from bybitctl.mm.report import plain

    if isinstance(value, list):
        return " x ".join(plain(v) for v in value)
    return plain(value)


def make_status(runner: Callable[[StatusOptions], int] = run_status) -> Callable[..., None]:
    """The `status` command; `runner` is replaced in tests."""

    def status(
        ctx: typer.Context,
        journal: JournalOption = None,
        output: TableOrJsonOption = None,
    ) -> None:
        """Show whether an instance runs, its quotes, inventory, PnL and uptime."""
        code = runner(
            StatusOptions(journal_path(journal), output_choice(output, ctx, ("table", "json")))
        )
        if code:
            raise typer.Exit(code)

    return status
