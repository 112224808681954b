"""`mm runs`: a journal's runs newest first, each with the PnL of its own fills; json, jsonl
and csv for scripts, a table for people; bad input refused in one line (exit 2)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from bybitctl.cli import run
from bybitctl.commands.mm.runs import RunsOptions, run_runs
from bybitctl.mm.accounting import Fill
from bybitctl.mm.journal import Journal, JournalLock

D = Decimal
T0 = 1_700_000_000_000


def _run(
    journal: Journal,
    run_id: str,
    target: str,
    started_ms: int,
    fills: list[tuple[str, str, str, str]],
    mid: str | None,
    *,
    ended: str | None = "duration",
) -> None:
    """One run: its fills (side, price, fee, mid at the fill; qty 1), its last mid."""
    journal.start_run(run_id, target, "BTCUSDT", "linear", "mm", {})
    journal.db.execute("UPDATE runs SET started_ms = ? WHERE run_id = ?", (started_ms, run_id))
    for n, (side, price, fee, at_mid) in enumerate(fills):
        fill = Fill(side, D(price), D(1), D(fee), D(at_mid), True, started_ms + n, f"{run_id}-1")
        journal.fill(f"{run_id}-e{n}", fill)
    if mid is not None:
        summary = dict.fromkeys(
            ("position", "realized_pnl", "unrealized_pnl", "fees", "spread_capture"), 0
        )
        journal.pnl(D(mid), {**summary, "inventory_pnl": 0})
    if ended is not None:
        journal.end_run(ended, 0, 2500, 2000, reconciled=True)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """Three runs: a buy at 100 marked at 110; the next run on that target sells at 120
    and ends at 120; a run on another target without fills, which never ended."""
    file = tmp_path / "journal.sqlite"
    journal = Journal(file)
    _run(journal, "mmaaaaaa", "paper", T0, [("Buy", "100", "0.5", "100")], "110")
    _run(journal, "mmbbbbbb", "paper", T0 + 60_000, [("Sell", "120", "0.25", "120")], "120")
    _run(journal, "mmcccccc", "live", T0 + 120_000, [], None, ended=None)
    journal.close()
    return file


def listed(path: Path, capsys: pytest.CaptureFixture[str], fmt: str, limit: int = 20) -> str:
    assert run_runs(RunsOptions(path, limit, fmt)) == 0
    return capsys.readouterr().out


def test_runs_are_newest_first_with_the_pnl_of_their_own_fills(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = json.loads(listed(path, capsys, "json"))
    assert runs == [
        {
            "run_id": "mmcccccc",
            "started": "2023-11-14T22:15:20Z",
            "duration_s": 0.0,
            "fills": 0,
            "pnl": 0.0,
            "exit_reason": "crashed",  # never ended, and nothing holds the journal
        },
        {
            "run_id": "mmbbbbbb",
            "started": "2023-11-14T22:14:20Z",
            "duration_s": 2.5,
            "fills": 1,
            # it sold the inherited unit at the mark: what it made is its fee, not the 20
            # the unit gained while held
            "pnl": -0.25,
            "exit_reason": "duration",
        },
        {
            "run_id": "mmaaaaaa",
            "started": "2023-11-14T22:13:20Z",
            "duration_s": 2.5,
            "fills": 1,
            "pnl": 9.5,  # bought at 100, marked at 110, fee 0.5
            "exit_reason": "duration",
        },
    ]


def test_the_run_of_the_instance_holding_the_journal_is_running(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with JournalLock(path):  # this process holds it, as `mm start` does
        runs = json.loads(listed(path, capsys, "json"))
    assert [r["exit_reason"] for r in runs] == ["running", "duration", "duration"]


def test_limit_keeps_the_newest(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert [r["run_id"] for r in json.loads(listed(path, capsys, "json", limit=2))] == [
        "mmcccccc",
        "mmbbbbbb",
    ]


def test_jsonl_has_numbers_and_csv_plain_text_one_row_per_run(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [json.loads(line) for line in listed(path, capsys, "jsonl").splitlines()]
    assert [r["pnl"] for r in rows] == [0.0, -0.25, 9.5]
    assert listed(path, capsys, "csv").splitlines() == [
        "run_id,started,duration_s,fills,pnl,exit_reason",
        "mmcccccc,2023-11-14T22:15:20Z,0,0,0,crashed",
        "mmbbbbbb,2023-11-14T22:14:20Z,2.5,1,-0.25,duration",
        "mmaaaaaa,2023-11-14T22:13:20Z,2.5,1,9.5,duration",
    ]


def test_the_table_prints_figures_in_plain_notation(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [line for line in listed(path, capsys, "table").splitlines() if set(line) - {"─"}]
    assert [line.split() for line in lines] == [
        ["run_id", "started", "duration_s", "fills", "pnl", "exit_reason"],
        ["mmcccccc", "2023-11-14T22:15:20Z", "0", "0", "0", "crashed"],
        ["mmbbbbbb", "2023-11-14T22:14:20Z", "2.5", "1", "-0.25", "duration"],
        ["mmaaaaaa", "2023-11-14T22:13:20Z", "2.5", "1", "9.5", "duration"],
    ]


def test_an_empty_journal_lists_nothing_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "journal.sqlite"
    Journal(file).close()
    assert run_runs(RunsOptions(file, 20, "json")) == 0
    out = capsys.readouterr()
    assert json.loads(out.out) == [] and out.err == f"no runs in {file}\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--limit", "0"], "error: invalid value for --limit: must be in [1, 1000000], got 0"),
        (["--limit", "1.5"], "error: invalid value for --limit: "),
        (["-o", "raw"], "error: -o raw is not offered here (choose from table, json, jsonl, csv)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    path: Path,
    capsys: pytest.CaptureFixture[str],
    clean_env: dict[str, str],
    args: list[str],
    message: str,
) -> None:
    assert run(["mm", "runs", "--journal", str(path), *args]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.startswith(message) and out.err.count("\n") <= 2


def test_no_journal_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: dict[str, str]
) -> None:
    assert run(["mm", "runs", "--journal", str(tmp_path / "none.sqlite")]) == 2
    assert capsys.readouterr().err.startswith("error: no journal at ")
