"""The grammar of values users type, written out independently of `bybitctl.parsing`.

The property tests compare the implementation with these rules, and draw their inputs from
`tricky_text`: what goes wrong on a command line (Unicode digits, blanks, signs, exponents,
separators, NaN, control characters, huge numbers).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from bybitctl.parsing import NumberRule

TRICKY = [
    *"0123456789",
    *"-+._eE,",
    *" \t\n\r\x0b\x0c\xa0\u2007\u202f\u3000",
    "\x00",
    "\x1f",
    "\x7f",
    "nan",
    "NaN",
    "inf",
    "Infinity",
    "٣",  # ARABIC-INDIC DIGIT THREE: Python's int() reads it as 3
    "۳",
    "３",
    "𝟑",
    "²",
    "x",
    "99999999999999999999",
    "\udcff",  # a byte the terminal could not decode, as argv carries it
]
plain_decimals = st.from_regex(r"-?[0-9]{1,20}(\.[0-9]{1,20})?", fullmatch=True)
plain_integers = st.from_regex(r"-?[0-9]{1,21}", fullmatch=True)


def _insert(parts: tuple[str, str, int]) -> str:
    number, junk, where = parts
    at = where % (len(number) + 1)
    return number[:at] + junk + number[at:]


near_numbers = st.tuples(plain_decimals, st.sampled_from(TRICKY), st.integers(0, 40)).map(_insert)
"""A plain number with one thing wrong put somewhere in it: the near misses that matter."""
exponents = st.tuples(plain_decimals, st.sampled_from(["e5", "E-3", "e+2", "e0"])).map("".join)
tricky_text = (
    near_numbers
    | exponents
    | st.lists(st.sampled_from(TRICKY), max_size=6).map("".join)
    | st.text(max_size=12)
)
BOOLEAN_WORDS = {"true": True, "1": True, "yes": True, "on": True}
BOOLEAN_WORDS |= {"false": False, "0": False, "no": False, "off": False}


def input_class(raw: str) -> str:
    """The first kind of trouble `raw` shows, for hypothesis' statistics (`event`)."""
    checks = [
        ("empty", not raw),
        ("undecodable bytes", re.search("[\ud800-\udfff]", raw) is not None),
        ("control character", re.search("[\x00-\x1f\x7f]", raw) is not None),
        ("blank", any(c.isspace() for c in raw)),
        ("Unicode digit", any(c.isdigit() and not c.isascii() for c in raw)),
        ("NaN or Infinity", re.search("nan|inf", raw, re.IGNORECASE) is not None),
        ("separator _ or ,", "_" in raw or "," in raw),
        ("exponent", re.fullmatch(r"-?[0-9.]+[eE][-+]?[0-9]+", raw) is not None),
        ("sign", raw[:1] in "+-"),
        ("huge number", re.fullmatch(r"-?[0-9]{19,}(\.[0-9]*)?", raw) is not None),
        ("plain number", re.fullmatch(r"[0-9]+(\.[0-9]+)?", raw) is not None),
        ("JSON", raw[:1] in "[{"),
    ]
    return next((name for name, hit in checks if hit), "other text")


def _in_range(value: Any, rule: NumberRule) -> bool:
    low, high = rule.minimum, rule.maximum
    return (
        (low is None or value >= low)
        and (high is None or value <= high)
        and not (rule.positive and value <= 0)
    )


def spec_decimal(raw: str, rule: NumberRule) -> bool:
    """ASCII digits with an optional fraction, a sign only if allowed, at most 18 digits on
    each side of the point, in range."""
    m = re.fullmatch(r"(-?)([0-9]+)(?:\.([0-9]+))?", raw, flags=re.ASCII)
    if m is None or (m[1] and not rule.signed):
        return False
    if len(m[2].lstrip("0")) > 18 or len(m[3] or "") > 18:
        return False
    return _in_range(Decimal(raw), rule)


def spec_integer(raw: str, rule: NumberRule) -> bool:
    """ASCII digits, a sign only if allowed, within 64 bits and the range."""
    m = re.fullmatch(r"(-?)[0-9]+", raw, flags=re.ASCII)
    if m is None or (m[1] and not rule.signed):
        return False
    return abs(int(raw)) < 2**63 and _in_range(int(raw), rule)


def spec_text(raw: str, *, required: bool) -> bool:
    """No control characters, no undecodable bytes, not empty where required."""
    if required and not raw:
        return False
    return re.search("[\x00-\x1f\x7f\ud800-\udfff]", raw) is None


def spec_symbol(raw: str) -> bool:
    """Upper-case ASCII letters and digits in runs joined by one '-', '_' or '/'."""
    return re.fullmatch(r"[A-Z0-9]+([-_/][A-Z0-9]+)*", raw, flags=re.ASCII) is not None


def spec_boolean(raw: str) -> bool | None:
    """The boolean a word means, or None when it is not one (any case, no blanks)."""
    return BOOLEAN_WORDS.get(raw.lower())


def spec_json(raw: str) -> tuple[bool, Any]:
    """(accepted, value) for a JSON array or object: standard JSON (no NaN or Infinity),
    at most 32 levels deep, no key twice in one object, integers within 64 bits, fractions
    without an exponent that a float carries exactly, and Unicode strings (no lone
    surrogate escapes)."""

    def number(token: str) -> float:
        if "e" in token.lower() or Decimal(repr(float(token))) != Decimal(token):
            raise ValueError(token)
        return float(token)

    def integer(token: str) -> int:
        if abs(int(token)) >= 2**63:
            raise ValueError(token)
        return int(token)

    def refuse(name: str) -> Any:
        raise ValueError(name)

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({key for key, _ in pairs}) != len(pairs):
            raise ValueError("a key twice")
        return dict(pairs)

    if re.search("[\ud800-\udfff]", raw):
        return False, None
    try:
        value = json.loads(
            raw,
            parse_constant=refuse,
            parse_float=number,
            parse_int=integer,
            object_pairs_hook=unique,
        )
    except (ValueError, RecursionError):
        return False, None
    if not isinstance(value, list | dict):
        return False, None
    level = [value]
    for _ in range(32):
        level = [
            child
            for item in level
            if isinstance(item, list | dict)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
    if any(isinstance(item, list | dict) for item in level):
        return False, None  # deeper than 32
    return not _has_surrogate(value), value


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return re.search("[\ud800-\udfff]", value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False
