"""Endpoint commands, built from catalogue rows by one generic builder.

Nothing here is written for a single endpoint: each row becomes one command whose options
are its parameters (through `arguments.ARGUMENT_TYPES`), plus `--param`, `--dry-run`, `--yes`,
the output options and, where the row pages, `--all`/`--max-pages`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

import typer
import typer.core
import typer.main
from typer import _click as click

from bybitctl.catalog import Endpoint, Param, group
from bybitctl.commands import common
from bybitctl.commands.arguments import Argument, add_pairs, argument_for, number_note
from bybitctl.commands.base import (
    PlainCommand,
    PlainGroup,
    fail_unknown_command,
    strict,
)
from bybitctl.errors import UsageError
from bybitctl.naming import kebab
from bybitctl.request import Request, RunOptions, run_request

Runner = Callable[[RunOptions], None]


class EndpointGroup(PlainGroup):
    """One catalogue group; its commands are built when first named."""

    def __init__(self, name: str, rows: tuple[Endpoint, ...], runner: Runner) -> None:
        super().__init__(
            name=name,
            help=f"Bybit v5 {name} endpoints.",
            rich_markup_mode=None,
            no_args_is_help=True,
            context_settings=common.common_context(),
        )
        self.rows = {row.command: row for row in rows}
        self.runner = runner

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.rows)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List summaries from the rows, without building 69 commands to print one screen."""
        with formatter.section("Commands"):
            formatter.write_dl(
                [(name, self.rows[name].summary) for name in self.list_commands(ctx)]
            )

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.rows:
            self.commands[cmd_name] = build_command(self.rows[cmd_name], self.runner)
        return self.commands.get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args[0] not in self.rows and not ctx.resilient_parsing:
            fail_unknown_command(ctx, args[0], list(self.rows))
        return super().resolve_command(ctx, args)


class EndpointCommand(PlainCommand):
    """A command for one row; the example in its help is built only when help is shown."""

    row: Endpoint

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_paragraph()
        formatter.write("Example:\n")
        formatter.write(f"  {example_command(self.row)}\n")
        if self.row.doc_url:
            formatter.write_paragraph()
            formatter.write(f"Bybit docs: {self.row.doc_url}\n")


def build_group(name: str, runner: Runner = run_request) -> EndpointGroup:
    """The group `name` of the catalogue, its commands not built yet."""
    return EndpointGroup(name, group(name), runner)


