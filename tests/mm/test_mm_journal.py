"""The journal: durable per event, idempotent fills, accounting resumed per target, and the
control row `mm status` / `mm stop` rely on."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from bybitctl.mm.accounting import Fill
from bybitctl.mm.backtest import REPORT_KEYS
from bybitctl.mm.journal import HEARTBEAT_STALE_MS, Instance, Journal, now_ms
from bybitctl.mm.report import build_report, report_json


def _fill(side: str, price: str, qty: str, fee: str = "0.01") -> Fill:
    return Fill(
        side,
        Decimal(price),
        Decimal(qty),
        Decimal(fee),
        Decimal(price),
        True,
        now_ms(),
        "mmabcdef-1",
    )


def test_a_fill_is_booked_once(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    journal.start_run("mmaaaaaa", "t", "BTCUSDT", "linear", "mm", {})
    assert journal.fill("exec-1", _fill("Buy", "100", "1"))
    assert not journal.fill("exec-1", _fill("Buy", "100", "1"))
    assert journal.ledger(["mmaaaaaa"]).position == 1


def test_accounting_resumes_on_the_same_target_only(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    first = Journal(path)
    first.start_run("mmaaaaaa", "paper@1", "BTCUSDT", "linear", "mm", {})
    first.fill("e1", _fill("Buy", "100", "2"))
    first.fill("e2", _fill("Sell", "110", "1"))
    first.close()
    again = Journal(path)
    previous = again.previous_runs("paper@1")
    assert previous == ["mmaaaaaa"] and again.previous_runs("paper@2") == []
    again.start_run("mmbbbbbb", "paper@1", "BTCUSDT", "linear", "mm", {})
    again.fill("e3", _fill("Sell", "120", "1"))
    chain = again.chain()
    assert chain == ["mmaaaaaa", "mmbbbbbb"]
    ledger = again.ledger(chain)
    assert ledger.position == 0
    assert ledger.realized == Decimal(10 + 20) - Decimal("0.03")
    report = build_report(again, chain, mark=Decimal(120))
    assert report["realized_pnl"] == 29.97 and report["fills"] == 3 and report["runs"] == 2
    assert tuple(report_json(report)) == REPORT_KEYS


def test_writes_survive_a_killed_process(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    code = (
        "import os, sys\n"
        "from decimal import Decimal\n"
        "from bybitctl.mm.accounting import Fill\n"
        "from bybitctl.mm.journal import Journal\n"
        f"j = Journal({str(path)!r})\n"
        "j.start_run('mmcccccc', 't', 'BTCUSDT', 'linear', 'mm', {})\n"
        "j.fill('e1', Fill('Buy', Decimal(1), Decimal(1), Decimal(0), Decimal(1), True))\n"
        "os.kill(os.getpid(), 9)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert run.returncode == -9
    assert Journal(path, readonly=True).ledger(["mmcccccc"]).fills == 1


def test_instance_liveness(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    assert journal.instance() is None
    journal.start_run("mmdddddd", "t", "BTCUSDT", "linear", "mm", {})
    journal.heartbeat("running", {"guard": "quoting"})
    me = journal.instance()
    assert me is not None and me.pid == os.getpid() and me.alive()
    assert me.state == {"guard": "quoting"}
    assert not me.alive(now_ms() + HEARTBEAT_STALE_MS + 1)  # silent: presumed dead
    journal.heartbeat("stopped", {})
    assert not journal.instance().alive()  # type: ignore[union-attr]
    gone = Instance(
        2**22 + 7,  # above Linux's pid_max: no such process
        "x",
        0,
        now_ms(),
        "running",
        {},
    )
    assert not gone.alive()


def test_report_attribution_adds_up_when_flat_and_when_not(tmp_path: Path) -> None:
    # fills at mids that moved: a flat round trip still has inventory PnL (bought at mid
    # 100, sold at mid 104), and the three parts always sum to the total
    journal = Journal(tmp_path / "j.sqlite")
    journal.start_run("mmaaaaaa", "t", "BTCUSDT", "linear", "mm", {})
    mids = iter(["100", "104", "103"])
    for n, (side, price) in enumerate((("Buy", "99.5"), ("Sell", "104.5"), ("Buy", "102.5"))):
        fill = replace(_fill(side, price, "1"), mid=Decimal(next(mids)))
        journal.fill(f"e{n}", fill)
        report = build_report(journal, ["mmaaaaaa"], mark=Decimal(101))
        parts = report["spread_capture"] + report["inventory_pnl"] - report["fees_quote"]
        assert round(parts, 9) == round(report["total_pnl"], 9), (n, report)
        if n == 1:
            assert report["final_position"] == 0 and report["inventory_pnl"] == 4.0
