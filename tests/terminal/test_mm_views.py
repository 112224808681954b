"""`bybitctl mm` as a person sees it: the installed binary in a pseudo-terminal of 80x24 and
160x50, its output read through a terminal emulator (pyte), the market maker quoting the
local exchange (`mm start --paper`).

What is asserted is the screen: the dashboard's rows in their places (header on top, the
quotes, the figures, the events panel filling the rest), whole values on one line, a refusal
and its reason in the events panel, a stderr line inside the view instead of across it, and,
once the run is over, nothing of the view left: the report is the first thing on the screen.
`mm status`, `mm runs` and `mm report` are read the same way, from another terminal.

The pseudo-terminal is `terminal.screen.Terminal`: the program gets a terminal of a fixed
size before it starts, and every wait is on what the screen shows (the dashboard's frames
read once the output pauses, so a half-drawn frame is never judged), with a generous
timeout, never a fixed sleep. Full-screen views draw on the alternate screen, which the
emulator keeps as xterm does: leaving it brings back the screen as it was, with nothing of
the view in the scrollback.

Set MM_SAVE_SCREENS=DIR (or pass `--save-screens DIR` where that option is defined) to keep
the screens the tests saw, as text (docs/mm.md shows two).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from terminal import screen
from terminal.screen import WAIT_S, Terminal

SIZES = [(80, 24), (160, 50)]
SEED = "7"
NUMBER = r"-?\d+(?:\.\d+)?"
TIME = r"\d\d:\d\d:\d\d"
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
BALANCE = "reject place 110007: Available balance is insufficient"
"""The events panel's line for a placement the exchange refused for margin."""


def show(argv: Sequence[str], cols: int, rows: int, env: dict[str, str]) -> list[str]:
    """What a command that exits 0 showed on a `cols` x `rows` terminal."""
    code, transcript = screen.run(argv, cols=cols, rows=rows, env=env)
    assert code == 0, "\n".join(transcript)
    return transcript


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def binary() -> str:
    found = shutil.which("bybitctl", path=str(Path(sys.executable).parent))
    assert found, "bybitctl is not installed in this venv (pip install -e .)"
    return found


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A person's terminal: a private home, no bybitctl settings, no COLUMNS/LINES (the
    terminal's size decides)."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BYBIT", "_BYBITCTL")) and k not in ("COLUMNS", "LINES")
    }
    return {
        **base,
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "TERM": "xterm-256color",
    }


@pytest.fixture
def save_screen(request: pytest.FixtureRequest) -> Callable[[str, list[str]], None]:
    """`save_screen(name, lines)`: keep a screen as text when asked to."""
    target = request.config.getoption("--save-screens", default=None) or os.environ.get(
        "MM_SAVE_SCREENS"
    )

    def save(name: str, lines: list[str]) -> None:
        if target:
            path = Path(target) / f"{name}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")

    return save


@pytest.fixture
def bots() -> Iterator[list[Terminal]]:
    """Dashboards started by a test; one still running at the end is killed."""
    started: list[Terminal] = []
    yield started
    for term in started:
        term.kill()


def start(
    bots: list[Terminal],
    binary: str,
    env: dict[str, str],
    journal: Path,
    size: tuple[int, int],
    *flags: str,
    debug: bool = False,
) -> Terminal:
    argv = [binary, *(["--debug"] if debug else []), "mm", "start", "--paper"]
    argv += ["--paper-seed", SEED, "--journal", str(journal), *flags]
    term = Terminal(argv, cols=size[0], rows=size[1], env=env)
    bots.append(term)
    return term


