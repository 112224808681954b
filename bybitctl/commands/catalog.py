"""`bybitctl catalog [GROUP]`: every endpoint bybitctl knows, as data.

json/jsonl/csv/raw print whole rows (group, command, pybit_method, http_method, path, auth,
required, params, ...); a table shows `TABLE_FIELDS` (its default columns), `-o wide` all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from bybitctl.catalog import groups, load
from bybitctl.commands import common
from bybitctl.commands.base import PlainCommand, examples
from bybitctl.errors import UsageError
from bybitctl.request import Presentation

TABLE_FIELDS = ["group", "command", "http_method", "path", "auth"]


@dataclass(frozen=True)
class CatalogOptions:
    """A parsed `bybitctl catalog`."""

    group: str | None
    presentation: Presentation


def run_catalog(opts: CatalogOptions) -> None:
    """Render the rows (of one group, or all) in the chosen format."""
    from bybitctl.catalog import View
    from bybitctl.output import render

    rows = groups()[opts.group] if opts.group else load()
    pres = opts.presentation
    envelope: dict[str, Any] = {
        "retCode": 0,
        "retMsg": "OK",
        "result": [row.to_dict() for row in rows],
    }
    view = View(columns=tuple(TABLE_FIELDS), empty="no endpoints")
    render(envelope, pres.fmt, fields=pres.fields, query=pres.query, view=view)


def build(runner: Callable[[CatalogOptions], None] = run_catalog) -> typer.Typer:
    """The `catalog` command; `runner` receives the parsed options (tests capture them)."""
    app = typer.Typer(rich_markup_mode=None, add_completion=False)

    @app.command(
        "catalog",
        cls=PlainCommand,
        context_settings=common.common_context(),
        epilog=examples("bybitctl catalog market", "bybitctl catalog -o csv > endpoints.csv"),
    )
    def catalog(
        ctx: typer.Context,
        group: Annotated[
            str | None, typer.Argument(help="Only this group, e.g. market.", show_default=False)
        ] = None,
        output: common.OutputOption = None,
        fields: common.FieldsOption = None,
        query: common.QueryOption = None,
    ) -> None:
        """List every endpoint bybitctl knows."""
        if group is not None and group not in groups():
            raise UsageError(f"no group {group!r}; groups: {', '.join(groups())}")
        runner(CatalogOptions(group, common.presentation(ctx, output, fields, query)))

    return app


app = build()
