"""The one grammar (`bybitctl.parsing`) against an independent statement of its rules.

Each property draws arbitrary text from an alphabet rich in what goes wrong on a command
line (Unicode digits, blanks, signs, exponents, separators, control characters) and checks
that a value is accepted exactly when the rule written out in `grammar_spec` says so, and
then means what was typed.
"""

from __future__ import annotations

import json
import re
import unicodedata
from decimal import Decimal

import pytest
from grammar_spec import (
    input_class,
    plain_decimals,
    plain_integers,
    spec_boolean,
    spec_decimal,
    spec_integer,
    spec_text,
    tricky_text,
)
from hypothesis import event, given, settings
from hypothesis import strategies as st
from support.examples import examples

from bybitctl import parsing
from bybitctl.parsing import SIGNED, UNSIGNED, InvalidValue, NumberRule

# Every Unicode decimal digit that is not ASCII: Python's int() and float() read them all.
UNICODE_DIGITS = [chr(c) for c in range(0x80, 0x30000) if unicodedata.category(chr(c)) == "Nd"]
FUZZ = settings(max_examples=examples(300), deadline=None)


RULES = [UNSIGNED, SIGNED, NumberRule(minimum=3, maximum=300), parsing.POSITIVE]


@FUZZ
@given(st.one_of(tricky_text, plain_decimals), st.sampled_from(RULES))
def test_decimal_accepts_exactly_the_plain_shape_and_keeps_the_text(raw: str, rule):
    event(input_class(raw))
    try:
        got = parsing.decimal_text(raw, rule)
    except InvalidValue as exc:
        assert not spec_decimal(raw, rule), raw
        assert str(exc).startswith("expected a decimal number")
    else:
        assert spec_decimal(raw, rule), raw
        assert got == raw


@FUZZ
@given(st.one_of(tricky_text, plain_integers), st.sampled_from(RULES))
def test_integer_accepts_exactly_ascii_digits_in_range(raw: str, rule):
    event(input_class(raw))
    try:
        got = parsing.integer(raw, rule)
    except InvalidValue:
        assert not spec_integer(raw, rule), raw
    else:
        assert spec_integer(raw, rule), raw
        assert got == int(raw) and type(got) is int


@FUZZ
@given(st.one_of(tricky_text, plain_decimals))
def test_number_is_finite_and_plain(raw: str):
    try:
        got = parsing.number(raw, SIGNED)
    except InvalidValue:
        ok = re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", raw, flags=re.ASCII) is not None
        whole, _, fraction = raw.lstrip("-").partition(".")
        assert not ok or len(whole.lstrip("0")) > 18 or len(fraction) > 18, raw
    else:
        assert Decimal(raw) == Decimal(repr(got)) or float(raw) == got


@pytest.mark.parametrize(
    "raw", ["5000.000000000000000001", "5000.0000000000000000001", "0.0000000000000000001"]
)
def test_a_number_is_ranged_as_typed_not_as_its_float(raw: str) -> None:
    """float("5000.000000000000000001") is 5000.0: the bound is checked on the exact text."""
    with pytest.raises(InvalidValue):
        parsing.number(raw, NumberRule(positive=True, maximum=5000))


def test_no_unicode_digit_is_a_number():
    """Python's int('٣') is 3: every non-ASCII decimal digit is refused by every rule."""
    assert len(UNICODE_DIGITS) > 600
    for digit in UNICODE_DIGITS:
        for convert in (parsing.integer, parsing.decimal_text, parsing.number):
            with pytest.raises(InvalidValue, match="only ASCII digits"):
                convert(f"1{digit}")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("1_000", "'_' separators"),
        (" 1", "blanks"),
        ("1\t", "blanks"),
        ("1e3", "without an exponent"),
        ("nan", "NaN and Infinity"),
        ("-Infinity", "NaN and Infinity"),
        ("+1", "no '+' sign"),
        ("", "empty value"),
        ("1.", "digits with an optional '.' fraction"),
        (".5", "digits with an optional '.' fraction"),
    ],
)
def test_each_refusal_names_its_rule(raw: str, reason: str):
    with pytest.raises(InvalidValue, match=re.escape(reason)):
        parsing.decimal_text(raw)


def test_sign_and_range_messages():
    with pytest.raises(InvalidValue, match=r"a decimal number >= 0 \(no sign\), got '-1'"):
        parsing.decimal_text("-1")
    assert parsing.decimal_text("-10", SIGNED) == "-10"
    with pytest.raises(InvalidValue, match=r"an integer in \[3, 300\], got '301'"):
        parsing.integer("301", NumberRule(minimum=3, maximum=300))
    with pytest.raises(InvalidValue, match="within 64 bits"):
        parsing.integer("9" * 19)
    with pytest.raises(InvalidValue, match="at most 18 digits"):
        parsing.decimal_text("1" * 19)


@FUZZ
@given(st.one_of(tricky_text, st.text(max_size=12)), st.booleans())
def test_text_refuses_control_characters_only(raw: str, required: bool):
    try:
        assert parsing.text(raw, required=required) == raw
    except InvalidValue:
        assert not spec_text(raw, required=required)
    else:
        assert spec_text(raw, required=required)


def test_text_refuses_undecodable_bytes_and_empty_required_values():
    undecodable = b"BTC\xff".decode("utf-8", "surrogateescape")  # how argv carries them
    with pytest.raises(InvalidValue, match="not valid Unicode"):
        parsing.text(undecodable)
    with pytest.raises(InvalidValue, match="empty"):
        parsing.text("", required=True)
    assert parsing.text("") == ""


json_leaves = st.none() | st.booleans() | st.integers(-(2**63) + 1, 2**63 - 1) | st.text(max_size=5)
json_values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


@FUZZ
@given(json_values)
def test_standard_json_round_trips(value):
    assert parsing.json_value(json.dumps(value)) == value


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ('{"qty": NaN}', "NaN is not a JSON number"),
        ("[Infinity]", "Infinity is not a JSON number"),
        ("[1e5]", "without an exponent"),
        ("[1.00000000000000000001]", "cannot be sent exactly"),
        ("[" * 33 + "]" * 33, "nested deeper than 32"),
        ("[" * 100_000, "nested deeper than 32"),
        ('["\\ud800"]', "not valid Unicode"),
        ("[1,]", "not valid JSON"),
        ("", "not valid JSON"),
        ("[99999999999999999999]", "within 64 bits"),
    ],
)
def test_json_refusals(raw: str, reason: str):
    with pytest.raises(InvalidValue, match=re.escape(reason)):
        parsing.json_value(raw)


@FUZZ
@given(st.one_of(tricky_text, st.sampled_from(["true", "YES", "On", "0", "no", "oFF"])))
def test_booleans(raw: str):
    try:
        assert parsing.boolean(raw) is spec_boolean(raw)
    except InvalidValue as exc:
        assert spec_boolean(raw) is None
        assert "expected true or false" in str(exc)
