"""What every command shares: context settings, the plain command and group classes, the
coercion that keeps pydantic off the start-up path, and small option checks.

It sits below every other module of `bybitctl.commands` (the root group, the generated
endpoint commands and the hand-written groups all import it; it imports none of them), so
no command module needs the top-level app for a primitive.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
import typer.core
from typer import _click as click

from bybitctl.output import FORMATS

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}
OUTPUT_HELP = (
    "table (default on a terminal), wide (every field), json (default in a pipe), jsonl, "
    "csv, text (bare values, tab-separated rows) or raw (the whole envelope)."
)
FIELDS_HELP = "Fields to show, comma-separated (a.b for a field inside an object)."
QUERY_HELP = "JMESPath expression applied to the result first, e.g. 'list[0].lastPrice'."


class PlainCommand(typer.core.TyperCommand):
    """A command whose options skip Typer's pydantic coercion (pass as `cls=`) and may not
    be repeated.

    `PlainCommand` and `PlainGroup` subclass Typer's classes directly, without a shared
    mixin, so `strict` can re-class commands Typer built (same object layout).
    """

    def get_help_option(self, ctx: click.Context) -> Any:
        return _verbatim_help(super().get_help_option(ctx))

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        refuse_repeated_options(self, ctx, args)
        return super().parse_args(ctx, args)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        write_epilog(self.epilog, formatter)


class PlainGroup(typer.core.TyperGroup):
    """A group whose options skip Typer's pydantic coercion and may not be repeated."""

    def get_help_option(self, ctx: click.Context) -> Any:
        return _verbatim_help(super().get_help_option(ctx))

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        refuse_repeated_options(self, ctx, args)
        return super().parse_args(ctx, args)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        write_epilog(self.epilog, formatter)


class PlainArgument(typer.core.TyperArgument):
    """A positional argument shown as Click shows one: `KEY` in the usage line (`[KEY]` when
    optional) and in its help row, without Typer's type labels (`<str>`)."""

    def get_usage_pieces(self, ctx: click.Context) -> list[str]:
        name = self._plain_name()
        return [name if self.required or name.startswith("[") else f"[{name}]"]

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        record = super().get_help_record(ctx)
        if record is None:
            return None
        return self._plain_name(), record[1].replace("  [required]", "").replace("[required]", "")

    def _plain_name(self) -> str:
        name = self.display_name_raw
        return name + ("..." if self.nargs != 1 and not name.endswith("...") else "")


def write_epilog(epilog: str | None, formatter: click.HelpFormatter) -> None:
    """An epilog as written ("Example:" and indented command lines), never re-wrapped: a
    command line folded in two cannot be pasted."""
    if epilog:
        formatter.write_paragraph()
        formatter.write(epilog.rstrip() + "\n")


def examples(*lines: str) -> str:
    """The epilog of a command's examples, in the endpoint commands' layout."""
    heading = "Example:" if len(lines) == 1 else "Examples:"
    return "\n".join([heading, *(f"  {line}" for line in lines)])


def _verbatim_help(option: Any) -> Any:
    """`--help` is built per command by Click; give it `_Verbatim` too (see below)."""
    if option is not None:
        option._runtime_param = _Verbatim(bool)
    return option


def refuse_repeated_options(command: click.Command, ctx: click.Context, args: list[str]) -> None:
    """Exit 2 when an option of `command` occurs twice in `args`: the same spelling twice
    (`--qty 0.01 --qty 2`), two spellings of one option (`--order-type Limit --orderType
    Market`) or both halves of a flag pair (`--ws-trading --http-trading`). Click would keep
    the last; nobody means two values at once. Repeatable options (`--param`) and eager
    ones (`--help`) are exempt.

    Click's parser reports each occurrence in `order`, so the line is parsed once more here,
    on a copy, before the real parse (not while completing: a half-typed line may repeat).
    """
    if ctx.resilient_parsing:
        return
    _, rest, order = command.make_parser(ctx).parse_args(args=list(args))
    seen: set[int] = set()
    for param in order:
        if param.param_type_name != "option" or param.multiple or param.is_eager:
            continue
        if id(param) not in seen:
            seen.add(id(param))
            continue
        # A group stops at its subcommand: only the words before it are its own.
        own = args[: len(args) - len(rest)] if isinstance(command, typer.core.TyperGroup) else args
        used = _spellings(param, own)
        if param.secondary_opts and {*used} & {*param.opts} and {*used} & {*param.secondary_opts}:
            ctx.fail(f"{' and '.join(used)} contradict each other: give one of them")
        if len(used) > 1:
            ctx.fail(f"{' and '.join(used)} are the same option: give it once")
        ctx.fail(f"{used[0] if used else param.opts[0]} given more than once: give it once")


def _spellings(param: click.Parameter, args: list[str]) -> list[str]:
    """The names of `param` used in `args` (before `--`), each once, in order."""
    names = [*param.opts, *param.secondary_opts]
    used: list[str] = []
    for arg in args:
        if arg == "--":
            break
        for name in names:
            attached = arg.startswith(name + "=") or (
                len(name) == 2 and arg.startswith(name) and not arg.startswith("--")
            )
            if (arg == name or attached) and name not in used:
                used.append(name)
    return used


