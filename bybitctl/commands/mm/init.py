"""`bybitctl mm init`: write the commented example `mm.toml`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from bybitctl.errors import UsageError


@dataclass(frozen=True)
class InitOptions:
    """Where to write, and whether an existing file may be replaced."""

    path: Path
    force: bool


def run_init(opts: InitOptions) -> int:
    """Write the example config (refusing to overwrite without --force)."""
    from bybitctl.commands.mm.common import check_output_file
    from bybitctl.mm.example import example_toml

    if opts.path.exists() and not opts.force:
        raise UsageError(f"{opts.path} exists; pass --force to overwrite it")
    check_output_file(opts.path, "mm init", not_any_of={})
    opts.path.write_text(example_toml(), encoding="utf-8")
    typer.echo(f"wrote {opts.path}", err=True)
    return 0


def make_init(runner: Callable[[InitOptions], int] = run_init) -> Callable[..., None]:
    """The `init` command; `runner` is replaced in tests to capture the options."""

    def init(
        path: Annotated[Path, typer.Argument(help="File to write.")] = Path("mm.toml"),
        force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    ) -> None:
        """Write a commented example mm.toml (every field, with its unit and default)."""
        code = runner(InitOptions(path, force))
        if code:
            raise typer.Exit(code)

    return init
