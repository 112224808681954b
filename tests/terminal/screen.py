"""The installed `bybitctl` in a pseudo-terminal of a fixed size, read through a terminal
emulator (pyte): the tests see the screen a person sees, not the bytes written.

`Terminal` waits on what the screen shows (a condition polled as output arrives), never on
a fixed delay; a condition that never comes fails after a generous timeout.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import termios
import time
from collections.abc import Callable, Mapping, Sequence

import pyte

WAIT_S = 30.0
"""Longest wait for a screen condition or an exit (a failure, not a pace)."""


class Terminal:
    """One program running on a `cols` x `rows` terminal; `history` keeps what scrolled off."""

    def __init__(
        self, argv: Sequence[str], *, cols: int, rows: int, env: Mapping[str, str]
    ) -> None:
        self.cols, self.rows = cols, rows
        self.screen = pyte.HistoryScreen(cols, rows, history=100_000)
        self.stream = pyte.ByteStream(self.screen)
        self.code: int | None = None
        pid, fd = pty.fork()
        if pid == 0:  # the child: the program, on the pty
            try:
                os.execve(argv[0], list(argv), dict(env))
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    # -- reading ---------------------------------------------------------------------------

    def _pump(self, timeout: float) -> bool:
        """Feed whatever arrives within `timeout` to the emulator; False at end of output."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed the pty
            return False
        if not chunk:
            return False
        self.stream.feed(chunk)
        return True

    def wait_for(self, condition: Callable[[Terminal], bool], what: str) -> None:
        """Read until `condition(self)` holds; fail naming `what` and showing the screen."""
        deadline = time.monotonic() + WAIT_S
        while not condition(self):
            if time.monotonic() > deadline or (not self._pump(0.05) and not condition(self)):
                raise AssertionError(f"the screen never showed {what}:\n{self.text()}")

    def wait_exit(self) -> int:
        """Read to the end of output and reap the program; its exit code."""
        deadline = time.monotonic() + WAIT_S
        while self._pump(0.05):
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"the program did not end:\n{self.text()}")
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        self.code = os.waitstatus_to_exitcode(status)
        return self.code

    def type(self, text: str) -> None:
        """Keys typed at the terminal."""
        os.write(self.fd, text.encode())

    def interrupt(self) -> None:
        """Ctrl-C, as the terminal sends it to the program."""
        os.kill(self.pid, signal.SIGINT)

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)

    # -- what the screen shows -------------------------------------------------------------

    @property
    def lines(self) -> list[str]:
        """The visible rows, trailing blanks cut."""
        return [line.rstrip() for line in self.screen.display]

    @property
    def transcript(self) -> list[str]:
        """Every row ever shown, scrolled-off ones first, trailing empty rows dropped."""
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
