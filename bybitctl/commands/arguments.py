"""Catalogue parameter types -> one argument class each, all through `bybitctl.parsing`.

An argument class names the option, converts the string the user typed with the one grammar
(`bybitctl.parsing`, the parameter's sign and range from the catalogue) and writes the value
into the request under the API name. A conversion error is a `UsageError` that names the
option and the rule, so nothing is sent and the exit code is 2.

In a GET query string every value is text, so numbers and JSON go there exactly as typed;
in a POST body integers, numbers and booleans are JSON values and decimals stay strings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, ClassVar

from bybitctl import parsing
from bybitctl.catalog import Param
from bybitctl.errors import UsageError
from bybitctl.naming import kebab
from bybitctl.parsing import InvalidValue, NumberRule
from bybitctl.pybit_compat import PAYLOAD_INT_CASTS, PAYLOAD_STR_CASTS


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


def number_rule(param: Param) -> NumberRule:
    """The grammar's rule for a numeric parameter: its sign and range from the catalogue."""
    low, high = param.range or (None, None)
    return NumberRule(signed=param.signed, minimum=low, maximum=high, positive=param.positive)


def number_note(param: Param) -> str:
    """What the catalogue says about a number's sign and range, for help and docs.

    >>> from bybitctl.catalog import find
    >>> number_note({p.name: p for p in find("trade", "set-dcp").params}["timeWindow"])
    'from 3 to 300'
    """
    notes = ["may be negative"] if param.signed else ["above 0"] if param.positive else []
    if param.range:
        notes.append(f"from {param.range[0]} to {param.range[1]}")
    return ", ".join(notes)


class Argument:
    """A string parameter: the value is sent exactly as typed (no control characters; not
    empty when the parameter is required)."""

    metavar: ClassVar[str] = "TEXT"

    def __init__(self, param: Param, *, query_string: bool = False) -> None:
        self.param = param
        self.query_string = query_string
        self.names = option_names(param.name)
        self.rule = number_rule(param)

    def parse(self, raw: str) -> Any:
        """The value to send, or `InvalidValue` naming the rule `raw` broke."""
        return parsing.text(raw, required=self.param.required)

    def convert(self, raw: str, label: str | None = None) -> Any:
        """Parse `raw` and check it against the allowed values.

        Errors name the option, or `label` where the value came as `key=value`.
        """
        label = label or self.names[0]
        try:
            value = self.parse(raw)
        except InvalidValue as exc:
            raise UsageError(f"invalid value for {label}: {exc}") from None
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


class SymbolArgument(Argument):
    """An instrument's name (`parsing.symbol`): upper case, as Bybit spells it."""

    metavar = "SYMBOL"

    def parse(self, raw: str) -> Any:
        return parsing.symbol(raw)


class IntegerArgument(Argument):
    """A JSON integer: sent as its value."""

    metavar = "INTEGER"

    def parse(self, raw: str) -> Any:
        return parsing.integer(raw, self.rule)


class NumberArgument(Argument):
    """A JSON number: as typed in a query string; in a body only as JSON will spell it, so
    the number on the wire is the text typed (`1.5`, not `1.50`)."""

    metavar = "NUMBER"

    def parse(self, raw: str) -> Any:
        if self.query_string:
            return parsing.decimal_text(raw, self.rule)
        value = parsing.number(raw, self.rule)
        # pybit sends a whole float as an int (`_clean_query`), json.dumps the rest.
        sent = json.dumps(int(value) if float(value).is_integer() else value)
        if sent != raw:
            raise InvalidValue(f"a JSON body carries {raw!r} as {sent}: write {sent}")
        return value


class DecimalArgument(Argument):
    """A decimal number sent as the exact string typed (Bybit's qty, price, ...)."""

    metavar = "DECIMAL"

    def parse(self, raw: str) -> Any:
        return parsing.decimal_text(raw, self.rule)


class BooleanArgument(Argument):
    """A JSON boolean; in a GET query string Bybit expects the lower-case word."""

    metavar = "BOOLEAN"

    def parse(self, raw: str) -> Any:
        value = parsing.boolean(raw)
        if self.query_string:
            return "true" if value else "false"
        return value


