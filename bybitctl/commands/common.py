"""Options every request command shares, and the bridge from `ctx.obj` to a request's Target.

`-o/--output`, `--fields` and `--query` are accepted after the subcommand too; given there
they win over the same option given before it. Each option is declared once, as an
`Annotated` alias, for the hand-written commands and the generated endpoint commands alike.
`--yes` is an option only of commands that change something.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer import _click as click

from bybitctl.commands.base import (
    CONTEXT_SETTINGS,
    FIELDS_HELP,
    OUTPUT_HELP,
    QUERY_HELP,
    check_format,
    split_fields,
)
from bybitctl.request import Presentation, Request, RunOptions, Target, check_paging

if TYPE_CHECKING:
    from bybitctl.catalog import Endpoint

OptionsT = TypeVar("OptionsT", bound=RunOptions)
CallbackT = TypeVar("CallbackT", bound=Callable[..., None])

DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Print the exact request and send nothing.")
]
YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Send without asking for confirmation.")
]
FollowOption = Annotated[
    bool, typer.Option("--all", help="Fetch every page, following the cursor to the end.")
]
MaxPagesOption = Annotated[
    int | None, typer.Option("--max-pages", metavar="N", help="Stop after N pages.")
]
OutputOption = Annotated[
    str | None,
    typer.Option("-o", "--output", metavar="FORMAT", callback=check_format, help=OUTPUT_HELP),
]
FieldsOption = Annotated[str | None, typer.Option("--fields", metavar="A,B", help=FIELDS_HELP)]
QueryOption = Annotated[str | None, typer.Option("--query", metavar="EXPR", help=QUERY_HELP)]


def common_context() -> dict[str, Any]:
    """Context settings of every command: `-h` works like `--help`."""
    return dict(CONTEXT_SETTINGS)


def request_options(
    *, paging: bool, dangerous: bool, fields: Callable[[str], list[str]] | None = None
) -> dict[str, tuple[Any, Any]]:
    """The shared options as (annotation, default) by name, for a generated signature;
    `--all`/`--max-pages` only where the request pages, `--yes` only where it changes
    something; `fields` completes `--fields` values."""
    options: dict[str, tuple[Any, Any]] = {}
    if paging:
        options["follow"] = (FollowOption, False)
        options["max_pages"] = (MaxPagesOption, None)
    options["dry_run"] = (DryRunOption, False)
    if dangerous:
        options["yes"] = (YesOption, False)
    options["output"] = (OutputOption, None)
    options["fields"] = (FieldsOption, None)
    if fields is not None:
        completing = typer.Option(
            "--fields", metavar="A,B", help=FIELDS_HELP, autocompletion=fields
        )
        options["fields"] = (Annotated[str | None, completing], None)
    options["query"] = (QueryOption, None)
    return options


def fields_completer(row: Endpoint) -> Callable[[str], list[str]]:
    """Completion of `--fields a,b,<TAB>`: the row's default columns, then every field of
    its documented answer (its shape's names for klines and books)."""

    def complete(incomplete: str) -> list[str]:
        from bybitctl.catalog import example
        from bybitctl.output.frame import documented_fields

        done, _, part = incomplete.rpartition(",")
        response = (example(row.http_method, row.path) or {}).get("response") or {}
        result = response.get("result") if isinstance(response, dict) else None
        names = list(dict.fromkeys([*row.view.columns, *documented_fields(lambda: result)()]))
        if row.view.shape is not None:
            names = list(row.view.columns)
        taken = set(done.split(",")) if done else set()
        prefix = done + "," if done else ""
        return [prefix + n for n in names if n.startswith(part) and n not in taken]

    return complete


def app_context(ctx: click.Context) -> Any:
    """The root's AppContext; a default one, kept on the root, when a group runs on its own."""
    from bybitctl.context import AppContext

    root = ctx.find_root()
    if not isinstance(root.obj, AppContext):
        root.obj = AppContext()
    return root.obj


def with_options(callback: CallbackT, options: Mapping[str, tuple[Any, Any]]) -> CallbackT:
    """Give `callback(ctx, **values)` a generated signature: `ctx`, then one keyword
    parameter per option ((annotation, default) by name), so Typer's public API builds
    the options and nothing of its internals is used."""
    parameters = [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    ]
    parameters += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
        for name, (kind, default) in options.items()
    ]
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    callback.__annotations__ = {p.name: p.annotation for p in parameters}
    return callback


def presentation(
    ctx: click.Context,
    output: str | None,
    fields: str | None,
    query: str | None,
    row: Endpoint | None = None,
) -> Presentation:
    """Subcommand options first, then the root's, then the profile's default format; `row`
    (the endpoint answering) lends its table view and documented answer."""
    root = ctx.find_root()
    app = app_context(ctx)
    example = None
    if row is not None:
        from bybitctl.catalog import example as documented

        def example() -> Any:
            response = (documented(row.http_method, row.path) or {}).get("response") or {}
            return response.get("result") if isinstance(response, dict) else None

    return Presentation(
        fmt=output or app.output_format(),
        chosen=bool(output or app.output or app.settings().output),
        fields=split_fields(fields if fields is not None else root.params.get("fields")),
        query=query if query is not None else root.params.get("query"),
        pager=app.pager,
        view=row.view if row is not None else None,
        example=example,
    )


def target(ctx: click.Context) -> Target:
    """Thunks over the app context, so nothing builds a pybit session before it is needed."""
    from bybitctl.client import is_safe_target

    app = app_context(ctx)
    return Target(
        http=app.request_http,
        is_safe=lambda: is_safe_target(app.settings()),
        describe=app.describe_target,
        has_key=lambda: bool(app.settings().api_key),
        can_sign=lambda: app.settings().has_credentials,
    )


def global_yes(ctx: click.Context) -> bool:
    """`--yes` given before the subcommand."""
    return bool(app_context(ctx).yes)


def run_options(
    kind: type[OptionsT],
    ctx: click.Context,
    request: Request,
    *,
    label: str,
    dry_run: bool,
    follow: bool,
    max_pages: int | None,
    yes: bool,
    output: str | None,
    fields: str | None,
    query: str | None,
    answered_by: Endpoint | None = None,
    **extra: Any,
) -> OptionsT:
    """A request command's `kind` of options from its own flags, the root's and `extra`
    fields; paging flags that contradict the request are refused here, before any I/O.
    `answered_by` is the catalogue row whose view prints the answer."""
    check_paging(request, follow=follow, max_pages=max_pages)
    return kind(
        request=request,
        presentation=presentation(ctx, output, fields, query, answered_by),
        target=target(ctx),
        dry_run=dry_run,
        follow=follow,
        max_pages=max_pages,
        yes=yes or global_yes(ctx),
        label=label,
        **extra,
    )
