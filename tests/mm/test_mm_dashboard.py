"""The live dashboard's frame at a given terminal size, from status and other events: the
rows in their places, nothing wider or taller than the terminal, refusals with their
reason, repeated events counted on one line, and stderr taken into the events panel while
the view runs (tests/terminal/test_mm_views.py sees the same through a real terminal)."""

from __future__ import annotations

import io
import os
from typing import Any

import pytest
from rich.console import Console
from rich.screen import Screen

from bybitctl.mm.dashboard import MIN_EVENTS, Dashboard

T0 = 1_700_000_000.0
"""The events' stamp in these tests: 22:13:20 UTC."""


def quote(side: str, price: float, **over: Any) -> dict[str, Any]:
    q = {"side": side, "price": price, "qty": 0.002, "status": "open", "level": 0}
    return {"level_qty": None, "queue_ahead": None, **q, **over}


def status(**over: Any) -> dict[str, Any]:
    """A status event as `bybitctl.mm.status.snapshot` builds it: figures are numbers."""
    return {
        "event": "status",
        "symbol": "BTCUSDT",
        "run_id": "mmabc123",
        "uptime_s": 1.5,
        "guard": "quoting",
        "kill": "armed",
        "mmp": False,
        "public": True,
        "private": True,
        "trade_ws": True,
        "bid": [64999.9, 0.302],
        "ask": [65000.0, 0.5],
        "quotes": [
            quote("Buy", 64999.9, level_qty=0.302, queue_ahead=0.3),
            quote("Sell", 65001.0),
        ],
        "position": 1e-05,
        "realized_pnl": 0.0123456789,
        "unrealized_pnl": 0.0,
        "fees": -0.001,
        "funding": 0.0,
        "fills": 3,
        "equity": 265011.12,
        "orders_placed": 2,
        "orders_amended": 0,
        "orders_cancelled": 0,
        "rejects": 0,
        "quote_uptime_pct": 100.0,
        "latency_us": {"p50": 85.3, "p99": 410.0, "n": 12},
        "recent_fills": [],
        **over,
    }


def dashboard(*events: dict[str, Any]) -> Dashboard:
    board = Dashboard(Console(file=io.StringIO()), clock=lambda: T0, stderr_fd=None)
    for event in events:
        board(event)
    return board


def screen(board: Dashboard, width: int, height: int) -> list[str]:
    return [line.plain for line in board.lines(width, height)]


def refused(n: int = 1, code: int = 110007, message: str = "ab not enough") -> list[dict]:
    event = {"event": "reject", "link_id": "mmabc123-3", "action": "Place", "code": code}
    return [{**event, "message": message, "path": "ws"}] * n


def test_an_80x24_frame_has_every_part_in_its_place_and_numbers_in_plain_notation() -> None:
    board = dashboard({"event": "guard", "reason": "quoting"}, status())
    lines = screen(board, 80, 24)
    assert lines[0] == "bybitctl mm  BTCUSDT  mmabc123  up 1.5s  QUOTING  kill armed"
    assert lines[1] == "public up  private up  trade up  equity 265011.12"
    assert lines[3].split() == ["price", "qty", "status", "at", "price", "ahead"]
    assert [line.split() for line in lines[4:8]] == [
        ["our", "ask", "65001.0", "0.002", "open", "-", "-"],
        ["best", "ask", "65000.0", "0.500"],
        ["best", "bid", "64999.9", "0.302"],
        ["our", "bid", "64999.9", "0.002", "open", "0.302", "0.3"],
    ]
    assert lines[9:12] == [
        "position 0.00001   realised 0.01234568   unrealised 0   fees -0.001   funding 0",
        "fills 3   placed 2   amended 0   cancelled 0   rejects 0",
        "quote uptime 100%   tick-to-quote p50 85.3µs p99 410µs (n=12)",
    ]
    assert lines[12] == "─ events " + "─" * 71
    assert lines[13] == "22:13:20 quoting"
    assert len(lines) == 14 and all(len(line) <= 80 for line in lines)


def test_the_events_take_the_rows_left_and_the_newest_stay() -> None:
    fills = [
        {"event": "fill", "side": "Buy", "price": f"1{i:02d}.0", "qty": "0.001"}
        | {"fee": "0.01", "maker": True, "position": "0.001", "link_id": "x"}
        for i in range(30)
    ]
    lines = screen(dashboard(*fills, status()), 80, 24)
    assert len(lines) == 24
    events = lines[13:]
    assert len(events) == 11
    assert events[0].startswith("22:13:20 fill Buy 0.001 @ 119.0 maker")
    assert events[-1].startswith("22:13:20 fill Buy 0.001 @ 129.0 maker")


def test_a_refusal_says_its_reason_and_a_run_of_them_is_one_line() -> None:
    board = dashboard(
        *refused(3), {"event": "guard", "reason": "guard:stale"}, *refused(2, 110003, "")
    )
    lines = screen(board, 110, 24)
    assert lines[-3:] == [
        "22:13:20 ×3 reject place 110007: Available balance is insufficient (ab not enough)",
        "22:13:20 pulled: guard:stale",
        "22:13:20 ×2 reject place 110003: Order price exceeds the allowable range .",
    ]


