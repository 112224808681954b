"""Option quotes under the exchange's MMP, through the engine's ports
(`tests/mm/engine_ports.py`): armed from the config before the first quote, the freeze seen
from a CancelByMmp cancel or a 110066 refusal, waited out until the end the exchange reports,
then quoting again; never counted as a refusal."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from bybitctl.mm.actions import Place
from bybitctl.mm.report import build_report

from .engine_ports import RUN, START_MS, Harness, harness

D = Decimal
OPTION = {
    "category": "option",
    "mmp_max_qty": "0.5",
    "mmp_window_ms": 2_000,
    "mmp_freeze_s": 0.3,
    "reject_limit": 2,
}


def quoting_option(tmp_path: Path, **over: object) -> Harness:
    h = harness(tmp_path, **{**OPTION, **over})
    for t in range(10, 2_000, 100):  # a live book throughout
        h.book_at(t)
    return h


def test_mmp_is_armed_from_the_config_before_the_first_quote(tmp_path: Path) -> None:
    h = quoting_option(tmp_path, mmp_max_delta="0.25")
    armed: list[object] = []
    h.clock.at(10, lambda: armed.append(h.venue.mmp and dict(h.venue.mmp)))
    assert h.run(0.1) == 0
    assert armed == [
        {
            "baseCoin": "SIM",
            "window": 2_000,
            "frozenPeriod": 300,
            "qtyLimit": D("0.5"),
            "deltaLimit": D("0.25"),
            "frozen_until": 0,
        }
    ]
    assert h.of("mmp")[0] == {"event": "mmp", "state": "armed", "coin": "SIM"}
    assert h.executor.sent(Place)  # and then it quoted


def test_a_cancel_by_mmp_pulls_waits_out_the_exchange_freeze_and_quotes_again(
    tmp_path: Path,
) -> None:
    h = quoting_option(tmp_path)
    h.clock.at(100, h.venue.trip_mmp)
    resting: list[tuple[int, int]] = []
    for t in (99, 150, 390, 420):
        h.clock.at(t, lambda t=t: resting.append((t, len(h.resting()))))
    assert h.run(0.6) == 0
    frozen = h.when("mmp", state="frozen")
    released = h.when("mmp", state="released")
    assert len(frozen) == 1 and frozen[0] >= 100
    assert len(released) == 1 and 400 <= released[0] <= 400 + 50  # the next timer after
    # quotes were both out, gone during the freeze, and out again after it
    assert resting == [(99, 2), (150, 0), (390, 0), (420, 2)]
    assert {"event": "guard", "reason": "mmp"} in h.events  # why the quotes were pulled
    assert h.engine.risk.mmp.trips == 1
    report = build_report(h.journal, [RUN])
    assert report["mmp_freezes"] == 1 and report["rejects"] == []


def test_a_110066_refusal_is_the_freeze_not_a_rejection(tmp_path: Path) -> None:
    # frozen already when the run starts (an earlier run tripped it): the state read at
    # start holds the quotes until the exchange's end; a refusal met later (the exchange's
    # freeze outlasting ours) freezes again and reads the state, never tripping the breaker
    h = quoting_option(tmp_path)
    h.venue.mmp = {"frozenPeriod": 300, "frozen_until": START_MS + 250}
    assert h.run(0.6) == 0
    first = min(
        t
        for t, e in zip(h.times, h.events, strict=True)
        if e["event"] == "guard" and e["reason"] == "quoting"
    )
    assert first >= 250
    places = h.executor.sent(Place)
    assert places and h.engine.stats.rejects == 0 and not h.of("rejects")

    # a fill takes our bid while the exchange has just frozen: the requote is refused
    # 110066, which pulls the ask and reads the exchange's end of the freeze
    other = tmp_path / "b"
    other.mkdir()
    h2 = quoting_option(other)
    bid = f"{RUN}-1"
    h2.clock.at(100, lambda: h2.venue.mmp.update(frozen_until=START_MS + 10_000))
    h2.clock.at(100, lambda: h2.venue.fill(bid, "0.1"))
    assert h2.run(0.5) == 0
    refused = [a for a in h2.executor.sent(Place) if a.link_id not in (bid, f"{RUN}-2")]
    assert len(refused) == 1  # one try, then held: no retry at the rate budget
    assert h2.engine.stats.rejects == 0 and not h2.of("reject") and not h2.of("rejects")
    assert h2.engine.exit_code == 0
    assert len(h2.when("mmp", state="frozen")) == 1 and not h2.when("mmp", state="released")
    assert h2.engine.risk.mmp.frozen_until == START_MS + 10_000  # the exchange's end
    assert h2.venue.orders == {}  # the ask was pulled
    report = build_report(h2.journal, [RUN])
    assert report["rejects"] == [] and report["mmp_freezes"] == 1
