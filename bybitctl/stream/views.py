"""Live terminal views of a stream, drawn with rich from the latest state only.

`Dashboard.update` is cheap and runs for every event; `Dashboard.render` builds the screen
and runs at most 20 times a second, so a fast feed costs skipped frames, never lag.
Kinds: "book" (a ladder per order book), "trades" (a tape), "ticker" (a panel per symbol)
and "log" (private and other events, newest first).

Every frame fits the terminal it is drawn on (80x24 included): a ladder shows as many
levels as there are rows, a tape as many trades, a log line is cut to the width. Connection
changes and resyncs are notices inside the view (its second line), never lines printed
above it, and `LiveView` draws on the terminal's alternate screen, so a stray write to
stderr is gone at the next frame; when the stream ends the last frame stays on the screen.
"""

from __future__ import annotations

import time
from collections import deque
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from bybitctl.stream.pipeline import LIVE, RESYNCING, Event, Pipeline

_ROWS = 200
"""Trades and log lines kept: more than any terminal shows."""
_SUMMARY_KEYS = (
    "symbol",
    "category",
    "side",
    "orderType",
    "orderStatus",
    "price",
    "qty",
    "avgPrice",
    "execPrice",
    "execQty",
    "execType",
    "size",
    "entryPrice",
    "markPrice",
    "unrealisedPnl",
    "leverage",
    "totalEquity",
    "totalAvailableBalance",
    "coin",
    "balance",
    "open",
    "close",
    "high",
    "low",
    "volume",
    "confirm",
    "title",
    "state",
)
TICKER_FIRST = (
    "lastPrice",
    "bid1Price",
    "ask1Price",
    "bid1Size",
    "ask1Size",
    "price24hPcnt",
    "highPrice24h",
    "lowPrice24h",
    "volume24h",
    "turnover24h",
    "markPrice",
    "indexPrice",
    "fundingRate",
    "nextFundingTime",
    "openInterest",
    "openInterestValue",
)
"""Ticker fields a trader reads first, in that order; the others follow while rows last."""
_HEAD = 2
"""Lines above the body: the title line and the notice line."""