def build_command(row: Endpoint, runner: Runner = run_request) -> EndpointCommand:
    """One command for one catalogue row.

    The callback gets a generated signature (`common.with_options`: one keyword per
    parameter) so Typer's public API builds the options.
    """
    arguments = {
        f"api_{i}": argument_for(p, http_method=row.http_method) for i, p in enumerate(row.params)
    }
    by_name = {arg.param.name: arg for arg in arguments.values()}
    cursor = row.pagination.cursor_param if row.pagination else None
    options: dict[str, tuple[Any, Any]] = {}
    aliases: dict[str, str] = {}
    for dest, arg in arguments.items():
        options[dest] = (
            str | None,
            typer.Option(
                None,
                arg.names[0],
                metavar=arg.metavar,
                help=_option_help(arg),
                hidden=arg.param.name == cursor,
                show_default=False,
                autocompletion=_completer(arg.param.enum) if arg.param.enum else None,
            ),
        )
        for alias in arg.names[1:]:
            # The API's own camelCase spelling works, but help and completion show one name.
            aliases[f"{dest}_alias"] = dest
            options[f"{dest}_alias"] = (
                str | None,
                typer.Option(
                    None,
                    alias,
                    metavar=arg.metavar,
                    hidden=True,
                    show_default=False,
                    autocompletion=_completer(arg.param.enum) if arg.param.enum else None,
                ),
            )
    options["pairs"] = (
        list[str] | None,
        typer.Option(
            None,
            "--param",
            metavar="KEY=VALUE",
            help="Any other API parameter (repeatable); JSON arrays/objects are sent as such.",
            show_default=False,
        ),
    )
    options.update(
        common.request_options(
            paging=row.pagination is not None,
            dangerous=row.dangerous,
            fields=common.fields_completer(row),
        )
    )

    def callback(
        ctx: typer.Context,
        pairs: list[str] | None,
        dry_run: bool,
        output: str | None,
        fields: str | None,
        query: str | None,
        yes: bool = False,
        follow: bool = False,
        max_pages: int | None = None,
        **raw: str | None,
    ) -> None:
        values: dict[str, Any] = {}
        for alias, dest in aliases.items():
            if raw[alias] is not None and raw[dest] is not None:
                names = " and ".join(arguments[dest].names)
                ctx.fail(f"{names} are the same option: give it once")
            if raw[alias] is not None:
                raw[dest] = raw[alias]
        for dest, arg in arguments.items():
            if raw[dest] is not None:
                arg.add_to(values, raw[dest])
        add_pairs(values, pairs or (), by_name, what="--param", http_method=row.http_method)
        missing = [name for name in row.required if name not in values]
        if missing:
            names = ", ".join(by_name[m].names[0] if m in by_name else m for m in missing)
            raise UsageError(
                f"missing required option(s): {names}",
                hint=f"Try 'bybitctl {row.group} {row.command} --help'.",
            )
        runner(
            common.run_options(
                RunOptions,
                ctx,
                Request.for_row(row, values),
                label=f"{row.group} {row.command}",
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

    app = typer.Typer(rich_markup_mode=None, add_completion=False)
    app.command(
        row.command,
        cls=EndpointCommand,
        help=_command_help(row, by_name),
        short_help=row.summary,
        deprecated=row.deprecated,
        context_settings=common.common_context(),
    )(common.with_options(callback, options))
    command = strict(typer.main.get_command(app))
    assert isinstance(command, EndpointCommand)
    command.row = row
    return command


def _completer(allowed: tuple[Any, ...] | list[Any]) -> Callable[[str], list[str]]:
    """Shell completion of an option's allowed values (`--category <TAB>`)."""
    words = [str(value) for value in allowed]

    def complete(incomplete: str) -> list[str]:
        return [word for word in words if word.startswith(incomplete)]

    return complete


def _command_help(row: Endpoint, by_name: dict[str, Argument]) -> str:
    lines = [row.summary or f"{row.http_method} {row.path}", ""]
    lines.append("\b")
    lines.append(f"{row.http_method} {row.path}" + ("  (signed)" if row.auth else ""))
    if row.required:
        required = ", ".join(by_name[n].names[0] if n in by_name else n for n in row.required)
        lines.append(f"Required: {required}")
    if row.dangerous:
        lines.append("Changes your account: asks first on a live account, unless --yes.")
    if row.pagination:
        lines.append("Pages: --all follows the cursor; --max-pages N bounds it.")
    if row.view.columns and not row.dangerous:
        lines.append(f"Columns: {', '.join(row.view.columns)} (-o wide: every field)")
    return "\n".join(lines)


def _option_help(arg: Argument) -> str:
    """An option's help: the catalogue's words, then what the row says of its values
    (allowed ones, unless the words name them all; sign and range; JSON)."""
    param = arg.param
    text = (param.description or "").strip().removesuffix(".")
    notes = [number_note(param), "JSON" if param.type in ("array", "object") else ""]
    notes = [n for n in notes if n]
    if notes:
        text += f" ({'; '.join(notes)})"
    text = text + "." if text else ""
    if param.enum and not all(re.search(rf"\b{re.escape(str(v))}\b", text) for v in param.enum):
        text += f" [{'|'.join(str(v) for v in param.enum)}]"
    return text.strip()


# Hooks keyed by (group, command): global options an example needs beyond the row's data.
# pybit's request_demo_trading_funds refuses to run unless the session is a demo one.
EXAMPLE_GLOBAL_OPTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("misc", "request-demo-trading-funds"): ("--demo",),
}
_TYPE_SAMPLES = {"integer": 1, "number": 1, "decimal": "1", "boolean": True}


def example_command(row: Endpoint) -> str:
    """A runnable command line from the catalogue's request example.

    The docs' example keys are matched to parameters ignoring case and `_` (some examples
    spell `deposit_id` for `depositId`); a required parameter the example lacks takes its
    first allowed value, else the value other endpoints' examples use most for that name,
    else a sample of its type, and only a string with no known value stays `<name>`.
    """
    import shlex

    from bybitctl.catalog import example

    sample = (example(row.http_method, row.path) or {}).get("request") or {}
    known = {p.name: p for p in row.params}
    loose = {_loose(name): name for name in known}
    values: dict[str, Any] = {}
    if isinstance(sample, dict):
        for name, value in sample.items():
            if value is not None:
                values[name if name in known else loose.get(_loose(name), name)] = value
    for name in row.required:
        if name not in values:
            values[name] = _sample_value(known.get(name), name)
    words = ["bybitctl", *EXAMPLE_GLOBAL_OPTIONS.get((row.group, row.command), ()), row.group]
    words.append(row.command)
    for name, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        if name in known:
            words += [f"--{kebab(name)}", shlex.quote(text)]
        else:
            words += ["--param", shlex.quote(f"{name}={text}")]
    return " ".join(words)


def _loose(name: str) -> str:
    return name.replace("_", "").lower()


def _sample_value(param: Param | None, name: str) -> Any:
    """A value for a required parameter the row's own example does not show."""
    if param is not None and param.enum:
        return param.enum[0]
    seen = _example_values().get(name)
    if seen is not None:
        return seen
    if param is not None and param.type in _TYPE_SAMPLES:
        return _TYPE_SAMPLES[param.type]
    return f"<{name}>"


@functools.cache
def _example_values() -> dict[str, Any]:
    """Each parameter name's most common scalar value over every request example."""
    from collections import Counter

    from bybitctl.catalog import example, load

    counts: dict[str, Counter[str]] = {}
    for row in load():
        request = (example(row.http_method, row.path) or {}).get("request")
        if not isinstance(request, dict):
            continue
        for name, value in request.items():
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                counts.setdefault(name, Counter())[json.dumps(value)] += 1
    return {name: json.loads(c.most_common(1)[0][0]) for name, c in counts.items()}
