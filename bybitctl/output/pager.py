"""Long output through a pager, as git and gh do: only on a terminal, only when the text is
taller than the screen, never in a pipe.

The pager is `$PAGER` (run by the shell, so it may carry options), else `less`; `LESS`
defaults to `FRX` (quit when the text fits, keep colours, leave the text on the screen).
`--no-pager`, an empty `PAGER` or `PAGER=cat` print directly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from typing import IO


def pager_command(env: Mapping[str, str]) -> str | None:
    """The pager to run, or None to print directly."""
    command = env.get("PAGER")
    if command is None:
        return "less" if shutil.which("less") else None
    command = command.strip()
    return None if command in ("", "cat") else command


def page(text: str, out: IO[str], *, height: int, env: Mapping[str, str]) -> bool:
    """Show `text` through the pager when it is taller than `height` lines; False when it
    should be printed directly instead (short text, or no pager to run)."""
    command = pager_command(env)
    if command is None or text.count("\n") < height:
        return False
    out.flush()
    child_env = {**env, "LESS": env.get("LESS", "FRX")}
    try:
        proc = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, env=child_env)
    except OSError:
        return False
    assert proc.stdin is not None
    # The pager owns the terminal now: Ctrl-C is its to handle (less clears its prompt).
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with contextlib.suppress(BrokenPipeError):  # the reader quit before the end
            proc.stdin.write(text.encode())
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        proc.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    return True


def terminal_height(out: IO[str], env: Mapping[str, str]) -> int:
    """Rows of the terminal `out` writes to ($LINES first, as shells set it)."""
    try:
        return int(env["LINES"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(out.fileno()).lines
    except (OSError, ValueError, AttributeError):
        return 24