def _clock_time(ms: Any) -> str:
    """A millisecond timestamp as HH:MM:SS.mmm UTC (blank when absent)."""
    try:
        moment = datetime.fromtimestamp(int(ms) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return ""
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


class Rate:
    """Messages per second over the last full second."""

    def __init__(self) -> None:
        self._second = 0
        self._count = 0
        self.value = 0

    def add(self, n: int, now: float) -> None:
        second = int(now)
        if second != self._second:
            self.value = self._count if second == self._second + 1 else 0
            self._second = second
            self._count = 0
        self._count += n


class Dashboard:
    """What the live view shows, fed with events and redrawn from `render`."""

    def __init__(self, kind: str, title: str, pipeline: Pipeline, levels: int) -> None:
        self.kind = kind
        self.title = title
        self.pipeline = pipeline
        pipeline.book_levels = False  # the ladder reads the books, never the events' levels
        self.levels = levels
        self.connection = "connecting"
        self.connection_detail = ""
        self.rate = Rate()
        self.rows: deque[tuple[str, str, str]] = deque(maxlen=_ROWS)
        self.trades: deque[dict[str, Any]] = deque(maxlen=_ROWS)
        self.notices: deque[tuple[str, str]] = deque(maxlen=3)

    def set_connection(self, state: str, detail: str) -> None:
        self.connection = state
        self.connection_detail = detail

    def notice(self, text: str, short: str = "", now: float | None = None) -> None:
        """Show `text` on the view's notice line. Older notices stay after it in `short`
        words, so a reconnect is still in sight after the `connected` that follows it."""
        stamp = _clock_time(int((time.time() if now is None else now) * 1000))[:8]
        self.notices.appendleft((f"{stamp} {text}", f"{stamp} {short or text}"))

    def notice_line(self) -> str:
        """The newest notice in full, then the older ones in short, newest first."""
        parts = [full if i == 0 else brief for i, (full, brief) in enumerate(self.notices)]
        return "  <  ".join(parts)

    def update(self, event: Event) -> None:
        """Remember what a non-book event adds; book views read the books directly."""
        if event["event"] != "message":
            return
        data = event["data"]
        items = data if isinstance(data, list) else [data]
        if self.kind == "trades":
            self.trades.extendleft(item for item in items if isinstance(item, dict))
        elif self.kind == "log":
            for item in items:
                self.rows.appendleft((_clock_time(event["ts"]), event["topic"], _summary(item)))

    def render(self, now: float | None = None) -> RenderableType:
        """The whole screen from the current state, fitted to the terminal it is drawn on."""
        return _Fitted(self, time.time() if now is None else now)

    def frame(self, now: float, width: int, height: int) -> RenderableType:
        """The screen for a terminal of `width` x `height` cells."""
        state = self.connection.upper()
        flowing = self.connection in ("connected", "replaying")
        if self.connection_detail and not flowing:
            state += f" ({self.connection_detail})"
        header = Text.assemble(
            (self.title, "bold"),
            "  ",
            (state, "green" if flowing else "yellow"),
            f"  {self.rate.value} msg/s",
        )
        notice = Text(self.notice_line(), style="dim")
        rows = max(1, height - _HEAD)
        body: list[RenderableType]
        if self.kind == "book":
            books = list(self.pipeline.books)
            share = max(1, rows // max(1, len(books)))
            body = [self._ladder(topic, now, share) for topic in books] or [
                Text("waiting for the first snapshot...")
            ]
        elif self.kind == "trades":
            body = [self._tape(rows)]
        elif self.kind == "ticker":
            tickers = list(self.pipeline.tickers.items())
            share = max(1, rows // max(1, len(tickers)))
            body = [self._ticker(topic, data, share) for topic, data in tickers]
        else:
            body = [self._log(rows, width)]
        for line in (header, notice):
            line.no_wrap = True
            line.overflow = "ellipsis"
        return Group(header, notice, *body)

    def _ladder(self, topic: str, now: float, rows: int) -> RenderableType:
        state = self.pipeline.books[topic]
        book = state.book
        status_style = {LIVE: "bold green", RESYNCING: "bold red"}.get(state.status, "yellow")
        facts = [f"u={book.update_id}", f"seq={book.seq}"]
        if state.status == LIVE:
            spread, mid = book.spread(), book.mid()
            bps = book.spread_bps()
            imbalance = book.imbalance(5)
            if spread is not None:
                facts.append(
                    f"spread={spread} ({bps:.2f} bps)" if bps is not None else f"spread={spread}"
                )
            if mid is not None:
                facts.append(f"mid={mid}")
            if imbalance is not None:
                facts.append(f"imbalance(5)={imbalance:+.3f}")
        if state.last_reason:
            age = ""
            if state.last_resync_ns:
                age = f" {max(0.0, now - state.last_resync_ns / 1e9):.0f}s ago"
            facts.append(f"last resync{age}: {state.last_reason}")
        title = Text.assemble(
            (topic, "bold"), "  ", (state.status, status_style), "  ", "  ".join(facts)
        )
        title.no_wrap = True
        title.overflow = "ellipsis"
        table = _table()
        for name, style in (
            ("cum", "green"),
            ("bid size", "green"),
            ("bid", "bold green"),
            ("ask", "bold red"),
            ("ask size", "red"),
            ("cum", "red"),
        ):
            table.add_column(name, justify="right", style=style, no_wrap=True)
        levels = max(1, min(self.levels, rows - 2))  # the title and the header take two
        bids = book.bids(levels) if state.status == LIVE else []
        asks = book.asks(levels) if state.status == LIVE else []
        bid_cum = _cumulative(bids)
        ask_cum = _cumulative(asks)
        for i in range(max(len(bids), len(asks))):
            bid = (str(bid_cum[i]), _size(bids[i]), bids[i][0]) if i < len(bids) else ("", "", "")
            ask = (asks[i][0], _size(asks[i]), str(ask_cum[i])) if i < len(asks) else ("", "", "")
            table.add_row(*bid, *ask)
        return Group(title, table)

    def _tape(self, rows: int) -> RenderableType:
        table = _table()
        for name in ("time", "symbol", "side", "price", "size"):
            justify = "left" if name in ("time", "symbol", "side") else "right"
            table.add_column(name, justify=justify, no_wrap=True)
        for trade in list(self.trades)[: max(0, rows - 1)]:
            side = str(trade.get("S", ""))
            style = "green" if side == "Buy" else "red" if side == "Sell" else ""
            table.add_row(
                _clock_time(trade.get("T")),
                str(trade.get("s", "")),
                Text(side, style=style),
                str(trade.get("p", "")),
                str(trade.get("v", "")),
            )
        return table

    @staticmethod
    def _ticker(topic: str, data: dict[str, Any], rows: int) -> RenderableType:
        """The symbol's fields as name/value pairs, two pairs a row, first the ones
        `TICKER_FIRST` names, as many as `rows` hold (blank values left out)."""
        from bybitctl.output.cells import shown

        names = [n for n in TICKER_FIRST if n in data]
        names += [n for n in data if n not in names and n != "symbol"]
        pairs = [(n, shown(n, data[n])) for n in names if data[n] not in ("", None)]
        title = Text(topic, style="bold")
        table = _table(header=False)
        for justify in ("left", "right", "left", "right"):
            table.add_column(justify=justify, no_wrap=True)
        fit = pairs[: 2 * max(0, rows - 1)]
        half = (len(fit) + 1) // 2
        for i in range(half):
            left = fit[i]
            right = fit[half + i] if half + i < len(fit) else ("", "")
            table.add_row(
                Text(left[0], style="bold"), left[1], Text(right[0], style="bold"), right[1]
            )
        return Group(title, table)

    def _log(self, rows: int, width: int) -> RenderableType:
        table = _table()
        table.add_column("time", no_wrap=True)
        table.add_column("topic", no_wrap=True)
        table.add_column("event", no_wrap=True, overflow="ellipsis", max_width=max(10, width - 30))
        for row in list(self.rows)[: max(0, rows - 1)]:
            table.add_row(*row)
        return table


def _table(*, header: bool = True) -> Table:
    """A borderless table: a header line and the rows, nothing else to take a row."""
    return Table(
        box=None,
        show_header=header,
        header_style="bold underline",
        pad_edge=False,
        expand=False,
        padding=(0, 1),
    )


class _Fitted:
    """A dashboard frame drawn at the size of the console it goes to, cut to its height."""

    def __init__(self, dashboard: Dashboard, now: float) -> None:
        self.dashboard = dashboard
        self.now = now

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        height = options.height or console.size.height
        frame = self.dashboard.frame(self.now, options.max_width, height)
        lines = console.render_lines(frame, options.update(height=None), pad=False)
        for number, line in enumerate(lines[:height]):
            yield from line
            if number < min(len(lines), height) - 1:
                yield Segment.line()


class LiveView:
    """The live view as a stream sink: the dashboard on the terminal's alternate screen,
    redrawn at most every `interval` seconds; notices go to the view's notice line."""

    def __init__(
        self, kind: str, title: str, pipeline: Pipeline, levels: int, interval: float = 1 / 20
    ) -> None:
        from rich.live import Live

        self.dashboard = Dashboard(kind, title, pipeline, levels)
        self._interval = interval
        self._live = Live(
            self.dashboard.render(),
            auto_refresh=False,
            screen=True,
            redirect_stdout=True,
            redirect_stderr=True,
            transient=True,
        )
        self._live.start()
        self._next = 0.0

    def emit(self, event: Event) -> None:
        self.dashboard.update(event)
        if event["event"] == "resync":
            self.dashboard.notice(f"resync {event['topic']}: {event['reason']}", "resync")
            self._next = 0.0

    def connection(self, state: str, detail: str) -> None:
        self.dashboard.set_connection(state, detail)
        self.dashboard.notice(f"stream: {state}{': ' + detail if detail else ''}", state)
        self._next = 0.0

    def tick(self, now: float, frames: int) -> None:
        self.dashboard.rate.add(frames, now)
        if now >= self._next:
            self._live.update(self.dashboard.render(now), refresh=True)
            self._next = now + self._interval

    def close(self) -> None:
        """Leave the alternate screen and print the last frame where the stream ran."""
        self._live.stop()
        console = self._live.console
        console.print(self.dashboard.render(), height=max(1, console.size.height - 1))


def _size(level: tuple[str, ...]) -> str:
    """A level's size; RPI levels show `size+rpiSize`."""
    return level[1] if len(level) < 3 else f"{level[1]}+{level[2]}"


def _cumulative(levels: list[tuple[str, ...]]) -> list[Decimal]:
    total = Decimal(0)
    out = []
    for level in levels:
        total += sum((Decimal(x) for x in level[1:]), Decimal(0))
        out.append(total)
    return out


def _summary(item: Any) -> str:
    """The fields a person scans first, in a fixed order, then a count of the rest."""
    if not isinstance(item, dict):
        return str(item)
    shown = [f"{key}={item[key]}" for key in _SUMMARY_KEYS if item.get(key) not in (None, "")]
    if not shown:
        shown = [f"{key}={value}" for key, value in list(item.items())[:6]]
    return " ".join(shown)
