"""An answer as rows with names: the one shape every row format (table, wide, text, csv,
jsonl) prints, and what `--fields` picks from.

A result's rows are its `list` field, else its only list value, else the result itself when
it is a list; anything else is one object. Two shapes of the catalogue name what Bybit
sends unnamed: a kline is an array (`start, open, high, low, close, volume, turnover`), and
an order book's `b` and `a` become a ladder, one row per level with the bid and the ask side
by side (`bidCum, bidSize, bid, ask, askSize, askCum`, the sizes summed from the best price).

Nothing here imports more than the standard library: it runs for every format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bybitctl.errors import UsageError

if TYPE_CHECKING:
    from bybitctl.catalog import View

KLINE = ("start", "open", "high", "low", "close", "volume", "turnover")
LADDER = ("bidCum", "bidSize", "bid", "ask", "askSize", "askCum")
BOOK_META = ("s", "ts", "u", "seq", "cts")
"""Fields of an order book answer besides its two sides, shown above the ladder."""


def list_key(result: Any) -> str | None:
    """The key of a result's rows: `list` if present, else its only list value.

    A result with several lists and no `list` (an order book's `b` and `a`) has no one set of
    rows: it is one object, so no list is silently dropped.
    """
    if not isinstance(result, dict):
        return None
    if isinstance(result.get("list"), list):
        return "list"
    keys = [k for k, v in result.items() if isinstance(v, list)]
    return keys[0] if len(keys) == 1 else None


def rows_of(data: Any) -> list | None:
    """The rows of a result, or None for one object or a scalar."""
    if isinstance(data, list):
        return data
    key = list_key(data)
    return None if key is None else data[key]


def with_rows(data: Any, rows: list) -> Any:
    """`data` with its rows replaced, keeping every other field of the result."""
    if isinstance(data, list):
        return rows
    return {**data, list_key(data): rows}


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A record with each object field spread into `parent.child` fields; lists stay values.

    >>> flatten({"symbol": "BTCUSDT", "priceFilter": {"tickSize": "0.10"}, "coin": []})
    {'symbol': 'BTCUSDT', 'priceFilter.tickSize': '0.10', 'coin': []}
    """
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def lookup(record: dict[str, Any], name: str) -> Any:
    """A field by its name, `parent.child` reaching into an object (None when absent)."""
    if name in record:
        return record[name]
    value: Any = record
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _names(records: Iterable[dict[str, Any]]) -> list[str]:
    """Every field name of the records once flattened, in order of first appearance."""
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(flatten(record)))
    return list(names)


def kline_rows(rows: list) -> list:
    """Each candle array as a record with named fields (other rows unchanged)."""
    return [dict(zip(KLINE, row, strict=False)) if isinstance(row, list) else row for row in rows]


def ladder_rows(book: dict[str, Any]) -> list[dict[str, str]]:
    """The levels of a book, bids and asks side by side from the best price outwards.

    A level is [price, size] or, in an RPI book, [price, size, rpiSize]; a size column
    shows `size+rpiSize` there and the sums count both.

    >>> ladder_rows({"b": [["10.0", "1"], ["9.5", "2"]], "a": [["10.5", "0.5"]]})[1]
    {'bidCum': '3', 'bidSize': '2', 'bid': '9.5', 'ask': '', 'askSize': '', 'askCum': ''}
    """
    from decimal import Decimal, InvalidOperation

    def side(levels: Any) -> list[tuple[str, str, str]]:
        out, total = [], Decimal(0)
        for level in levels if isinstance(levels, list) else []:
            if not isinstance(level, list) or len(level) < 2:
                continue
            sizes = [str(x) for x in level[1:]]
            try:
                total += sum((Decimal(x) for x in sizes), Decimal(0))
                cum = str(total)
            except InvalidOperation:
                cum = ""
            out.append((str(level[0]), "+".join(sizes), cum))
        return out

    bids, asks = side(book.get("b")), side(book.get("a"))
    blank = ("", "", "")
    rows = []
    for i in range(max(len(bids), len(asks))):
        bid = bids[i] if i < len(bids) else blank
        ask = asks[i] if i < len(asks) else blank
        rows.append(
            dict(zip(LADDER, (bid[2], bid[1], bid[0], ask[0], ask[1], ask[2]), strict=True))
        )
    return rows


