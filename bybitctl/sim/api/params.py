"""Request binding: every parameter checked against its catalogue type before an exchange
rule reads it, as Bybit's gateway binds a request to typed fields and answers 10001 when a
value does not fit.

The types come from the endpoint catalogue (`bybitctl/catalog`), nothing here names an
endpoint's fields. What a type accepts is the exchange's own rule, written apart from the
client's grammar (`bybitctl.parsing`): an exchange cannot assume its clients are well made.

- In a JSON body a `string` is a JSON string, a `decimal` a string holding a plain decimal
  (Bybit takes prices and quantities as strings; a JSON number is refused), an `integer` a
  JSON integer within 64 bits, a `number` a JSON number, a `boolean` true or false, an
  `array` or `object` either JSON container (Bybit's own examples send one for the other).
  `null` counts as absent.
- In a query string every value is text: an `integer`, `number` or `decimal` must be written
  in ASCII digits (an optional `-`, a `.` fraction where it is not an integer), a `boolean`
  is one of the words Go's `strconv.ParseBool` reads; an empty value counts as absent.

A number the catalogue gives a range (`limit` in [1, 50]) is refused outside it
(`check_ranges`), so the routes' own rules never restate it. Parameters the catalogue does
not list pass through unchecked, as Bybit ignores them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

import orjson

from bybitctl import catalog
from bybitctl.sim.core.errors import ApiError, params_error

INT64_MAX = 2**63 - 1
DECIMAL_DIGITS = 18
"""Digits allowed on each side of a decimal point: every Bybit price, quantity and amount fits
(below 10^18, down to 10^-18); a hundred-digit price is refused, not rounded."""
MAX_SHOWN = 40
"""Longest rendering of a refused value in a message, so an error stays one readable line."""

_INTEGER = re.compile(r"-?[0-9]{1,19}")
_DECIMAL = re.compile(rf"-?(?:[0-9]{{1,{DECIMAL_DIGITS}}}(?:\.[0-9]{{0,{DECIMAL_DIGITS}}})?"
                      rf"|\.[0-9]{{1,{DECIMAL_DIGITS}}})")  # fmt: skip
_BOOL_WORDS = frozenset({"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false",
                         "False"})  # fmt: skip
_CONTAINERS = (list, dict)


@dataclass(frozen=True, slots=True)
class Binding:
    """What one route accepts: each catalogued parameter's type, the required ones, and the
    documented range of a number (`limit` in [1, 50])."""

    types: dict[str, str]
    required: tuple[str, ...]
    ranges: dict[str, tuple[int, int]]


@cache
def bindings() -> dict[tuple[str, str], Binding]:
    """Every catalogue route by (verb, path), built once.

    Where several pybit methods share a route, a parameter is required only if every one of
    them requires it (the exchange cannot tell which method sent the request); the catalogue
    gives one type per name on a route.
    """
    rows: dict[tuple[str, str], list[catalog.Endpoint]] = {}
    for endpoint in catalog.load():
        rows.setdefault((endpoint.http_method, endpoint.path), []).append(endpoint)
    out: dict[tuple[str, str], Binding] = {}
    for key, same in rows.items():
        required = tuple(n for n in same[0].required if all(n in e.required for e in same[1:]))
        types = {p.name: p.type for e in same for p in e.params}
        ranges = {p.name: p.range for e in same for p in e.params if p.range}
        out[key] = Binding(types, required, ranges)
    return out


def binding(http_method: str, path: str) -> Binding:
    """The binding of one catalogue route (KeyError for a route the catalogue lacks)."""
    return bindings()[(http_method, path)]


def shown(value: Any) -> str:
    """A refused value as a message shows it: JSON, cut to `MAX_SHOWN` characters."""
    try:
        text = orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        text = type(value).__name__
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."


def _query_problem(kind: str, value: str) -> str | None:
    """Why a query-string value is not of catalogue type `kind`, or None when it is."""
    if value == "" or kind in ("string", "array", "object"):
        return None
    if kind == "integer":
        if _INTEGER.fullmatch(value) and abs(int(value)) <= INT64_MAX:
            return None
        return "an integer within 64 bits, in ASCII digits"
    if kind in ("decimal", "number"):
        return None if _DECIMAL.fullmatch(value) else _decimal_rule()
    if kind == "boolean":
        return None if value in _BOOL_WORDS else "true or false"
    return None


def _body_problem(kind: str, value: Any) -> str | None:
    """Why a JSON value is not of catalogue type `kind`, or None when it is."""
    if kind == "string":
        return None if isinstance(value, str) else "a string"
    if kind == "decimal":
        if isinstance(value, str) and (value == "" or _DECIMAL.fullmatch(value)):
            return None
        return "a decimal in a string, " + _decimal_rule()
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= INT64_MAX:
            return None
        return "an integer within 64 bits"
    if kind == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return None if abs(value) < 10**DECIMAL_DIGITS else "a number below 10^18"
        return "a number"
    if kind == "boolean":
        return None if isinstance(value, bool) else "true or false"
    if kind in ("array", "object"):
        return None if isinstance(value, _CONTAINERS) else "a JSON array or object"
    return None


def _decimal_rule() -> str:
    return (
        f"plain ASCII digits (at most {DECIMAL_DIGITS} on each side of the point; "
        "no exponent, NaN or Infinity)"
    )


def check(bound: Binding, params: dict[str, Any], *, query: bool) -> None:
    """Refuse the first missing required or wrongly typed parameter with 10001 naming it."""
    for name in bound.required:
        if params.get(name) is None:
            raise params_error(f"missing required parameter '{name}'")
    types = bound.types
    for name, value in params.items():
        kind = types.get(name)
        if kind is None or value is None:
            continue
        problem = _query_problem(kind, value) if query else _body_problem(kind, value)
        if problem is not None:
            raise params_error(f"{name} must be {problem}, got {shown(value)}")


def check_ranges(bound: Binding, params: dict[str, Any]) -> None:
    """Refuse a number outside the range the catalogue documents for it with 10001 naming
    it. The exchange checks this for every route it models (`Exchange.handle`), so no route
    restates a range; a value that is no number is left to `check` and the route."""
    for name, (low, high) in bound.ranges.items():
        value = params.get(name)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            continue
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            continue
        if number.is_finite() and not low <= number <= high:
            raise params_error(f"{name} out of range [{low}, {high}]")


class _Unreadable:
    """A JSON number or constant orjson refuses (NaN, Infinity, 1e99999): kept as its text so
    the parameter holding it can be named."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _float(text: str) -> Any:
    value = float(text)
    return value if value - value == 0 else _Unreadable(text)


def _int(text: str) -> Any:
    return int(text) if len(text.lstrip("-")) <= 19 else _Unreadable(text)


def decode_body(body: bytes) -> Any:
    """A request body's JSON value ({} for none); ApiError 10001 when it is not JSON.

    orjson decodes; when it refuses, Python's decoder looks again only to say which top-level
    parameter holds a number JSON cannot carry, and its value is never used.
    """
    if not body:
        return {}
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        problem = exc
    try:
        again = json.loads(body, parse_constant=_Unreadable, parse_float=_float, parse_int=_int)
    except (ValueError, RecursionError):
        again = None
    if isinstance(again, dict):
        for name, value in again.items():
            bad = next(_unreadable(value), None)
            if bad is not None:
                raise params_error(f"{name} holds {bad.text[:MAX_SHOWN]}, not a JSON number")
    raise ApiError(10001, f"params error: the body is not valid JSON ({_first_line(problem)})")


def _unreadable(value: Any) -> Iterator[_Unreadable]:
    """Every `_Unreadable` inside `value`, found without recursion (the nesting is the
    client's choice)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Unreadable):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:120]
