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
        term.wait_for(lambda t: len(_ladder_rows(t)) == levels, f"{levels} ladder rows")
        lines = term.lines
        assert lines[0].startswith("orderbook.50.BTCUSDT  CONNECTED")
        assert "stream: connected" in lines[1]
        assert lines[2].startswith("orderbook.50.BTCUSDT  LIVE  u=")
        assert lines[3].split() == ["cum", "bid", "size", "bid", "ask", "ask", "size", "cum"]
        assert all(len(line) <= cols for line in lines)
        bids = [float(row.split()[2]) for row in _ladder_rows(term)]
        asks = [float(row.split()[3]) for row in _ladder_rows(term)]
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
        assert bids[0] < asks[0]
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
    try:
        term.wait_for(lambda t: bool(t.lines[23]), "a tape down to the last row")
        lines = term.lines
        assert lines[0].startswith("publicTrade.BTCUSDT  CONNECTED")
        assert lines[2].split() == ["time", "symbol", "side", "price", "size"]
        for row in lines[3:]:
            time_, symbol, side, price, size = row.split()
            assert symbol == "BTCUSDT" and side in ("Buy", "Sell")
            assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", time_) and float(price) and float(size)
        save_screen("stream-trades-80x24", lines)
    finally:
        term.interrupt()
    assert term.wait_exit() == 130


def test_ticker_panel_fits_80x24(binary: str, env: dict[str, str], save_screen) -> None:
    term = Terminal([binary, "stream", "ticker", "--symbol", "BTCUSDT"], cols=80, rows=24, env=env)
    try:
        term.wait_for(lambda t: any(line.startswith("lastPrice") for line in t.lines), "a ticker")
        lines = term.lines
        assert lines[0].startswith("tickers.BTCUSDT  CONNECTED")
        assert lines[2] == "tickers.BTCUSDT"
        assert lines[3].split()[0] == "lastPrice" and lines[4].split()[0] == "bid1Price"
        assert any(re.search(r"nextFundingTime +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", x) for x in lines)
        assert all(len(line) <= 80 for line in lines)
        save_screen("stream-ticker-80x24", lines)
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