def test_a_breaker_a_kill_and_a_stop_show_in_the_header_and_the_events() -> None:
    board = dashboard(
        status(kill="paused", mmp=True, guard="kill:drawdown", private=False),
        {"event": "kill", "state": "paused", "reason": "drawdown"},
        {"event": "rejects", "code": 110007, "count": 20, "message": "x"},
    )
    lines = screen(board, 100, 24)
    assert lines[0].endswith("PULLED: kill:drawdown  kill paused  MMP")
    assert lines[1].startswith("public up  private DOWN  trade up")
    assert lines[-2:] == [
        "22:13:20 kill switch paused: drawdown",
        "22:13:20 reject breaker: 20 placements in a row refused with 110007, stopping",
    ]
    board({"event": "stopping", "reason": "rejects:110007"})
    assert "STOPPING: rejects:110007" in screen(board, 100, 24)[0]


def test_before_the_first_status_the_view_says_it_is_starting() -> None:
    start = {"event": "start", "run_id": "mmabc123", "symbol": "BTCUSDT", "position": "0"}
    board = dashboard(start | {"target": "paper(seed=7)", "resumed_runs": 0})
    lines = screen(board, 80, 24)
    assert lines[0] == "bybitctl mm  BTCUSDT  mmabc123  STARTING"
    assert lines[1] == "paper(seed=7)"
    assert lines[-1] == "22:13:20 start mmabc123 BTCUSDT, position 0, on paper(seed=7)"


def test_many_levels_keep_the_nearest_and_leave_the_events_their_rows() -> None:
    asks = [quote("Sell", 65001.0 + i) for i in range(20)]
    bids = [quote("Buy", 64999.0 - i) for i in range(20)]
    events = [{"event": "guard", "reason": f"guard:{why}"} for why in "abcdef"]
    lines = screen(dashboard(*events, status(quotes=asks + bids)), 80, 24)
    assert len(lines) == 24
    rule = next(i for i, line in enumerate(lines) if line.startswith("─ events"))
    assert len(lines) - rule - 1 == MIN_EVENTS
    assert lines[-1] == "22:13:20 pulled: guard:f"
    rows = [line.split() for line in lines[4:] if line.startswith(("our", "best"))]
    asks_shown = [float(r[2]) for r in rows if r[:2] == ["our", "ask"]]
    bids_shown = [float(r[2]) for r in rows if r[:2] == ["our", "bid"]]
    assert asks_shown == [65005.0, 65004.0, 65003.0, 65002.0, 65001.0]  # the nearest five
    assert bids_shown == [64999.0, 64998.0, 64997.0, 64996.0, 64995.0]


def test_a_wide_terminal_puts_the_events_beside_and_shows_the_latest_fills() -> None:
    fill = {"event": "fill", "side": "Sell", "price": 65001.0, "qty": 0.002, "fee": 0.013}
    fill |= {"maker": True, "position": -0.002, "link_id": "x"}
    board = dashboard(*refused(), status(recent_fills=[fill]))
    lines = screen(board, 160, 50)
    assert lines[2].startswith("            price") and lines[2][80:].startswith("─ events ")
    assert lines[3][80:].startswith("22:13:20 reject place 110007: Available balance")
    assert "latest fills" in [line[:78].strip() for line in lines]
    assert "Sell 0.002 @ 65001  maker  fee 0.013  position -0.002" in [
        line[:78].strip() for line in lines
    ]
    assert len(lines) == 50 and all(len(line) <= 160 for line in lines)


@pytest.mark.parametrize(("width", "height"), [(80, 24), (160, 50), (60, 10)])
def test_the_frame_drawn_on_a_screen_is_the_lines_and_fits(width: int, height: int) -> None:
    board = dashboard(*refused(40), status())
    console = Console(width=width, height=height, record=True, force_terminal=True)
    console.print(Screen(board.render()))
    drawn = console.export_text().splitlines()
    assert len(drawn) == height
    lines = [line.rstrip() for line in screen(board, width, height)]
    assert [line.rstrip() for line in drawn] == [*lines, *[""] * (height - len(lines))]


def test_stderr_written_during_the_view_is_an_event_then_written_again(
    capsys: pytest.CaptureFixture[str],
) -> None:
    master, slave = os.openpty()  # the terminal stderr would be
    try:
        board = Dashboard(Console(file=io.StringIO()), clock=lambda: T0, stderr_fd=slave)
        with board:
            os.write(slave, b"a library's warning\nand a second line\n")
        os.write(slave, b"after the view\n")
        lines = screen(board, 80, 24)
        assert lines[-2:] == ["22:13:20 a library's warning", "22:13:20 and a second line"]
        assert capsys.readouterr().err == "a library's warning\nand a second line\n"
        assert os.read(master, 1024).replace(b"\r", b"") == b"after the view\n"
    finally:
        os.close(master)
        os.close(slave)


def test_stderr_that_is_not_a_terminal_is_left_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    with (tmp_path / "log").open("w") as log:
        board = Dashboard(Console(file=io.StringIO()), clock=lambda: T0, stderr_fd=log.fileno())
        with board:
            os.write(log.fileno(), b"to the log\n")
    assert (tmp_path / "log").read_text() == "to the log\n"
    assert board.events == type(board.events)() and capsys.readouterr().err == ""
