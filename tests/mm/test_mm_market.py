"""The public market the strategy sees, kept by the same code live and in the backtest."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bybitctl.book import BookError
from bybitctl.mm.market import Market

from .helpers import book_frame


def market(vol: bool = False) -> Market:
    return Market("SIMUSDT", depth=50, stale_ms=1_000, vol_window_ms=10_000, vol=vol)


def test_a_gap_holds_the_view_resyncing_until_a_snapshot_or_a_restart_message() -> None:
    m = market()
    m.on_book(book_frame("snapshot", 1, [("99.99", "1")], [("100.01", "1")]), 10)
    assert m.view(20).bid == 99.99 and not m.view(20).resyncing
    with pytest.raises(BookError):
        m.on_book(book_frame("delta", 3, [("99.98", "1")], []), 30)
    assert m.view(40).resyncing
    # a delta with u == 1 is the exchange's restart: the book takes it as a snapshot, and
    # so does the guard (a live run used to stay resyncing until a snapshot proper)
    m.on_book(book_frame("delta", 1, [("99.97", "2")], [("100.03", "2")]), 50)
    view = m.view(60)
    assert not view.resyncing and (view.bid, view.ask, view.ts_ms) == (99.97, 100.03, 50)


def test_a_lost_stream_empties_the_book_and_the_mid_falls_back_to_the_last_trade() -> None:
    m = market()
    m.on_book(book_frame("snapshot", 1, [("99.99", "1")], [("100.01", "1")]), 10)
    m.last, m.mark = 100.5, None
    assert (m.mid(), m.mark_price()) == (Decimal("100.00"), Decimal("100.00"))
    m.lost()
    view = m.view(20)
    assert (view.bid, view.ask, view.resyncing) == (0.0, 0.0, True)
    assert m.mid() == Decimal("100.5")
    m.mark = 101.0
    assert m.mark_price() == Decimal("101.0")


def test_volatility_is_kept_only_when_the_spread_scales_with_it() -> None:
    kept, skipped = market(vol=True), market(vol=False)
    for n, (bid, ask) in enumerate([("99.99", "100.01"), ("100.09", "100.11")], start=1):
        frame = book_frame("snapshot", n, [(bid, "1")], [(ask, "1")])
        kept.on_book(frame, n * 100)
        skipped.on_book(frame, n * 100)
    assert kept.view(300).vol_bps == pytest.approx(10.0, rel=1e-3)
    assert skipped.view(300).vol_bps == 0.0
