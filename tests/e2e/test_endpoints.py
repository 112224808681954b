"""Generated endpoint commands against the local exchange: the exact request it received."""

from __future__ import annotations

import json
import shlex
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from bybitctl.catalog import Endpoint, groups
from bybitctl.commands.endpoints import example_command

from .conftest import limit_buy

JSON_TYPES = {
    "integer": int,
    "boolean": bool,
    "string": str,
    "array": list | dict,
    "object": list | dict,
}


def first_runnable(rows: tuple[Endpoint, ...], verb: str) -> Endpoint | None:
    """The group's first row of `verb` whose help example needs no placeholder."""
    for row in rows:
        if row.http_method == verb and "'<" not in example_command(row):
            return row
    return None


CASES = [
    pytest.param(row, id=f"{row.group}-{row.command}")
    for rows in groups().values()
    for verb in ("GET", "POST")
    if (row := first_runnable(rows, verb)) is not None
]


def test_every_group_has_a_get_and_a_post_case() -> None:
    covered = {(case.values[0].group, case.values[0].http_method) for case in CASES}
    for group, rows in groups().items():
        for verb in ("GET", "POST"):
            if any(r.http_method == verb for r in rows):
                assert (group, verb) in covered, f"no runnable {verb} example in {group}"


@pytest.mark.parametrize("row", CASES)
def test_request_received_is_the_dry_run(bybitctl: Any, received: Any, row: Endpoint) -> None:
    args = shlex.split(example_command(row))[1:]
    # --demo: pybit refuses request_demo_trading_funds without it (its example has it, and an
    # option given twice is refused); the base URL still wins.
    args = args if "--demo" in args else ["--demo", *args]
    described = bybitctl("-o", "json", *args, "--dry-run").json()
    assert received() == [], "--dry-run sent something"
    result = bybitctl("-o", "json", *args)
    assert result.code in (0, 1), result.stderr
    if result.code == 1:
        # -o json: the refusal as one JSON object, or a batch's refused items one a line
        for line in result.stderr.splitlines():
            error = json.loads(line)
            assert set(error) in ({"retCode", "retMsg", "hint"}, {"item", "retCode", "retMsg"})
            assert error["retCode"] != 0
    else:
        json.loads(result.stdout)
    [got] = received()
    assert got["method"] == row.http_method
    assert got["path"] == row.path
    if row.http_method == "GET":
        assert got["query"] == dict(parse_qsl(urlsplit(described["url"]).query))
        assert got["body"] is None
    else:
        body = json.loads(described["body"])
        assert got["body"] == body
        types = {p.name: JSON_TYPES.get(p.type) for p in row.params}
        for name, value in body.items():
            if types.get(name) is not None:
                assert isinstance(value, types[name]), (name, value)
    if row.auth:
        assert got["headers"]["X-BAPI-API-KEY"] != ""
        assert "X-BAPI-SIGN" in got["headers"]


def test_place_order_json_types_and_answer(bybitctl: Any, received: Any) -> None:
    result = bybitctl(
        "trade",
        "place-order",
        "--category",
        "linear",
        "--symbol",
        "BTCUSDT",
        "--side",
        "Buy",
        "--orderType",
        "Limit",
        "--qty",
        "0.010",
        "--price",
        "1000",
        "--position-idx",
        "0",
        "--reduce-only",
        "false",
        "--order-link-id",
        "e2e-types",
        "-o",
        "json",
    )
    assert result.code == 0, result.stderr
    assert result.json()["orderLinkId"] == "e2e-types"
    [got] = received()
    assert got["body"] == {
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.010",
        "price": "1000",
        "positionIdx": 0,
        "reduceOnly": False,
        "orderLinkId": "e2e-types",
    }


def test_exchange_rejection_exit_1_with_meaning(bybitctl: Any) -> None:
    result = bybitctl(*limit_buy("0.0001"), "--price", "1000", "-o", "table")  # under the step
    assert result.code == 1
    first, *rest = result.stderr.splitlines()
    assert first.startswith("error: ") and first.endswith("(retCode 10001)")
    assert rest  # the documented meaning of 10001
    assert result.stdout == ""


def test_missing_required_sends_nothing(bybitctl: Any, received: Any) -> None:
    result = bybitctl("market", "orderbook", "--symbol", "BTCUSDT")
    assert result.code == 2
    assert received() == []
