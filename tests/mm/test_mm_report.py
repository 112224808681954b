"""The printed report: the shared key/value table for people, one JSON line for machines."""

from __future__ import annotations

import json

import pytest

from bybitctl.mm.report import as_text, print_report

REPORT = {
    "orders_placed": 12,
    "fees_quote": -0.024,
    "realized_pnl": 0.0123456789,
    "unrealized_pnl": 0.0,
    "final_position": 1e-05,
    "tick_to_quote_us": {"p50": 85.3, "p99": 410.0},
    "exit_reason": "",
    "symbol": "BTCUSDT",
}


def test_table_is_the_shared_key_value_table_in_plain_numbers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_report(REPORT, "table")
    lines = capsys.readouterr().out.splitlines()
    rows = dict([*line.split(None, 1), ""][:2] for line in lines)  # field/value lines
    assert rows == {
        "orders_placed": "12",
        "fees_quote": "-0.024",
        "realized_pnl": "0.01234568",
        "unrealized_pnl": "0",
        "final_position": "0.00001",  # not 1e-05
        "tick_to_quote_us": "p50 85.3  p99 410",
        "exit_reason": "",
        "symbol": "BTCUSDT",
    }


def test_json_is_one_line_of_json_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    print_report(REPORT, "json")
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line) == REPORT


def test_refusals_are_one_line_per_retcode_and_none_say_0() -> None:
    undocumented = {"code": 999999, "count": 3, "meaning": None, "message": "odd"}
    silent = {"code": 999998, "count": 1, "meaning": None, "message": ""}
    assert as_text({"rejects": []}) == {"rejects": "0"}
    assert as_text({"rejects": [undocumented, silent]}) == {
        "rejects.999999": "3  odd",
        "rejects.999998": "1  retCode 999998",
    }