class TimeArgument(Argument):
    """An epoch time (the catalogue's `time` unit): digits sent as typed, or an ISO 8601
    date or time, or a time relative to now (`-1h`), converted to the epoch number. The
    value goes as the parameter's type takes it: a number, or its digits as text."""

    metavar = "TIME"

    def parse(self, raw: str) -> Any:
        import time

        value = parsing.timestamp(raw, now=time.time(), unit=self.param.time or "ms")
        if self.query_string or self.param.type == "string":
            return raw if raw.isascii() and raw.isdigit() else str(value)
        return value


class JSONArgument(Argument):
    """A JSON array or object, e.g. a batch `request`; in a query string, the text typed.

    Either container is accepted for both catalogue types: Bybit's own examples send an
    object where the parameter table says array (e.g. `collateralList`).
    """

    metavar = "JSON"

    def parse(self, raw: str) -> Any:
        try:
            value = parsing.json_value(raw)
        except InvalidValue as exc:
            raise InvalidValue(f"expected a JSON array or object: {exc}") from None
        if not isinstance(value, list | dict):
            raise InvalidValue(f"expected a JSON array or object, got {raw!r}")
        return raw if self.query_string else value

    def convert(self, raw: str, label: str | None = None) -> Any:
        """The value, and for a batch (the catalogue's `items`) each item's fields checked
        with the single request's rules: `--request[1].qty` is refused as `--qty` would be."""
        value = super().convert(raw, label)
        if self.param.items and isinstance(value, list):
            check_items(value, self.param.items, label or self.names[0])
        return value


def check_items(items: list[Any], path: str, label: str) -> None:
    """Every field of every item that the route `path` types, by its argument class; an
    item's other fields and non-object items are left to the exchange, which answers each."""
    from bybitctl.catalog import by_route

    row = by_route("POST", path)
    if row is None:
        return
    known = arguments_by_name(row.params, http_method="POST")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        for key, value in item.items():
            argument = known.get(key)
            if argument is None or value is None or isinstance(value, list | dict):
                continue
            text = value if isinstance(value, str) else json.dumps(value)
            argument.convert(text, f"{label}[{index}].{key}")


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
    if param.time:
        cls: type[Argument] = TimeArgument
    elif param.name == "symbol" and param.type == "string":
        cls = SymbolArgument
    else:
        cls = ARGUMENT_TYPES.get(param.type, Argument)
    return cls(param, query_string=http_method == "GET")


def loose_value(raw: str, key: str = "", *, http_method: str = "POST") -> Any:
    """A `key=value` value the catalogue does not type.

    A value starting with `[` or `{` is JSON and must parse strictly (sent as JSON in a
    body, as typed in a query string); anything else is text. In a POST body, a key pybit
    casts is parsed as pybit will send it.

    >>> loose_value('[{"a": 1}]')
    [{'a': 1}]
    >>> loose_value("10")
    '10'
    """
    if http_method == "POST" and key in PAYLOAD_INT_CASTS:
        return parsing.integer(raw)
    if raw[:1] in ("[", "{") and not (http_method == "POST" and key in PAYLOAD_STR_CASTS):
        value = parsing.json_value(raw)  # may span lines, as JSON files do
        return raw if http_method == "GET" else value
    return parsing.text(raw)


def add_pairs(
    request: dict[str, Any],
    pairs: Iterable[str],
    known: dict[str, Argument],
    *,
    what: str,
    http_method: str,
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
        try:
            parsing.text(key)
        except InvalidValue as exc:
            raise UsageError(f"{what}: bad parameter name: {exc}") from None
        if key in known:
            request[key] = known[key].convert(raw, f"{what} {key}")
            continue
        try:
            request[key] = loose_value(raw, key, http_method=http_method)
        except InvalidValue as exc:
            raise UsageError(f"invalid value for {what} {key}: {exc}") from None


def arguments_by_name(params: Iterable[Param], *, http_method: str) -> dict[str, Argument]:
    """One argument per catalogue parameter, keyed by API name."""
    return {p.name: argument_for(p, http_method=http_method) for p in params}


def _enum_key(value: Any) -> str:
    """Compare allowed values by their JSON spelling (`true`, `1`, `Buy`)."""
    return value if isinstance(value, str) else json.dumps(value)