def piped(binary: str, env: dict[str, str], *args: str) -> Any:
    """A command's JSON answer through a pipe."""
    proc = subprocess.run(
        [binary, *args], capture_output=True, text=True, env=env, timeout=WAIT_S, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# -- reading the dashboard -----------------------------------------------------------------

HEADER = re.compile(
    rf"bybitctl mm  BTCUSDT  mm[0-9a-z]{{6}}  up {NUMBER}s  (QUOTING|PULLED: \S+)  kill armed"
)
CONNECTIONS = re.compile(rf"public up  private up  trade up(  equity {NUMBER})?")
QUOTE_HEADER = ["price", "qty", "status", "at", "price", "ahead"]
BOOK_ROW = re.compile(rf"(best ask|best bid) +({NUMBER}) +({NUMBER})")
QUOTE_ROW = re.compile(
    rf"(our ask|our bid) +({NUMBER}) +({NUMBER}) +(open|pending_\w+) +({NUMBER}|-) +({NUMBER}|-)"
)
FIGURES = re.compile(
    rf"position {NUMBER}   realised {NUMBER}   unrealised {NUMBER}   fees {NUMBER}"
    rf"   funding {NUMBER}"
    r"   fills \d+   placed \d+   amended \d+   cancelled \d+   rejects (?P<rejects>\d+)"
    rf"   quote uptime {NUMBER}%   tick-to-quote p50 {NUMBER}µs p99 {NUMBER}µs \(n=\d+\)"
)
"""The figures, their lines joined: a narrow terminal breaks them between two figures."""
EVENT = re.compile(rf"{TIME} (×\d+ )?\S.*")
PYBIT_LOG = re.compile(rf"{TIME} (×\d+ )?WebSocket .*\(ws://127\.0\.0\.1:\d+/v5/")
"""pybit's log line of a dropped socket (on stderr), as the events panel shows it."""


def panes(lines: list[str]) -> tuple[list[str], list[str]]:
    """The dashboard's body (below the two header rows) as its left part and its events
    panel: beside each other on a wide screen (split where the panel's rule starts), else
    the panel below."""
    body = lines[2:]
    at = next((row.find("─ events ") for row in body if "─ events " in row), -1)
    if at > 0:
        return [row[:at].rstrip() for row in body], [row[at:].rstrip() for row in body]
    cut = next((i for i, row in enumerate(body) if row.startswith("─ events ")), len(body))
    return body[:cut], body[cut:]


def dashboard(lines: list[str]) -> dict[str, Any] | None:
    """The whole frame on the screen, read into its parts; None if the screen does not
    show one (not yet, or not whole)."""
    if len(lines) < 2 or not HEADER.fullmatch(lines[0]) or not CONNECTIONS.fullmatch(lines[1]):
        return None
    left, right = panes(lines)
    top = left[1:] if left and not left[0] else left
    if not top or top[0].split() != QUOTE_HEADER:
        return None
    rows = []
    for row in top[1:]:
        if not row:
            break
        match = BOOK_ROW.fullmatch(row) or QUOTE_ROW.fullmatch(row)
        if match is None:
            return None
        rows.append(match.groups())
    figure_lines = []
    for row in top[len(rows) + 2 :]:
        if not row:
            break
        figure_lines.append(row)
    figures = FIGURES.fullmatch("   ".join(figure_lines))
    if figures is None:
        return None
    if not right or not right[0].startswith("─ events "):
        return None
    events = [row for row in right[1:] if row]
    if not all(EVENT.fullmatch(row) for row in events):
        return None
    labels = [r[0] for r in rows]
    return {
        "top": top,
        "labels": labels,
        "rows": rows,
        "figure_lines": figure_lines,
        "rejects": int(figures["rejects"]),
        "events": events,
        "panel_rows": len(right) - 1,
    }


def both_sides(term: Terminal) -> bool:
    """Whether the terminal shows the dashboard quoting both sides."""
    return quoting(dashboard(term.lines))


def quoting(frame: dict[str, Any] | None) -> bool:
    """Our bid and ask resting around the book top."""
    return frame is not None and frame["labels"] == ["our ask", "best ask", "best bid", "our bid"]


def key_values(lines: list[str]) -> list[tuple[str, str]]:
    """Field/value lines (a table's `key value` header and rules skipped)."""
    out = []
    for line in lines:
        if not line.strip() or set(line.strip()) <= {"─", " "} or line.split() == ["key", "value"]:
            continue
        key, _, value = line.partition(" ")
        out.append((key, value.strip()))
    return out


def table_rows(lines: list[str], header: list[str]) -> list[list[str]]:
    """The rows under the line whose words are `header`, to the first blank line."""
    start = next(i for i, line in enumerate(lines) if line.split() == header)
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        if set(line.strip()) <= {"─", " "}:
            continue
        rows.append(line.split())
    return rows


def assert_only_the_report(transcript: list[str], report: dict[str, Any]) -> None:
    """Nothing of the view left: the screen holds the report and nothing else, one figure a
    line, every value whole (`mm report -o json` has the same figures)."""
    assert not any("bybitctl mm" in line or "─ events" in line for line in transcript)
    lines = key_values(transcript)
    keys = [key for key, _ in lines]
    want = [k for k in report if k != "rejects"]
    want += [f"rejects.{r['code']}" for r in report["rejects"]] or ["rejects"]
    assert keys == want, transcript
    values = dict(lines)
    assert values["run_id"] == report["run_id"] and values["exit_reason"] == report["exit_reason"]
    assert values["orders_placed"] == str(report["orders_placed"])
    for key in ("fees_quote", "realized_pnl", "total_pnl", "mark", "duration_s"):
        assert re.fullmatch(NUMBER, values[key]), (key, values[key])
        assert abs(float(values[key]) - report[key]) < 1e-8
    assert values["reconciled"] == "true"


def exchange_url(journal: Path) -> str:
    """The paper exchange's address, from the run's target in the journal."""
    with sqlite3.connect(journal) as db:
        (target,) = db.execute("SELECT target FROM runs ORDER BY started_ms DESC").fetchone()
    return target.partition(":")[2]


# -- the tests -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x50"])
def test_the_dashboard_fills_the_terminal_and_leaves_only_the_report(
    binary: str,
    env: dict[str, str],
    tmp_path: Path,
    bots: list[Terminal],
    save_screen: Callable[[str, list[str]], None],
    size: tuple[int, int],
) -> None:
    cols, rows = size
    journal = tmp_path / "j.sqlite"
    term = start(bots, binary, env, journal, size)
    term.wait_for(both_sides, "the dashboard quoting both sides", at_rest=True)
    lines = term.lines
    frame = dashboard(lines)
    assert frame is not None
    assert all(len(line) <= cols for line in lines)
    assert not any(line.endswith("…") for line in lines[:2] + frame["top"])  # nothing cut
    # the rows in their places: header, connections, (a blank), quotes, figures, events
    ask, best_ask, best_bid, bid = frame["rows"]
    assert float(ask[1]) > float(best_ask[1]) > float(best_bid[1]) > float(bid[1])
    assert ask[2] == bid[2] == "0.001"  # --paper's order_qty, whole
    if cols < 120:
        assert lines[2] == "" and lines[3].split() == QUOTE_HEADER and lines[8] == ""
        rule = 9 + len(frame["figure_lines"])  # header 2, blank, quotes 5, blank, figures
        assert lines[rule].startswith("─ events ─") and len(lines[rule]) == cols
        assert frame["panel_rows"] == rows - rule - 1  # the panel takes every row left
    else:
        assert lines[2].split()[:6] == QUOTE_HEADER and "─ events ─" in lines[2]
        assert frame["panel_rows"] == rows - 3  # beside the rest, under the header rows
        assert len(lines[2]) == cols
    assert any(re.fullmatch(rf"{TIME} quoting", e) for e in frame["events"])
    save_screen(f"mm-start-{cols}x{rows}", lines)

    # another terminal of the same size: `mm status` and `mm runs` while it runs
    status = show([binary, "mm", "status", "--journal", str(journal)], cols, rows, env)
    fields = dict(key_values(status[: status.index("")]))
    assert fields["running"] == "true" and fields["status"] == "running"
    assert fields["guard"] == "quoting" and fields["kill"] == "armed"
    for key in ("uptime_s", "position", "realized_pnl", "unrealized_pnl", "fees"):
        assert re.fullmatch(NUMBER, fields[key]), (key, fields[key])
    assert re.fullmatch(rf"{NUMBER} x {NUMBER}", fields["bid"])
    header = ["side", "price", "qty", "status", "level", "level_qty", "queue_ahead"]
    quotes = table_rows(status, header)
    assert sorted(q[0] for q in quotes) == ["Buy", "Sell"]
    assert all(re.fullmatch(NUMBER, q[1]) and q[2] == "0.001" for q in quotes)
    doc = piped(binary, env, "mm", "status", "--journal", str(journal), "-o", "json")
    assert isinstance(doc["position"], float) and isinstance(doc["uptime_s"], float)
    assert all(isinstance(q["price"], float) for q in doc["quotes"])
    assert all(isinstance(x, float) for x in doc["bid"] + doc["ask"])
    (run,) = piped(binary, env, "mm", "runs", "--journal", str(journal), "-o", "json")
    assert run["exit_reason"] == "running"

    stop = subprocess.run(
        [binary, "mm", "stop", "--journal", str(journal)],
        capture_output=True,
        text=True,
        env=env,
        timeout=WAIT_S,
        check=False,
    )
    assert stop.returncode == 0, stop.stderr
    assert term.wait_exit() == 0
    report = piped(binary, env, "mm", "report", "--journal", str(journal), "-o", "json")
    assert report["exit_reason"] == "signal:SIGTERM"
    assert_only_the_report(term.transcript, report)


def test_a_refusal_shows_its_reason_in_the_events_and_the_report(
    binary: str,
    env: dict[str, str],
    tmp_path: Path,
    bots: list[Terminal],
    save_screen: Callable[[str, list[str]], None],
) -> None:
    # a first level of 15 BTC rests; the account's margin refuses every other order
    journal = tmp_path / "j.sqlite"
    flags = ("--levels", "2", "--order-qty", "15", "--max-position", "60", "--reject-limit", "0")
    term = start(bots, binary, env, journal, (80, 24), *flags)
    refused = re.compile(rf"{TIME} (×\d+ )?{BALANCE}")

    def shown(t: Terminal) -> bool:
        frame = dashboard(t.lines)
        return (
            frame is not None
            and "our bid" in frame["labels"]
            and any(refused.fullmatch(e) for e in frame["events"])
            and frame["rejects"] > 0
        )

    term.wait_for(shown, "a resting bid and the refusals' reason in the events", at_rest=True)
    frame = dashboard(term.lines)
    assert frame is not None
    hits = [bool(refused.fullmatch(e)) for e in frame["events"]]
    assert not any(a and b for a, b in pairwise(hits))  # repeats: one line
    save_screen("mm-start-refusals-80x24", term.lines)
    term.interrupt()
    assert term.wait_exit() == 130
    report = piped(binary, env, "mm", "report", "--journal", str(journal), "-o", "json")
    (reject,) = report["rejects"]
    assert reject["code"] == 110007 and reject["count"] >= 1
    assert reject["meaning"] == "Available balance is insufficient"
    assert_only_the_report(term.transcript, report)
    line = f"{reject['count']}  Available balance is insufficient"
    assert dict(key_values(term.transcript))["rejects.110007"] == line
    later = show([binary, "mm", "report", "--journal", str(journal)], 80, 24, env)
    assert dict(key_values(later))["rejects.110007"] == line


def test_the_reject_breaker_ends_the_run_below_its_report(
    binary: str, env: dict[str, str], tmp_path: Path, bots: list[Terminal]
) -> None:
    journal = tmp_path / "j.sqlite"
    flags = ("--order-qty", "20", "--max-position", "40", "--reject-limit", "5")
    term = start(bots, binary, env, journal, (80, 24), *flags)
    assert term.wait_exit() == 1
    report = piped(binary, env, "mm", "report", "--journal", str(journal), "-o", "json")
    assert report["exit_reason"] == "rejects:110007"
    transcript = term.transcript
    error = "error: stopped: 5 order placements in a row rejected with retCode 110007"
    assert transcript[-1] == error  # on one line of 80
    assert_only_the_report(transcript[:-1], report)


def test_stderr_during_the_view_is_an_event_and_is_kept_after_it(
    binary: str, env: dict[str, str], tmp_path: Path, bots: list[Terminal]
) -> None:
    # --debug lets pybit log a dropped socket to stderr while the dashboard is up
    journal = tmp_path / "j.sqlite"
    term = start(bots, binary, env, journal, (80, 24), debug=True)
    term.wait_for(both_sides, "the dashboard quoting both sides", at_rest=True)
    request = urllib.request.Request(
        exchange_url(journal) + "/_sim/faults", data=b"drop_ws", method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200

    def back_after_the_log(t: Terminal) -> bool:
        frame = dashboard(t.lines)
        if frame is None or not quoting(frame):
            return False
        events = frame["events"]
        logged = [i for i, e in enumerate(events) if PYBIT_LOG.match(e)]
        return bool(logged) and any(e.endswith(" quoting") for e in events[logged[-1] :])

    term.wait_for(back_after_the_log, "pybit's log line in the events, quoting again", at_rest=True)
    lines = term.lines
    frame = dashboard(lines)
    assert frame is not None and lines[3].split() == QUOTE_HEADER
    rule = 9 + len(frame["figure_lines"])
    assert lines[rule].startswith("─ events ─")
    assert not any("WebSocket" in line for line in lines[:rule])  # only in the panel
    stop = subprocess.run(
        [binary, "mm", "stop", "--journal", str(journal)],
        capture_output=True,
        text=True,
        env=env,
        timeout=WAIT_S,
        check=False,
    )
    assert stop.returncode == 0, stop.stderr
    assert term.wait_exit() == 0
    transcript = term.transcript
    assert not any("bybitctl mm" in line or "─ events" in line for line in transcript)
    # pybit's line, written again once the view closed, before the report (folded at the
    # terminal's width wherever its socket's name and port put the fold)
    logged = re.compile(r"encountered\s*error")
    report = piped(binary, env, "mm", "report", "--journal", str(journal), "-o", "json")
    first = next(i for i, line in enumerate(transcript) if line.startswith("orders_placed"))
    assert logged.search("".join(transcript[:first]))
    assert_only_the_report(transcript[first:], report)


@pytest.fixture(scope="module")
def two_runs(binary: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A journal with two short paper runs, and the environment that made it."""
    home = tmp_path_factory.mktemp("runs")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BYBIT", "_BYBITCTL"))} | {
        "HOME": str(home / "home"),
        "XDG_CONFIG_HOME": str(home / "xdg"),
    }
    journal = home / "j.sqlite"
    paper = [binary, "mm", "start", "--paper", "--paper-seed", SEED]
    for _ in range(2):
        subprocess.run(
            [*paper, "--duration", "1", "--journal", str(journal), "-o", "jsonl"],
            capture_output=True,
            env=env,
            timeout=WAIT_S,
            check=True,
        )
    return journal, env


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x50"])
def test_mm_runs_lists_the_runs_newest_first(
    binary: str, env: dict[str, str], two_runs: tuple[Path, dict], size: tuple[int, int]
) -> None:
    journal, _ = two_runs
    cols, rows = size
    runs = piped(binary, env, "mm", "runs", "--journal", str(journal))  # json in a pipe
    assert len(runs) == 2 and runs[0]["started"] >= runs[1]["started"]
    assert all(isinstance(r["pnl"], float) and isinstance(r["fills"], int) for r in runs)
    header = ["run_id", "started", "duration_s", "fills", "pnl", "exit_reason"]
    lines = show([binary, "mm", "runs", "--journal", str(journal)], cols, rows, env)
    table = table_rows(lines, header)
    assert [r[0] for r in table] == [r["run_id"] for r in runs]
    for row, run in zip(table, runs, strict=True):
        assert len(row) == 6, row  # every value whole, on its row
        assert ISO.fullmatch(row[1]) and row[1] == run["started"]
        assert re.fullmatch(NUMBER, row[2]) and float(row[2]) == run["duration_s"]
        assert row[3] == str(run["fills"]) and re.fullmatch(NUMBER, row[4])
        assert row[5] == "duration"
    assert all(len(line) <= cols for line in lines)
    assert len([line for line in lines if line.strip()]) <= 2 + len(runs)  # header (+ rule)
    newest = show(
        [binary, "mm", "runs", "--journal", str(journal), "--limit", "1"], cols, rows, env
    )
    # one run is one row, which prints as field/value lines like any single row
    fields = dict(line.split(maxsplit=1) for line in newest if line.strip())
    assert list(fields) == header and fields["run_id"] == runs[0]["run_id"]
    csv = subprocess.run(
        [binary, "mm", "runs", "--journal", str(journal), "-o", "csv"],
        capture_output=True,
        text=True,
        env=env,
        timeout=WAIT_S,
        check=True,
    ).stdout.splitlines()
    assert csv[0] == ",".join(header) and len(csv) == 3
