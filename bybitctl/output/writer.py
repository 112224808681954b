"""One or many pages of an answer, through `--query` and `--fields`, to one format.

Every format runs the same pipeline: take the envelope's `result` (the pages' rows combined),
apply `--query`, name the rows (`bybitctl.output.frame`; the catalogue's shapes apply when
no `--query` reshaped the answer), check and pick `--fields`, then hand the answer to the
format. With `--all`, jsonl and text stream rows as pages arrive (unless `--query` needs the
combined result) and every other format prints once at the end: the last page's fields (so
`nextPageCursor` tells where a `--max-pages` run stopped) with the rows of all pages.

stdout is looked up at write time (so test runners can swap it). A reader that goes away
(`| head`) ends the output quietly. On a terminal, a table taller than the screen goes
through the pager (`bybitctl.output.pager`).
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any

from bybitctl.errors import UsageError
from bybitctl.output.formats import (
    Answer,
    CsvFormatter,
    Formatter,
    JsonFormatter,
    JsonlFormatter,
    RawFormatter,
    TextFormatter,
)
from bybitctl.output.frame import documented_fields, frame_of, rows_of, with_rows

if TYPE_CHECKING:
    from bybitctl.catalog import View

MACHINE: dict[str, type[Formatter]] = {
    "json": JsonFormatter,
    "jsonl": JsonlFormatter,
    "csv": CsvFormatter,
    "text": TextFormatter,
    "raw": RawFormatter,
}
PEOPLE = ("table", "wide")
FORMATS = ("table", "wide", "json", "jsonl", "csv", "text", "raw")


def compile_query(expr: str | None) -> Callable[[Any], Any] | None:
    """Compile `--query` up front so a bad expression fails before any request (exit 2)."""
    if expr is None:
        return None
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        compiled = jmespath.compile(expr)
    except JMESPathError as exc:
        reason = str(exc).splitlines()[0].removesuffix(" for expression:").rstrip(":,")
        raise UsageError(f"invalid --query {expr!r}: {reason}") from None

    def search(data: Any) -> Any:
        try:
            return compiled.search(data)
        except JMESPathError as exc:
            raise UsageError(f"--query {expr!r} failed: {exc}") from None

    return search


def _is_tty(out: IO[str]) -> bool:
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())


class PageWriter:
    """Renders one or many pages of a response; build it before the first request.

    Construction checks the format and compiles `--query`, so bad input fails before
    anything is sent. `page()` returns False once the reader has gone (`| head`), telling a
    pagination loop to stop fetching. `view` is the catalogue's view of the endpoint and
    `example` a thunk of its documented result (read only to check `--fields` or head a csv
    of an empty answer).
    """

    def __init__(
        self,
        fmt: str,
        fields: list[str] | None = None,
        query: str | None = None,
        out: IO[str] | None = None,
        *,
        view: View | None = None,
        example: Callable[[], Any] | None = None,
        pager: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if fmt not in FORMATS:
            raise UsageError(f"unknown output format {fmt!r}; valid: {', '.join(FORMATS)}")
        self._fmt = fmt
        self._fields = fields or None
        self._query = compile_query(query)
        self._out = out
        self._view = view
        self._known = documented_fields(example)
        self._pager = pager
        self._env = os.environ if env is None else env
        streams = fmt in MACHINE and MACHINE[fmt].streams
        self._streaming = streams and self._query is None
        self._last: dict | None = None
        self._rows: list = []
        self._has_rows = False
        self._gone = False

    def page(self, envelope: dict) -> bool:
        """Take one page: stream its rows (jsonl, text) or keep them for `close()`."""
        if self._gone:
            return False
        self._last = envelope
        if self._streaming:
            return self._emit(envelope.get("result"), envelope, self._view)
        rows = rows_of(envelope.get("result"))
        if rows is not None:
            self._has_rows = True
            self._rows.extend(rows)
        return True

    def close(self) -> None:
        """Render what was buffered (nothing more to do for streamed formats)."""
        if self._last is None or self._streaming or self._gone:
            return
        result = self._last.get("result")
        if self._has_rows:
            result = with_rows(result, self._rows)
        view = self._view
        if self._query is not None:
            result = self._query(result)
            view = _reshaped(view)
        self._emit(result, self._last, view)

    def refused(self, envelope: dict) -> None:
        """An envelope the exchange refused: raw prints it whole, as it printed a success."""
        if self._fmt == "raw":
            self._write(lambda out: RawFormatter(out).emit(_answer(envelope, None, None, [])))

    def _emit(self, data: Any, envelope: dict, view: View | None) -> bool:
        answer = _answer(envelope, data, view, self._fields, self._known)
        if self._fmt in PEOPLE:
            return self._write(lambda out: self._table(answer, view, out))
        formatter = MACHINE[self._fmt]
        return self._write(lambda out: formatter(out).emit(answer))

    def _table(self, answer: Answer, view: View | None, out: IO[str]) -> None:
        from bybitctl.output.table import Screen, draw

        tty = _is_tty(out)
        console = _console(out, tty)
        screen = Screen(width=console.width if tty else None, styled=tty)
        drawing = draw(answer, view, wide=self._fmt == "wide", screen=screen)
        buffer = io.StringIO()
        printer = _console(buffer, tty, like=console)
        for line in drawing.lines:
            printer.print(line, soft_wrap=True, crop=False, overflow="ignore")
        text = buffer.getvalue()
        paged = False
        if tty and self._pager:
            from bybitctl.output.pager import page, terminal_height

            paged = page(text, out, height=terminal_height(out, self._env), env=self._env)
        if not paged:
            out.write(text)
            out.flush()
        for note in drawing.notes:  # after the table, where the eye is when it ends
            print(note, file=sys.stderr, flush=True)

    def _write(self, action: Callable[[IO[str]], None]) -> bool:
        out = self._out if self._out is not None else sys.stdout
        try:
            action(out)
            out.flush()
        except BrokenPipeError:
            self._gone = True
            if out is sys.stdout:
                # Point fd 1 at /dev/null so the flush at interpreter exit cannot raise again.
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                os.close(devnull)
            return False
        return True


def _answer(
    envelope: dict,
    data: Any,
    view: View | None,
    fields: list[str] | None,
    known: Callable[[], list[str]] = lambda: [],
) -> Answer:
    frame = frame_of(data, view, known)
    frame.check_fields(fields)
    if fields:
        frame = frame.picked(fields)
    return Answer(data=data, envelope=envelope, frame=frame, fields=fields)


def _reshaped(view: View | None) -> View | None:
    """A `--query` makes its own answer: the catalogue's shape and columns no longer
    describe it, but an empty list still speaks of the endpoint."""
    if view is None:
        return None
    from bybitctl.catalog import View

    return View(empty=view.empty)


def _console(out: IO[str], tty: bool, like: Any = None) -> Any:
    """A rich console writing to `out`: the terminal's own, or a plain one with no width
    limit (nothing wraps or is cut off a terminal); `like` copies a terminal's colours."""
    from rich.console import Console

    if like is not None:
        return Console(
            file=out,
            width=1_000_000,
            force_terminal=tty,
            color_system=like.color_system if tty else None,
            no_color=like.no_color,
            highlight=False,
        )
    if tty:
        return Console(file=out, highlight=False)
    return Console(file=out, color_system=None, width=1_000_000, highlight=False)


def default_format(settings: Any, isatty: bool) -> str:
    """BYBITCTL_OUTPUT or the profile's choice, else table for people and json for pipes."""
    return settings.output or ("table" if isatty else "json")


def render(
    envelope: dict,
    fmt: str,
    *,
    fields: list[str] | None = None,
    query: str | None = None,
    out: IO[str] | None = None,
    view: View | None = None,
    pager: bool = True,
) -> None:
    """Print one response envelope in format `fmt` (through the pager when it is long, on a
    terminal, unless `pager` is off)."""
    writer = PageWriter(fmt, fields, query, out, view=view, pager=pager)
    writer.page(envelope)
    writer.close()
