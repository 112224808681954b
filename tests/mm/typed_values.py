"""What users may type for an `mm` setting, by class (for hypothesis), and what the setting
must then hold: shared by the config's property tests and the command's end-to-end ones."""

from __future__ import annotations

import json
from dataclasses import fields
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from bybitctl import parsing
from bybitctl.mm.config import MMConfig

FIELDS = {f.name: f for f in fields(MMConfig)}
VALUED = [name for name, f in FIELDS.items() if f.type != "bool"]
"""Fields whose flag takes a value (a boolean's flag is `--x/--no-x`)."""


def kind(name: str) -> str:
    return FIELDS[name].type.removesuffix(" | None")


def _rule(name: str) -> parsing.NumberRule | None:
    return FIELDS[name].metadata["rule"]


_NON_ASCII_DIGITS = st.sampled_from("٠١٢٣٤٥٦٧٨٩۰۱۲۳०१२३০১২০１２３９𝟎𝟏𝟐𝟗")
"""Digits Python's own int() and float() accept: Arabic-Indic, Devanagari, Bengali,
fullwidth, mathematical."""
_PLAIN = st.from_regex(r"-?[0-9]{1,22}(\.[0-9]{1,22})?", fullmatch=True)
_EXPONENT = st.from_regex(r"-?[0-9]{1,3}(\.[0-9]{1,3})?[eE][-+]?[0-9]{1,3}", fullmatch=True)
_NON_NUMBERS = ["nan", "NaN", "-nan", "inf", "-inf", "+inf", "Infinity", "-Infinity", "INF"]
_BLANKS = [" ", "\t", "\u00a0", "\n", "\u2003"]


def _ends(name: str) -> st.SearchStrategy[str]:
    """The range's ends and just past them, as plain text."""
    rule = _rule(name)
    if rule is None:
        return st.sampled_from(["0", "1", "-1"])
    low, high = Decimal(str(rule.minimum)), Decimal(str(rule.maximum))
    tiny = Decimal("0.000001")
    picks = [low, high, low - 1, high + 1, low - tiny, high + tiny, low + tiny, high - tiny]
    return st.sampled_from([format(p, "f") for p in picks])


def _within(name: str) -> st.SearchStrategy[str]:
    """Text the field accepts on its own: a number in its range, or one of its choices."""
    rule = _rule(name)
    if rule is None:
        return st.sampled_from(FIELDS[name].metadata["choices"] or ["BTCUSDT", "mm", "MM1"])
    low, high = Decimal(str(rule.minimum)), Decimal(str(rule.maximum))
    places = 0 if kind(name) == "int" else 6
    numbers = st.decimals(low, high, places=places, allow_nan=False, allow_infinity=False)
    return numbers.map(lambda d: format(d, "f"))


def _blanked(text: str, blank: str, before: bool) -> str:
    return blank + text if before else text + blank


def flag_classes(name: str) -> dict[str, st.SearchStrategy[str]]:
    """Classes of text for field `name`'s flag, by label."""
    classes: dict[str, st.SearchStrategy[str]] = {
        "arbitrary text": st.text(max_size=30),
        "plain number": _PLAIN,
        "in range": _within(name),
        "range ends": _ends(name),
        "exponent": _EXPONENT,
        "underscores": st.from_regex(r"[0-9]{1,3}(_[0-9]{3}){1,3}", fullmatch=True),
        "non-ASCII digits": st.text(_NON_ASCII_DIGITS, min_size=1, max_size=4),
        "NaN/Infinity": st.sampled_from(_NON_NUMBERS),
        "blanks": st.builds(_blanked, _within(name), st.sampled_from(_BLANKS), st.booleans()),
        "plus sign": _PLAIN.map(lambda p: "+" + p.lstrip("-")),
        "huge": st.integers(19, 400).map(lambda n: "9" * n),
        "empty": st.just(""),
    }
    if kind(name) == "tuple[float, ...]":
        classes["lists"] = st.lists(_within(name), max_size=3).map(",".join)
    if kind(name) == "str":
        classes["other case"] = _within(name).map(lambda t: t.swapcase())
    return classes


_TOML_LINE = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\n\r"), max_size=30
)


def toml_classes(name: str) -> dict[str, st.SearchStrategy[str]]:
    """Classes of TOML values for field `name` (the text after `name = `), by label."""
    return {
        "arbitrary text": _TOML_LINE,
        "TOML number": st.one_of(
            _PLAIN,
            _within(name),
            _ends(name),
            _EXPONENT,
            st.from_regex(r"[1-9](_[0-9]{3}){1,3}(\.[0-9]{1,3})?", fullmatch=True),
            st.sampled_from(["0x1F", "0o17", "0b101", "+5", "-0.0", "1.0", "2.0"]),
        ),
        "TOML inf/nan": st.sampled_from(["inf", "+inf", "-inf", "nan", "+nan", "-nan"]),
        "quoted text": st.one_of(_PLAIN, _within(name), st.sampled_from(_NON_NUMBERS)).map(
            json.dumps
        ),
        "in range": _within(name).map(lambda t: t if _rule(name) else json.dumps(t)),
        "other TOML types": st.sampled_from(
            ["true", "false", "[]", "[1, 2]", "[1.5, 'x']", "{a = 1}", "1979-05-27", "07:32:00"]
        ),
    }


def expected(name: str, typed: Any) -> Any:
    """What field `name` must hold when `typed` (a flag's text, or the value TOML read with
    floats as Decimals) means itself."""
    of = kind(name)
    if of == "Decimal":
        return typed if isinstance(typed, Decimal) else Decimal(typed)
    if of == "float":
        return float(typed)
    if of == "int":
        return int(Decimal(typed) if isinstance(typed, str | Decimal) else typed)
    if of == "bool":
        return typed if isinstance(typed, bool) else parsing.boolean(typed)
    if of == "tuple[float, ...]":
        items = (typed.split(",") if typed else []) if isinstance(typed, str) else typed
        return tuple(float(x) for x in items)
    return typed
