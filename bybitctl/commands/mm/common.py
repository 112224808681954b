"""What the `mm` verbs share: the journal and config options, the output choice, and the
signature of a command that takes every `mm.toml` field as a flag."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import MISSING, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bybitctl.commands.common import app_context, with_options
from bybitctl.errors import UsageError

if TYPE_CHECKING:
    from bybitctl.mm.journal import Instance, Journal

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


@contextmanager
def running_instance(path: Path) -> Iterator[tuple[Journal, Instance] | None]:
    """The journal and the live instance on it, or None (said on stderr) when none runs:
    "nothing is running" is not an error for `mm stop` or `mm resume`."""
    from bybitctl.mm.journal import Journal

    if not path.exists():
        print(f"no mm instance has run on {path}", file=sys.stderr)
        yield None
        return
    journal = Journal(path, readonly=True)
    try:
        instance = journal.instance()
        if instance is None or not instance.alive():
            print("no mm instance is running", file=sys.stderr)
            yield None
        else:
            yield journal, instance
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
    decides)."""
    from bybitctl.mm.config import MMConfig

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
                help=doc + required,
                show_default=False,
            )
            params[f.name] = (Annotated[str | None, option], None)
    return params


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
