"""What the `mm` verbs share: the app context, the journal option, the output choice."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from bybitctl.errors import UsageError

JournalOption = Annotated[
    Path | None,
    typer.Option(
        "--journal",
        metavar="FILE",
        help="SQLite journal (default: the user data directory's bybitctl/mm.sqlite).",
    ),
]


def app_context(ctx: typer.Context) -> Any:
    """The root's AppContext, or a default one when the group runs on its own."""
    from bybitctl.context import AppContext

    root = ctx.find_root()
    if root.obj is None:
        root.obj = AppContext()
    return root.obj


def journal_path(value: Path | None) -> Path:
    """The `--journal` file, else the default in the user data directory."""
    from bybitctl.mm.journal import default_path

    return value if value is not None else default_path()


def output_choice(local: str | None, ctx: typer.Context, allowed: tuple[str, ...]) -> str:
    """`-o` after the verb, else before it, else table on a terminal and json in a pipe."""
    chosen = local or app_context(ctx).output
    if chosen is None:
        return allowed[0] if sys.stdout.isatty() else allowed[1]
    if chosen not in allowed:
        raise UsageError(f"-o {chosen} is not offered here (choose from {', '.join(allowed)})")
    return chosen
