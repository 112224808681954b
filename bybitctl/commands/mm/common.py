"""What the `mm` verbs share: the journal and config options, the checks of the files they
read and write (made before anything is sent), the numbers of their own flags, the output
choice, and the signature of a command that takes every `mm.toml` field as a flag."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bybitctl.commands.common import app_context, with_options
from bybitctl.errors import BybitctlError, ConfigError, UsageError

if TYPE_CHECKING:
    from bybitctl.mm.journal import Instance, Journal
    from bybitctl.parsing import NumberRule

JournalOption = Annotated[
    Path | None,
    typer.Option(
        "--journal",
        metavar="FILE",
        help="SQLite journal (default: the user data directory's bybitctl/mm.sqlite).",
    ),
]

TableOrJsonOption = Annotated[
    str | None, typer.Option("-o", "--output", metavar="FORMAT", help="table | json.")
]
ConfigFileOption = Annotated[
    Path | None,
    typer.Option("--config", metavar="FILE", help="mm.toml to read (flags override it)."),
]


def journal_path(value: Path | None) -> Path:
    """The `--journal` file, else the default in the user data directory."""
    from bybitctl.mm.journal import default_path

    return value if value is not None else default_path()


def journal_failure(path: Path, problem: str) -> BybitctlError:
    """A journal that cannot be used: bad input (exit 2) when `--journal` named it, a
    configuration problem (exit 3) when it is the default one."""
    from bybitctl.mm.journal import default_path

    if path == default_path():
        return ConfigError(
            f"the default mm journal {path} {problem}", hint="pass another one with --journal FILE"
        )
    return UsageError(f"--journal {path} {problem}")


def read_journal(path: Path) -> Journal | None:
    """The journal at `path`, read-only; None when there is none. Anything else there (a
    directory, a text file, an empty file, another SQLite database) is refused in one line."""
    from bybitctl.mm.journal import Journal, journal_problem

    if not path.exists() and not path.is_symlink():
        return None
    problem = journal_problem(path)
    if problem is not None:
        raise journal_failure(path, problem)
    return Journal(path, readonly=True)


def check_journal_for_writing(path: Path) -> None:
    """Before `mm start` sends anything: the journal is an mm journal it may write, or it
    does not exist yet and can be created (the default one with its missing directories)."""
    from bybitctl.mm.journal import default_path, journal_problem, lock_path

    if path.exists() or path.is_symlink():
        problem = journal_problem(path)
        if problem is not None:
            raise journal_failure(path, problem)
        if not os.access(path, os.R_OK | os.W_OK):
            raise journal_failure(path, "is not writable")
    where = path.absolute().parent
    if path == default_path():  # created with its directories on first use
        while not where.exists() and where != where.parent:
            where = where.parent
    if not where.is_dir():
        raise journal_failure(path, f"cannot be created: no directory {where}")
    if not os.access(where, os.W_OK | os.X_OK):
        # SQLite writes `-wal`/`-shm` files beside it, and the lock file lives there
        raise journal_failure(path, f"cannot be used: directory {where} is not writable")
    lock = lock_path(path)
    if lock.exists() and not lock.is_file():
        raise journal_failure(path, f"cannot be locked: {lock} is not a regular file")


def check_output_file(path: Path, option: str, *, not_any_of: Mapping[str, Path]) -> None:
    """A file written at the end: refused before anything is sent when it could not be
    written, or would overwrite one of the run's other files (`not_any_of`: the option
    naming each)."""
    if path.is_dir():
        raise UsageError(f"{option} {path} is a directory")
    if path.exists() and not path.is_file():
        raise UsageError(f"{option} {path} is not a regular file")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: no such directory {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: directory {parent} is not writable")
    for other_option, other in not_any_of.items():
        if path.absolute().resolve() == other.absolute().resolve():
            raise UsageError(f"{option} {path} is also the {other_option} file")


def check_input_file(path: Path, option: str) -> None:
    """A file the command reads: it exists, is a regular file, and can be read."""
    if not path.exists():
        raise UsageError(f"{option}: no such file: {path}")
    if path.is_dir():
        raise UsageError(f"{option} {path} is a directory")
    if not path.is_file():
        raise UsageError(f"{option} {path} is not a regular file")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{option} {path} is not readable")


def number_option(
    raw: str | None, option: str, rule: NumberRule, *, integral: bool = False, exact: bool = False
) -> Any:
    """A flag's number by the one grammar (`bybitctl.parsing`) and in `rule`'s range, as an
    int (`integral`), a Decimal of the text typed (`exact`) or a number; None when the flag
    was not given. Out of range, the message states the interval, as mm.toml's do."""
    from bybitctl import parsing

    if raw is None:
        return None
    try:
        grammar = parsing.NumberRule(signed=True)
        value = (
            Decimal(parsing.decimal_text(raw, grammar))
            if exact
            else parsing.integer(raw, grammar)
            if integral
            else parsing.number(raw, grammar)
        )
    except parsing.InvalidValue as exc:
        raise UsageError(f"invalid value for {option}: {exc}") from None
    if not rule.contains(value):
        raise UsageError(f"invalid value for {option}: must be in {rule.interval()}, got {raw}")
    return value


