"""The market maker's journal: one SQLite file (WAL) holding every order event, fill,
quote-decision summary and PnL snapshot of every run, plus the running instance's control
row (pid, heartbeat, live status) that `mm status` and `mm stop` read.

Each write commits on its own (autocommit, WAL, synchronous=NORMAL): a `kill -9` of the
process loses nothing already written, and a fill is written the moment it is received, so
nothing the exchange acknowledged to us is lost. Fills are keyed by the exchange's execId,
so a fill seen twice (stream and REST sweep, or a restart) is booked once. A restart on the
same journal and the same target resumes the accounting by replaying the stored fills.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bybitctl.config import data_dir
from bybitctl.mm.accounting import Fill, Ledger

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, target TEXT NOT NULL, symbol TEXT NOT NULL,
    category TEXT NOT NULL, prefix TEXT NOT NULL, pid INTEGER, started_ms INTEGER NOT NULL,
    ended_ms INTEGER, exit_reason TEXT, config TEXT, elapsed_ms INTEGER DEFAULT 0,
    quoted_ms INTEGER DEFAULT 0, open_orders_at_exit INTEGER
);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, ts_ms INTEGER NOT NULL,
    link_id TEXT NOT NULL, event TEXT NOT NULL, side TEXT, price TEXT, qty TEXT,
    status TEXT, detail TEXT
);
CREATE TABLE IF NOT EXISTS fills (
    exec_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, ts_ms INTEGER NOT NULL,
    link_id TEXT NOT NULL, side TEXT NOT NULL, price TEXT NOT NULL, qty TEXT NOT NULL,
    fee TEXT NOT NULL, mid TEXT NOT NULL, is_maker INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, ts_ms INTEGER NOT NULL, reason TEXT,
    bid REAL, ask REAL, quotes TEXT, actions INTEGER, latency_us REAL
);
CREATE TABLE IF NOT EXISTS pnl (
    id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, ts_ms INTEGER NOT NULL, mid TEXT,
    position TEXT, realized TEXT, unrealized TEXT, fees TEXT, spread_capture TEXT,
    inventory_pnl TEXT
);
CREATE TABLE IF NOT EXISTS control (
    id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER, run_id TEXT, started_ms INTEGER,
    heartbeat_ms INTEGER, status TEXT, state TEXT
);
CREATE INDEX IF NOT EXISTS orders_run ON orders (run_id);
CREATE INDEX IF NOT EXISTS fills_run ON fills (run_id, ts_ms);
CREATE INDEX IF NOT EXISTS decisions_run ON decisions (run_id, ts_ms);
"""

HEARTBEAT_STALE_MS = 10_000
"""A control row whose heartbeat is older than this belongs to a dead instance."""


def now_ms() -> int:
    """Wall-clock milliseconds (journal timestamps compare with the exchange's)."""
    return time.time_ns() // 1_000_000


def default_path(env: Mapping[str, str] | None = None) -> Path:
    """`mm.sqlite` in the user data directory (`~/.local/share/bybitctl` by default)."""
    return data_dir(env) / "mm.sqlite"


@dataclass(frozen=True, slots=True)
class Instance:
    """The control row: who runs (or ran last) on this journal, and its live status."""

    pid: int
    run_id: str
    started_ms: int
    heartbeat_ms: int
    status: str
    state: dict[str, Any]

    def alive(self, at_ms: int | None = None) -> bool:
        """Running: the process exists, has not reported its end, and beats recently."""
        if self.status in ("stopped", "crashed"):
            return False
        if (at_ms if at_ms is not None else now_ms()) - self.heartbeat_ms > HEARTBEAT_STALE_MS:
            return False
        return pid_exists(self.pid)


