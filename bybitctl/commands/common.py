"""Options every request command shares, and the bridge from `ctx.obj` to a request's Target.

`-o/--output`, `--fields` and `--query` are accepted after the subcommand too; given there
they win over the same option given before it.
"""

from __future__ import annotations

from typing import Any

import typer
from typer import _click as click

from bybitctl.commands.root import CONTEXT_SETTINGS, check_format, split_fields
from bybitctl.output import FORMATS
from bybitctl.request import Presentation, Target


def common_context() -> dict[str, Any]:
    """Context settings of every command: `-h` works like `--help`."""
    return dict(CONTEXT_SETTINGS)


def request_options() -> dict[str, tuple[Any, Any]]:
    """`--dry-run`, `--yes` and the output options, as (annotation, typer.Option) by name."""
    return {
        "dry_run": (
            bool,
            typer.Option(False, "--dry-run", help="Print the request; send nothing."),
        ),
        "yes": (bool, typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")),
        "output": (
            str | None,
            typer.Option(
                None,
                "-o",
                "--output",
                metavar="FORMAT",
                callback=check_format,
                help="|".join(FORMATS) + ".",
            ),
        ),
        "fields": (
            str | None,
            typer.Option(None, "--fields", metavar="A,B", help="Columns to keep."),
        ),
        "query": (
            str | None,
            typer.Option(None, "--query", metavar="EXPR", help="JMESPath expression."),
        ),
    }


def presentation(
    ctx: click.Context, output: str | None, fields: str | None, query: str | None
) -> Presentation:
    """Subcommand options first, then the root's, then the profile's default format."""
    root = ctx.find_root()
    return Presentation(
        fmt=output or root.obj.output_format(),
        fields=split_fields(fields if fields is not None else root.params.get("fields")),
        query=query if query is not None else root.params.get("query"),
    )


def target(ctx: click.Context) -> Target:
    """Thunks over the app context, so nothing builds a pybit session before it is needed."""
    from bybitctl.client import is_safe_target

    app = ctx.find_root().obj
    return Target(
        http=app.http,
        is_safe=lambda: is_safe_target(app.settings()),
        has_key=lambda: bool(app.settings().api_key),
        can_sign=lambda: app.settings().has_credentials,
    )


def global_yes(ctx: click.Context) -> bool:
    """`--yes` given before the subcommand."""
    return bool(ctx.find_root().obj.yes)
