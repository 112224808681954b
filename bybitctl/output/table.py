"""Tables for people: `-o table` (the default on a terminal) and `-o wide`.

- Rows print as a grid of the endpoint's default columns (the catalogue's `view`), every
  field with `-o wide` or exactly `--fields`. A cell is never folded: when the terminal is
  too narrow, whole columns are left out from the right and a note on stderr says which.
  A `-o wide` grid too wide for the terminal prints each row as a block of field/value
  lines instead, so every field still shows whole.
- One row, or one object, prints as field/value lines; each list of objects inside it
  (wallet coins, chains) follows as a table of its own, and objects inside it spread into
  `parent.child` fields, so no cell holds JSON.
- An order book prints as a ladder, bids and asks side by side, under a line with its
  symbol, time, spread and update ids.
- Times show as ISO 8601 UTC; numbers keep their exact text and align right.
- An empty list says so ("no open orders") on a terminal, and prints nothing off one.

rich is imported here only, and only when a table is drawn.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bybitctl.output.cells import shown
from bybitctl.output.formats import Answer
from bybitctl.output.frame import flatten

if TYPE_CHECKING:
    from rich.text import Text

    from bybitctl.catalog import View

GAP = 2
"""Blanks between two columns."""
_NUMBER = re.compile(r"[-+]?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?%?")
_SIDE_STYLES = {"Buy": "green", "Sell": "red"}
_LADDER_STYLES = {"bidCum": "green", "bidSize": "green", "bid": "bold green",
                  "ask": "bold red", "askSize": "red", "askCum": "red"}  # fmt: skip


@dataclass(frozen=True)
class Screen:
    """Where the table goes: its width in cells (None: no limit, off a terminal) and
    whether it may use colour and bold."""

    width: int | None
    styled: bool


class Drawing:
    """The lines of one table answer, and notes for stderr."""

    def __init__(self, screen: Screen) -> None:
        self.screen = screen
        self.lines: list[Text] = []
        self.notes: list[str] = []

    def line(self, *parts: tuple[str, str] | str) -> None:
        from rich.text import Text

        text = Text()
        for part in parts:
            if isinstance(part, str):
                text.append(part)
            else:
                text.append(part[0], style=part[1] if self.screen.styled else "")
        self.lines.append(text)

    def blank(self) -> None:
        if self.lines:
            self.line("")


def draw(answer: Answer, view: View | None, *, wide: bool, screen: Screen) -> Drawing:
    """Lay out one answer as lines of text."""
    drawing = Drawing(screen)
    frame = answer.frame
    fields = answer.fields
    if frame.is_value:
        _values(drawing, frame.rows if frame.rows is not None else frame.value)
    elif frame.rows is not None:
        if not frame.rows:
            if screen.styled and view is not None:
                drawing.line(view.empty or "no results")
            elif screen.styled:
                drawing.line("no results")
        elif frame.title:
            _book_title(drawing, frame.title, frame.rows)
            _grid(drawing, frame.rows, _columns(frame.rows, fields, view, wide), wide=wide)
        elif len(frame.rows) == 1 and not frame.shaped:
            _record(drawing, frame.rows[0], fields, view, wide=wide)
        else:
            _grid(drawing, frame.rows, _columns(frame.rows, fields, view, wide), wide=wide)
            if wide:
                _nested_of_rows(drawing, frame.rows, view)
    elif frame.record is not None:
        if frame.record or not screen.styled:
            _record(drawing, frame.record, fields, view, wide=wide)
        else:
            drawing.line(str(answer.envelope.get("retMsg") or "OK"))
    return drawing


def _values(drawing: Drawing, value: Any) -> None:
    """A value, or a list of values one per line (lists of lists as aligned columns)."""
    if value is None:
        return
    items = value if isinstance(value, list) else [value]
    if items and all(isinstance(item, list) for item in items):
        rows = [{str(i): v for i, v in enumerate(item)} for item in items]
        _grid(drawing, rows, list(dict.fromkeys(k for r in rows for k in r)), header=False)
        return
    for item in items:
        drawing.line(shown("", item))


def _object_lists(record: dict[str, Any]) -> dict[str, list[Any]]:
    """The lists inside a record that are tables of their own (of objects or of lists)."""
    return {
        name: value
        for name, value in flatten(record).items()
        if isinstance(value, list) and value and all(isinstance(v, dict | list) for v in value)
    }


def _columns(rows: list[Any], fields: list[str] | None, view: View | None, wide: bool) -> list[str]:
    """The columns of a grid: `--fields`; every field for wide; else the view's default
    columns that some row has (all fields when it names none of them)."""
    if fields:
        return list(fields)
    present: dict[str, None] = {}
    for row in rows:
        flat = flatten(row)
        present.update(dict.fromkeys(k for k in flat if k not in _object_lists(row)))
    if wide or view is None:
        return list(present)
    chosen = [c for c in view.columns if c in present]
    return chosen or list(present)


def _cells(row: dict[str, Any], columns: list[str]) -> list[str]:
    flat = flatten(row)
    return [shown(c, flat.get(c)) for c in columns]


def _width(text: str) -> int:
    from rich.cells import cell_len

    return cell_len(text)


def _grid(
    drawing: Drawing,
    rows: list[dict[str, Any]],
    columns: list[str],
    *,
    wide: bool = False,
    header: bool = True,
) -> None:
    """Rows under a header, columns that do not fit left out from the right (with a note);
    a wide grid that does not fit becomes blocks of field/value lines."""
    cells = [_cells(row, columns) for row in rows]
    widths = [
        max([_width(c) if header else 0, *(_width(r[i]) for r in cells)])
        for i, c in enumerate(columns)
    ]
    limit = drawing.screen.width
    total = sum(widths) + GAP * (len(widths) - 1)
    if limit is not None and total > limit:
        if wide:
            _blocks(drawing, rows, columns)
            return
        keep = 1
        while keep < len(widths) and sum(widths[: keep + 1]) + GAP * keep <= limit:
            keep += 1
        dropped = columns[keep:]
        columns, widths, cells = columns[:keep], widths[:keep], [r[:keep] for r in cells]
        drawing.notes.append(_dropped_note(dropped, limit))
    right = [
        all(_NUMBER.fullmatch(r[i]) or r[i] == "" for r in cells) and any(r[i] for r in cells)
        for i in range(len(columns))
    ]
    if header:
        drawing.line(
            *_pad_all(columns, widths, right, lambda c, i: "bold"),
        )
    for row in cells:
        drawing.line(*_pad_all(row, widths, right, lambda c, i: _style(columns[i], c)))


def _pad_all(
    texts: list[str], widths: list[int], right: list[bool], style: Callable[[str, int], str]
) -> list[tuple[str, str] | str]:
    parts: list[tuple[str, str] | str] = []
    last = len(texts) - 1
    for i, value in enumerate(texts):
        pad = " " * (widths[i] - _width(value))
        if right[i]:
            parts += [pad, (value, style(value, i))]
        else:
            parts += [(value, style(value, i)), pad if i < last else ""]
        if i < last:
            parts.append(" " * GAP)
    return parts


def _style(column: str, value: str) -> str:
    if column in _LADDER_STYLES:
        return _LADDER_STYLES[column]
    if column.rsplit(".", 1)[-1] == "side":
        return _SIDE_STYLES.get(value, "")
    return ""


def _dropped_note(dropped: list[str], limit: int) -> str:
    """The columns left out and how to see them: one line when it fits in `limit`, else the
    names on a line of their own, every one that fits there and then "+N more".

    >>> _dropped_note(["orderId", "createdTime"], 80)
    'note: 2 columns did not fit: orderId, createdTime (-o wide shows all)'
    >>> print(_dropped_note(["orderId", "createdTime", "updatedTime"], 40))
    note: 3 columns did not fit (-o wide shows all):
    orderId, createdTime, updatedTime
    >>> print(_dropped_note(["orderId", "createdTime", "updatedTime"], 30))
    note: 3 columns did not fit (-o wide shows all):
    orderId, createdTime, +1 more
    """
    count = f"{len(dropped)} column{'s' if len(dropped) > 1 else ''}"
    suffix = " (-o wide shows all)"
    line = f"note: {count} did not fit: {', '.join(dropped)}{suffix}"
    if len(line) <= limit:
        return line
    for shown_count in range(len(dropped), 0, -1):
        names = ", ".join(dropped[:shown_count])
        if shown_count < len(dropped):
            names += f", +{len(dropped) - shown_count} more"
        if len(names) <= limit:
            return f"note: {count} did not fit{suffix}:\n{names}"
    return f"note: {count} did not fit{suffix}"


def _record(
    drawing: Drawing,
    record: dict[str, Any],
    fields: list[str] | None,
    view: View | None,
    *,
    wide: bool,
) -> None:
    """One object as field/value lines, then each list of objects inside it as a table."""
    lists = _object_lists(record)
    flat = {k: v for k, v in flatten(record).items() if k not in lists}
    if fields:
        names = [f for f in fields if f not in lists]
        lists = {f: lists[f] for f in fields if f in lists}
    elif wide or view is None:
        names = list(flat)
    else:
        names = [c for c in view.columns if c in flat] or list(flat)
    _pairs(drawing, [(name, shown(name, flat.get(name))) for name in names])
    for name, items in lists.items():
        drawing.blank()
        drawing.line((name, "bold"))
        if all(isinstance(item, list) for item in items):
            _values(drawing, items)
            continue
        rows = [item for item in items if isinstance(item, dict)]
        nested = view.nested_columns(name) if view is not None and not wide else ()
        columns = _columns(rows, None, None, True)
        chosen = [c for c in nested if c in columns]
        _grid(drawing, rows, chosen or columns, wide=wide)


def _pairs(drawing: Drawing, pairs: list[tuple[str, str]]) -> None:
    width = max((_width(name) for name, _ in pairs), default=0)
    for name, value in pairs:
        drawing.line(
            (name, "bold"), " " * (width - _width(name) + GAP), (value, _style(name, value))
        )


def _blocks(drawing: Drawing, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Rows too wide for the screen: a block of field/value lines each, a blank between."""
    for row in rows:
        drawing.blank()
        _pairs(drawing, list(zip(columns, _cells(row, columns), strict=True)))


