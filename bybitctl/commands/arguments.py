"""Catalogue parameter types -> one argument class each (STYLE §1).

An argument class names the option, converts the string the user typed and writes the value
into the request under the API name. A conversion error is a `UsageError` that names the
option, so nothing is sent and the exit code is 2.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any, ClassVar

from bybitctl.catalog import Param
from bybitctl.errors import UsageError
from bybitctl.naming import kebab

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def option_names(api_name: str) -> list[str]:
    """`--order-type` plus the API's own spelling `--orderType` when it differs.

    >>> option_names("orderType")
    ['--order-type', '--orderType']
    >>> option_names("symbol")
    ['--symbol']
    """
    names = [f"--{kebab(api_name)}"]
    if f"--{api_name}" != names[0]:
        names.append(f"--{api_name}")
    return names


class Argument:
    """A string parameter: the value is sent exactly as typed."""

    metavar: ClassVar[str] = "TEXT"
    expected: ClassVar[str] = "a string"

    def __init__(self, param: Param, *, query_string: bool = False) -> None:
        self.param = param
        self.query_string = query_string
        self.names = option_names(param.name)

    def parse(self, raw: str) -> Any:
        """The typed value, or `ValueError` when `raw` is not one."""
        return raw

    def convert(self, raw: str, label: str | None = None) -> Any:
        """Parse `raw` and check it against the allowed values.

        Errors name the option, or `label` where the value came as `key=value`.
        """
        label = label or self.names[0]
        try:
            value = self.parse(raw)
        except ValueError:
            raise UsageError(
                f"invalid value for {label}: expected {self.expected}, got {raw!r}"
            ) from None
        allowed = self.param.enum
        if allowed and _enum_key(value) not in {_enum_key(a) for a in allowed}:
            raise UsageError(
                f"invalid value for {label}: {raw!r} is not one of "
                + ", ".join(str(a) for a in allowed)
            )
        return value

    def add_to(self, request: dict[str, Any], raw: str) -> None:
        """Write the converted value into `request` under the API name."""
        request[self.param.name] = self.convert(raw)


class IntegerArgument(Argument):
    """A JSON integer."""

    metavar = "INTEGER"
    expected = "an integer"

    def parse(self, raw: str) -> Any:
        return int(raw, 10)


class NumberArgument(Argument):
    """A JSON number; integral values stay integers."""

    metavar = "NUMBER"
    expected = "a number"

    def parse(self, raw: str) -> Any:
        try:
            return int(raw, 10)
        except ValueError:
            value = float(raw)
        if not math.isfinite(value):
            raise ValueError(raw)
        return value


class DecimalArgument(Argument):
    """A decimal number sent as the exact string typed (Bybit's qty, price, ...)."""

    metavar = "DECIMAL"
    expected = "a decimal number"

    def parse(self, raw: str) -> Any:
        from decimal import Decimal, InvalidOperation  # only when a decimal is given: start-up

        try:
            if Decimal(raw).is_finite() and raw.strip() == raw:
                return raw
        except InvalidOperation:
            pass
        raise ValueError(raw)


class BooleanArgument(Argument):
    """A JSON boolean; in a GET query string Bybit expects the lower-case word."""

    metavar = "BOOLEAN"
    expected = "true or false"

    def parse(self, raw: str) -> Any:
        word = raw.strip().lower()
        if word not in _TRUE | _FALSE:
            raise ValueError(raw)
        value = word in _TRUE
        if self.query_string:
            return "true" if value else "false"
        return value


class JSONArgument(Argument):
    """A JSON array or object, e.g. a batch `request`.

    Either container is accepted for both catalogue types: Bybit's own examples send an
    object where the parameter table says array (e.g. `collateralList`).
    """

    metavar = "JSON"
    expected = "a JSON array or object"

    def parse(self, raw: str) -> Any:
        value = json.loads(raw)
        if not isinstance(value, list | dict):
            raise ValueError(raw)
        return value


ARGUMENT_TYPES: dict[str, type[Argument]] = {
    "string": Argument,
    "integer": IntegerArgument,
    "number": NumberArgument,
    "decimal": DecimalArgument,
    "boolean": BooleanArgument,
    "array": JSONArgument,
    "object": JSONArgument,
}


def argument_for(param: Param, *, http_method: str) -> Argument:
    """The argument class for a catalogue parameter (unknown types are kept as strings)."""
    cls = ARGUMENT_TYPES.get(param.type, Argument)
    return cls(param, query_string=http_method == "GET")


def loose_value(raw: str) -> Any:
    """A `key=value` value with no catalogue type: JSON arrays/objects as such, else the string.

    >>> loose_value('[{"a": 1}]')
    [{'a': 1}]
    >>> loose_value("10")
    '10'
    """
    if raw[:1] in ("[", "{"):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def add_pairs(
    request: dict[str, Any], pairs: Iterable[str], known: dict[str, Argument], *, what: str
) -> None:
    """Add `key=value` pairs: typed when the catalogue knows the key, loosely otherwise.

    A key given twice is refused, so nothing is silently overwritten.
    """
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} expects key=value, got {pair!r}")
        if key in request:
            raise UsageError(f"{what} {key}: parameter given twice")
        request[key] = (
            known[key].convert(raw, f"{what} {key}") if key in known else loose_value(raw)
        )


def arguments_by_name(params: Iterable[Param], *, http_method: str) -> dict[str, Argument]:
    """One argument per catalogue parameter, keyed by API name."""
    return {p.name: argument_for(p, http_method=http_method) for p in params}


def _enum_key(value: Any) -> str:
    """Compare allowed values by their JSON spelling (`true`, `1`, `Buy`)."""
    return value if isinstance(value, str) else json.dumps(value)