def pid_exists(pid: int) -> bool:
    """Whether a process with this pid exists (signal 0 probes without signalling)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Journal:
    """One open journal file. Used by one thread at a time (the engine prepares on one and
    may run on another, hence `check_same_thread=False`), never concurrently."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly:
            if not self.path.exists():
                raise FileNotFoundError(str(self.path))
            uri = f"file:{self.path}?mode=ro"
            self.db = sqlite3.connect(
                uri, uri=True, isolation_level=None, timeout=5, check_same_thread=False
            )
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(
                self.path, isolation_level=None, timeout=5, check_same_thread=False
            )
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        self.run_id = ""

    def close(self) -> None:
        self.db.close()

    # -- runs -----------------------------------------------------------------------------

    def start_run(
        self,
        run_id: str,
        target: str,
        symbol: str,
        category: str,
        prefix: str,
        config: dict[str, Any],
    ) -> None:
        """Register a run and claim the control row for this process."""
        self.run_id = run_id
        ts = now_ms()
        self.db.execute(
            "INSERT INTO runs (run_id, target, symbol, category, prefix, pid, started_ms, config)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                target,
                symbol,
                category,
                prefix,
                os.getpid(),
                ts,
                json.dumps(config, default=str),
            ),
        )
        self.db.execute(
            "INSERT OR REPLACE INTO control (id, pid, run_id, started_ms, heartbeat_ms, status,"
            " state) VALUES (1, ?, ?, ?, ?, 'starting', '{}')",
            (os.getpid(), run_id, ts, ts),
        )

    def update_run(self, elapsed_ms: int, quoted_ms: int) -> None:
        """Quote-uptime counters of the current run (written with the heartbeat)."""
        self.db.execute(
            "UPDATE runs SET elapsed_ms = ?, quoted_ms = ? WHERE run_id = ?",
            (elapsed_ms, quoted_ms, self.run_id),
        )

    def end_run(self, reason: str, open_orders: int, elapsed_ms: int, quoted_ms: int) -> None:
        """Close the run: why it ended and how many of its orders were left open."""
        self.db.execute(
            "UPDATE runs SET ended_ms = ?, exit_reason = ?, open_orders_at_exit = ?,"
            " elapsed_ms = ?, quoted_ms = ? WHERE run_id = ?",
            (now_ms(), reason, open_orders, elapsed_ms, quoted_ms, self.run_id),
        )

    def heartbeat(self, status: str, state: dict[str, Any]) -> None:
        """Refresh the control row (`mm status` shows `state`)."""
        self.db.execute(
            "UPDATE control SET heartbeat_ms = ?, status = ?, state = ? WHERE id = 1 AND pid = ?",
            (now_ms(), status, json.dumps(state, default=str), os.getpid()),
        )

    def instance(self) -> Instance | None:
        """The control row, or None when no run ever started on this journal."""
        row = self.db.execute(
            "SELECT pid, run_id, started_ms, heartbeat_ms, status, state FROM control"
        ).fetchone()
        if row is None:
            return None
        return Instance(row[0], row[1], row[2], row[3], row[4], json.loads(row[5] or "{}"))

    def chain(self, run_id: str | None = None) -> list[str]:
        """The runs whose accounting continues into `run_id` (default: the latest run): the
        runs on the same target, oldest first, up to and including it."""
        row = self.db.execute(
            "SELECT run_id, target, started_ms FROM runs"
            + (" WHERE run_id = ?" if run_id else " ORDER BY started_ms DESC, rowid DESC LIMIT 1"),
            (run_id,) if run_id else (),
        ).fetchone()
        if row is None:
            return []
        return [
            r[0]
            for r in self.db.execute(
                "SELECT run_id FROM runs WHERE target = ? AND started_ms <= ?"
                " ORDER BY started_ms, rowid",
                (row[1], row[2]),
            )
        ]

    def previous_runs(self, target: str) -> list[str]:
        """Finished or crashed runs on `target` (what a new run's accounting resumes)."""
        return [
            r[0]
            for r in self.db.execute(
                "SELECT run_id FROM runs WHERE target = ? ORDER BY started_ms, rowid", (target,)
            )
        ]

    def runs(self, run_ids: list[str]) -> list[dict[str, Any]]:
        """The run rows, oldest first."""
        cur = self.db.execute(
            f"SELECT * FROM runs WHERE run_id IN ({_marks(run_ids)}) ORDER BY started_ms",
            run_ids,
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    # -- events ---------------------------------------------------------------------------

    def order_event(
        self,
        link_id: str,
        event: str,
        side: str | None = None,
        price: Any = None,
        qty: Any = None,
        status: str | None = None,
        detail: str | None = None,
    ) -> None:
        """One order event: place/amend/cancel sent, ack, reject, or an exchange update."""
        self.db.execute(
            "INSERT INTO orders (run_id, ts_ms, link_id, event, side, price, qty, status, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.run_id,
                now_ms(),
                link_id,
                event,
                side,
                None if price is None else str(price),
                None if qty is None else str(qty),
                status,
                detail,
            ),
        )

    def fill(self, exec_id: str, fill: Fill) -> bool:
        """Store a fill; False when this execId is already journaled (then skip it)."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO fills (exec_id, run_id, ts_ms, link_id, side, price, qty,"
            " fee, mid, is_maker) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                exec_id,
                self.run_id,
                fill.ts_ms,
                fill.link_id,
                fill.side,
                str(fill.price),
                str(fill.qty),
                str(fill.fee),
                str(fill.mid),
                int(fill.is_maker),
            ),
        )
        return cur.rowcount == 1

    def has_fill(self, exec_id: str) -> bool:
        return (
            self.db.execute("SELECT 1 FROM fills WHERE exec_id = ?", (exec_id,)).fetchone()
            is not None
        )

    def decision(
        self,
        reason: str,
        bid: float,
        ask: float,
        quotes: list[tuple[str, int, str, str]],
        actions: int,
        latency_us: float | None,
    ) -> None:
        """A quote-decision summary: the guard reason ('' = quoting), top of book, the wanted
        quotes (side, level, price, qty), how many actions went out and their latency."""
        self.db.execute(
            "INSERT INTO decisions (run_id, ts_ms, reason, bid, ask, quotes, actions, latency_us)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self.run_id, now_ms(), reason, bid, ask, json.dumps(quotes), actions, latency_us),
        )

    def pnl(self, mid: Decimal, summary: dict[str, Any]) -> None:
        """A PnL snapshot at `mid` (Ledger.summary figures)."""
        self.db.execute(
            "INSERT INTO pnl (run_id, ts_ms, mid, position, realized, unrealized, fees,"
            " spread_capture, inventory_pnl) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.run_id,
                now_ms(),
                str(mid),
                str(summary["position"]),
                str(summary["realized_pnl"]),
                str(summary["unrealized_pnl"]),
                str(summary["fees"]),
                str(summary["spread_capture"]),
                str(summary["inventory_pnl"]),
            ),
        )

    # -- reading --------------------------------------------------------------------------

    def fills(self, run_ids: list[str]) -> Iterator[Fill]:
        """The runs' fills in the order they were booked."""
        for row in self.db.execute(
            f"SELECT side, price, qty, fee, mid, is_maker, ts_ms, link_id FROM fills"
            f" WHERE run_id IN ({_marks(run_ids)}) ORDER BY rowid",
            run_ids,
        ):
            yield Fill(
                row[0],
                Decimal(row[1]),
                Decimal(row[2]),
                Decimal(row[3]),
                Decimal(row[4]),
                bool(row[5]),
                row[6],
                row[7],
            )

    def ledger(self, run_ids: list[str]) -> Ledger:
        """A ledger rebuilt from the runs' fills (how a restart resumes its accounting)."""
        ledger = Ledger()
        for fill in self.fills(run_ids):
            ledger.apply(fill)
        return ledger

    def order_counts(self, run_ids: list[str]) -> dict[str, int]:
        """Order actions sent, by kind."""
        counts = dict.fromkeys(("place", "amend", "cancel"), 0)
        for event, n in self.db.execute(
            f"SELECT event, COUNT(*) FROM orders WHERE run_id IN ({_marks(run_ids)})"
            " AND event IN ('place', 'amend', 'cancel') GROUP BY event",
            run_ids,
        ):
            counts[event] = n
        return counts

    def latencies(self, run_ids: list[str]) -> list[float]:
        """Tick-to-quote latencies (µs) of the decisions that sent actions."""
        return [
            r[0]
            for r in self.db.execute(
                f"SELECT latency_us FROM decisions WHERE run_id IN ({_marks(run_ids)})"
                " AND latency_us IS NOT NULL",
                run_ids,
            )
        ]

    def last_mid(self, run_ids: list[str]) -> Decimal | None:
        """The mid of the latest PnL snapshot (what unrealised PnL is marked at)."""
        row = self.db.execute(
            f"SELECT mid FROM pnl WHERE run_id IN ({_marks(run_ids)}) AND mid IS NOT NULL"
            " ORDER BY id DESC LIMIT 1",
            run_ids,
        ).fetchone()
        return Decimal(row[0]) if row else None

    def series(self, run_ids: list[str]) -> dict[str, list[tuple[Any, ...]]]:
        """Time series for the plot: decisions (ts, bid, ask, quotes), fills, PnL."""
        marks = _marks(run_ids)
        return {
            "decisions": list(
                self.db.execute(
                    f"SELECT ts_ms, bid, ask, quotes FROM decisions WHERE run_id IN ({marks})"
                    " ORDER BY id",
                    run_ids,
                )
            ),
            "fills": list(
                self.db.execute(
                    f"SELECT ts_ms, side, price, qty FROM fills WHERE run_id IN ({marks})"
                    " ORDER BY rowid",
                    run_ids,
                )
            ),
            "pnl": list(
                self.db.execute(
                    f"SELECT ts_ms, mid, position, realized, unrealized FROM pnl"
                    f" WHERE run_id IN ({marks}) ORDER BY id",
                    run_ids,
                )
            ),
        }


def _marks(items: list[Any]) -> str:
    return ",".join("?" * len(items)) or "NULL"