def _nested_of_rows(drawing: Drawing, rows: list[dict[str, Any]], view: View | None) -> None:
    """Wide: each row's lists of objects as tables, titled by the row's first column."""
    for row in rows:
        for name, items in _object_lists(row).items():
            first = next(iter(flatten(row).items()), ("", ""))
            drawing.blank()
            drawing.line((f"{name} of {first[0]}={shown(*first)}", "bold"))
            dicts = [item for item in items if isinstance(item, dict)]
            _grid(drawing, dicts, _columns(dicts, None, None, True), wide=True)


def _book_title(drawing: Drawing, title: dict[str, Any], rows: list[dict[str, str]]) -> None:
    """The line above a ladder: symbol, time, spread and mid, update ids."""
    from decimal import Decimal, InvalidOperation

    parts = [str(title.get("s", ""))]
    if "ts" in title:
        parts.append(shown("ts", title["ts"]))
    try:
        bid, ask = Decimal(rows[0]["bid"]), Decimal(rows[0]["ask"])
        parts += [f"spread {ask - bid}", f"mid {(ask + bid) / 2}"]
    except (InvalidOperation, KeyError, IndexError):
        pass
    parts += [f"{k} {title[k]}" for k in ("u", "seq") if k in title]
    drawing.line((parts[0], "bold"), "  " + "  ".join(p for p in parts[1:] if p))
