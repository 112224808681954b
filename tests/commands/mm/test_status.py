"""`mm status`: the live state an instance left in its journal's control row, its figures
JSON numbers in json and plain notation in the table, as `mm report` prints them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bybitctl.commands.mm.status import StatusOptions, run_status
from bybitctl.mm.journal import Journal

STATE = {
    "uptime_s": 12.5,
    "guard": "quoting",
    "kill": "armed",
    "bid": [64999.9, 0.302],
    "ask": [65000.0, 0.5],
    "position": 1e-05,
    "realized_pnl": 0.0123456789,
    "fees": -0.5,
    "fills": 3,
    "quotes": [
        {"side": "Buy", "price": 64999.9, "qty": 0.002, "status": "open", "level": 0}
        | {"level_qty": 0.302, "queue_ahead": 0.3},
        {"side": "Sell", "price": 65001.0, "qty": 0.002, "status": "pending_new", "level": 0}
        | {"level_qty": None, "queue_ahead": None},
    ],
}


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    """A journal whose (no longer running) instance reported STATE."""
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    journal.start_run("mmabc123", "e2e", "BTCUSDT", "linear", "mm", {})
    journal.heartbeat("running", STATE)
    journal.close()
    return path


def fields(lines: list[str]) -> dict[str, str]:
    """The first table's field/value lines (its header and rule skipped)."""
    out = {}
    for line in lines:
        if not line:
            break
        if line.split() == ["key", "value"] or set(line) <= {"─"}:
            continue
        key, _, value = line.partition(" ")
        out[key] = value.strip()
    return out


def test_json_gives_every_figure_as_a_json_number(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_status(StatusOptions(journal, "json")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["running"] is False and doc["status"] == "crashed"
    assert {k: doc[k] for k in STATE} == STATE
    assert isinstance(doc["heartbeat_age_ms"], int)


def test_the_table_prints_figures_in_plain_notation_then_one_row_per_quote(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_status(StatusOptions(journal, "table")) == 0
    lines = capsys.readouterr().out.splitlines()
    table = fields(lines)
    assert table == {
        "running": "false",
        "journal": str(journal),
        "pid": table["pid"],
        "run_id": "mmabc123",
        "status": "crashed",
        "uptime_s": "12.5",
        "guard": "quoting",
        "kill": "armed",
        "bid": "64999.9 x 0.302",
        "ask": "65000 x 0.5",
        "position": "0.00001",
        "realized_pnl": "0.01234568",
        "fees": "-0.5",
        "fills": "3",
    }
    start = lines.index("") + 1
    assert lines[start].split() == [
        "side",
        "price",
        "qty",
        "status",
        "level",
        "level_qty",
        "queue_ahead",
    ]
    rows = [line.split() for line in lines[start + 1 :] if set(line) - {"─", " "}]
    assert rows == [
        ["Buy", "64999.9", "0.002", "open", "0", "0.302", "0.3"],
        ["Sell", "65001", "0.002", "pending_new", "0"],
    ]


def test_a_journal_nothing_ran_on_says_not_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_status(StatusOptions(tmp_path / "none.sqlite", "table")) == 0
    assert fields(capsys.readouterr().out.splitlines()) == {
        "running": "false",
        "journal": str(tmp_path / "none.sqlite"),
    }
