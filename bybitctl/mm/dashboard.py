"""What `mm start` shows while it runs: a rich live dashboard on a terminal, JSONL events in
a pipe. Both take the engine's plain-dict events; neither touches engine state, so a slow
terminal can never change a decision.

Both are called while the engine handles events, so they must be quick: a JSONL line costs ~0.1 ms,
but one redraw of the dashboard ~10 ms of pure Python, which would hold up every tick that
arrives meanwhile. The dashboard therefore only stores the event; rich's own refresh thread
redraws it twice a second, and the short GIL switch interval `mm start` runs with (20 µs,
`bybitctl.commands.mm.process`) hands the GIL back to the engine within tens of microseconds
of a tick."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

REFRESH_PER_SECOND = 2.0
"""Status events come every 500 ms; redrawing more often would only cost the GIL."""
LOG_LINES = 8


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
    """A rich `Live` view, redrawn off the event-handling threads: book top, our quotes with the
    book size at their price and the estimated qty ahead of them in the queue, inventory and
    PnL, fills, latency, guard and connections."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        # replaced whole (never mutated) so the refresh thread always reads a consistent value
        self.status: dict[str, Any] = {}
        self.log: tuple[str, ...] = ()
        self.console = Console(stderr=False)
        self.live = Live(
            console=self.console,
            refresh_per_second=REFRESH_PER_SECOND,
            transient=False,
            get_renderable=self._render,
        )

    def __enter__(self) -> Dashboard:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "status":
            self.status = event
        elif kind == "fill":
            self._note(
                f"fill {event['side']} {event['qty']} @ {event['price']} "
                f"({'maker' if event['maker'] else 'taker'}, fee {event['fee']})"
            )
        elif kind in ("guard", "connection", "kill", "reject", "warning", "stopping", "resync"):
            detail = {k: v for k, v in event.items() if k != "event"}
            self._note(f"{kind} {' '.join(f'{k}={v}' for k, v in detail.items())}")

    def _note(self, line: str) -> None:
        self.log = (*self.log[1 - LOG_LINES :], line)

    def _render(self) -> Any:
        from rich.console import Group
        from rich.panel import Panel
        from rich.table import Table

        s = self.status
        if not s:
            return Panel("starting...", title="bybitctl mm")
        head = Table.grid(padding=(0, 2))
        for _ in range(5):
            head.add_column()
        head.add_row(
            s["symbol"],
            s["run_id"],
            f"up {s['uptime_s']}s",
            f"guard: {s['guard']}",
            f"kill: {s['kill']}{'  MMP' if s['mmp'] else ''}",
        )
        conn = "  ".join(
            f"{name} {'up' if s[key] else 'DOWN'}"
            for name, key in (
                ("public", "public"),
                ("private", "private"),
                ("trade-ws", "trade_ws"),
            )
        )
        book = Table(title="book and our quotes", expand=True)
        for col in ("side", "price", "qty", "status", "book qty at price", "queue ahead"):
            book.add_column(col)
        quotes = sorted(s["quotes"], key=lambda q: -float(q["price"]))
        for q in (q for q in quotes if q["side"] == "Sell"):
            book.add_row("our ask", *_quote_cells(q))
        if s.get("ask"):
            book.add_row("best ask", s["ask"][0], s["ask"][1], "", "", "")
        if s.get("bid"):
            book.add_row("best bid", s["bid"][0], s["bid"][1], "", "", "")
        for q in (q for q in quotes if q["side"] == "Buy"):
            book.add_row("our bid", *_quote_cells(q))
        pnl = Table.grid(padding=(0, 2))
        pnl.add_column()
        pnl.add_column()
        lat = s["latency_us"]
        for label, value in (
            ("position", s["position"]),
            ("realised PnL", s["realized_pnl"]),
            ("unrealised PnL", s["unrealized_pnl"]),
            ("fees", s["fees"]),
            ("fills", s["fills"]),
            (
                "orders placed/amended/cancelled",
                f"{s['orders_placed']}/{s['orders_amended']}/{s['orders_cancelled']}",
            ),
            ("rejects", s["rejects"]),
            ("quote uptime", f"{s['quote_uptime_pct']}%"),
            ("tick-to-quote µs", f"p50 {lat['p50']}  p99 {lat['p99']}  (n={lat['n']})"),
        ):
            pnl.add_row(label, str(value))
        return Group(
            Panel(Group(head, conn), title="bybitctl mm"),
            book,
            Panel(pnl, title="inventory and PnL"),
            Panel("\n".join(self.log) or "-", title="events"),
        )


def _quote_cells(q: dict[str, Any]) -> tuple[str, ...]:
    """price, qty, status, book size at the price, queue ahead ("-": unknown or in flight)."""
    return (
        q["price"],
        q["qty"],
        q["status"],
        q["level_qty"] or "-",
        q.get("queue_ahead") or "-",
    )
