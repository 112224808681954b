"""The live engine driven through its own ports (`tests/mm/engine_ports.py`): a fake clock,
scripted feeds, an executor and REST over a small in-memory venue. Every run is
deterministic and takes no wall-clock time: quotes, fills, refusals, reconnects, stale and
broken books, the kill switch, the reject breaker and the exit, each at an exact time."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from bybitctl.errors import EXCHANGE_REJECTED, NETWORK
from bybitctl.mm.actions import Amend, Cancel, Place
from bybitctl.mm.orders import TIMEOUT
from bybitctl.mm.reconcile import UNCONFIRMED_MS
from bybitctl.mm.shutdown import FINISH_S, SHUTDOWN_S

from .engine_ports import RUN, Harness, harness

D = Decimal
BID, ASK = f"{RUN}-1", f"{RUN}-2"
"""The first two orders of a run: the bid, then the ask."""


def quoting(tmp_path: Path, **over: object) -> Harness:
    """An engine that sees a book at 10 ms (mid 100: quotes at 99.90 / 100.10)."""
    h = harness(tmp_path, **over)
    h.book_at(10)
    return h


def test_quotes_both_sides_on_the_first_book_and_the_exit_leaves_nothing(tmp_path: Path) -> None:
    h = quoting(tmp_path)
    seen: list[dict[str, tuple[str, Decimal]]] = []
    h.clock.at(30, lambda: seen.append(h.resting()))
    assert h.run(0.5) == 0
    places = h.executor.sent(Place)
    assert [(p.link_id, p.side, p.price, p.qty) for p in places] == [
        (BID, "Buy", D("99.90"), D("0.100")),
        (ASK, "Sell", D("100.10"), D("0.100")),
    ]
    assert seen == [{BID: ("Buy", D("99.90")), ASK: ("Sell", D("100.10"))}]
    assert h.engine.stats.latencies == [0.0]  # book and quote at one instant of the clock
    assert h.venue.orders == {}
    assert h.of("stopped") == [
        {"event": "stopped", "reason": "duration", "open_orders": 0, "reconciled": True}
    ]
    assert h.engine.tracker.orders == {}
    assert h.journal.runs([RUN])[0]["exit_reason"] == "duration"


def test_a_book_move_beyond_the_tolerance_amends_and_the_update_confirms(tmp_path: Path) -> None:
    h = quoting(tmp_path, refresh_tolerance_bps=2.0)
    h.book_at(100, "100.09", "100.11")  # mid +10 bps: both quotes move
    h.book_at(150, "100.09", "100.12")  # +0.5 bps more: within the tolerance
    states: list[tuple[str, Decimal]] = []
    h.clock.at(101, lambda: states.append(_state(h, BID)))
    h.clock.at(110, lambda: states.append(_state(h, BID)))
    h.run(0.2)
    amends = h.executor.sent(Amend)
    assert [(a.link_id, a.price, a.qty) for a in amends] == [
        (BID, D("99.99"), D("0.100")),
        (ASK, D("100.21"), D("0.100")),
    ]
    assert states == [("pending_amend", D("99.99")), ("open", D("99.99"))]


def _state(h: Harness, link: str) -> tuple[str, Decimal]:
    order = h.engine.tracker.orders[link]
    return order.status, order.price


def test_fills_move_position_and_a_filled_order_is_requoted(tmp_path: Path) -> None:
    h = quoting(tmp_path)
    h.clock.at(40, lambda: h.venue.fill(BID, "0.04"))
    h.clock.at(60, lambda: h.venue.fill(BID, "0.06"))
    positions: list[Decimal] = []
    h.clock.at(50, lambda: positions.append(h.engine.inventory.position))
    h.clock.at(50, lambda: positions.append(h.engine.tracker.orders[BID].remaining))
    h.run(0.2)
    assert positions == [D("0.04"), D("0.06")]
    assert h.engine.ledger.position == D("0.1")
    assert [f["qty"] for f in h.of("fill")] == ["0.04", "0.06"]
    # the bid filled: a new one (the run's third order) replaced it at once
    third = h.executor.sent(Place)[2]
    assert (third.link_id, third.side) == (f"{RUN}-3", "Buy")
    assert h.journal.ledger([RUN]).fills == 2


def test_an_execution_seen_on_the_stream_and_over_rest_is_booked_once(tmp_path: Path) -> None:
    h = quoting(tmp_path)
    h.clock.at(40, lambda: h.venue.fill(BID, "0.04"))
    h.clock.at(60, lambda: h.private.drop())  # reconnects after 200 ms, then resyncs over REST
    h.run(0.5)
    assert h.venue.listings >= 1  # the resync read the orders (and swept executions)
    assert h.engine.ledger.fills == 1 and h.engine.ledger.position == D("0.04")


def test_an_execution_missed_by_the_stream_is_booked_by_the_resync(tmp_path: Path) -> None:
    h = quoting(tmp_path)
    h.clock.at(40, lambda: h.venue.fill(BID, "0.1", stream=False))
    h.clock.at(60, lambda: h.private.drop())
    h.run(0.5)
    assert h.engine.ledger.position == D("0.1")
    assert BID not in h.engine.tracker.orders  # the listing no longer shows it: gone


def test_a_refused_place_is_dropped_and_placed_again(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.venue.refuse(Place, 110007)  # the bid is refused, the ask accepted
    h.book_at(10)
    resting: list[set[str]] = []
    h.clock.at(30, lambda: resting.append(set(h.resting())))
    h.run(0.1)
    assert [p.link_id for p in h.executor.sent(Place)] == [BID, ASK, f"{RUN}-3"]
    assert h.of("reject")[0]["code"] == 110007
    assert resting == [{ASK, f"{RUN}-3"}]


def test_a_refused_amend_keeps_the_order_open_at_its_old_terms(tmp_path: Path) -> None:
    h = quoting(
        tmp_path, refresh_tolerance_bps=2.0, min_requote_interval_ms=1_000, stale_book_ms=9_000
    )
    h.venue.refuse(Amend, 110064)
    h.book_at(1_100, "100.09", "100.11")  # the first requote since the places at 10 ms
    states: list[tuple[str, Decimal]] = []
    h.clock.at(1_101, lambda: states.append(_state(h, BID)))
    h.clock.at(1_110, lambda: states.append(_state(h, BID)))  # refused: the next waits 1 s
    h.run(1.2)
    assert states == [("pending_amend", D("99.99")), ("open", D("99.90"))]
    assert h.engine.tracker.orders == {} and h.venue.orders == {}


def test_an_order_reported_filled_before_its_execution_counts_until_it_comes(
    tmp_path: Path,
) -> None:
    h = quoting(tmp_path)

    def reported_filled() -> None:
        order = h.venue.orders[BID]
        h.venue.fill(BID, "0.1", stream=False)
        h.venue.update(order)  # the order stream says Filled; the execution comes later

    h.clock.at(40, reported_filled)
    h.clock.at(60, lambda: h.private.send({"topic": "execution", "data": h.venue.executions}))
    seen: list[object] = []
    h.clock.at(50, lambda: seen.append(h.engine.tracker.orders.get(BID)))
    h.clock.at(70, lambda: seen.append(h.engine.tracker.orders.get(BID)))
    h.run(0.1)
    gone, after = seen
    assert gone is not None
    assert (gone.status, gone.qty, gone.remaining) == ("pending_cancel", D("0.1"), D("0.1"))
    assert after is None and h.engine.ledger.position == D("0.1")


def test_an_order_gone_before_its_cancel_counts_until_rest_says_what_filled(
    tmp_path: Path,
) -> None:
    h = quoting(tmp_path, refresh_tolerance_bps=2.0, use_amend=False, stale_book_ms=9_000)
    # the requote is cancel + place; the bid leaves the venue before the cancel arrives and
    # no word of it comes on the order stream (the cancel's answer: order does not exist)
    h.book_at(100, "100.09", "100.11")
    h.clock.at(101, lambda: h.venue.orders.pop(BID))
    seen: list[object] = []
    for ms in (101, 103, 100 + UNCONFIRMED_MS + 100):
        h.clock.at(ms, lambda: seen.append(h.engine.tracker.orders.get(BID)))
    h.run(3.5)
    cancelling, gone, settled = seen
    assert cancelling is not None and cancelling.status == "pending_cancel"
    assert gone is not None and gone.remaining == D("0.100")  # what filled is not known yet
    assert settled is None  # the REST listing settled it
    assert [(r["code"], r["action"]) for r in h.of("reject")] == [(110001, "Cancel")]


def test_an_unanswered_action_is_settled_over_rest(tmp_path: Path) -> None:
    h = quoting(tmp_path, stale_book_ms=9_000)
    h.clock.at(20, lambda: setattr(h.venue, "silent", True))
    h.book_at(100, "100.09", "100.11")  # the amends get no answer
    listings: list[int] = []
    h.clock.at(5_000, lambda: listings.append(h.venue.listings))
    h.clock.at(5_500, lambda: listings.append(h.venue.listings))
    h.run(6)
    assert h.engine.stats.timeouts == 2  # both amends of the silent period, answered -1
    assert listings[1] == listings[0] + 1  # which sent the engine to REST
    rows = h.journal.db.execute("SELECT status FROM orders WHERE event = 'reject'").fetchall()
    assert rows == [(str(TIMEOUT),), (str(TIMEOUT),)]


def test_a_lost_order_update_is_settled_over_rest_after_the_bound(tmp_path: Path) -> None:
    h = quoting(tmp_path, refresh_tolerance_bps=2.0, stale_book_ms=9_000)
    h.clock.at(50, lambda: setattr(h.venue, "lose_updates", True))
    h.book_at(100, "100.09", "100.11")  # amends accepted, their updates never come
    listed: list[int] = []
    h.clock.at(100 + UNCONFIRMED_MS - 100, lambda: listed.append(h.venue.listings))
    h.clock.at(100 + UNCONFIRMED_MS + 100, lambda: listed.append(h.venue.listings))
    h.run(4)
    assert listed[1] == listed[0] + 1  # REST read once the bound passed, not before
    assert any("overdue" in w["message"] for w in h.of("warning"))


def test_the_private_stream_down_pulls_quotes_and_its_return_resyncs(tmp_path: Path) -> None:
    h = quoting(tmp_path)
    h.clock.at(100, lambda: h.private.drop())
    seen: list[object] = []
    h.clock.at(105, lambda: seen.append(dict(h.resting())))
    h.clock.at(105, lambda: seen.append(h.venue.listings))
    h.clock.at(400, lambda: seen.append(h.venue.listings))
    h.clock.at(400, lambda: seen.append(sorted(side for side, _ in h.resting().values())))
    h.run(0.6)
    pulled, listings_down, listings_back, sides = seen
    assert pulled == {}  # both cancelled at once
    assert {"event": "guard", "reason": "guard:private_down"} in h.events
    assert h.private.starts == 2  # reconnected after its backoff
    assert listings_back == listings_down + 1  # and what it missed was read over REST
    assert sides == ["Buy", "Sell"]  # quoting again


def test_a_silent_book_goes_stale_at_the_bound_and_is_asked_for_again(tmp_path: Path) -> None:
    h = quoting(tmp_path)  # stale_book_ms 1000, timer every 50 ms
    h.book_at(1_500)
    h.run(2)
    assert h.when("stale") == [1_050]  # the first timer after 10 + 1000 ms
    assert h.when("guard", reason="guard:stale") == [1_050]
    assert h.public.resubscribed == ["orderbook.50.SIMUSDT"]
    reasons = [g["reason"] for g in h.of("guard")]
    assert reasons[-2:] == ["guard:stale", "quoting"]
    assert len(h.executor.sent(Place)) == 4  # pulled, then quoted again on the fresh book


def test_a_book_gap_pulls_quotes_until_a_snapshot(tmp_path: Path) -> None:
    h = quoting(tmp_path)
    h.clock.at(100, h.gap)
    h.book_at(300)
    h.run(0.5)
    assert [e["event"] for e in h.events if e["event"] == "resync"] == ["resync"]
    assert h.public.resubscribed == ["orderbook.50.SIMUSDT"]
    assert [g["reason"] for g in h.of("guard")][-2:] == ["guard:resyncing", "quoting"]


def test_the_public_stream_down_empties_the_book(tmp_path: Path) -> None:
    h = quoting(tmp_path)
    h.clock.at(100, lambda: h.public.drop())
    h.run(0.25)
    assert {"event": "guard", "reason": "guard:resyncing"} in h.events
    assert h.public.starts == 2


def test_the_kill_switch_stops_the_run_on_a_loss(tmp_path: Path) -> None:
    h = quoting(tmp_path, kill_max_loss="0.001")
    h.clock.at(40, lambda: h.venue.fill(BID, "0.1", fee="0.02"))  # PnL -0.01
    h.run(5)
    assert h.engine.stop_reason == "kill:max_loss"
    assert h.of("kill")[0]["state"] == "stopped"
    assert h.of("stopped")[0]["open_orders"] == 0 and h.venue.orders == {}


def test_the_reject_breaker_ends_the_run_with_nothing_left(tmp_path: Path) -> None:
    h = quoting(tmp_path, reject_limit=3)
    # bid refused, ask accepted (the count restarts), then the bid again: refused, a rate
    # limit (neither counted nor restarting the count), refused, refused: the third in a row
    h.venue.refuse(Place, 110007, 0, 110007, 10006, 110007, 110007)
    for ms in range(20, 400, 20):
        h.book_at(ms, "99.99", f"{100.01 + ms / 10000:.2f}")
    code = h.run(5)
    assert code == EXCHANGE_REJECTED
    assert h.engine.stop_reason == "rejects:110007"
    assert h.of("rejects")[0]["count"] == 3
    assert h.venue.orders == {}


def test_the_exit_is_bounded_when_rest_never_answers(tmp_path: Path) -> None:
    h = quoting(tmp_path)
    h.clock.at(100, lambda: (setattr(h.venue, "rest_down", True), h.engine.request_stop("t")))
    code = h.run(60)
    # REST was waited for until the bound (less the bookkeeping's share), never longer
    (stopping,), (stopped,) = h.when("stopping"), h.when("stopped")
    assert (SHUTDOWN_S - FINISH_S) * 1000 <= stopped - stopping <= SHUTDOWN_S * 1000
    # the stream confirmed both cancels, REST never listed nor reconciled: exit code 4
    assert code == NETWORK
    assert h.engine.remaining == [] and not h.engine.reconciled
    assert any("could not list" in note for note in h.engine.exit_notes())


def test_orders_neither_the_stream_nor_rest_confirm_are_reported(tmp_path: Path) -> None:
    h = quoting(tmp_path)
    h.clock.at(100, lambda: (setattr(h.venue, "rest_down", True), setattr(h.venue, "silent", True)))
    h.clock.at(100, lambda: h.engine.request_stop("t"))
    code = h.run(5)
    assert code == EXCHANGE_REJECTED
    assert sorted(r["orderLinkId"] for r in h.engine.remaining) == [BID, ASK]
    notes = h.engine.exit_notes()
    assert notes[0].startswith("error: 2 order(s) not confirmed cancelled at exit")
    assert "DCP is armed" in notes[1]
    unconfirmed = h.journal.db.execute(
        "SELECT COUNT(*) FROM orders WHERE event = 'unconfirmed'"
    ).fetchone()[0]
    assert unconfirmed == 2


def test_a_stop_during_start_up_skips_quoting_and_still_confirms(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.engine.request_stop("signal:SIGTERM")
    assert h.run(5) == 0
    assert h.executor.batches == [] and h.public.starts == 0
    assert h.of("stopped")[0]["reason"] == "signal:SIGTERM"


def test_leftovers_of_an_earlier_run_are_adopted_and_counted(tmp_path: Path) -> None:
    from .engine_ports import VenueOrder

    h = harness(tmp_path, leftovers="adopt")
    old = "mmzzzzzz-7"
    h.venue.orders[old] = VenueOrder(old, "Buy", D("99.90"), D("0.100"), D("0.02"))
    h.book_at(10)
    h.run(0.2)
    assert [e.get("adopted") for e in h.of("reconcile")] == [old]
    # the adopted bid sits where a bid is wanted: kept, only an ask placed
    assert [(p.side, p.link_id) for p in h.executor.sent(Place)] == [("Sell", BID)]
    assert h.venue.orders == {}


def test_leftovers_of_an_earlier_run_are_cancelled_before_quoting(tmp_path: Path) -> None:
    from .engine_ports import VenueOrder

    h = harness(tmp_path)
    old = "mmzzzzzz-7"
    h.venue.orders[old] = VenueOrder(old, "Buy", D("99.00"), D("0.100"))
    h.book_at(300)  # start-up waited for the cancel's confirmation (a 200 ms pause)
    h.run(0.5)
    assert [e.get("cancelled") for e in h.of("reconcile")] == [old]
    assert len(h.executor.sent(Place)) == 2 and old not in h.venue.orders
    assert {a.link_id for a in h.executor.sent(Cancel)} == {BID, ASK}  # the exit's


def test_a_burst_of_fills_trips_mmp_for_exactly_the_freeze(tmp_path: Path) -> None:
    h = quoting(tmp_path, mmp_window_ms=1_000, mmp_max_qty="0.15", mmp_freeze_s=1)
    h.clock.at(40, lambda: h.venue.fill(BID, "0.1"))
    h.clock.at(45, lambda: h.venue.fill(ASK, "0.1"))  # 0.2 within the window
    for ms in range(100, 1_200, 100):
        h.book_at(ms)
    h.run(1.3)
    assert h.when("guard", reason="mmp") == [45]
    assert h.when("guard", reason="quoting")[-1] == 1_050  # the first timer after 45 + 1000


def test_a_paused_kill_switch_holds_until_resumed(tmp_path: Path) -> None:
    h = quoting(tmp_path, kill_max_loss="0.001", kill_action="pause", stale_book_ms=9_000)
    h.clock.at(40, lambda: h.venue.fill(BID, "0.1", fee="0.02"))  # PnL -0.01
    h.clock.at(1_000, h.engine.request_resume)
    h.run(1.2)
    assert [(k["state"], t) for k, t in zip(h.of("kill"), h.when("kill"), strict=True)] == [
        ("paused", 50),
        ("armed", 1_000),
        ("paused", 1_000),  # the since-start loss still stands: tripped again at once
    ]
