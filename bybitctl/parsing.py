"""The one grammar for values users type: numbers, booleans, text and JSON.

Every place a value enters bybitctl (endpoint options, `--param`, `call`/`api` pairs, the
config file, `mm` flags and `mm.toml`, global options) converts it here, so a value either
means exactly what was typed or is refused with the rule it broke. The rules:

- a number is ASCII digits with an optional `.` fraction (`12`, `0.5`); a leading `-` only
  where the field may be negative; no `+`, `_`, blanks, Unicode digits, exponents, NaN or
  Infinity; it must lie in the field's range;
- a decimal goes on the wire as the exact text typed; an integer as its value;
- a symbol is upper-case ASCII letters and digits, with `-`, `_` or `/` between them;
- text holds no control characters, and is Unicode (bytes the terminal could not decode
  arrive as lone surrogates and are refused: they cannot be signed or sent);
- JSON is standard JSON (no NaN/Infinity, no key twice in one object), nested at most
  `MAX_JSON_DEPTH` deep, and its numbers are plain numbers that survive the round trip to
  the wire unchanged;
- a time is an epoch number in the field's unit (milliseconds for Bybit's `startTime`), an
  ISO 8601 date or date and time (UTC unless it names an offset), `now`, or a time relative
  to now (`-90s`, `-15m`, `-1h`, `-7d`, `-2w`).

Each function raises `InvalidValue` whose message states the rule; callers prefix the name of
the option or field, so the user reads "invalid value for --qty: ...". Nothing heavy is
imported: this module is on the start-up path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects in a JSON value (Bybit's deepest request is 3)."""

INT64_MAX = 2**63 - 1
"""Bybit's integers are 64-bit; anything larger cannot mean what was typed."""

DECIMAL_MAX_DIGITS = 18
"""Digits allowed on each side of a decimal's point: enough for every Bybit price, quantity
and amount (up to 18 decimals, below 10^18), short of the absurd."""

_PLAIN = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_EXPONENT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_INTEGER = re.compile(r"-?[0-9]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_RELATIVE = re.compile(r"-([0-9]{1,9})([smhdw])")
_ISO_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])?)?"
)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
TIME_UNITS = {"ms": 1000, "s": 1}
"""Epoch units a time field may take, as parts of a second."""
TIME_HELP = (
    "milliseconds since the epoch, an ISO 8601 date or time in UTC (2024-05-01, "
    "2024-05-01T12:00Z) or a time relative to now (-1h, -7d)"
)
"""What a time field takes, in words, for help and errors."""
_SURROGATE = re.compile("[\ud800-\udfff]")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class InvalidValue(ValueError):
    """A typed value broke the grammar; the message is the rule, worded for users."""


@dataclass(frozen=True, slots=True)
class NumberRule:
    """What one field accepts: sign and range.

    `minimum`/`maximum` bound the value (inclusive); `positive` excludes zero as well.
    """

    signed: bool = False
    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False

    def describe(self) -> str:
        """The bounds in words, appended to what is expected: " in (0, 300]", " >= 0"."""
        if self.minimum is not None and self.maximum is not None:
            return f" in {self.interval()}"
        low = (
            " > 0"
            if self.positive
            else f" >= {_fmt(self.minimum)}"
            if self.minimum is not None
            else ""
            if self.signed
            else " >= 0"
        )
        high = f" <= {_fmt(self.maximum)}" if self.maximum is not None else ""
        return low + (" and" if low and high else "") + high

    def contains(self, value: Any) -> bool:
        """Whether `value` (int, float or Decimal, compared exactly) lies in the range; with no
        `minimum`, an unsigned rule starts at 0.

        >>> NumberRule(minimum=0, maximum=50, positive=True).contains(0)
        False
        """
        if self.positive and value <= 0:
            return False
        if self.minimum is None:
            if not self.signed and value < 0:
                return False
        elif value < self.minimum:
            return False
        return self.maximum is None or value <= self.maximum

    def interval(self) -> str:
        """Both bounds as users read them: "(0, 5000]" excludes 0, "[0, 50]" includes both.

        >>> NumberRule(minimum=0, maximum=5000, positive=True).interval()
        '(0, 5000]'
        """
        assert self.minimum is not None and self.maximum is not None
        low = "(" if self.positive and self.minimum == 0 else "["
        return f"{low}{_fmt(self.minimum)}, {_fmt(self.maximum)}]"


UNSIGNED = NumberRule()
SIGNED = NumberRule(signed=True)
POSITIVE = NumberRule(positive=True)


