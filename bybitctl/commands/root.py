"""The root `bybitctl` group: global options and lazily loaded command groups.

Endpoint groups come from the catalogue and are built only when named; hand-written groups
are imported only when named. `--help` lists everything from names alone, so neither pybit,
requests nor rich are imported to print it.
"""

import importlib
import os
from typing import Annotated, Any, ClassVar

import typer
import typer.core
import typer.main
from typer import _click as click

from bybitctl import __version__
from bybitctl.commands.base import (
    CONTEXT_SETTINGS,
    FIELDS_HELP,
    OUTPUT_HELP,
    QUERY_HELP,
    PlainGroup,
    check_format,
    examples,
    fail_unknown_command,
    read_secret,
    strict,
)
from bybitctl.config import BYBIT_TLDS


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


def _load(target: str) -> click.Command:
    """Import `module:attr` and turn a Typer app into its Click command."""
    module_name, attr = target.split(":")
    obj = getattr(importlib.import_module(module_name), attr)
    if isinstance(obj, typer.Typer):
        obj = typer.main.get_command(obj)
    if not isinstance(obj, click.Command):
        raise TypeError(f"{target} is not a command")
    return strict(obj)


def command() -> click.Command:
    """The root command, ready to run."""
    return strict(typer.main.get_command(app))


NOT_HOISTED = frozenset({"--help", "-h", "--version"})


def hoist_global_options(root: click.Command, args: list[str]) -> list[str]:
    """`args` with each global option given after the subcommand moved before it.

    The one rule: a global option (`--profile`, `--base-url`, `--debug`, `-o`, ...) may be
    given anywhere on the line; where the command named has an option of the same name
    (`-o` of an endpoint command, `config init --profile`, `sim serve --profile`), that one
    is the command's. So `bybitctl market tickers --category linear --profile paper` is
    `bybitctl --profile paper market tickers --category linear`.
    """
    globals_ = {
        name: param
        for param in root.params
        if param.param_type_name == "option"
        for name in (*param.opts, *param.secondary_opts)
        if name not in NOT_HOISTED
    }
    start = _after_root_options(args, globals_)
    if not any(_option_name(a) in globals_ for a in args[start:]):
        return args  # the common case: nothing to move, nothing built
    command: click.Command = root
    ctx = click.Context(root, info_name="bybitctl", resilient_parsing=True)
    front: list[str] = []
    rest: list[str] = []
    i = start
    while i < len(args):
        word = args[i]
        if word == "--":
            rest += args[i:]
            break
        if not word.startswith("-") or word == "-":
            if isinstance(command, typer.core.TyperGroup):
                sub = command.get_command(ctx, word)
                if sub is None:
                    rest += args[i:]  # Click reports the unknown command
                    break
                command = sub
                ctx = click.Context(sub, info_name=word, parent=ctx, resilient_parsing=True)
            rest.append(word)
            i += 1
            continue
        name = _option_name(word)
        own = _option_of(command, name)
        target = own or globals_.get(name)
        width = 1 + int(target is not None and _takes_value(target, word))
        (rest if own is not None or name not in globals_ else front).extend(args[i : i + width])
        i += width
    return [*args[:start], *front, *rest]


def _option_name(word: str) -> str:
    """The option a word names: `--profile=x` -> `--profile`, `-ojson` -> `-o`."""
    if word.startswith("--"):
        return word.split("=", 1)[0]
    return word[:2] if word.startswith("-") else ""


def _takes_value(option: click.Parameter, word: str) -> bool:
    """Whether the option's value is the next word (not attached, not a flag)."""
    if getattr(option, "is_flag", False) or getattr(option, "count", False):
        return False
    return "=" not in word if word.startswith("--") else len(word) == 2


def _option_of(command: click.Command, name: str) -> click.Parameter | None:
    return next(
        (
            p
            for p in command.params
            if p.param_type_name == "option" and name in (*p.opts, *p.secondary_opts)
        ),
        None,
    )


def _after_root_options(args: list[str], globals_: dict[str, click.Parameter]) -> int:
    """The index of the first word after the options given before the subcommand."""
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] not in ("-", "--"):
        option = globals_.get(_option_name(args[i]))
        i += 1 + int(option is not None and _takes_value(option, args[i]))
    return i


def _version(value: bool) -> None:
    if value:
        print(f"bybitctl {__version__}")
        raise typer.Exit()


app = typer.Typer(
    cls=LazyGroup,
    name="bybitctl",
    help="Every Bybit v5 endpoint from the command line, over pybit.",
    rich_markup_mode=None,
    add_completion=False,
    no_args_is_help=True,
    context_settings=CONTEXT_SETTINGS,
    pretty_exceptions_enable=False,
    epilog=examples(
        "bybitctl market tickers --category linear",
        "bybitctl market orderbook --category linear --symbol BTCUSDT --profile paper",
        "bybitctl trade open-orders --category linear -o json | jq -r '.list[].orderId'",
    )
    + "\n\nGlobal options go before or after the command.",
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
        typer.Option("-o", "--output", metavar="FORMAT", callback=check_format, help=OUTPUT_HELP),
    ] = None,
    fields: Annotated[str | None, typer.Option("--fields", metavar="A,B", help=FIELDS_HELP)] = None,
    query: Annotated[str | None, typer.Option("--query", metavar="EXPR", help=QUERY_HELP)] = None,
    no_pager: Annotated[
        bool, typer.Option("--no-pager", help="Print long tables directly, not through $PAGER.")
    ] = False,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            metavar="NAME",
            help="Profile to use (default: BYBIT_PROFILE, else the current one).",
        ),
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
        typer.Option(
            "--recv-window",
            metavar="MS",
            help="How long a signed request stays valid, in milliseconds (1 to 60000).",
        ),
    ] = None,
    timeout: Annotated[
        str | None,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            help="HTTP timeout in seconds, above 0 and at most 300 (e.g. 2.5).",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="Send orders, transfers and changes without asking."),
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
    ctx.obj = AppContext(
        overrides=overrides,
        env=os.environ,
        debug=debug,
        yes=yes,
        output=output,
        pager=not no_pager,
    )
