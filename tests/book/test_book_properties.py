"""Property and stress tests: the engine against the plain reference book, step by step."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.examples import cases, examples

from bybitctl.book import OrderBook

from .reference import RefBook, delta, snapshot

# Bids and asks share ticks 20..30, so crossing happens; some ticks have two spellings.
SPELLINGS = {t: [f"{t / 4:.2f}", f"{t / 4:.2f}".rstrip("0").rstrip(".")] for t in range(1, 51)}
SIZES = ["1", "0.5", "2.25", "0.001", "10", "3.000"]


def price(t: int, spelling: int) -> str:
    options = SPELLINGS[t]
    return options[spelling % len(options)]


def levels(draw: Any, ticks: range, rpi: bool, deletes: bool, max_size: int) -> list[list[str]]:
    sizes = [*SIZES, "0"] if deletes else SIZES
    chosen = draw(st.lists(st.sampled_from(ticks), max_size=max_size, unique=not deletes))
    rows = []
    for t in chosen:
        row = [price(t, draw(st.integers(0, 1))), draw(st.sampled_from(sizes))]
        if rpi:
            row.append(draw(st.sampled_from(["0", *SIZES])))
        rows.append(row)
    return rows


@st.composite
def streams(draw: Any, rpi: bool = False) -> list[dict[str, Any]]:
    """Snapshots and deltas with in-sequence, stale, gapped, repeated and u == 1 ids."""
    messages = []
    topic = "orderbook.rpi.BTCUSDT" if rpi else "orderbook.50.BTCUSDT"
    u = draw(st.integers(1, 50))
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(
            st.sampled_from(
                ["next"] * 12 + ["snapshot", "stale", "gap", "restart", "same", "resend"]
            )
        )
        if kind in ("snapshot", "restart", "resend") or not messages:
            u = 1 if kind == "restart" else u if kind == "resend" else u + draw(st.integers(0, 5))
            bids = levels(draw, range(1, 31), rpi, False, 8)
            asks = levels(draw, range(20, 51), rpi, False, 8)
            messages.append(snapshot(u, bids, asks, topic=topic))
            continue
        step = {"next": 1, "stale": -draw(st.integers(1, 3)), "gap": 2, "restart": 0, "same": 0}
        if kind == "gap":
            step["gap"] = draw(st.integers(2, 4))
        candidate = max(1, u + step[kind])
        bids = levels(draw, range(1, 31), rpi, True, 6)
        asks = levels(draw, range(20, 51), rpi, True, 6)
        messages.append(delta(candidate, bids, asks, topic=topic))
        u = max(u, candidate)
    return messages


def run_both(messages: list[dict[str, Any]], depth: int | None, rpi: bool = False) -> None:
    book = OrderBook("BTCUSDT", depth=depth)
    ref = RefBook(depth=depth, rpi=rpi)
    for message in messages:
        want = ref.apply(message)
        if isinstance(want, type):
            with pytest.raises(want):
                book.apply(message)
        else:
            assert book.apply(message) is want, message
        book._check()
        assert book.bids() == ref.bid_rows()
        assert book.asks() == ref.ask_rows()
        assert book.needs_resync == ref.needs_resync
        assert book.update_id == ref.update_id
        check_lookups(book)
    assert book.stats.unknown_deletes == ref.unknown_deletes


def check_lookups(book: OrderBook) -> None:
    """`level_at` / `size_at` agree with a scan of the levels, at every tick in either
    spelling, on each side and on both; `top` with the parsed best levels."""
    rows = {"bid": book.bids(), "ask": book.asks()}
    bid, ask = book.best_bid(), book.best_ask()
    assert book.top() == (
        float(bid[0]) if bid else 0.0,
        float(bid[1]) if bid else 0.0,
        float(ask[0]) if ask else 0.0,
        float(ask[1]) if ask else 0.0,
    )
    for t in range(1, 51):
        for spelling in (0, 1):
            p = price(t, spelling)
            want = {
                side: next((r for r in levels if Decimal(r[0]) == Decimal(p)), None)
                for side, levels in rows.items()
            }
            for side in ("bid", "ask"):
                assert book.level_at(p, side) == want[side]
                assert book.level_at(Decimal(p), side) == want[side]
            either = want["bid"] or want["ask"]
            assert book.level_at(Decimal(p)) == either
            size = sum((Decimal(x) for x in either[1:]), Decimal(0)) if either else Decimal(0)
            assert book.size_at(p) == size


@settings(max_examples=examples(150), deadline=None)
@given(streams(), st.sampled_from([None, 1, 3, 8]))
def test_engine_matches_reference_model(messages: list[dict[str, Any]], depth: int | None) -> None:
    run_both(messages, depth)


@settings(max_examples=examples(60), deadline=None)
@given(streams(rpi=True), st.sampled_from([None, 4]))
def test_rpi_engine_matches_reference_model(
    messages: list[dict[str, Any]], depth: int | None
) -> None:
    run_both(messages, depth, rpi=True)


@settings(max_examples=examples(60), deadline=None)
@given(streams(), st.sampled_from([None, 5]))
def test_to_snapshot_rebuilds_an_identical_book(
    messages: list[dict[str, Any]], depth: int | None
) -> None:
    book = OrderBook("BTCUSDT", depth=depth)
    for message in messages:
        try:
            book.apply(message)
        except Exception:
            continue
    if book.update_id is None or book.needs_resync:
        return
    copy = OrderBook("BTCUSDT", depth=depth)
    copy.apply(book.to_snapshot())
    copy._check()
    assert (copy.bids(), copy.asks()) == (book.bids(), book.asks())
    assert (copy.update_id, copy.seq, copy.ts, copy.cts) == (
        book.update_id,
        book.seq,
        book.ts,
        book.cts,
    )
    assert copy.to_snapshot() == book.to_snapshot()


@pytest.mark.parametrize("seed", cases(range(6)))
def test_seeded_stress_checks_invariants_after_every_action(seed: int) -> None:
    """Long random streams around a moving mid: mostly valid deltas, some faults."""
    rng = random.Random(seed)
    depth = rng.choice([None, 25, 50])
    book = OrderBook("BTCUSDT", depth=depth)
    ref = RefBook(depth=depth)
    u = 1000

    def px(tick: int) -> str:
        return f"{tick // 100}.{tick % 100:02d}"

    def rows(low: int, sizes: list[str], n: int) -> list[list[str]]:
        return [[px(t), rng.choice(sizes)] for t in rng.sample(range(low, low + 300), n)]

    for step in range(2500):
        roll = rng.random()
        if ref.bids and ref.asks:  # split between the best prices, in cents
            split = (int(max(ref.bids) * 100) + int(min(ref.asks) * 100)) // 2
        else:
            split = 100_000
        if step == 0 or roll < 0.01 or (ref.needs_resync and roll < 0.2):  # resubscribe
            u += rng.randint(0, 3)
            sizes = ["0.100", "1", "25.5"]
            message = snapshot(u, rows(split - 299, sizes, 60), rows(split + 1, sizes, 60))
        else:
            bids = rows(split - 299, ["0", "1.500", "0.010"], 5)  # at most the split
            asks = rows(split + 1, ["0", "2.000", "0.020"], 5)  # above it
            fault = rng.random()
            if 0.02 < fault < 0.025:
                bids.append([px(split + 400), "1"])  # crosses
            candidate = u + (1 if fault > 0.02 else rng.choice([-1, 0, 2, 3]))
            message = delta(candidate, bids, asks)
            u = max(u, candidate)
        want = ref.apply(message)
        if isinstance(want, type):
            with pytest.raises(want):
                book.apply(message)
        else:
            assert book.apply(message) is want
        book._check()
        if step % 25 == 0 or book.needs_resync:
            assert book.bids() == ref.bid_rows() and book.asks() == ref.ask_rows()
    assert book.bids() == ref.bid_rows() and book.asks() == ref.ask_rows()
    assert book.stats.deltas > 1500
    assert book.stats.gaps > 0 and book.stats.crossed > 0 and book.stats.unknown_deletes > 0
