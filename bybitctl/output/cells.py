"""One value as the text of a cell: exact exchange strings for scripts, readable times for
people.

Exchange numbers arrive as strings and are never converted, so "0.00000001" prints as is.
In a table, a field whose name says it is a time (createdTime, ts, a kline's start) and
whose value is an epoch number in seconds, milliseconds, microseconds or nanoseconds shows
as an ISO 8601 UTC time (`2024-05-01T12:00:00Z`, the form `--start` takes back); csv, text
and the JSON formats keep the number.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

TIME_NAME = re.compile(r"^time|Time|Timestamp$|^timestamp$|At$|^(ts|cts|T|start|end)$")
"""Field names that hold a time: createdTime, transactionTime, fundingRateTimestamp,
timeSecond, ts, a kline's start, ..."""
_EPOCH = re.compile(r"[0-9]{10}(?:[0-9]{3}){0,3}")
_YEAR_2000_S = 946_684_800
_YEAR_2100_S = 4_102_444_800


def dumps(value: Any, *, indent: bool = False) -> str:
    """JSON of `value`: compact, or indented by two; non-string keys allowed."""
    # Imported here: this module loads on every command, but not every command prints JSON.
    import orjson

    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(value, option=option, default=str).decode()


def text(value: Any) -> str:
    """A value as machine text: strings verbatim, nested values as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return dumps(value)
    return str(value)


def epoch_time(value: Any) -> str | None:
    """An epoch number (s, ms, us or ns by its digits) between 2000 and 2100 as UTC ISO
    8601, else None.

    >>> epoch_time("1714521600000"), epoch_time(1714521600), epoch_time("0")
    ('2024-05-01T00:00:00Z', '2024-05-01T00:00:00Z', None)
    """
    raw = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(raw, str) or not _EPOCH.fullmatch(raw):
        return None
    seconds = int(raw) // 10 ** (len(raw) - 10)
    if not _YEAR_2000_S <= seconds < _YEAR_2100_S:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def shown(name: str, value: Any) -> str:
    """A value as a person reads it in a table: times readable, lists of plain values
    joined, the rest as machine text (lists of objects never reach a cell)."""
    if TIME_NAME.search(name.rsplit(".", 1)[-1]):
        readable = epoch_time(value)
        if readable is not None:
            return readable
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return ", ".join(text(v) for v in value)
    return text(value)
