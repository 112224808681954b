"""The installed `bybitctl` in a pseudo-terminal of a fixed size, read through a terminal
emulator (pyte): the tests see the screen a person sees, not the bytes written.

`Terminal` waits on what the screen shows (a condition polled as output arrives), never on
a fixed delay; a condition that never comes fails after a generous timeout.
"""

from __future__ import annotations

import copy
import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyte

WAIT_S = 60.0
"""Longest wait for a screen condition or an exit (a failure, not a pace)."""
QUIET_S = 0.05
"""A frame is judged at rest once the program has written nothing for this long."""


class AltScreen(pyte.HistoryScreen):
    """pyte's screen with xterm's alternate screen (private modes 47, 1047, 1049): entering
    saves the screen and the cursor and clears it; leaving restores both, and what scrolled
    by meanwhile never reaches the scrollback."""

    _ALT = frozenset({47, 1047, 1049})

    def __init__(self, columns: int, lines: int) -> None:
        super().__init__(columns, lines, history=100_000)
        self.saved: tuple[Any, Any, list[Any]] | None = None

    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private") and self._ALT & set(modes):
            if self.saved is None:
                lines = {y: copy.deepcopy(line) for y, line in self.buffer.items()}
                self.saved = (lines, copy.copy(self.cursor), list(self.history.top))
                self.erase_in_display(2)
            modes = tuple(m for m in modes if m not in self._ALT)
        super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private") and self._ALT & set(modes):
            if self.saved is not None:
                lines, cursor, top = self.saved
                self.saved = None
                self.buffer.clear()
                self.buffer.update(lines)
                self.cursor = cursor
                self.history.top.clear()
                self.history.top.extend(top)
                self.dirty.update(range(self.lines))
            modes = tuple(m for m in modes if m not in self._ALT)
        super().reset_mode(*modes, **kwargs)


class Terminal:
    """One program on a `cols` x `rows` pseudo-terminal (stdin, stdout and stderr), in its
    own session, the size set before it starts; `transcript` keeps what scrolled off."""

    def __init__(
        self, argv: Sequence[str], *, cols: int, rows: int, env: Mapping[str, str]
    ) -> None:
        self.cols, self.rows = cols, rows
        self.screen = AltScreen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(
            list(argv), stdin=slave, stdout=slave, stderr=slave, env=dict(env),
            start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        self.fd = master
        self.ended = False
        self.code: int | None = None

    # -- reading ---------------------------------------------------------------------------

    def _pump(self, timeout: float) -> bool:
        """Feed what arrives within `timeout` to the emulator; whether anything did."""
        if self.ended:
            return False
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: every writer closed the terminal
            chunk = b""
        if not chunk:
            self.ended = True
            return False
        self.stream.feed(chunk)
        return True

    def wait_for(
        self, condition: Callable[[Terminal], bool], what: str, *, at_rest: bool = False
    ) -> None:
        """Read until the screen satisfies `condition`; fail naming `what`, showing the
        screen. `at_rest` judges only at a pause in the output, a frame drawn whole."""
        deadline = time.monotonic() + WAIT_S
        while True:
            arrived = self._pump(QUIET_S)
            late = time.monotonic() > deadline
            if (late or not (arrived and at_rest)) and condition(self):
                return
            if late or (self.ended and not arrived):
                raise AssertionError(f"the screen never showed {what}:\n{self.text()}")

    def wait_exit(self) -> int:
        """Read to the end of the output and reap the program; its exit code."""
        deadline = time.monotonic() + WAIT_S
        while not self.ended:
            self._pump(0.1)
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"the program did not end:\n{self.text()}")
        self.code = self.proc.wait(timeout=WAIT_S)
        os.close(self.fd)
        return self.code

    def type(self, text: str) -> None:
        """Keys typed at the terminal."""
        os.write(self.fd, text.encode())

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the program's process group, as the terminal sends it."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)

    # -- what the screen shows -------------------------------------------------------------

    @property
    def lines(self) -> list[str]:
        """The visible rows, trailing blanks cut."""
        return [line.rstrip() for line in self.screen.display]

    @property
    def transcript(self) -> list[str]:
        """Every row of the normal screen, scrolled-off ones first, trailing empty rows
        dropped (what a person scrolls back through after the program ended)."""
        scrolled = [
            "".join(line[x].data for x in range(self.cols)).rstrip()
            for line in self.screen.history.top
        ]
        lines = scrolled + self.lines
        while lines and not lines[-1]:
            lines.pop()
        return lines

    def text(self) -> str:
        return "\n".join(self.lines)


def run(
    argv: Sequence[str], *, cols: int, rows: int, env: Mapping[str, str]
) -> tuple[int, list[str]]:
    """Run a command to its end on a terminal; (exit code, every row it showed)."""
    term = Terminal(argv, cols=cols, rows=rows, env=env)
    code = term.wait_exit()
    return code, term.transcript
