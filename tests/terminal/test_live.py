"""The `stream` live views on 80x24 and 160x50 terminals, as the emulated screen shows them:
the whole view fits, its title is the top row (no status line above it), and a dropped
connection or a resync is a notice inside the view while the ladder keeps its place."""

from __future__ import annotations

import re

import pytest

from bybitctl.sim import SimHandle
from terminal.screen import Terminal

LEVEL = re.compile(r"\s*(\d+(\.\d+)?\s+){5}\d+(\.\d+)?")
"""A ladder row: cum, bid size, bid, ask, ask size, cum."""


def _ladder_rows(term: Terminal) -> list[str]:
    return [line for line in term.lines[4:] if LEVEL.fullmatch(line)]


def _whole_ladder(term: Terminal, topic: str, levels: int) -> bool:
    """One whole frame of a live ladder on the screen: the title on top, the notice line,
    the book's line and header, and `levels` rows in price order. (The screen is read while
    the program draws, so a frame half drawn over the last one does not count.)"""
    lines = term.lines
    rows = _ladder_rows(term)
    if len(rows) != levels or not lines[0].startswith(f"{topic}  CONNECTED"):
        return False
    bids = [float(row.split()[2]) for row in rows]
    asks = [float(row.split()[3]) for row in rows]
    return (
        "stream: connected" in lines[1]
        and lines[2].startswith(f"{topic}  LIVE  u=")
        and lines[3].split() == ["cum", "bid", "size", "bid", "ask", "ask", "size", "cum"]
        and bids == sorted(bids, reverse=True)
        and asks == sorted(asks)
        and bids[0] < asks[0]
    )


@pytest.mark.parametrize(("cols", "rows"), [(80, 24), (160, 50)])
def test_orderbook_ladder_fills_the_screen_under_its_title(
    binary: str, env: dict[str, str], cols: int, rows: int, save_screen
) -> None:
    term = Terminal(
        [binary, "stream", "orderbook", "--symbol", "BTCUSDT", "--depth", "50"],
        cols=cols,
        rows=rows,
        env=env,
    )
    try:
        levels = min(25, rows - 4)  # title, notice, book line and header take four rows
        term.wait_for(
            lambda t: _whole_ladder(t, "orderbook.50.BTCUSDT", levels),
            f"a whole ladder of {levels} rows under its title",
        )
        lines = term.lines
        assert all(len(line) <= cols for line in lines)
        assert levels + 4 <= rows
        save_screen(f"stream-orderbook-{cols}x{rows}", lines)
    finally:
        term.interrupt()
    assert term.wait_exit() == 130


def test_a_dropped_connection_is_a_notice_inside_the_view(
    binary: str, env: dict[str, str], exchange: SimHandle
) -> None:
    term = Terminal(
        [binary, "stream", "orderbook", "--symbol", "ETHUSDT", "--depth", "50"],
        cols=80,
        rows=24,
        env=env,
    )
    try:
        term.wait_for(lambda t: len(_ladder_rows(t)) == 20, "a full ladder")
        before = term.lines[1]
        exchange.set_faults("drop_ws")
        term.wait_for(
            lambda t: (
                t.lines[1] != before
                and re.match(r"\d\d:\d\d:\d\d stream: connected", t.lines[1]) is not None
                and len(_ladder_rows(t)) == 20
            ),
            "the ladder back, under the notices of the reconnect",
        )
        lines = term.lines
        assert lines[0].startswith("orderbook.50.ETHUSDT  CONNECTED")
        assert lines[2].startswith("orderbook.50.ETHUSDT  LIVE")
        assert sum("stream:" in line for line in lines) == 1, "one notice line, nothing above"
    finally:
        exchange.set_faults("")
        term.interrupt()
    assert term.wait_exit() == 130


def test_a_resync_is_a_notice_and_the_book_comes_back(
    binary: str, env: dict[str, str], exchange: SimHandle
) -> None:
    term = Terminal(
        [binary, "stream", "orderbook", "--symbol", "BTCUSDT", "--depth", "50"],
        cols=80,
        rows=24,
        env=env,
    )
    try:
        term.wait_for(lambda t: len(_ladder_rows(t)) == 20, "a full ladder")
        exchange.set_faults("skip_u:once")
        term.wait_for(
            lambda t: (
                "resync orderbook.50.BTCUSDT" in t.lines[1]
                and t.lines[2].startswith("orderbook.50.BTCUSDT  LIVE")
                and len(_ladder_rows(t)) == 20
            ),
            "the resync notice over a live ladder",
        )
        assert term.lines[0].startswith("orderbook.50.BTCUSDT")
    finally:
        exchange.set_faults("")
        term.interrupt()
    assert term.wait_exit() == 130


def test_trade_tape_fits_80x24(binary: str, env: dict[str, str], save_screen) -> None:
    term = Terminal([binary, "stream", "trades", "--symbol", "BTCUSDT"], cols=80, rows=24, env=env)
    trade = re.compile(r"\d\d:\d\d:\d\d\.\d{3}  BTCUSDT  (Buy |Sell)\s+\d+\.\d+\s+\d+\.\d+")

    def whole_tape(t: Terminal) -> bool:
        lines = t.lines
        return (
            lines[0].startswith("publicTrade.BTCUSDT  CONNECTED")
            and lines[2].split() == ["time", "symbol", "side", "price", "size"]
            and all(trade.fullmatch(row) for row in lines[3:])
        )

    try:
        term.wait_for(whole_tape, "a tape of trades down to the last row")
        save_screen("stream-trades-80x24", term.lines)
    finally:
        term.interrupt()
    assert term.wait_exit() == 130


def test_ticker_panel_fits_80x24(binary: str, env: dict[str, str], save_screen) -> None:
    term = Terminal([binary, "stream", "ticker", "--symbol", "BTCUSDT"], cols=80, rows=24, env=env)
    funding = re.compile(r".*nextFundingTime +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")

    def whole_panel(t: Terminal) -> bool:
        lines = t.lines
        return (
            lines[0].startswith("tickers.BTCUSDT  CONNECTED")
            and lines[2] == "tickers.BTCUSDT"
            and lines[3].split()[:1] == ["lastPrice"]
            and lines[4].split()[:1] == ["bid1Price"]
            and any(funding.fullmatch(line) for line in lines)
        )

    try:
        term.wait_for(whole_panel, "a ticker panel")
        assert all(len(line) <= 80 for line in term.lines)
        save_screen("stream-ticker-80x24", term.lines)
    finally:
        term.interrupt()
    assert term.wait_exit() == 130


def test_the_last_frame_stays_when_the_stream_ends(binary: str, env: dict[str, str]) -> None:
    args = ["stream", "orderbook", "--symbol", "BTCUSDT", "--depth", "50", "--count", "30"]
    term = Terminal([binary, *args], cols=80, rows=24, env=env)
    assert term.wait_exit() == 0
    transcript = term.transcript
    top = max(i for i, line in enumerate(transcript) if line.startswith("orderbook.50.BTCUSDT  "))
    frame = transcript[top - 2 :]
    assert frame[0].startswith("orderbook.50.BTCUSDT  CONNECTED")
    assert len([line for line in frame if LEVEL.fullmatch(line)]) == 19  # one row for the prompt