def _fmt(value: Any) -> str:
    """A bound as typed: no exponent, no trailing ".0" (ints, floats and Decimals)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return str(value)
    return repr(value) if isinstance(value, float) else format(value, "f")


def _shape(raw: str, rule: NumberRule, pattern: re.Pattern[str], what: str) -> None:
    """Refuse anything but the plain ASCII shape, naming what was wrong."""
    if not isinstance(raw, str):
        raise InvalidValue(f"expected {what}, got {raw!r}")
    if pattern.fullmatch(raw):
        if raw.startswith("-") and not rule.signed:
            raise InvalidValue(f"expected {what}{rule.describe()} (no sign), got {raw!r}")
        return
    if not raw:
        raise InvalidValue(f"expected {what}, got an empty value")
    if raw.strip() != raw or any(c.isspace() for c in raw):
        reason = "blanks are not allowed"
    elif any(c.isdigit() and not c.isascii() for c in raw):
        reason = "only ASCII digits 0-9 are allowed"
    elif "_" in raw:
        reason = "'_' separators are not allowed"
    elif raw.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        reason = "NaN and Infinity are not numbers here"
    elif "e" in raw.lower() and _EXPONENT.fullmatch(raw):
        reason = "write it without an exponent"
    elif raw.startswith("+"):
        reason = "no '+' sign"
    elif pattern is _INTEGER:
        reason = "ASCII digits only, no fraction"
    else:
        reason = "digits with an optional '.' fraction"
    raise InvalidValue(f"expected {what}, got {raw!r}: {reason}")


def _check_range(value: Any, raw: str, rule: NumberRule, what: str) -> None:
    if not rule.contains(value):
        raise InvalidValue(f"expected {what}{rule.describe()}, got {raw!r}")


def _check_digits(raw: str, what: str) -> None:
    """At most DECIMAL_MAX_DIGITS significant digits before the point and digits after it:
    more than a float or an exchange can tell apart is a typo, never a value."""
    whole, _, rest = raw.lstrip("-").partition(".")
    fraction = re.split("[eE]", rest)[0] if rest else ""
    if len(whole.lstrip("0")) > DECIMAL_MAX_DIGITS or len(fraction) > DECIMAL_MAX_DIGITS:
        raise InvalidValue(
            f"expected {what} with at most {DECIMAL_MAX_DIGITS} digits on each side of the "
            f"point, got {_short(raw)}"
        )


def decimal_text(raw: str, rule: NumberRule = UNSIGNED) -> str:
    """A decimal number, returned as the exact text typed (Bybit's prices and quantities).

    >>> decimal_text("0.010")
    '0.010'
    >>> decimal_text("-10", SIGNED)
    '-10'
    >>> decimal_text("٣")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bybitctl.parsing.InvalidValue: ... got '٣': only ASCII digits 0-9 are allowed
    """
    what = "a decimal number"
    _shape(raw, rule, _PLAIN, what)
    _check_digits(raw, what)
    if rule.minimum is not None or rule.maximum is not None or rule.positive:
        from decimal import Decimal  # only for a bounded decimal: start-up stays light

        _check_range(Decimal(raw), raw, rule, what)
    return raw


def integer(raw: str, rule: NumberRule = UNSIGNED) -> int:
    """A whole number within 64 bits and the rule's range.

    >>> integer("42")
    42
    >>> integer("1_000")
    Traceback (most recent call last):
    ...
    bybitctl.parsing.InvalidValue: expected an integer, got '1_000': '_' separators are not allowed
    """
    what = "an integer"
    _shape(raw, rule, _INTEGER, what)
    if len(raw.lstrip("-").lstrip("0")) > 19 or abs(int(raw)) > INT64_MAX:
        raise InvalidValue(f"expected {what} within 64 bits, got {_short(raw)}")
    value = int(raw)
    _check_range(value, raw, rule, what)
    return value


def number(raw: str, rule: NumberRule = UNSIGNED) -> int | float:
    """A finite number: an int when written without a fraction, else a float.

    >>> number("2.5")
    2.5
    >>> number("nan")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bybitctl.parsing.InvalidValue: ... got 'nan': NaN and Infinity are not numbers here
    """
    what = "a number"
    _shape(raw, rule, _PLAIN, what)
    _check_digits(raw, what)
    if _INTEGER.fullmatch(raw):
        value: int | float = int(raw)
        _check_range(value, raw, rule, what)
        return value
    value = float(raw)
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidValue(f"expected a finite number, got {_short(raw)}")
    from decimal import Decimal  # the range as typed: 5000.000000000000000001 is not 5000

    _check_range(Decimal(raw), raw, rule, what)
    return value


def finite(value: Any, rule: NumberRule = UNSIGNED, *, integral: bool = False) -> int | float:
    """A number that arrived already typed (TOML, JSON): finite, in range, not a bool.

    >>> finite(1.5)
    1.5
    >>> finite(float("inf"))
    Traceback (most recent call last):
    ...
    bybitctl.parsing.InvalidValue: expected a finite number, got inf
    """
    if isinstance(value, str):
        return integer(value, rule) if integral else number(value, rule)
    what = "an integer" if integral else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidValue(f"expected {what}, got {value!r}")
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        raise InvalidValue(f"expected a finite number, got {value!r}")
    if integral and not float(value).is_integer():
        raise InvalidValue(f"expected {what}, got {value!r}")
    if abs(value) > INT64_MAX:
        raise InvalidValue(f"expected {what} within 64 bits, got {_short(repr(value))}")
    _check_range(value, repr(value), rule, what)
    return int(value) if integral else value


def timestamp(raw: str, *, now: float, unit: str = "ms") -> int:
    """A point in time as an epoch number in `unit` ("ms" or "s"); `now` is the current
    epoch time in seconds (injected, so relative times are testable).

    Digits are taken as already in `unit`. A date or a date and time without an offset is
    UTC; a relative time counts back from `now`.

    >>> timestamp("1700000000000", now=0)
    1700000000000
    >>> timestamp("2024-05-01", now=0)
    1714521600000
    >>> timestamp("2024-05-01T12:00+02:00", now=0, unit="s")
    1714557600
    >>> timestamp("2024-05-01 12:00:00.123Z", now=0)
    1714564800123
    >>> timestamp("-1h", now=1714521600.5)
    1714518000500
    >>> timestamp("yesterday", now=0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bybitctl.parsing.InvalidValue: expected a time: milliseconds since the epoch, ...
    """
    scale = TIME_UNITS[unit]
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        return integer(raw)
    what = TIME_HELP if unit == "ms" else TIME_HELP.replace("milliseconds", "seconds", 1)
    if not isinstance(raw, str) or not raw:
        raise InvalidValue(f"expected a time: {what}, got {raw!r}")
    if raw == "now":
        return int(now * scale)
    relative = _RELATIVE.fullmatch(raw)
    if relative:
        seconds = int(relative.group(1)) * _UNIT_SECONDS[relative.group(2)]
        return max(0, round((now - seconds) * scale))
    if _ISO_TIME.fullmatch(raw):
        from datetime import UTC, datetime

        try:
            moment = datetime.fromisoformat(raw)
        except ValueError as exc:
            raise InvalidValue(f"expected a time: {exc}, got {raw!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        since = moment - datetime(1970, 1, 1, tzinfo=UTC)  # exact: no float rounding
        if since.days < 0:
            raise InvalidValue(f"expected a time after 1970-01-01, got {raw!r}")
        return (since.days * 86400 + since.seconds) * scale + since.microseconds * scale // 10**6
    raise InvalidValue(f"expected a time: {what}, got {_short(raw)}")


def boolean(raw: str) -> bool:
    """true/false (also 1/0, yes/no, on/off), any case, no blanks.

    >>> boolean("True")
    True
    """
    if isinstance(raw, bool):
        return raw
    word = raw.lower() if isinstance(raw, str) else None
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise InvalidValue(f"expected true or false, got {raw!r}")


def text(raw: str, *, required: bool = False) -> str:
    """A string sent as typed: no control characters, and not empty where it is required.

    >>> text("BTCUSDT")
    'BTCUSDT'
    """
    if not isinstance(raw, str):
        raise InvalidValue(f"expected a string, got {raw!r}")
    if required and not raw:
        raise InvalidValue("expected a value, got an empty one")
    if _CONTROL.search(raw):
        raise InvalidValue(f"control characters are not allowed, got {_short(raw)}")
    _check_unicode(raw)
    return raw


_SYMBOL = re.compile(r"[A-Z0-9]+(?:[-_/][A-Z0-9]+)*")
SYMBOL_HELP = (
    "upper-case ASCII letters and digits, with '-', '_' or '/' between them (BTCUSDT, "
    "BTC-27DEC24-60000-C, BTCUSDT_BTC/USDT)"
)
"""What a symbol takes, in words, for help and errors: `-` joins the parts of an option's or
a dated future's name, `_` and `/` those of a spread combination."""


def symbol(raw: str) -> str:
    """An instrument's name as Bybit spells it (`SYMBOL_HELP`); anything else names no
    instrument, so it is refused before a request or subscription goes out.

    >>> symbol("BTC-27DEC24-60000-C")
    'BTC-27DEC24-60000-C'
    >>> symbol("btcusdt")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bybitctl.parsing.InvalidValue: expected a symbol: upper-case ASCII ..., got 'btcusdt'
    """
    if not isinstance(raw, str) or not raw:
        raise InvalidValue("expected a symbol, got an empty value")
    if not _SYMBOL.fullmatch(raw):
        raise InvalidValue(f"expected a symbol: {SYMBOL_HELP}, got {_short(raw)}")
    return raw


def _check_unicode(raw: str) -> None:
    """Refuse lone surrogates: undecodable bytes in argv, or a JSON `\\ud800` escape."""
    if _SURROGATE.search(raw):
        raise InvalidValue(
            f"not valid Unicode (undecodable bytes or a lone surrogate), got {_short(raw)}"
        )


def token(raw: str) -> str:
    """An API key or secret: printable ASCII without blanks, as Bybit issues them (they go
    into HTTP headers, which carry nothing else). The message never quotes the value.

    >>> token("XyZ123")
    'XyZ123'
    """
    if not isinstance(raw, str) or not raw:
        raise InvalidValue("expected printable ASCII without blanks, got an empty value")
    if not (raw.isascii() and raw.isprintable()) or any(c.isspace() for c in raw):
        raise InvalidValue("expected printable ASCII without blanks")
    return raw


def json_value(raw: str) -> Any:
    """Standard JSON, at most `MAX_JSON_DEPTH` deep, whose numbers reach the wire unchanged.

    pybit re-serialises the value with `json.dumps`, so a number is accepted only when that
    gives back the same number: integers within 64 bits, and fractions that are exact as a
    float (`0.1`, not `1.00000000000000000001`); no exponents. Bybit takes numbers as strings
    anyway, and a quoted value always goes through as typed.

    >>> json_value('[{"symbol": "BTCUSDT", "qty": "0.01"}]')
    [{'symbol': 'BTCUSDT', 'qty': '0.01'}]
    >>> json_value('{"qty": NaN}')
    Traceback (most recent call last):
    ...
    bybitctl.parsing.InvalidValue: not standard JSON: NaN is not a JSON number
    """
    import json

    if not isinstance(raw, str):
        raise InvalidValue(f"expected JSON, got {raw!r}")
    _check_unicode(raw)
    depth = _json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise InvalidValue(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(
            raw,
            parse_constant=_no_constant,
            parse_int=_json_int,
            parse_float=_json_float,
            object_pairs_hook=_unique_keys,
        )
    except InvalidValue:
        raise
    except ValueError as exc:
        raise InvalidValue(f"not valid JSON: {exc}") from None
    _check_json_strings(value)
    return value


def _check_json_strings(value: Any) -> None:
    """Every key and string of a parsed JSON value is Unicode (no `\\ud800` escapes)."""
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            _check_unicode(item)
        elif isinstance(item, dict):
            todo.extend(item)
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)


def _json_depth(raw: str) -> int:
    """The deepest bracket nesting outside strings, found without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in raw:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are all different: of `{"a": 1, "a": 2}` bybitctl never picks one.

    >>> json_value('{"a": 1, "a": 2}')
    Traceback (most recent call last):
    ...
    bybitctl.parsing.InvalidValue: JSON object has the key 'a' twice: give it once
    """
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise InvalidValue(f"JSON object has the key {_short(key)} twice: give it once")
        seen.add(key)
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise InvalidValue(f"not standard JSON: {name} is not a JSON number")


def _json_int(raw: str) -> int:
    try:
        return integer(raw, SIGNED)
    except InvalidValue as exc:
        raise InvalidValue(f"JSON number {_short(raw)}: {exc}") from None


def _json_float(raw: str) -> float:
    if not _PLAIN.fullmatch(raw):
        raise InvalidValue(f"JSON number {_short(raw)}: write it without an exponent, or quote it")
    value = float(raw)
    from decimal import Decimal

    if Decimal(repr(value)) != Decimal(raw):
        raise InvalidValue(
            f"JSON number {_short(raw)} cannot be sent exactly; quote it as a string"
        )
    return value


def _short(raw: str, limit: int = 40) -> str:
    """`raw` quoted, cut to `limit` characters so a 10,000-digit value stays one line."""
    return repr(raw) if len(raw) <= limit else repr(raw[:limit]) + f"... ({len(raw)} characters)"
