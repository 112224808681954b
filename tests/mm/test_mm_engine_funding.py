"""Funding through the engine's ports (`tests/mm/engine_ports.py`): a settlement on the
execution stream, one the stream missed, one heard twice; booked as funding, never as a
fill, and in the report, the status and the journal."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from bybitctl.mm.actions import Place
from bybitctl.mm.report import build_report

from .engine_ports import RUN, harness

D = Decimal
BID = f"{RUN}-1"


def test_funding_is_booked_apart_from_fills_and_reconciled_at_exit(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.book_at(10)
    h.clock.at(40, lambda: h.venue.fill(BID, "0.1"))
    seen: list[tuple[Decimal, Decimal, int, int]] = []

    def look() -> None:
        e = h.engine
        seen.append((e.inventory.position, e.ledger.funding, e.ledger.fills, len(e.tracker.orders)))

    h.clock.at(90, look)
    h.clock.at(100, lambda: h.venue.settle_funding("0.001", "0.1"))
    h.clock.at(110, look)
    heard = []
    h.clock.at(200, lambda: heard.append(h.venue.settle_funding("0.002", "0.1")))
    h.clock.at(200, lambda: h.private.send({"topic": "execution", "data": heard}))  # twice
    h.clock.at(300, lambda: h.venue.settle_funding("-0.0005", "0.1", stream=False))
    h.clock.at(310, look)
    h.clock.at(310, lambda: seen.append(h.engine.snapshot()["funding"]))
    assert h.run(0.4) == 0
    # the position, the fills and the orders never moved for a settlement
    assert seen[0][0] == D("0.1") and seen[0][1] == 0
    assert seen[1] == (seen[0][0], D("-0.001"), seen[0][2], seen[0][3])
    assert seen[2][:2] == (D("0.1"), D("-0.003")) and seen[2][2] == 1
    assert seen[3] == -0.003
    assert [e["amount"] for e in h.of("funding")] == ["-0.001", "-0.002", "0.0005"]
    assert h.of("funding")[0] == {
        "event": "funding",
        "amount": "-0.001",
        "rate": "0.0001",
        "position": "0.1",
        "mark": "100",
    }
    ledger = h.engine.ledger  # the exit's sweep booked the one the stream missed
    assert ledger.funding == D("-0.0025") and ledger.funding_settlements == 3
    assert ledger.fills == 1 and ledger.position == D("0.1")
    report = build_report(h.journal, [RUN], mark=D(100))
    assert report["funding"] == -0.0025 and report["funding_settlements"] == 3
    assert report["fills"] == 1 and report["final_position"] == 0.1
    assert report["total_pnl"] == report["realized_pnl"] + report["unrealized_pnl"] - 0.0025
    places = h.executor.sent(Place)
    assert all(p.link_id.startswith(RUN) for p in places)  # no order came of a settlement


def test_a_settlement_of_another_symbol_is_not_ours(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.book_at(10)
    other = {"symbol": "ETHUSDT", "execType": "Funding", "execId": "x1", "execFee": "5"}
    h.clock.at(50, lambda: h.private.send({"topic": "execution", "data": [other]}))
    h.run(0.1)
    assert h.engine.ledger.funding == 0 and not h.of("funding")