@dataclass
class Frame:
    """What a row format prints: `rows` of records, one `record`, or a `value`.

    `title` holds what an order book says besides its levels (symbol, time, update ids);
    `known` names the fields a list would have when it came back empty (from the shape or
    the catalogue's documented answer), so `--fields` is checked and csv prints a header.
    """

    rows: list[Any] | None = None
    record: dict[str, Any] | None = None
    value: Any = None
    title: dict[str, Any] = field(default_factory=dict)
    known: Callable[[], list[str]] = field(default=lambda: [])
    shaped: bool = False

    @property
    def records(self) -> list[dict[str, Any]]:
        """The rows that are objects, or the one record."""
        if self.rows is not None:
            return [r for r in self.rows if isinstance(r, dict)]
        return [self.record] if self.record is not None else []

    @property
    def is_value(self) -> bool:
        """A scalar, or rows that are not objects (a `--query` list of prices, say)."""
        if self.rows is not None:
            return any(not isinstance(r, dict) for r in self.rows)
        return self.record is None

    def names(self) -> list[str]:
        """Every field name a row has (`parent.child` inside objects), else the known ones."""
        return _names(self.records) or list(self.known())

    def check_fields(self, fields: list[str] | None) -> None:
        """Refuse `--fields` naming a field no row has, for every shape (exit 2)."""
        if not fields:
            return
        if self.is_value:
            what = "a list of values" if self.rows is not None else "a single value"
            raise UsageError(
                f"--fields picks fields of rows, and this answer is {what}",
                hint="drop --fields, or pick with --query",
            )
        valid = self.names()
        parents = {n.rsplit(".", i)[0] for n in valid for i in range(1, n.count(".") + 1)}
        unknown = [f for f in fields if f not in valid and f not in parents]
        if unknown and valid:
            raise UsageError(
                f"unknown field(s) for --fields: {', '.join(unknown)}; valid: {', '.join(valid)}"
            )

    def picked(self, fields: list[str]) -> Frame:
        """Only `fields`, in that order, in every row (flat names stay flat)."""

        def pick(record: dict[str, Any]) -> dict[str, Any]:
            return {f: lookup(record, f) for f in fields}

        if self.rows is not None:
            return Frame(rows=[pick(r) for r in self.rows], known=lambda: list(fields))
        assert self.record is not None
        return Frame(record=pick(self.record), known=lambda: list(fields))


def frame_of(data: Any, view: View | None, known: Callable[[], list[str]]) -> Frame:
    """The frame of processed data; `view` (the catalogue's) names the shaped rows."""
    shape = view.shape if view is not None else None
    if shape == "orderbook" and isinstance(data, dict) and ("b" in data or "a" in data):
        title = {k: data[k] for k in BOOK_META if k in data}
        return Frame(rows=ladder_rows(data), title=title, known=lambda: list(LADDER), shaped=True)
    rows = rows_of(data)
    if rows is not None:
        if shape == "kline":
            return Frame(rows=kline_rows(rows), known=lambda: list(KLINE), shaped=True)
        return Frame(rows=rows, known=known)
    if isinstance(data, dict):
        return Frame(record=data, known=known)
    return Frame(value=data)


def documented_fields(example: Callable[[], Any] | None) -> Callable[[], list[str]]:
    """A thunk of the field names of a documented answer's first row (or object)."""

    def names() -> list[str]:
        result = example() if example is not None else None
        rows = rows_of(result)
        record = (rows[0] if rows else None) if rows is not None else result
        return _names([record]) if isinstance(record, dict) else []

    return names
