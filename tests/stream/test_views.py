"""The live views, rendered to text: what a person sees for each state."""

from __future__ import annotations

import io

from rich.console import Console

from bybitctl.stream.pipeline import Pipeline
from bybitctl.stream.views import Dashboard, Rate
from stream.frames import book, snapshot, trade


def _text(dashboard: Dashboard, now: float = 1_700_000_100.0) -> str:
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(dashboard.render(now))
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_ladder_shows_cumulative_sizes_spread_mid_and_state() -> None:
    pipe = Pipeline()
    pipe.feed(snapshot(10))
    view = Dashboard("book", "orderbook.50.BTCUSDT", pipe, levels=3)
    view.set_connection("connected", "")
    text = _text(view)
    assert "LIVE" in text
    assert "CONNECTED" in text
    assert "u=10" in text
    assert "spread=0.5" in text
    assert "mid=100.25" in text
    assert "imbalance(5)=" in text
    row = next(line for line in text.splitlines() if "99.0" in line)
    assert "6" in row.split()  # 1 + 2 + 3 on the bid side
    assert "7.5" in row.split()  # 1.5 + 2.5 + 3.5 on the ask side


def test_live_view_draws_from_the_book_so_its_events_carry_no_levels() -> None:
    jsonl, live = Pipeline(levels=2), Pipeline(levels=2)
    view = Dashboard("book", "t", live, levels=3)
    (printed,) = jsonl.feed(snapshot(10))
    (drawn,) = live.feed(snapshot(10))
    assert printed["bids"] == [("100.0", "1"), ("99.5", "2")]
    assert drawn == {k: v for k, v in printed.items() if k not in ("bids", "asks")}
    row = next(line for line in _text(view).splitlines() if "99.0" in line)
    assert "7.5" in row.split()  # all three levels, from the book itself


def test_ladder_says_resyncing_and_shows_no_levels() -> None:
    pipe = Pipeline()
    pipe.feed(snapshot(10))
    pipe.feed(book("delta", 12, [["99.7", "4"]], []), 1_700_000_090 * 10**9)
    text = _text(Dashboard("book", "t", pipe, levels=3))
    assert "RESYNCING" in text
    assert "last resync 10s ago: gap:" in text
    assert "100.0" not in text


def test_trade_tape_newest_first() -> None:
    pipe = Pipeline()
    view = Dashboard("trades", "t", pipe, levels=3)
    for price in ("100.1", "100.2"):
        for event in pipe.feed(trade(price)):
            view.update(event)
    text = _text(view)
    assert text.index("100.2") < text.index("100.1")
    assert "Buy" in text


def test_ticker_panel_shows_merged_fields() -> None:
    pipe = Pipeline()
    view = Dashboard("ticker", "t", pipe, levels=3)
    pipe.feed(
        {
            "topic": "tickers.BTCUSDT",
            "type": "snapshot",
            "ts": 1,
            "data": {"symbol": "BTCUSDT", "lastPrice": "100", "fundingRate": "0.0001"},
        }
    )
    pipe.feed({"topic": "tickers.BTCUSDT", "type": "delta", "ts": 2, "data": {"lastPrice": "101"}})
    text = _text(view)
    assert "101" in text
    assert "0.0001" in text


def test_event_log_summarises_private_events() -> None:
    pipe = Pipeline()
    view = Dashboard("log", "order", pipe, levels=3)
    frame = {
        "topic": "order",
        "creationTime": 1_700_000_000_000,
        "data": [
            {
                "symbol": "BTCUSDT",
                "side": "Buy",
                "orderStatus": "Filled",
                "price": "100.5",
                "qty": "0.01",
                "orderId": "x",
            }
        ],
    }
    for event in pipe.feed(frame):
        view.update(event)
    text = _text(view)
    assert "symbol=BTCUSDT side=Buy orderStatus=Filled price=100.5 qty=0.01" in text
    assert "22:13:20.000" in text


def test_rate_counts_the_last_full_second() -> None:
    rate = Rate()
    rate.add(3, 10.1)
    rate.add(4, 10.9)
    assert rate.value == 0
    rate.add(1, 11.2)
    assert rate.value == 7
    rate.add(1, 14.0)
    assert rate.value == 0  # nothing arrived during second 13
