"""What the engine reports of itself, driven through its ports (`engine_ports`): the status
(JSONL event, control row for `mm status`, the dashboard) with every figure a JSON number
equal to the exact value, and the report's refusals by retCode with Bybit's documented
meaning."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from bybitctl.mm.actions import Place
from bybitctl.mm.orders import TIMEOUT
from bybitctl.mm.report import as_text, build_report

from .engine_ports import RUN, harness

D = Decimal
BID, ASK = f"{RUN}-1", f"{RUN}-2"


def test_the_status_gives_every_figure_as_the_json_number_of_its_exact_value(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path)
    h.book_at(10)
    h.clock.at(40, lambda: h.venue.fill(BID, "0.04", fee="-0.0004"))
    rows: list[str] = []  # what `mm status` reads: the control row, while it runs
    h.clock.at(
        560, lambda: rows.append(h.journal.db.execute("SELECT state FROM control").fetchone()[0])
    )
    h.run(0.6)
    (status,) = [s for s in h.of("status") if s["fills"]][:1]
    engine = h.engine
    assert status["position"] == float(D("0.04"))
    assert status["fees"] == float(D("-0.0004"))
    assert status["realized_pnl"] == float(engine.ledger.realized)
    assert status["bid"] == [99.99, 1.0] and status["ask"] == [100.01, 1.0]
    by_side = {q["side"]: q for q in status["quotes"]}
    assert (by_side["Buy"]["price"], by_side["Buy"]["qty"]) == (99.9, 0.06)  # 0.1 - 0.04
    assert (by_side["Sell"]["price"], by_side["Sell"]["qty"]) == (100.1, 0.1)
    (fill,) = status["recent_fills"]
    assert (fill["price"], fill["qty"], fill["fee"], fill["position"]) == (
        99.9,
        0.04,
        -0.0004,
        0.04,
    )
    figures = [
        status[k]
        for k in ("uptime_s", "position", "realized_pnl", "unrealized_pnl", "fees", "fills")
    ]
    assert all(isinstance(x, int | float) and not isinstance(x, bool) for x in figures)
    (row,) = rows
    assert json.loads(row)["position"] == 0.04


def test_the_report_counts_refusals_by_retcode_with_their_meaning(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.venue.refuse(Place, 110007, 110007, TIMEOUT, 110003)
    for ms in range(10, 200, 20):
        h.book_at(ms, "99.99", f"{100.01 + ms / 10000:.2f}")
    h.run(0.3)
    report = build_report(h.journal, [RUN])
    by_code = {r["code"]: r for r in report["rejects"]}
    assert by_code[110007] == {
        "code": 110007,
        "count": 2,
        "meaning": "Available balance is insufficient",
        "message": "refused",  # what the venue said
    }
    assert by_code[110003]["count"] == 1
    assert by_code[110003]["meaning"] == "Order price exceeds the allowable range ."
    assert TIMEOUT not in by_code  # an unanswered request is no refusal
    counts = [r["count"] for r in report["rejects"]]
    assert counts == sorted(counts, reverse=True)  # most frequent first
    text = as_text(report)
    assert text["rejects.110007"] == "2  Available balance is insufficient (refused)"
    assert text["rejects.110003"] == "1  Order price exceeds the allowable range . (refused)"
    assert "rejects" not in text
    assert list(text)[-len(by_code) :] == [f"rejects.{r['code']}" for r in report["rejects"]]
