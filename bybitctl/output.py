"""Renderers for `-o table|json|jsonl|csv|raw`, `--fields` and `--query`.

Every format runs the same pipeline: take the envelope's `result`, apply `--query`, pick
`--fields` from the rows, then hand the data to one formatter from `_REGISTRY`. raw keeps the
envelope around the processed result. The rows are the result's `list` field, else its only
list value, else the result itself when it is a list; anything else (an order book, whose `b`
and `a` are two lists) is a plain object.

Exchange numbers arrive as strings and are never converted, so "0.00000001" prints as is.
stdout is looked up at write time (so test runners can swap it), nothing is coloured,
paged or truncated when it is not a terminal, and a reader that goes away (`| head`) ends
the output quietly.

With `--all`, `PageWriter` streams jsonl rows as pages arrive (unless `--query` needs the
combined result) and buffers every other format. Buffered pages combine into one result:
the last page's fields (so `nextPageCursor` tells where a `--max-pages` run stopped) with the
rows of all pages; raw wraps that in the last page's envelope, so one page and many have the
same shape.
"""

from __future__ import annotations

import io
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from bybitctl.errors import UsageError

if TYPE_CHECKING:
    from bybitctl.config import Settings


def _dumps(value: Any, *, indent: bool = False) -> str:
    # Imported here: this module loads on every command, but not every command prints JSON.
    import orjson

    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(value, option=option, default=str).decode()


def _cell(value: Any) -> str:
    """One value as text: strings verbatim, nested values as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return _dumps(value)
    return str(value)


def list_key(result: Any) -> str | None:
    """The key of a result's rows: `list` if present, else its only list value.

    A result with several lists and no `list` (an order book's `b` and `a`) has no one set of
    rows: it prints as a plain object, so no list is silently dropped.
    """
    if not isinstance(result, dict):
        return None
    if isinstance(result.get("list"), list):
        return "list"
    keys = [k for k, v in result.items() if isinstance(v, list)]
    return keys[0] if len(keys) == 1 else None


class _Picked(dict):
    """The `--fields` of a plain object: it stays one object even if one list is left."""


def rows_of(data: Any) -> list | None:
    """The rows to print one per line, or None for a plain object or a scalar."""
    if isinstance(data, list):
        return data
    if isinstance(data, _Picked):
        return None
    key = list_key(data)
    return None if key is None else data[key]


def _with_rows(data: Any, rows: list) -> Any:
    """`data` with its rows replaced, keeping every other field of the result."""
    if isinstance(data, list):
        return rows
    return {**data, list_key(data): rows}


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


def pick_fields(data: Any, fields: list[str] | None) -> Any:
    """Keep only `fields` in each row (or in a plain object), checking every name."""
    if not fields:
        return data
    rows = rows_of(data)
    if rows is None and not isinstance(data, dict):
        raise UsageError("--fields needs rows or an object to pick from")
    records = [r for r in rows if isinstance(r, dict)] if rows is not None else [data]
    valid = list(dict.fromkeys(k for r in records for k in r))
    unknown = [f for f in fields if f not in valid]
    if records and unknown:
        raise UsageError(
            f"unknown field(s) for --fields: {', '.join(unknown)}; valid: {', '.join(valid)}"
        )
    if rows is None:
        return _Picked((f, data.get(f)) for f in fields)
    return _with_rows(
        data, [{f: r.get(f) for f in fields} if isinstance(r, dict) else r for r in rows]
    )


def _columns(rows: list, fields: list[str] | None) -> tuple[list[str], list[dict]]:
    """Header and dict rows; bare values become a single `value` column (fields ignored)."""
    records = [r if isinstance(r, dict) else {"value": r} for r in rows]
    if fields and all(isinstance(r, dict) for r in rows):
        return fields, records
    return list(dict.fromkeys(k for r in records for k in r)), records


def _is_tty(out: IO[str]) -> bool:
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())


class Formatter(ABC):
    """One `-o` format; `streams` formats can print each page as it arrives."""

    streams = False

    def __init__(self, out: IO[str], fields: list[str] | None) -> None:
        self.out = out
        self.fields = fields

    @abstractmethod
    def emit(self, data: Any, envelope: dict) -> None:
        """Write processed data; `envelope` is the response it came from (for raw)."""


class JsonFormatter(Formatter):
    def emit(self, data: Any, envelope: dict) -> None:
        self.out.write(_dumps(data, indent=True) + "\n")


class RawFormatter(Formatter):
    def emit(self, data: Any, envelope: dict) -> None:
        self.out.write(_dumps({**envelope, "result": data}, indent=True) + "\n")


class JsonlFormatter(Formatter):
    streams = True

    def emit(self, data: Any, envelope: dict) -> None:
        rows = rows_of(data)
        self.out.write("".join(_dumps(r) + "\n" for r in ([data] if rows is None else rows)))


class CsvFormatter(Formatter):
    def emit(self, data: Any, envelope: dict) -> None:
        if data is None:  # nothing to tabulate (e.g. a --query that matched nothing)
            return
        rows = rows_of(data)
        header, records = _columns([data] if rows is None else rows, self.fields)
        if not header:
            return
        lines = [header, *([_cell(r.get(c)) for c in header] for r in records)]
        self.out.write("".join(",".join(map(_csv_field, line)) + "\n" for line in lines))


def _csv_field(text: str) -> str:
    """RFC 4180 quoting; unlike the csv module's, it also quotes a lone "\r" under "\n" endings."""
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


class TableFormatter(Formatter):
    def emit(self, data: Any, envelope: dict) -> None:
        from rich import box
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        tty = _is_tty(self.out)
        rows = rows_of(data)
        if data in (None, "", [], {}):
            return
        table = Table(
            box=box.SIMPLE, header_style="bold" if tty else "", show_edge=False, pad_edge=False
        )
        if rows is None and isinstance(data, dict):
            table.add_column("key")
            table.add_column("value", overflow="fold")
            for key, value in data.items():
                table.add_row(Text(str(key)), Text(_cell(value)))
        else:
            header, records = _columns([data] if rows is None else rows, self.fields)
            if not header:
                return
            for name in header:
                table.add_column(name, overflow="fold")
            for record in records:
                table.add_row(*(Text(_cell(record.get(c))) for c in header))
        if tty:
            Console(file=self.out).print(table)
            return
        # Off a terminal: no colour and a width no row can reach, so nothing wraps or truncates;
        # rich pads every cell, so trailing blanks are stripped for grep and diff.
        buffer = io.StringIO()
        Console(file=buffer, color_system=None, width=1_000_000, force_terminal=False).print(table)
        self.out.write("".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines()))


