"""The machine formats: json and raw (the answer as sent), jsonl, csv and text (rows).

json prints the result and raw the whole envelope, both as the exchange sent them (only
`--fields` changes them: then the rows are the named, picked ones). jsonl prints one row per
line, csv a header and the rows (objects spread into `parent.child` columns, lists as
compact JSON), text the rows as tab-separated values without a header and a bare value
without quotes, as `aws --output text` and `jq -r` do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import IO, Any

from bybitctl.output.cells import dumps, text
from bybitctl.output.frame import Frame, flatten, with_rows


@dataclass
class Answer:
    """One answer ready to print: the processed result, its envelope, and its frame (the
    named rows, `--fields` already picked)."""

    data: Any
    envelope: dict[str, Any]
    frame: Frame
    fields: list[str] | None


class Formatter(ABC):
    """One `-o` format; `streams` formats can print each page as it arrives."""

    streams = False

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    @abstractmethod
    def emit(self, answer: Answer) -> None:
        """Write one answer."""


def _picked_data(answer: Answer) -> Any:
    """The result as json prints it: as sent, or with its rows picked by `--fields`."""
    if not answer.fields:
        return answer.data
    frame = answer.frame
    if frame.rows is None:
        return frame.record
    return frame.rows if frame.shaped else with_rows(answer.data, frame.rows)


class JsonFormatter(Formatter):
    def emit(self, answer: Answer) -> None:
        self.out.write(dumps(_picked_data(answer), indent=True) + "\n")


class RawFormatter(Formatter):
    def emit(self, answer: Answer) -> None:
        self.out.write(
            dumps({**answer.envelope, "result": _picked_data(answer)}, indent=True) + "\n"
        )


def _items(frame: Frame) -> list[Any]:
    """One item per output line: the rows, the record, or the value(s)."""
    if frame.rows is not None:
        return frame.rows
    if frame.record is not None:
        return [frame.record]
    return [frame.value]


class JsonlFormatter(Formatter):
    streams = True

    def emit(self, answer: Answer) -> None:
        self.out.write("".join(dumps(item) + "\n" for item in _items(answer.frame)))


class CsvFormatter(Formatter):
    """RFC 4180 csv; an empty list still prints the header (from `--fields`, the shape or
    the documented answer), so appending runs to one file keeps one header."""

    def emit(self, answer: Answer) -> None:
        frame = answer.frame
        if frame.rows is None and frame.record is None and frame.value is None:
            return  # nothing to tabulate (e.g. a --query that matched nothing)
        if frame.is_value:
            values = frame.rows if frame.rows is not None else [frame.value]
            header, records = ["value"], [{"value": v} for v in values]
        else:
            # Picked rows hold exactly the fields asked for; others spread their objects.
            records = frame.records if answer.fields else [flatten(r) for r in frame.records]
            header = answer.fields or list(dict.fromkeys(k for r in records for k in r))
            if not records and not answer.fields:
                header = frame.known()
        if not header:
            return
        lines = [header, *([text(r.get(c)) for c in header] for r in records)]
        self.out.write("".join(",".join(map(_csv_field, line)) + "\n" for line in lines))


def _csv_field(value: str) -> str:
    """RFC 4180 quoting; unlike the csv module's, it also quotes a lone "\r" under "\n" endings."""
    if any(ch in value for ch in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _tsv(value: Any) -> str:
    """A value in a tab-separated line, escaped as jq's @tsv does."""
    return text(value).translate(_TSV_ESCAPES)


class TextFormatter(Formatter):
    """Values for scripts: a scalar bare, a list one item per line, a row its values
    joined by tabs (the `--fields` order, else the row's own)."""

    streams = True

    def emit(self, answer: Answer) -> None:
        lines = []
        for item in _items(answer.frame):
            if item is None:
                continue
            if isinstance(item, dict):
                row = item if answer.fields else flatten(item)  # picked rows: as asked
                lines.append("\t".join(_tsv(v) for v in row.values()))
            elif isinstance(item, list):
                lines.append("\t".join(_tsv(v) for v in item))
            else:
                lines.append(_tsv(item))
        self.out.write("".join(line + "\n" for line in lines))
