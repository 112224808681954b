"""The root `bybitctl` group: global options and lazily loaded command groups (STYLE §5).

Endpoint groups come from the catalogue and are built only when named; hand-written groups
are imported only when named. `--help` lists everything from names alone, so neither pybit,
requests nor rich are imported to print it.
"""

import importlib
import os
import sys
from pathlib import Path
from typing import Annotated, Any, ClassVar

import typer
import typer.core
import typer.main
from typer import _click as click

from bybitctl import __version__
from bybitctl.config import BYBIT_TLDS
from bybitctl.output import FORMATS

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}


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


class PlainGroup(typer.core.TyperGroup):
    """A group whose options skip Typer's pydantic coercion and may not be repeated."""

    def get_help_option(self, ctx: click.Context) -> Any:
        return _verbatim_help(super().get_help_option(ctx))

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        refuse_repeated_options(self, ctx, args)
        return super().parse_args(ctx, args)


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


class LazyGroup(PlainGroup):
    """A group whose subcommands are imported or built from the catalogue on first use."""

    lazy_commands: ClassVar[dict[str, str]] = {
        "api": "bybitctl.commands.api:app",
        "call": "bybitctl.commands.call:app",
        "catalog": "bybitctl.commands.catalog:app",
        "completion": "bybitctl.commands.completion:app",
        "config": "bybitctl.commands.config:app",
        "mm": "bybitctl.commands.mm:app",
        "sim": "bybitctl.commands.sim:app",
        "stream": "bybitctl.commands.stream:app",
    }
    lazy_help: ClassVar[dict[str, str]] = {
        "api": "Send a signed request to any v5 path through pybit.",
        "call": "Call any pybit HTTP method by its name.",
        "catalog": "List every endpoint bybitctl knows.",
        "completion": "Print the shell completion script for bash, zsh or fish.",
        "config": "Manage profiles and credentials.",
        "mm": "Quote a market on both sides: start, stop, status, report, backtest.",
        "sim": "Run the local Bybit v5 exchange.",
        "stream": "Live WebSocket streams with an exact local order book; replay recordings.",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        from bybitctl.catalog import group_names

        return sorted({*group_names(), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        target = self.lazy_commands.get(cmd_name)
        if target is not None:
            command = _load(target)
        else:
            from bybitctl.catalog import group_names

            if cmd_name not in group_names():
                return None
            from bybitctl.commands.endpoints import build_group

            command = build_group(cmd_name)
        self.commands[cmd_name] = command
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if self.get_command(ctx, args[0]) is None and not ctx.resilient_parsing:
            fail_unknown_command(ctx, args[0], self.list_commands(ctx))
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from bybitctl.catalog import group

        rows = []
        for name in self.list_commands(ctx):
            if name in self.lazy_help:
                rows.append((name, self.lazy_help[name]))
            else:
                rows.append((name, f"Bybit v5 {name} endpoints ({len(group(name))})."))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def fail_unknown_command(ctx: click.Context, name: str, known: list[str]) -> None:
    """Exit 2 on an unknown subcommand, naming the close matches among `known`."""
    from difflib import get_close_matches

    close = get_close_matches(name, known)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    ctx.fail(f"No such command {name!r}.{hint}")


def _load(target: str) -> click.Command:
    """Import `module:attr` and turn a Typer app into its Click command."""
    module_name, attr = target.split(":")
    obj = getattr(importlib.import_module(module_name), attr)
    if isinstance(obj, typer.Typer):
        obj = typer.main.get_command(obj)
    if not isinstance(obj, click.Command):
        raise TypeError(f"{target} is not a command")
    return strict(obj)


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


def strict(command: click.Command) -> click.Command:
    """Give `command` and its loaded subcommands bybitctl's parsing rules.

    Plain-typed parameters get `_Verbatim` (the grammar, no pydantic), and every command
    becomes a `PlainCommand`/`PlainGroup` (repeated options refused): Typer builds the
    commands of apps declared without `cls=` (stream, config, sim, mm) with its own
    classes, and re-classing them here keeps the rules in one place for all of them.
    """
    if type(command) is typer.core.TyperCommand:
        command.__class__ = PlainCommand
    elif type(command) is typer.core.TyperGroup:
        command.__class__ = PlainGroup
    for param in command.params:
        kind = getattr(getattr(param, "type_descriptor", None), "annotation", None)
        if kind in _VERBATIM:
            param._runtime_param = _Verbatim(kind)  # type: ignore[attr-defined]
    for sub in getattr(command, "commands", {}).values():
        strict(sub)
    return command


def command() -> click.Command:
    """The root command, ready to run."""
    return strict(typer.main.get_command(app))


def _version(value: bool) -> None:
    if value:
        print(f"bybitctl {__version__}")
        raise typer.Exit()


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
    """`--fields a,b` -> ["a", "b"]."""
    if value is None:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]


def check_format(value: str | None) -> str | None:
    """Reject an unknown `-o` value naming the valid ones."""
    if value is not None and value not in FORMATS:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(FORMATS)}")
    return value


app = typer.Typer(
    cls=LazyGroup,
    name="bybitctl",
    help="Every Bybit v5 endpoint from the command line, over pybit.",
    rich_markup_mode=None,
    add_completion=False,
    no_args_is_help=True,
    context_settings=CONTEXT_SETTINGS,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_version, help="Print the version."),
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
        str | None,
        typer.Option("--fields", metavar="A,B", help="Comma-separated columns to keep."),
    ] = None,
    query: Annotated[
        str | None,
        typer.Option("--query", metavar="EXPR", help="JMESPath applied to the result."),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", metavar="NAME", help="Profile name (default BYBIT_PROFILE)."),
    ] = None,
    testnet: Annotated[bool, typer.Option("--testnet", help="Use Bybit testnet.")] = False,
    demo: Annotated[bool, typer.Option("--demo", help="Use Bybit demo trading.")] = False,
    tld: Annotated[
        str | None,
        typer.Option("--tld", metavar="TLD", help=f"Regional domain: {', '.join(BYBIT_TLDS)}."),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url", metavar="URL", help="Any http(s) base URL, e.g. a local exchange."
        ),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", metavar="KEY", help="API key.")
    ] = None,
    api_secret_stdin: Annotated[
        bool, typer.Option("--api-secret-stdin", help="Read the API secret from stdin.")
    ] = False,
    rsa_key_file: Annotated[
        str | None,
        typer.Option("--rsa-key-file", metavar="PEM", help="RSA private key file (RSA auth)."),
    ] = None,
    recv_window: Annotated[
        str | None,
        typer.Option("--recv-window", metavar="MS", help="recv_window in milliseconds."),
    ] = None,
    timeout: Annotated[
        str | None,
        typer.Option("--timeout", metavar="SECONDS", help="HTTP timeout in seconds (e.g. 2.5)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask before dangerous requests.")
    ] = False,
) -> None:
    """Every Bybit v5 endpoint from the command line, over pybit.

    `--fields` and `--query` stay in this context's params for the subcommand to read.
    """
    from bybitctl.context import AppContext

    overrides: dict[str, Any] = {
        "profile": profile,
        "api_key": api_key,
        "rsa_key_file": rsa_key_file,
        "base_url": base_url,
        "testnet": testnet or None,
        "demo": demo or None,
        "tld": tld,
        "recv_window": recv_window,
        "timeout": timeout,
        "output": output,
    }
    if api_secret_stdin:
        overrides["api_secret"] = read_secret("API secret", flag="--api-secret-stdin")
    ctx.obj = AppContext(overrides=overrides, env=os.environ, debug=debug, yes=yes, output=output)