@dataclass(frozen=True)
class Running:
    """The instance running on a journal: its pid (from the lock it holds) and its control
    row once it has registered its run (None until then)."""

    journal: Journal
    pid: int
    instance: Instance | None


@contextmanager
def running_instance(path: Path) -> Iterator[Running | None]:
    """The journal and the instance running on it, or None (said on stderr) when none runs:
    "nothing is running" is not an error for `mm stop` or `mm resume`. Running means holding
    the journal's lock, which the OS frees the moment a process dies."""
    from bybitctl.mm.journal import lock_holder

    journal = read_journal(path)
    if journal is None:
        print(f"no mm instance has run on {path}", file=sys.stderr)
        yield None
        return
    try:
        pid = lock_holder(path)
        if pid is None:
            print("no mm instance is running", file=sys.stderr)
            yield None
            return
        if not pid:
            raise UsageError(f"an mm instance is starting on {path}; try again in a moment")
        instance = journal.instance()
        yield Running(journal, pid, instance if instance and instance.pid == pid else None)
    finally:
        journal.close()


def output_choice(local: str | None, ctx: typer.Context, allowed: tuple[str, ...]) -> str:
    """`-o` after the verb, else before it, else table on a terminal and json in a pipe."""
    chosen = local or app_context(ctx).output
    if chosen is None:
        return allowed[0] if sys.stdout.isatty() else allowed[1]
    if chosen not in allowed:
        raise UsageError(f"-o {chosen} is not offered here (choose from {', '.join(allowed)})")
    return chosen


def config_params() -> dict[str, tuple[Any, Any]]:
    """One (annotation, default) per MMConfig field, by name (None = not given, the file
    decides); the help states what the field accepts."""
    from bybitctl.mm.config import MMConfig, accepts

    params: dict[str, tuple[Any, Any]] = {}
    for f in fields(MMConfig):
        flag = "--" + f.name.replace("_", "-")
        doc = f.metadata["doc"]
        unit = f.metadata["unit"]
        if f.type == "bool":
            option = typer.Option(f"{flag}/--no-{flag[2:]}", help=doc, show_default=False)
            params[f.name] = (Annotated[bool | None, option], None)
        else:
            required = " [required unless in --config]" if f.default is MISSING else ""
            option = typer.Option(
                flag,
                metavar=(unit or "VALUE").upper().replace(" ", "_"),
                help=f"{doc} Accepts: {accepts(f.name)}.{required}",
                show_default=False,
            )
            params[f.name] = (Annotated[str | None, option], None)
    return params


PAPER_DEFAULTS = {
    "symbol": "BTCUSDT",
    "order_qty": "0.001",
    "max_position": "0.01",
    "spread_bps": "4",
    "refresh_tolerance_bps": "4",
}
"""What `--paper` quotes (and a backtest replays) when neither the file nor a flag says, so
`mm start --paper` runs and a minute shows fills: 4 bps clears the local exchange's 2 bps
maker fee plus the 1 bps edge, and a tolerance as wide as the half-spread lets quotes rest
while the price walks into them (the exchange's noise takers trade within a tick or so of
its fair price, so a quote that always steps back from the mid is never reached)."""


OPTION_PAPER_DEFAULTS = {
    "order_qty": "0.01",
    "max_position": "0.1",
    "mmp_max_qty": "1",
    "spread_bps": "20",
    "refresh_tolerance_bps": "20",
}
"""The same for `--category option` (the symbol is the user's: an option the local exchange
lists, e.g. `BTC-<expiry>-<strike>-C`): its 0.01 qty step, the MMP limit an option needs,
and a spread a few of its 5 USDC ticks wide."""


def paper_defaults(given: Mapping[str, Any]) -> dict[str, Any]:
    """PAPER_DEFAULTS (OPTION_PAPER_DEFAULTS for an option) minus the fields the config
    file or a flag sets (`given`: they win), and without `order_qty` when an
    `order_notional` is given (the two exclude each other)."""
    names = {key.replace("-", "_") for key in given}
    if given.get("order_notional", given.get("order-notional")) is not None:
        names.add("order_qty")
    defaults = OPTION_PAPER_DEFAULTS if given.get("category") == "option" else PAPER_DEFAULTS
    return {k: v for k, v in defaults.items() if k not in names}


def warn_retired(file_values: Mapping[str, Any]) -> None:
    """Say on stderr which fields of the config file are no longer used (their values are
    ignored: an older `mm.toml` keeps working)."""
    from bybitctl.mm.config import retired_notes

    for note in retired_notes(file_values):
        print(note, file=sys.stderr)


def config_overrides(values: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """The config fields given as flags: every value that is not one of the verb's `own`."""
    return {k: v for k, v in values.items() if k not in own and v is not None}


def config_command(
    own: Mapping[str, tuple[Any, Any]],
    run: Callable[[typer.Context, dict[str, Any]], int],
    doc: str,
) -> Callable[..., None]:
    """A command taking the verb's `own` flags ((annotation, default) by name), then one flag
    per config field; `run` gets the values by name and a non-zero code is the exit code."""

    def command(ctx: typer.Context, **values: Any) -> None:
        code = run(ctx, values)
        if code:
            raise typer.Exit(code)

    command.__doc__ = doc
    return with_options(command, {**own, **config_params()})
