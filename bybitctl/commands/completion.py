"""`bybitctl completion bash|zsh|fish`: the shell completion script, from Click via Typer.

The script calls back into `bybitctl` with `_BYBITCTL_COMPLETE` set; the lazily loaded tree
then answers like any other command. `completions/` holds the generated copies.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from bybitctl.commands import common
from bybitctl.commands.base import PlainCommand, examples

PROG = "bybitctl"
COMPLETE_VAR = "_BYBITCTL_COMPLETE"


class Shell(StrEnum):
    """Shells with a completion script."""

    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def script(shell: str) -> str:
    """The completion script for `shell`, exactly as the shell should source it."""
    from typer._click.shell_completion import get_completion_class
    from typer.completion import completion_init

    from bybitctl.commands.root import app

    completion_init()
    cls = get_completion_class(shell)
    assert cls is not None
    return cls(typer.main.get_command(app), {}, PROG, COMPLETE_VAR).source() + "\n"


app = typer.Typer(rich_markup_mode=None, add_completion=False)


@app.command(
    "completion",
    cls=PlainCommand,
    context_settings=common.common_context(),
    epilog=examples("source <(bybitctl completion bash)"),
)
def completion(
    shell: Annotated[Shell, typer.Argument(help="bash, zsh or fish.")],
) -> None:
    """Print the shell completion script for bash, zsh or fish."""
    typer.echo(script(shell.value), nl=False)
