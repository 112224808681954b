"""The journal: durable per event, idempotent fills, accounting resumed per target, and the
control row `mm status` / `mm stop` rely on."""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bybitctl.errors import UsageError
from bybitctl.mm.accounting import Fill, Funding
from bybitctl.mm.figures import REPORT_KEYS
from bybitctl.mm.journal import (
    SCHEMA,
    Journal,
    JournalLock,
    journal_problem,
    lock_holder,
    now_ms,
)
from bybitctl.mm.report import build_report, report_json, run_list


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


def test_one_instance_per_journal_held_by_an_os_lock(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    assert lock_holder(path) is None  # no lock file: nothing ever ran
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from pathlib import Path\n"
            "from bybitctl.mm.journal import JournalLock\n"
            f"JournalLock(Path({str(path)!r})).acquire()\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        assert lock_holder(path) == holder.pid
        assert lock_holder(path) == holder.pid  # asking does not take it away
        with pytest.raises(UsageError, match=f"another mm instance \\(pid {holder.pid}\\)"):
            JournalLock(path).acquire()
        holder.kill()  # SIGKILL: no clean-up of any kind
        holder.wait(timeout=30)
        assert lock_holder(path) is None  # freed by the OS with the process
        with JournalLock(path):
            assert lock_holder(path) == os.getpid()
        assert lock_holder(path) is None
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)


def test_journal_and_lock_are_created_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "j.sqlite"
    with JournalLock(path) as lock:
        Journal(path).close()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(lock.path.stat().st_mode) == 0o600
    assert journal_problem(path) is None


def _other_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (text TEXT)")


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: p.write_text("hello\n"), "not an SQLite database"),
        (lambda p: p.write_bytes(b""), "is an empty file"),
        (lambda p: p.mkdir(), "is a directory"),
        (_other_sqlite, "an SQLite database, but not an mm journal"),
        (lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200), "SQLite database"),
    ],
)
def test_anything_but_a_journal_is_refused(tmp_path: Path, make: Any, says: str) -> None:
    path = tmp_path / "j.sqlite"
    make(path)
    before = path.read_bytes() if path.is_file() else None
    problem = journal_problem(path)
    assert problem is not None and says in problem
    for readonly in (True, False):
        with pytest.raises(UsageError, match=re.escape(says)) as caught:
            Journal(path, readonly=readonly)
        assert "\n" not in caught.value.message
    if before is not None:
        assert path.read_bytes() == before  # never written into


def test_funding_is_booked_once_resumed_and_reported_apart_from_fills(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    journal.start_run("mmaaaaaa", "t", "BTCUSDT", "linear", "mm", {})
    journal.fill("e1", _fill("Buy", "100", "2"))
    paid = Funding(Decimal("-0.02"), Decimal("0.0001"), Decimal(2), Decimal(100), now_ms())
    assert journal.funding("s1", paid)
    assert not journal.funding("s1", paid)  # the stream and a REST sweep both bring it
    journal.close()
    again = Journal(path)
    again.start_run("mmbbbbbb", "t", "BTCUSDT", "linear", "mm", {})
    again.funding("s2", replace(paid, amount=Decimal("0.005")))
    chain = again.chain()
    ledger = again.ledger(chain)
    assert ledger.funding == Decimal("-0.015") and ledger.funding_settlements == 2
    assert ledger.position == 2 and ledger.fills == 1
    report = build_report(again, chain, mark=Decimal(101))
    assert report["funding"] == -0.015 and report["funding_settlements"] == 2
    assert report["total_pnl"] == report["realized_pnl"] + report["unrealized_pnl"] - 0.015
    assert "funding" in report_json(report)
    runs = {r["run_id"]: r for r in run_list(again)}
    assert runs["mmbbbbbb"]["pnl"] == 0.005  # its own settlement, no fill of its own
    again.close()


def test_a_journal_from_before_funding_reads_as_one_that_settled_none(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    old = SCHEMA.replace(
        SCHEMA[
            SCHEMA.index("CREATE TABLE IF NOT EXISTS funding") : SCHEMA.index(
                "CREATE TABLE IF NOT EXISTS decisions"
            )
        ],
        "",
    )
    with sqlite3.connect(path) as db:
        db.executescript(old)
        db.execute(
            "INSERT INTO runs (run_id, target, symbol, category, prefix, started_ms)"
            " VALUES ('mmaaaaaa', 't', 'BTCUSDT', 'linear', 'mm', 1)"
        )
        db.execute(
            "INSERT INTO fills VALUES ('e1', 'mmaaaaaa', 1, 'mmaaaaaa-1', 'Buy', '100', '1',"
            " '0', '100', 1)"
        )
    reader = Journal(path, readonly=True)
    report = build_report(reader, ["mmaaaaaa"], mark=Decimal(102))
    assert report["funding"] == 0 and report["total_pnl"] == 2.0 and report["fills"] == 1
    reader.close()
    writer = Journal(path)  # a writer adds the table and books into it
    writer.start_run("mmbbbbbb", "t", "BTCUSDT", "linear", "mm", {})
    assert writer.funding("s1", Funding(Decimal(1), Decimal(0), Decimal(1), Decimal(100)))
    assert writer.ledger(writer.chain()).funding == 1
    writer.close()


def test_a_journal_from_before_the_id_is_still_one_and_gains_the_new_column(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    with sqlite3.connect(path) as db:  # the schema before `reconciled` and the id
        db.executescript(SCHEMA.replace(", reconciled INTEGER", ""))
    assert journal_problem(path) is None
    journal = Journal(path)
    journal.start_run("mmeeeeee", "t", "BTCUSDT", "linear", "mm", {})
    journal.end_run("duration", 0, 10, 5, reconciled=True)
    assert journal.runs(["mmeeeeee"])[0]["reconciled"] == 1
    journal.close()


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
        parts += report["funding"]
        assert round(parts, 9) == round(report["total_pnl"], 9), (n, report)
        paid = Funding(Decimal("-0.25"), Decimal("0.0001"), Decimal(1), Decimal(101))
        journal.funding(f"f{n}", paid)
        if n == 1:
            assert report["final_position"] == 0 and report["inventory_pnl"] == 4.0