def fail_unknown_command(ctx: click.Context, name: str, known: list[str]) -> None:
    """Exit 2 on an unknown subcommand, naming the close matches among `known`."""
    from difflib import get_close_matches

    close = get_close_matches(name, known)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    ctx.fail(f"No such command {name!r}.{hint}")


class _Verbatim:
    """Typer's per-parameter coercion contract (`coerce`) for str, bool, int, float, Path and
    list[str], converting with bybitctl's grammar (`bybitctl.parsing`).

    Typer 0.29 validates every parsed value through a pydantic TypeAdapter, and importing
    pydantic costs more than the rest of start-up together; its int and float conversions
    are Python's too, which read '٣' as 3 and '1_000' as 1000. Here an int or float option
    takes ASCII digits with an optional fraction, no sign, NaN or exponent; a path is never
    empty; text is not empty where the option is required. Commands check the rest (ranges
    such as `--max-pages` at least 1, catalogue values by `bybitctl.commands.arguments`).
    """

    def __init__(self, kind: Any) -> None:
        self.kind = kind

    def coerce(self, value: Any, param: click.Parameter, ctx: click.Context) -> Any:
        many = param.multiple or param.nargs == -1
        if value is None or value == ():
            return [] if many else None
        if many:
            return list(value)
        if not isinstance(value, str) or self.kind is bool:
            return value  # a default, or a flag
        from bybitctl import parsing

        try:
            if self.kind is int:
                return parsing.integer(value)
            if self.kind is float:
                return float(parsing.number(value))
            if self.kind is Path:
                if not value:
                    raise parsing.InvalidValue("expected a path, got an empty value")
                return Path(value)
            if param.required and not value:
                raise parsing.InvalidValue("expected a value, got an empty one")
            return value  # text: the command's own rules apply (JSON may span lines)
        except parsing.InvalidValue as exc:
            raise typer.BadParameter(str(exc), ctx=ctx, param=param) from None


_VERBATIM = (str, bool, int, float, Path, list[str])


_METAVARS = {str: "TEXT", int: "INTEGER", float: "NUMBER", Path: "FILE", list[str]: "TEXT"}


def strict(command: click.Command) -> click.Command:
    """Give `command` and its loaded subcommands bybitctl's parsing rules and help style.

    Plain-typed parameters get `_Verbatim` (the grammar, no pydantic), and every command
    becomes a `PlainCommand`/`PlainGroup` (repeated options refused): Typer builds the
    commands of apps declared without `cls=` (stream, config, sim, mm) with its own
    classes, and re-classing them here keeps the rules in one place for all of them. Their
    help takes the endpoint commands' style: plain text (no rich boxes), and a metavar for
    each value (TEXT, INTEGER, FILE; an argument's name in capitals) where none was given.
    """
    if type(command) is typer.core.TyperCommand:
        command.__class__ = PlainCommand
    elif type(command) is typer.core.TyperGroup:
        command.__class__ = PlainGroup
    if hasattr(command, "rich_markup_mode"):
        command.rich_markup_mode = None  # type: ignore[attr-defined]
    for param in command.params:
        kind = getattr(getattr(param, "type_descriptor", None), "annotation", None)
        if kind in _VERBATIM:
            param._runtime_param = _Verbatim(kind)  # type: ignore[attr-defined]
        if type(param) is typer.core.TyperArgument:
            param.__class__ = PlainArgument
        if param.metavar is None and not getattr(param, "is_flag", False):
            if param.param_type_name == "argument":
                param.metavar = (param.name or "value").upper()
            elif kind in _METAVARS:
                param.metavar = _METAVARS[kind]
    for sub in getattr(command, "commands", {}).values():
        strict(sub)
    return command


def read_secret(what: str, *, flag: str = "") -> str:
    """A secret: a hidden prompt on a terminal, else one stdin line, surrounding blanks dropped.

    Empty is refused with `flag` (the option that asked) in the message.
    """
    if sys.stdin.isatty():
        import getpass

        secret = getpass.getpass(f"{what}: ", stream=sys.stderr)
    else:
        secret = sys.stdin.readline()
    secret = secret.strip()
    if not secret:
        from bybitctl.errors import UsageError

        raise UsageError(f"{flag + ': ' if flag else ''}no {what} on stdin")
    return secret


def split_fields(value: str | None) -> list[str] | None:
    """`--fields a,b` -> ["a", "b"]; an empty name (`--fields ''`, `a,,b`) or a name given
    twice is refused, since it would silently show every column or one column twice."""
    if value is None:
        return None
    from bybitctl.errors import UsageError

    names = [name.strip() for name in value.split(",")]
    if not all(names):
        raise UsageError(f"--fields: empty field name in {value!r}; give names like symbol,price")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UsageError(f"--fields: {', '.join(twice)} given twice")
    return names


def check_format(value: str | None) -> str | None:
    """Reject an unknown `-o` value naming the valid ones."""
    if value is not None and value not in FORMATS:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(FORMATS)}")
    return value
