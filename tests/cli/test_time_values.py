"""Time options take dates and relative times as well as milliseconds, through the one
grammar; the rules are written out here again, independently of `bybitctl.parsing`."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.examples import examples

from bybitctl.parsing import InvalidValue, timestamp

NOW = 1_714_521_600.25  # 2024-05-01T00:00:00.25Z
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def spec(raw: str, now: float, unit: str = "ms") -> int | None:
    """What a time option means by the written rules, or None when it is refused."""
    scale = 1000 if unit == "ms" else 1
    if re.fullmatch(r"[0-9]+", raw):
        return int(raw) if len(raw.lstrip("0")) <= 19 and int(raw) < 2**63 else None
    if raw == "now":
        return int(now * scale)
    relative = re.fullmatch(r"-([0-9]{1,9})([smhdw])", raw)
    if relative:
        return max(0, round((now - int(relative[1]) * UNITS[relative[2]]) * scale))
    shape = re.fullmatch(
        r"(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,6}))?)?"
        r"(Z|[+-]\d\d:?\d\d)?)?",
        raw,
    )
    if not shape:
        return None
    year, month, day, hour, minute, second, fraction, zone = shape.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
            int((fraction or "0").ljust(6, "0")), tzinfo=UTC,
        )  # fmt: skip
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[-2:])
        if hours > 23 or minutes > 59:
            return None
        moment -= sign * timedelta(hours=hours, minutes=minutes)
    if moment < datetime(1970, 1, 1, tzinfo=UTC):
        return None
    since = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (since.days * 86400 + since.seconds) * scale + since.microseconds * scale // 10**6


dates = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31))
times = (
    st.from_regex(r"-[0-9]{1,4}[smhdwy]", fullmatch=True)
    | st.from_regex(r"[0-9]{1,15}", fullmatch=True)
    | st.from_regex(
        r"20[0-9]{2}-[01][0-9]-[0-3][0-9]([T ][0-2][0-9]:[0-5][0-9](:[0-6][0-9](\.[0-9]{1,7})?)?"
        r"(Z|[+-][0-2][0-9]:?[0-9]{2})?)?",
        fullmatch=True,
    )
    | st.builds(lambda d, sep: d.isoformat(sep=sep)[:19], dates, st.sampled_from("T "))
    | st.sampled_from(["now", "yesterday", "-1", "+1h", "1h", "2024-5-1", "2024-05-01T", ""])
    | st.text(max_size=12)
)


@settings(max_examples=examples(400), deadline=None)
@given(times, st.sampled_from(["ms", "s"]))
def test_a_time_means_what_the_rules_say_or_is_refused(raw: str, unit: str) -> None:
    expected = spec(raw, NOW, unit)
    try:
        got = timestamp(raw, now=NOW, unit=unit)
    except InvalidValue as exc:
        assert expected is None, f"{raw!r} follows the rules but was refused: {exc}"
        assert "expected a time" in str(exc)
        return
    assert got == expected, raw


@pytest.mark.parametrize(
    ("raw", "ms"),
    [
        ("1700000000000", 1700000000000),
        ("2024-05-01", 1714521600000),
        ("2024-05-01T12:30", 1714566600000),
        ("2024-05-01 12:30:15.5Z", 1714566615500),
        ("2024-05-01T14:30+02:00", 1714566600000),
        ("-1h", 1714518000250),
        ("-7d", 1713916800250),
        ("now", 1714521600250),
    ],
)
def test_time_forms(raw: str, ms: int) -> None:
    assert timestamp(raw, now=NOW) == ms


def _query(described: dict[str, Any]) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(described["url"]).query).items()}


def test_an_endpoint_time_option_takes_a_date(dry: Any) -> None:
    kline = ("market", "kline", "--category", "linear", "--symbol", "BTCUSDT", "--interval", "60")
    query = _query(dry(*kline, "--start", "2024-05-01", "--end", "2024-05-01T06:00Z"))
    assert (query["start"], query["end"]) == ("1714521600000", "1714543200000")
    assert _query(dry(*kline, "--start", "0017"))["start"] == "0017"  # digits as typed
    before = time.time() * 1000
    sent = int(_query(dry("trade", "order-history", "--category", "linear",
                          "--start-time", "-1h"))["startTime"])  # fmt: skip
    assert before - 3_600_000 - 1000 <= sent <= time.time() * 1000 - 3_600_000 + 1000


def test_a_bad_time_says_what_it_takes(bybitctl: Any) -> None:
    result = bybitctl(
        "trade", "order-history", "--category", "linear", "--start-time", "yesterday", "--dry-run"
    )
    assert result.code == 2
    assert result.stderr == (
        "error: invalid value for --start-time: expected a time: milliseconds since the epoch, "
        "an ISO 8601 date or time in UTC (2024-05-01, 2024-05-01T12:00Z) or a time relative "
        "to now (-1h, -7d), got 'yesterday'\n"
    )


def test_help_says_what_a_time_option_takes(bybitctl: Any) -> None:
    text = bybitctl("position", "executions", "--help").stdout
    assert "--start-time TIME" in text and "ISO 8601" in text and "-1h" in text
