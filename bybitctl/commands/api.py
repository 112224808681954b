"""`bybitctl api [GET|POST] PATH [key=value ...]`: any v5 path through pybit's request machinery.

Modelled on `gh api`: without a verb the method is the catalogue's for a known route, else it
follows from whether parameters are given (POST with, GET without); incompatible flags
(`--all` on POST) are refused before any I/O.
Signing, retries and errors stay pybit's (`HTTP._submit_request`). Where the catalogue knows
the route, its auth, parameter types, pagination and safety apply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from bybitctl.catalog import Pagination, by_route
from bybitctl.commands import common
from bybitctl.commands.arguments import add_pairs, arguments_by_name
from bybitctl.commands.root import PlainCommand, check_format
from bybitctl.errors import UsageError
from bybitctl.output import FORMATS
from bybitctl.request import Presentation, Request, RunOptions, Target, check_paging, run_request

VERBS = ("GET", "POST")
OTHER_VERBS = frozenset({"PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
DEFAULT_PAGINATION = Pagination(
    cursor_param="cursor", cursor_field="nextPageCursor", list_field="list"
)


@dataclass(frozen=True)
class ApiOptions:
    """A parsed `bybitctl api`."""

    request: Request
    presentation: Presentation
    target: Target
    dry_run: bool = False
    follow: bool = False
    max_pages: int | None = None
    yes: bool = False


def run_api(opts: ApiOptions) -> None:
    """Send (or dry-run) the request and render the answer."""
    run_request(
        RunOptions(
            request=opts.request,
            presentation=opts.presentation,
            target=opts.target,
            dry_run=opts.dry_run,
            follow=opts.follow,
            max_pages=opts.max_pages,
            yes=opts.yes,
            label=f"api {opts.request.http_method} {opts.request.path}",
        )
    )


def parse_request(words: list[str], *, auth: bool | None, paging: bool) -> Request:
    """`[VERB] PATH [key=value ...]` -> the request, typed where the catalogue knows the route."""
    if not words:
        raise UsageError("missing PATH", hint="Try 'bybitctl api --help'.")
    verb: str | None = None
    if words[0].upper() in VERBS:
        verb, words = words[0].upper(), words[1:]
    elif words[0].upper() in OTHER_VERBS:
        raise UsageError(f"Bybit v5 uses only GET and POST (got {words[0]})")
    if not words:
        raise UsageError("missing PATH after the method", hint="Try 'bybitctl api --help'.")
    path, pairs = words[0], words[1:]
    if not path.startswith("/"):
        raise UsageError(f"PATH must start with '/', e.g. /v5/market/time (got {path!r})")
    if verb is None:
        known_verbs = [v for v in VERBS if by_route(v, path) is not None]
        verb = (
            known_verbs[0] if len(known_verbs) == 1 else "POST" if pairs and not paging else "GET"
        )
    if paging and verb != "GET":
        raise UsageError("--all/--max-pages only work with GET requests")
    row = by_route(verb, path)
    params: dict[str, Any] = {}
    known = arguments_by_name(row.params, http_method=verb) if row else {}
    add_pairs(params, pairs, known, what="api")
    return Request(
        http_method=verb,
        path=path,
        params=params,
        auth=auth if auth is not None else (row.auth if row else True),
        pagination=(row.pagination if row else None) or (DEFAULT_PAGINATION if paging else None),
        dangerous=row.dangerous if row else verb == "POST",
    )


def build(runner: Callable[[ApiOptions], None] = run_api) -> typer.Typer:
    """The `api` command; `runner` receives the parsed options (tests capture them)."""
    app = typer.Typer(rich_markup_mode=None, add_completion=False)

    @app.command(
        "api",
        cls=PlainCommand,
        context_settings=common.common_context(),
        epilog="Example: bybitctl api GET /v5/market/tickers category=linear symbol=BTCUSDT",
    )
    def api(
        ctx: typer.Context,
        words: Annotated[
            list[str],
            typer.Argument(metavar="[GET|POST] PATH [KEY=VALUE]...", show_default=False),
        ],
        auth: Annotated[
            bool | None,
            typer.Option("--auth/--no-auth", help="Sign the request (default: the route's)."),
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
        """Send a signed request to any v5 path through pybit."""
        paging = follow or max_pages is not None
        request = parse_request(words, auth=auth, paging=paging)
        check_paging(request, follow=follow, max_pages=max_pages)
        runner(
            ApiOptions(
                request=request,
                presentation=common.presentation(ctx, output, fields, query),
                target=common.target(ctx),
                dry_run=dry_run,
                follow=follow,
                max_pages=max_pages,
                yes=yes or common.global_yes(ctx),
            )
        )

    return app


app = build()