_REGISTRY: dict[str, type[Formatter]] = {
    "table": TableFormatter,
    "json": JsonFormatter,
    "jsonl": JsonlFormatter,
    "csv": CsvFormatter,
    "raw": RawFormatter,
}
FORMATS = tuple(_REGISTRY)


def default_format(settings: Settings, isatty: bool) -> str:
    """BYBITCTL_OUTPUT or the profile's choice, else table for people and json for pipes."""
    return settings.output or ("table" if isatty else "json")


class PageWriter:
    """Renders one or many pages of a response; build it before the first request.

    Construction checks the format and compiles `--query`, so bad input fails before
    anything is sent. `page()` returns False once the reader has gone (`| head`), telling a
    pagination loop to stop fetching.
    """

    def __init__(
        self,
        fmt: str,
        fields: list[str] | None = None,
        query: str | None = None,
        out: IO[str] | None = None,
    ) -> None:
        if fmt not in _REGISTRY:
            raise UsageError(f"unknown output format {fmt!r}; valid: {', '.join(FORMATS)}")
        self._cls = _REGISTRY[fmt]
        self._fields = fields or None
        self._query = compile_query(query)
        self._out = out
        self._streaming = self._cls.streams and self._query is None
        self._last: dict | None = None
        self._rows: list = []
        self._has_rows = False
        self._gone = False

    def page(self, envelope: dict) -> bool:
        """Take one page: stream its rows (jsonl) or keep them for `close()`."""
        if self._gone:
            return False
        result = envelope.get("result")
        self._last = envelope
        if self._streaming:
            return self._write(lambda f: f.emit(pick_fields(result, self._fields), envelope))
        rows = rows_of(result)
        if rows is not None:
            self._has_rows = True
            self._rows.extend(rows)
        return True

    def close(self) -> None:
        """Render what was buffered (nothing more to do for streamed jsonl)."""
        if self._last is None or self._streaming or self._gone:
            return
        result = self._last.get("result")
        if self._has_rows:
            result = _with_rows(result, self._rows)
        if self._query is not None:
            result = self._query(result)
        data = pick_fields(result, self._fields)
        self._write(lambda f: f.emit(data, self._last))

    def _write(self, action: Callable[[Formatter], None]) -> bool:
        out = self._out if self._out is not None else sys.stdout
        try:
            action(self._cls(out, self._fields))
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


def render(
    envelope: dict,
    fmt: str,
    *,
    fields: list[str] | None = None,
    query: str | None = None,
    out: IO[str] | None = None,
) -> None:
    """Print one response envelope in format `fmt`."""
    writer = PageWriter(fmt, fields, query, out)
    writer.page(envelope)
    writer.close()
