"""Live terminal views of a stream, drawn with rich from the latest state only.

`Dashboard.update` is cheap and runs for every event; `Dashboard.render` builds the screen
and runs at most 20 times a second, so a fast feed costs skipped frames, never lag.
Kinds: "book" (a ladder per order book), "trades" (a tape), "ticker" (a panel per symbol)
and "log" (private and other events, newest first).
"""

from __future__ import annotations

import time
from collections import deque
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from bybitctl.stream.pipeline import LIVE, RESYNCING, Event, Pipeline

_ROWS = 30
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

    def set_connection(self, state: str, detail: str) -> None:
        self.connection = state
        self.connection_detail = detail

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
        """The whole screen from the current state."""
        now = time.time() if now is None else now
        state = self.connection.upper()
        if self.connection_detail and self.connection != "connected":
            state += f" ({self.connection_detail})"
        header = Text.assemble(
            (self.title, "bold"),
            "  ",
            (state, "green" if self.connection == "connected" else "yellow"),
            f"  {self.rate.value} msg/s",
        )
        body: list[RenderableType]
        if self.kind == "book":
            body = [self._ladder(topic, now) for topic in self.pipeline.books] or [
                Text("waiting for the first snapshot...")
            ]
        elif self.kind == "trades":
            body = [self._tape()]
        elif self.kind == "ticker":
            body = [self._ticker(topic, data) for topic, data in self.pipeline.tickers.items()]
        else:
            body = [self._log()]
        return Group(header, *body)

    def _ladder(self, topic: str, now: float) -> RenderableType:
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
        table = Table(expand=False)
        for name, style in (
            ("cum", "green"),
            ("bid size", "green"),
            ("bid", "bold green"),
            ("ask", "bold red"),
            ("ask size", "red"),
            ("cum", "red"),
        ):
            table.add_column(name, justify="right", style=style)
        bids = book.bids(self.levels) if state.status == LIVE else []
        asks = book.asks(self.levels) if state.status == LIVE else []
        bid_cum = _cumulative(bids)
        ask_cum = _cumulative(asks)
        for i in range(max(len(bids), len(asks))):
            bid = (str(bid_cum[i]), _size(bids[i]), bids[i][0]) if i < len(bids) else ("", "", "")
            ask = (asks[i][0], _size(asks[i]), str(ask_cum[i])) if i < len(asks) else ("", "", "")
            table.add_row(*bid, *ask)
        return Group(title, table)

    def _tape(self) -> RenderableType:
        table = Table(expand=False)
        for name in ("time", "symbol", "side", "price", "size"):
            table.add_column(name, justify="left" if name in ("time", "symbol") else "right")
        for trade in self.trades:
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
    def _ticker(topic: str, data: dict[str, Any]) -> RenderableType:
        table = Table(title=topic, show_header=False, expand=False)
        table.add_column("field")
        table.add_column("value", justify="right")
        for key, value in data.items():
            table.add_row(key, str(value))
        return table

    def _log(self) -> RenderableType:
        table = Table(expand=False)
        table.add_column("time")
        table.add_column("topic")
        table.add_column("event")
        for row in self.rows:
            table.add_row(*row)
        return table


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
