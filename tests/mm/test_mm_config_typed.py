"""Every mm setting, however its value is typed (a flag's text, a TOML value), either holds
exactly what was typed and lies in its declared range, or is refused naming the field: the
one grammar of `bybitctl.parsing` plus the ranges declared with the fields. Many examples per
field here; tests/mm/e2e/test_inputs.py checks the command around it sends nothing."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support.examples import examples

from bybitctl.errors import UsageError
from bybitctl.mm.config import ConfigProblems, accepts, from_mapping, read_config_file

from .typed_values import FIELDS, VALUED, expected, flag_classes, toml_classes

REQUIRED = {"symbol": "BTCUSDT", "order_qty": "0.001", "max_position": "0.01"}
MANY = settings(max_examples=examples(50), deadline=None)


def _base(name: str) -> dict[str, str]:
    base = {k: v for k, v in REQUIRED.items() if k != name}
    if name == "order_notional":
        base.pop("order_qty")
    if name in ("category", "mmp_max_delta"):  # an option needs the MMP's qty limit
        base["mmp_max_qty"] = "1"
    if name == "mmp_max_delta":
        base["category"] = "option"
    return base


def _check(name: str, label: str, values: dict[str, object], typed: object) -> None:
    try:
        config = from_mapping(values)
    except ConfigProblems as refused:
        event(f"{label}: refused")
        assert refused.exit_code == 2
        assert all(":" in problem for problem in refused.problems)
        assert any(p.startswith(f"{name}:") for p in refused.problems), refused.problems
        return
    event(f"{label}: accepted")
    value = getattr(config, name)
    assert value == expected(name, typed), (name, typed, value)
    rule = FIELDS[name].metadata["rule"]
    if rule is not None and value is not None:
        for v in value if isinstance(value, tuple) else (value,):
            # the declared interval, read independently of the code that enforces it
            assert rule.minimum <= v <= rule.maximum and not (rule.positive and v == 0), (name, v)


@pytest.mark.parametrize("name", VALUED)
@MANY
@given(data=st.data())
def test_a_flag_value_is_what_was_typed_or_refused_by_name(name: str, data: st.DataObject) -> None:
    classes = flag_classes(name)
    label = data.draw(st.sampled_from(sorted(classes)), label="class")
    text = data.draw(classes[label], label="text")
    _check(name, f"flag, {label}", {**_base(name), name: text}, text)


@pytest.mark.parametrize("name", list(FIELDS))
@settings(MANY, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_an_mm_toml_value_is_what_was_typed_or_refused_by_name(
    name: str, data: st.DataObject, tmp_path: Path
) -> None:
    classes = toml_classes(name)
    label = data.draw(st.sampled_from(sorted(classes)), label="class")
    document = f"{name} = {data.draw(classes[label], label='value')}\n"
    path = tmp_path / "mm.toml"
    path.write_text(document, encoding="utf-8")
    try:
        typed = tomllib.loads(document, parse_float=Decimal)[name]
    except tomllib.TOMLDecodeError:
        event("toml, not TOML")
        with pytest.raises(UsageError, match="mm config:"):
            read_config_file(path)
        return
    _check(name, f"toml, {label}", {**_base(name), **read_config_file(path)}, typed)


def test_every_number_has_a_finite_range_and_every_field_says_what_it_accepts() -> None:
    for name, f in FIELDS.items():
        rule = f.metadata["rule"]
        if f.type.removesuffix(" | None") in ("Decimal", "float", "int", "tuple[float, ...]"):
            assert rule is not None and rule.minimum is not None and rule.maximum is not None
        if f.type != "bool":
            assert accepts(name), name


def test_several_problems_are_reported_at_once_in_field_order() -> None:
    with pytest.raises(ConfigProblems) as caught:
        from_mapping({**REQUIRED, "rate_limit": "0", "spread_bps": "nan", "levels": "1_0"})
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "spread_bps",
        "levels",
        "rate_limit",
    ]
    shown = caught.value.show().splitlines()
    assert [line.split(":")[0] for line in shown[:3]] == ["error"] * 3
    assert shown[-1] == "see docs/mm.md for every field"
