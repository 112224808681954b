"""`bybitctl call METHOD [key=value ...]`: any pybit HTTP method by its pybit name.

Keys the catalogue knows for the method are converted to their types; other values are sent
as strings, or as JSON when they parse as a JSON array or object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Annotated, Any

import typer

from bybitctl.catalog import Endpoint, by_pybit_method, load
from bybitctl.commands import common
from bybitctl.commands.arguments import add_pairs, arguments_by_name
from bybitctl.commands.base import PlainCommand, examples
from bybitctl.errors import UsageError
from bybitctl.request import Request, RunOptions, run_request


@dataclass(frozen=True, kw_only=True)
class CallOptions(RunOptions):
    """A parsed `bybitctl call`: the request of one pybit method, and that method's row."""

    row: Endpoint

    @property
    def params(self) -> dict[str, Any]:
        """The API parameters, typed where the row knows them."""
        return self.request.params


def find_method(name: str) -> Endpoint:
    """The row of pybit method `name` (kebab-case accepted); exit 2 naming close matches."""
    row = by_pybit_method(name.replace("-", "_"))
    if row is None:
        names = [r.pybit_method for r in load() if r.pybit_method]
        close = get_close_matches(name.replace("-", "_"), names, n=5)
        raise UsageError(
            f"pybit's HTTP has no method {name!r}",
            hint=f"close matches: {', '.join(close)}" if close else "see `bybitctl catalog`",
        )
    return row


def build(runner: Callable[[CallOptions], None] = run_request) -> typer.Typer:
    """The `call` command; `runner` receives the parsed options (tests capture them)."""
    app = typer.Typer(rich_markup_mode=None, add_completion=False)

    @app.command(
        "call",
        cls=PlainCommand,
        context_settings=common.common_context(),
        epilog=examples("bybitctl call get_tickers category=linear symbol=BTCUSDT"),
    )
    def call(
        ctx: typer.Context,
        method: Annotated[str, typer.Argument(help="pybit method name, e.g. get_tickers.")],
        pairs: Annotated[
            list[str] | None, typer.Argument(metavar="[KEY=VALUE]...", help="API parameters.")
        ] = None,
        dry_run: common.DryRunOption = False,
        follow: common.FollowOption = False,
        max_pages: common.MaxPagesOption = None,
        yes: common.YesOption = False,
        output: common.OutputOption = None,
        fields: common.FieldsOption = None,
        query: common.QueryOption = None,
    ) -> None:
        """Call any pybit HTTP method by its name."""
        row = find_method(method)
        params: dict[str, Any] = {}
        known = arguments_by_name(row.params, http_method=row.http_method)
        add_pairs(params, pairs or (), known, what="call", http_method=row.http_method)
        runner(
            common.run_options(
                CallOptions,
                ctx,
                Request.for_row(row, params),
                row=row,
                answered_by=row,
                label=f"call {row.pybit_method}",
                dry_run=dry_run,
                follow=follow,
                max_pages=max_pages,
                yes=yes,
                output=output,
                fields=fields,
                query=query,
            )
        )

    return app


app = build()
