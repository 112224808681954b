"""`bybitctl api [GET|POST] PATH [key=value ...]`: any v5 path through pybit's request machinery.

Modelled on `gh api`: without a verb the method is the catalogue's for a known route, else it
follows from whether parameters are given (POST with, GET without); incompatible flags
(`--all` on POST) are refused before any I/O.
Signing, retries and errors stay pybit's (`HTTP._submit_request`). Where the catalogue knows
the route, its auth, parameter types, pagination and safety apply.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

import typer

from bybitctl.catalog import Pagination, by_route
from bybitctl.commands import common
from bybitctl.commands.arguments import add_pairs, arguments_by_name
from bybitctl.commands.base import PlainCommand, examples
from bybitctl.errors import UsageError
from bybitctl.request import Request, RunOptions, run_request

VERBS = ("GET", "POST")
OTHER_VERBS = frozenset({"PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_PATH = re.compile(r"(/[A-Za-z0-9_.-]+)+/?")
"""A v5 path as Bybit spells them: no query, fragment, blanks or escapes to sign around."""
DEFAULT_PAGINATION = Pagination(
    cursor_param="cursor", cursor_field="nextPageCursor", list_field="list"
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
    if not _PATH.fullmatch(path):
        raise UsageError(
            f"PATH takes letters, digits and - _ . / only; parameters go as key=value "
            f"(got {path!r})"
        )
    if any(segment in (".", "..") for segment in path.split("/")):
        raise UsageError(f"PATH takes no '.' or '..' segments: it is sent as typed (got {path!r})")
    if verb is None:
        known_verbs = [v for v in VERBS if by_route(v, path) is not None]
        verb = (
            known_verbs[0] if len(known_verbs) == 1 else "POST" if pairs and not paging else "GET"
        )
    row = by_route(verb, path)
    params: dict[str, Any] = {}
    known = arguments_by_name(row.params, http_method=verb) if row else {}
    add_pairs(params, pairs, known, what="api", http_method=verb)
    return Request(
        http_method=verb,
        path=path,
        params=params,
        auth=auth if auth is not None else (row.auth if row else True),
        pagination=(row.pagination if row else None) or (DEFAULT_PAGINATION if paging else None),
        dangerous=row.dangerous if row else verb == "POST",
        summary=row.summary if row else "",
    )


def build(runner: Callable[[RunOptions], None] = run_request) -> typer.Typer:
    """The `api` command; `runner` receives the parsed options (tests capture them)."""
    app = typer.Typer(rich_markup_mode=None, add_completion=False)

    @app.command(
        "api",
        cls=PlainCommand,
        context_settings=common.common_context(),
        epilog=examples(
            "bybitctl api GET /v5/market/tickers category=linear symbol=BTCUSDT",
            "bybitctl api /v5/market/time --no-auth",
        ),
    )
    def api(
        ctx: typer.Context,
        words: Annotated[
            list[str],
            typer.Argument(
                metavar="[GET|POST] PATH [KEY=VALUE]...",
                help="The method (default: the route's; else POST when parameters are given), "
                "the v5 path, and API parameters.",
                show_default=False,
            ),
        ],
        auth: Annotated[
            bool | None,
            typer.Option("--auth/--no-auth", help="Sign the request (default: the route's)."),
        ] = None,
        dry_run: common.DryRunOption = False,
        follow: common.FollowOption = False,
        max_pages: common.MaxPagesOption = None,
        yes: common.YesOption = False,
        output: common.OutputOption = None,
        fields: common.FieldsOption = None,
        query: common.QueryOption = None,
    ) -> None:
        """Send a signed request to any v5 path through pybit."""
        request = parse_request(words, auth=auth, paging=follow or max_pages is not None)
        row = by_route(request.http_method, request.path)
        runner(
            common.run_options(
                RunOptions,
                ctx,
                request,
                label=f"api {request.http_method} {request.path}",
                dry_run=dry_run,
                follow=follow,
                max_pages=max_pages,
                yes=yes,
                output=output,
                fields=fields,
                query=query,
                answered_by=row,
            )
        )

    return app


app = build()
