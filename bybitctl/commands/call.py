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
from bybitctl.commands.root import PlainCommand, check_format
from bybitctl.errors import UsageError
from bybitctl.output import FORMATS
from bybitctl.request import Presentation, Request, RunOptions, Target, check_paging, run_request


@dataclass(frozen=True)
class CallOptions:
    """A parsed `bybitctl call`: the catalogue row of the method and its parameters."""

    row: Endpoint
    params: dict[str, Any]
    presentation: Presentation
    target: Target
    dry_run: bool = False
    follow: bool = False
    max_pages: int | None = None
    yes: bool = False

    @property
    def request(self) -> Request:
        """The request pybit's method will send."""
        return Request(
            http_method=self.row.http_method,
            path=self.row.path,
            params=self.params,
            auth=self.row.auth,
            pybit_method=self.row.pybit_method,
            pagination=self.row.pagination,
            dangerous=self.row.dangerous,
        )


def run_call(opts: CallOptions) -> None:
    """Send (or dry-run) the call and render the answer."""
    run_request(
        RunOptions(
            request=opts.request,
            presentation=opts.presentation,
            target=opts.target,
            dry_run=opts.dry_run,
            follow=opts.follow,
            max_pages=opts.max_pages,
            yes=opts.yes,
            label=f"call {opts.row.pybit_method}",
        )
    )


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


def build(runner: Callable[[CallOptions], None] = run_call) -> typer.Typer:
    """The `call` command; `runner` receives the parsed options (tests capture them)."""
    app = typer.Typer(rich_markup_mode=None, add_completion=False)

    @app.command(
        "call",
        cls=PlainCommand,
        context_settings=common.common_context(),
        epilog="Example: bybitctl call get_tickers category=linear symbol=BTCUSDT",
    )
    def call(
        ctx: typer.Context,
        method: Annotated[str, typer.Argument(help="pybit method name, e.g. get_tickers.")],
        pairs: Annotated[
            list[str] | None, typer.Argument(metavar="[KEY=VALUE]...", help="API parameters.")
        ] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Print the request; send nothing.")
        ] = False,
        follow: Annotated[
            bool, typer.Option("--all", help="Follow the cursor to the end.")
        ] = False,
        max_pages: Annotated[
            int | None, typer.Option("--max-pages", metavar="N", help="Stop after N pages.")
        ] = None,
        yes: Annotated[
            bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")
        ] = False,
        output: Annotated[
            str | None,
            typer.Option(
                "-o",
                "--output",
                metavar="FORMAT",
                callback=check_format,
                help="|".join(FORMATS) + ".",
            ),
        ] = None,
        fields: Annotated[
            str | None, typer.Option("--fields", metavar="A,B", help="Columns to keep.")
        ] = None,
        query: Annotated[
            str | None, typer.Option("--query", metavar="EXPR", help="JMESPath expression.")
        ] = None,
    ) -> None:
        """Call any pybit HTTP method by its name."""
        row = find_method(method)
        params: dict[str, Any] = {}
        known = arguments_by_name(row.params, http_method=row.http_method)
        add_pairs(params, pairs or (), known, what="call")
        opts = CallOptions(
            row=row,
            params=params,
            presentation=common.presentation(ctx, output, fields, query),
            target=common.target(ctx),
            dry_run=dry_run,
            follow=follow,
            max_pages=max_pages,
            yes=yes or common.global_yes(ctx),
        )
        check_paging(opts.request, follow=follow, max_pages=max_pages)
        runner(opts)

    return app


app = build()
