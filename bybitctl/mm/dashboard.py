"""What `mm start` shows while it runs: a live dashboard on a terminal, JSONL events in a
pipe. Both take the engine's plain-dict events; neither touches engine state, so a slow
terminal can never change a decision.

Both are called while the engine handles events, so they must be quick: a JSONL line costs
~0.1 ms, but one redraw of the dashboard several ms of pure Python, which would hold up every
tick that arrives meanwhile. The dashboard therefore only stores the event; rich's own
refresh thread redraws it twice a second, and the short GIL switch interval `mm start` runs
with (20 µs, `bybitctl.commands.mm.process`) hands the GIL back to the engine within tens of
microseconds of a tick.

The dashboard owns the terminal while it runs: it draws on the alternate screen, every frame
fitted to the terminal's size (80x24 included; from `WIDE` columns the events go beside the
rest), and whatever the process writes to stderr meanwhile (a library's warning, a log line
under `--debug`) becomes a line of its events panel instead of breaking the frame. When it
closes, the terminal is back as it was before the run, and those stderr lines are written
there, so the report that follows is the first thing after them.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from bybitctl.mm.report import plain, reject_reason

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.text import Text

REFRESH_PER_SECOND = 2.0
"""Status events come every 500 ms; redrawing more often would only cost the GIL."""
EVENTS_KEPT = 500
"""Events remembered for the panel: more than any terminal shows."""
STDERR_KEPT = 1000
"""Lines written to stderr during the view that are written again once it closes."""
WIDE = 120
"""From this many columns the events panel stands beside the quotes instead of below."""
MIN_EVENTS = 3
"""Rows the events panel keeps however many quote levels there are."""
GUTTER = 2


class JsonlSink:
    """One JSON object per event and line, flushed at once (for `jq`, log shippers)."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out

    def __call__(self, event: dict[str, Any]) -> None:
        out = self.out or sys.stdout
        try:
            out.write(json.dumps(event, default=str, separators=(",", ":")) + "\n")
            out.flush()
        except BrokenPipeError:
            return

    def __enter__(self) -> JsonlSink:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class Dashboard:
    """The live view: a header (symbol, run, uptime, quoting or why not, kill switch,
    connections), the book top with our quotes (the book's size at each price and the
    estimated qty ahead of ours), inventory and PnL, and the events (fills, refusals with
    their reason, guards, connections, stderr), newest last.

    `console` draws it (a terminal's by default); `clock` stamps the events (UTC);
    `stderr_fd` is taken over while the view runs when it is a terminal (None: never)."""

    def __init__(
        self,
        console: Console | None = None,
        *,
        clock: Callable[[], float] = time.time,
        stderr_fd: int | None = 2,
    ) -> None:
        from rich.console import Console
        from rich.live import Live

        # replaced whole (never mutated) so the refresh thread always reads a consistent value
        self.status: dict[str, Any] = {}
        self.start: dict[str, Any] = {}
        self.stopping = ""
        self.events: deque[tuple[float, dict[str, Any]]] = deque(maxlen=EVENTS_KEPT)
        self.clock = clock
        self.console = console or Console()
        self.stderr = _StderrCapture(stderr_fd, self._stderr_line)
        self.live = Live(
            console=self.console,
            screen=True,
            refresh_per_second=REFRESH_PER_SECOND,
            redirect_stdout=False,
            redirect_stderr=False,
            get_renderable=self.render,
        )

    def __enter__(self) -> Dashboard:
        self.live.__enter__()
        self.stderr.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stderr.stop()
        finally:
            self.live.__exit__(None, None, None)
            self.stderr.replay()

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "status":
            self.status = event
            return
        if kind == "start":
            self.start = event
        elif kind == "stopping":
            self.stopping = str(event.get("reason") or "stopping")
        self.events.append((self.clock(), event))

    def _stderr_line(self, line: str) -> None:
        self.events.append((self.clock(), {"event": "stderr", "line": line}))

    # -- drawing ---------------------------------------------------------------------------

    def render(self) -> _Frame:
        """The current frame, drawn at the size of the console it goes to."""
        return _Frame(self)

    def lines(self, width: int, height: int) -> list[Text]:
        """The screen as at most `height` lines, none wider than `width`."""
        from rich.text import Text

        head = self._header()
        body_rows = max(0, height - len(head))
        if width >= WIDE:
            right = max(40, width // 2)
            left = width - right - GUTTER
            quotes = self._quotes(max(4, body_rows - 10))
            figures = _packed(self._figures(), left)
            side = [*quotes, Text(), *figures]
            fills = self._fills(body_rows - len(side) - 2)
            if fills:
                side += [Text(), *fills]
            events = self._events(body_rows - 1, right)
            body = []
            for i in range(body_rows):
                a = side[i] if i < len(side) else Text()
                b = events[i] if i < len(events) else Text()
                a = a.copy()
                a.truncate(left, overflow="ellipsis", pad=True)
                body.append(Text.assemble(a, " " * GUTTER, b))
        else:
            figures = _packed(self._figures(), width)
            fixed = 2 + len(figures) + 1  # blanks around the quotes, the events' rule
            quotes = self._quotes(max(3, body_rows - fixed - MIN_EVENTS))
            top = [Text(), *quotes, Text(), *figures]
            body = [*top, *self._events(max(0, body_rows - len(top) - 1), width)]
        out = []
        for line in [*head, *body][:height]:
            line.no_wrap = True
            line.overflow = "ellipsis"
            line.truncate(width, overflow="ellipsis")
            out.append(line)
        return out

    def _header(self) -> list[Text]:
        from rich.text import Text

        s, start = self.status, self.start
        symbol = s.get("symbol") or start.get("symbol") or ""
        run_id = s.get("run_id") or start.get("run_id") or ""
        title = Text.assemble(("bybitctl mm", "bold"), "  ", (symbol, "bold"), "  ", run_id)
        if s:
            title.append(f"  up {plain(float(s['uptime_s']))}s")
        if self.stopping:
            title.append(f"  STOPPING: {self.stopping}", style="bold red")
        elif not s:
            title.append("  STARTING", style="yellow")
        elif s["guard"] == "quoting":
            title.append("  QUOTING", style="bold green")
        else:
            title.append(f"  PULLED: {s['guard']}", style="bold yellow")
        if s:
            kill = s["kill"]
            title.append(f"  kill {kill}", style="" if kill == "armed" else "bold red")
            if s.get("mmp"):
                title.append("  MMP", style="bold red")
        conn = Text()
        if s:
            for name, key in (("public", "public"), ("private", "private"), ("trade", "trade_ws")):
                up = bool(s.get(key))
                conn.append(f"{name} ")
                conn.append("up" if up else "DOWN", style="green" if up else "bold red")
                conn.append("  ")
            if s.get("equity") is not None:
                conn.append(f"equity {plain(s['equity'])}")
        else:
            conn.append(str(start.get("target") or "connecting..."), style="dim")
        return [title, conn]

    def _quotes(self, rows: int) -> list[Text]:
        """The book top between our asks (above) and bids (below), the nearest levels that
        fit in `rows` (header included)."""
        from rich.text import Text

        s = self.status
        if not s:
            return []
        quotes = s.get("quotes") or []
        asks = sorted((q for q in quotes if q["side"] == "Sell"), key=lambda q: q["price"])
        bids = sorted((q for q in quotes if q["side"] == "Buy"), key=lambda q: -q["price"])
        room = max(0, rows - 1 - bool(s.get("ask")) - bool(s.get("bid")))
        half = room // 2  # a side with fewer quotes leaves its rows to the other
        keep_asks = min(len(asks), half + max(0, room - half - len(bids)))
        keep_bids = min(len(bids), room - keep_asks)
        table: list[tuple[tuple[str, str], ...]] = []
        for q in reversed(asks[:keep_asks]):
            table.append(_quote_row("our ask", q, "red"))
        if s.get("ask"):
            price, size = s["ask"][:2]
            table.append((("best ask", "bold red"), (plain(price), ""), (plain(size), "")))
        if s.get("bid"):
            price, size = s["bid"][:2]
            table.append((("best bid", "bold green"), (plain(price), ""), (plain(size), "")))
        for q in bids[:keep_bids]:
            table.append(_quote_row("our bid", q, "green"))
        if not table:
            return [Text("no book yet", style="yellow")]
        header = ("", "price", "qty", "status", "at price", "ahead")
        right = (False, True, True, False, True, True)
        table = _aligned(table, numeric=(1, 2, 4, 5))
        widths = [len(h) for h in header]
        for row in table:
            for i, (cell, _) in enumerate(row):
                widths[i] = max(widths[i], len(cell))
        lines = [_row([(h, "bold") for h in header], widths, right)]
        lines += [_row(list(row), widths, right) for row in table]
        return lines

    def _figures(self) -> list[list[str]]:
        """Inventory and PnL, then order counts, then quality: one group a line (or more,
        on a narrow terminal), so a figure keeps its place as the numbers grow."""
        s = self.status
        if not s:
            return []
        lat = s["latency_us"]
        return [
            [
                f"position {plain(s['position'])}",
                f"realised {plain(s['realized_pnl'])}",
                f"unrealised {plain(s['unrealized_pnl'])}",
                f"fees {plain(s['fees'])}",
                f"funding {plain(s.get('funding', 0.0))}",
            ],
            [
                f"fills {s['fills']}",
                f"placed {s['orders_placed']}",
                f"amended {s['orders_amended']}",
                f"cancelled {s['orders_cancelled']}",
                f"rejects {s['rejects']}",
            ],
            [
                f"quote uptime {plain(s['quote_uptime_pct'])}%",
                f"tick-to-quote p50 {plain(lat['p50'])}µs p99 {plain(lat['p99'])}µs (n={lat['n']})",
            ],
        ]

    def _fills(self, rows: int) -> list[Text]:
        """Our latest fills, newest first (wide screens)."""
        from rich.text import Text

        fills = list(reversed(self.status.get("recent_fills") or []))[: max(0, rows - 1)]
        if not fills:
            return []
        lines = [Text("latest fills", style="bold")]
        for f in fills:
            lines.append(
                Text(
                    f"{f['side']:<4} {plain(f['qty'])} @ {plain(f['price'])}"
                    f"  {'maker' if f['maker'] else 'taker'}  fee {plain(f['fee'])}"
                    f"  position {plain(f['position'])}",
                    style="green" if f["side"] == "Buy" else "red",
                )
            )
        return lines

    def _events(self, rows: int, width: int) -> list[Text]:
        """The panel's rule and its last `rows` events, newest last; a run of one event
        repeated shows once, with its count and latest time."""
        from rich.text import Text

        if rows <= 0:
            return []
        shown: list[list[Any]] = []  # [time, text, style, count]
        for ts, event in list(self.events):
            text, style = _describe(event)
            if shown and shown[-1][1] == text:
                shown[-1][0] = ts
                shown[-1][3] += 1
            else:
                shown.append([ts, text, style, 1])
        rule = Text("─ events " + "─" * max(0, width - 9), style="dim")
        lines = [rule]
        for ts, text, style, count in shown[-rows:]:
            line = Text(_clock(ts) + " ", style="dim")
            if count > 1:
                line.append(f"×{count} ", style="bold")
            line.append(text, style=style)
            lines.append(line)
        return lines


class _Frame:
    """A dashboard frame drawn at the size of the console it goes to."""

    def __init__(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.text import Text

        height = options.height or console.size.height
        frame = Text("\n").join(self.dashboard.lines(options.max_width, height))
        frame.no_wrap = True
        frame.overflow = "ellipsis"
        frame.end = ""
        yield frame


class _StderrCapture:
    """Takes file descriptor `fd` over (when it is a terminal): what is written to it goes
    to `line`, one call per line, from a reader thread; `replay` writes the lines again
    once `fd` is given back. A pipe's writer never waits on the view: the reader only
    stores the line."""

    def __init__(self, fd: int | None, line: Callable[[str], None]) -> None:
        self.fd = fd
        self.line = line
        self.kept: deque[str] = deque(maxlen=STDERR_KEPT)
        self.seen = 0
        self._saved: int | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        if self.fd is None or not os.isatty(self.fd):
            return
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        read, write = os.pipe()
        self._saved = os.dup(self.fd)
        os.dup2(write, self.fd)
        os.close(write)
        self._reader = threading.Thread(
            target=self._read, args=(read,), name="mm-dashboard-stderr", daemon=True
        )
        self._reader.start()

    def _read(self, read: int) -> None:
        pending = b""
        with os.fdopen(read, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                *lines, pending = (pending + chunk).split(b"\n")
                for raw in lines:
                    self._take(raw)
        if pending:
            self._take(pending)

    def _take(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r")
        self.seen += 1
        self.kept.append(text)
        if text.strip():
            self.line(text)

    def stop(self) -> None:
        """Give the descriptor back; the reader ends once the last write is read."""
        if self._saved is None or self.fd is None:
            return
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(self._saved, self.fd)
        os.close(self._saved)
        self._saved = None
        if self._reader is not None:
            self._reader.join(timeout=2.0)

    def replay(self) -> None:
        """Write what was captured to stderr, as it was written."""
        if not self.seen:
            return
        err = sys.stderr
        dropped = self.seen - len(self.kept)
        if dropped:
            err.write(f"({dropped} earlier lines written to stderr during the run not kept)\n")
        err.write("".join(line + "\n" for line in self.kept))
        err.flush()


def _quote_row(label: str, q: dict[str, Any], style: str) -> tuple[tuple[str, str], ...]:
    """label, price, qty, status, book size at the price, queue ahead ("-": unknown)."""
    return (
        (label, style),
        (plain(q["price"]), style),
        (plain(q["qty"]), ""),
        (q["status"], "" if q["status"] == "open" else "yellow"),
        (plain(q["level_qty"]) or "-", ""),
        (plain(q.get("queue_ahead")) or "-", ""),
    )


def _aligned(
    table: list[tuple[tuple[str, str], ...]], numeric: tuple[int, ...]
) -> list[tuple[tuple[str, str], ...]]:
    """The numbers of each `numeric` column with as many decimals as the longest, so
    their points line up (65001.0 over 64999.9)."""
    out = [list(row) for row in table]
    for col in numeric:
        cells = [row[col][0] for row in out if col < len(row)]
        places = max((len(c.partition(".")[2]) for c in cells if _is_number(c)), default=0)
        for row in out:
            if col < len(row) and _is_number(row[col][0]) and places:
                text, style = row[col]
                whole, _, frac = text.partition(".")
                row[col] = (f"{whole}.{frac.ljust(places, '0')}", style)
    return [tuple(row) for row in out]


def _is_number(text: str) -> bool:
    return text.lstrip("-").replace(".", "", 1).isdigit()


def _row(cells: list[tuple[str, str]], widths: list[int], right: tuple[bool, ...]) -> Text:
    from rich.text import Text

    line = Text()
    for i, (cell, style) in enumerate(cells):
        if i:
            line.append("  ")
        pad = " " * (widths[i] - len(cell))
        line.append(pad + cell if right[i] else cell + pad, style=style)
    line.rstrip()
    return line


def _packed(groups: list[list[str]], width: int) -> list[Text]:
    """Each group's items on as few lines as fit `width`, three spaces apart, none split."""
    from rich.text import Text

    lines: list[str] = []
    for items in groups:
        start = len(lines)
        for item in items:
            if len(lines) > start and len(lines[-1]) + 3 + len(item) <= width:
                lines[-1] += "   " + item
            else:
                lines.append(item)
    return [Text(line) for line in lines]


def _clock(ts: float) -> str:
    """HH:MM:SS, UTC (as every time bybitctl prints)."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%H:%M:%S")


def _describe(event: dict[str, Any]) -> tuple[str, str]:
    """An event as one line of the panel, and its style."""
    kind = event.get("event")
    if kind == "fill":
        role = "maker" if event.get("maker") else "taker"
        return (
            f"fill {event['side']} {event['qty']} @ {event['price']} {role}"
            f" fee {event['fee']}, position {event['position']}",
            "green" if event["side"] == "Buy" else "red",
        )
    if kind == "funding":
        amount = event["amount"]
        verb = "paid" if amount.startswith("-") else "received"
        return (
            f"funding {verb} {amount.lstrip('-')} at rate {event['rate']},"
            f" position {event['position']} @ {event['mark']}",
            "cyan",
        )
    if kind == "mmp":
        state = event.get("state")
        if state == "armed":
            return f"exchange MMP armed for {event.get('coin')}", ""
        if state == "frozen":
            return f"MMP frozen by the exchange ({event.get('reason')}): quotes pulled", "bold red"
        return "MMP released: quoting again", "green"
    if kind == "reject":
        from bybitctl.catalog import error_meaning

        code = int(event["code"])
        reason = reject_reason(code, event.get("message"), error_meaning(code))
        return f"reject {str(event.get('action', '')).lower()} {code}: {reason}", "bold red"
    if kind == "rejects":
        return (
            f"reject breaker: {event['count']} placements in a row refused with "
            f"{event['code']}, stopping",
            "bold red",
        )
    if kind == "guard":
        reason = event.get("reason") or "quoting"
        return ("quoting", "green") if reason == "quoting" else (f"pulled: {reason}", "yellow")
    if kind == "connection":
        detail = f": {event['detail']}" if event.get("detail") else ""
        up = event.get("state") == "up"
        return f"{event.get('stream')} {event.get('state')}{detail}", "" if up else "bold yellow"
    if kind == "kill":
        reason = f": {event['reason']}" if event.get("reason") else ""
        return f"kill switch {event.get('state')}{reason}", "bold red"
    if kind == "start":
        resumed = event.get("resumed_runs") or 0
        return (
            f"start {event.get('run_id')} {event.get('symbol')}, position {event.get('position')}"
            + (f", resuming {resumed} run(s)" if resumed else "")
            + f", on {event.get('target')}",
            "bold",
        )
    if kind == "stderr":
        return str(event.get("line", "")), "dim"
    if kind == "warning":
        return f"warning: {event.get('message')}", "yellow"
    if kind == "stale":
        return "book stale: topic requested again", "yellow"
    if kind == "resync":
        return f"book resync: {event.get('reason')}", "yellow"
    if kind == "reconcile":
        if "adopted" in event:
            return f"adopted leftover {event['adopted']}", ""
        return f"cancelled leftover {event.get('cancelled')}", ""
    if kind == "stopping":
        return f"stopping: {event.get('reason')}", "bold"
    if kind == "stopped":
        left = event.get("open_orders")
        checked = "reconciled" if event.get("reconciled") else "not reconciled"
        return f"stopped: {left} order(s) left, {checked}", "bold"
    detail = " ".join(f"{k}={v}" for k, v in event.items() if k != "event")
    return f"{kind} {detail}".strip(), ""
