"""The market maker's journal: one SQLite file (WAL) holding every order event, fill,
quote-decision summary and PnL snapshot of every run, plus the running instance's control
row (pid, heartbeat, live status) that `mm status` and `mm stop` read.

Each write commits on its own (autocommit, WAL, synchronous=NORMAL): a `kill -9` of the
process loses nothing already written, and a fill is written the moment it is received, so
nothing the exchange acknowledged to us is lost. Fills are keyed by the exchange's execId,
so a fill seen twice (stream and REST sweep, or a restart) is booked once. A restart on the
same journal and the same target resumes the accounting by replaying the stored fills.

A journal is known by its SQLite application id (`APPLICATION_ID`; journals written before it
was set, by their tables): any other file, an SQLite database of something else included, is
refused rather than written into or read as one. One `mm start` at a time runs on a journal:
it holds an exclusive `flock` on the sibling `<journal>.lock` for its whole life, so the lock
is free again the moment the process ends, even by `kill -9`; `mm status`, `mm stop` and
`mm resume` ask that lock whether an instance runs. The journal and its lock file are created
with mode 0600.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
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
from bybitctl.errors import UsageError
from bybitctl.mm.accounting import Fill, Funding, Ledger
from bybitctl.private_files import private_opener
from bybitctl.sqlite_files import readonly_uri, sqlite_problem

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, target TEXT NOT NULL, symbol TEXT NOT NULL,
    category TEXT NOT NULL, prefix TEXT NOT NULL, pid INTEGER, started_ms INTEGER NOT NULL,
    ended_ms INTEGER, exit_reason TEXT, config TEXT, elapsed_ms INTEGER DEFAULT 0,
    quoted_ms INTEGER DEFAULT 0, open_orders_at_exit INTEGER, reconciled INTEGER
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
CREATE TABLE IF NOT EXISTS funding (
    exec_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, ts_ms INTEGER NOT NULL,
    amount TEXT NOT NULL, rate TEXT NOT NULL, qty TEXT NOT NULL, price TEXT NOT NULL
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

APPLICATION_ID = 0x6D6D6A6C
"""SQLite's application id of an mm journal ("mmjl"), stamped when the journal is created."""
TABLES = frozenset({"runs", "orders", "fills", "decisions", "pnl", "control"})
"""The tables every journal has; `funding` came later, so a journal without it reads as one
whose runs settled no funding."""
_LOCK_RETRY_S = 1.0
"""How long `mm start` retries a lock that another process holds: `mm status` and friends
take it (shared) for an instant to ask whether an instance runs, which must not make a start
fail; a running instance holds it for good."""


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


def journal_problem(path: Path) -> str | None:
    """Why `path` cannot be read as an mm journal (e.g. "is a directory, not an mm
    journal"), or None (`bybitctl.sqlite_files.sqlite_problem`)."""
    return sqlite_problem(path, "an mm journal", APPLICATION_ID, TABLES)


def lock_path(journal: Path) -> Path:
    """The sibling file whose lock says an instance runs on `journal` (symlinks resolved,
    so two names of one journal share one lock)."""
    real = journal.resolve()
    return real.with_name(real.name + ".lock")


class JournalLock:
    """`mm start`'s claim on a journal: an exclusive `flock` on `<journal>.lock`, held until
    `release` or the end of the process (the OS frees it then, whatever the death). The
    holder's pid is written into the file, for `mm status` and for the refusal of a second
    start."""

    def __init__(self, journal: Path) -> None:
        self.journal = journal
        self.path = lock_path(journal)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise UsageError naming the instance that holds it. The
        journal's directory is created (0700) if missing, as the journal would be."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = private_opener(self.path, os.O_RDWR | os.O_CREAT)
        deadline = time.monotonic() + _LOCK_RETRY_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    pid = _read_pid(fd)
                    os.close(fd)
                    who = f"pid {pid}" if pid else "another process"
                    raise UsageError(
                        f"another mm instance ({who}) is running on {self.journal}",
                        hint="stop it with `bybitctl mm stop`, or pass another --journal",
                    ) from None
                time.sleep(0.02)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the lock

    def __enter__(self) -> JournalLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_holder(journal: Path) -> int | None:
    """The pid of the instance running on `journal` (0 if it did not write its pid within
    a second of taking the lock), or None when none runs: the lock is free. Asked with a
    shared lock taken and released at once, so a crashed instance never looks alive."""
    try:
        fd = os.open(lock_path(journal), os.O_RDONLY)
    except OSError:
        return None  # no lock file: nothing ever ran here (or it is unreadable)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                return None
            deadline = time.monotonic() + _LOCK_RETRY_S
            pid = _read_pid(fd)
            while not pid and time.monotonic() < deadline:  # it writes its pid right after
                time.sleep(0.01)
                pid = _read_pid(fd)
            return pid
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode("ascii").strip() or 0)
    return 0


class Journal:
    """One open journal file. Used by one thread at a time (the engine prepares on one and
    may run on another, hence `check_same_thread=False`), never concurrently."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly or self.path.exists():
            problem = journal_problem(self.path)
            if problem is not None:
                raise UsageError(f"{self.path} {problem}")
        if readonly:
            self.db = sqlite3.connect(
                readonly_uri(self.path),
                uri=True,
                isolation_level=None,
                timeout=5,
                check_same_thread=False,
            )
        else:
            if not self.path.exists():
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.close(private_opener(self.path, os.O_WRONLY | os.O_CREAT))  # before SQLite
            self.db = sqlite3.connect(
                self.path, isolation_level=None, timeout=5, check_same_thread=False
            )
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            if self.db.execute("PRAGMA application_id").fetchone()[0] == 0:
                self.db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            self.db.executescript(SCHEMA)
            columns = {r[1] for r in self.db.execute("PRAGMA table_info(runs)")}
            if "reconciled" not in columns:  # a journal from before the column
                self.db.execute("ALTER TABLE runs ADD COLUMN reconciled INTEGER")
        self.run_id = ""
        self._funding = (
            self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'funding'").fetchone()
            is not None
        )

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

    def end_run(
        self,
        reason: str,
        open_orders: int,
        elapsed_ms: int,
        quoted_ms: int,
        *,
        reconciled: bool = False,
    ) -> None:
        """Close the run: why it ended, how many of its orders were left open (or could not
        be confirmed gone), and whether its fills were reconciled with the exchange's
        executions at the end."""
        self.db.execute(
            "UPDATE runs SET ended_ms = ?, exit_reason = ?, open_orders_at_exit = ?,"
            " elapsed_ms = ?, quoted_ms = ?, reconciled = ? WHERE run_id = ?",
            (now_ms(), reason, open_orders, elapsed_ms, quoted_ms, int(reconciled), self.run_id),
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

    def runs(self, run_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """The run rows (default: every run), oldest first."""
        where = "" if run_ids is None else f" WHERE run_id IN ({_marks(run_ids)})"
        cur = self.db.execute(
            f"SELECT * FROM runs{where} ORDER BY started_ms, rowid", run_ids or ()
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

    def funding(self, exec_id: str, funding: Funding) -> bool:
        """Store a funding settlement; False when this execId is already journaled."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO funding (exec_id, run_id, ts_ms, amount, rate, qty, price)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                exec_id,
                self.run_id,
                funding.ts_ms,
                str(funding.amount),
                str(funding.rate),
                str(funding.qty),
                str(funding.price),
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

    def fundings(self, run_ids: list[str]) -> Iterator[Funding]:
        """The runs' funding settlements in the order they were booked (none in a journal
        from before funding was booked)."""
        if not self._funding:
            return
        for row in self.db.execute(
            f"SELECT amount, rate, qty, price, ts_ms FROM funding"
            f" WHERE run_id IN ({_marks(run_ids)}) ORDER BY rowid",
            run_ids,
        ):
            amount, rate, qty, price = (Decimal(x) for x in row[:4])
            yield Funding(amount, rate, qty, price, row[4])

    def ledger(self, run_ids: list[str]) -> Ledger:
        """A ledger rebuilt from the runs' fills and funding settlements (how a restart
        resumes its accounting)."""
        ledger = Ledger()
        for fill in self.fills(run_ids):
            ledger.apply(fill)
        for funding in self.fundings(run_ids):
            ledger.settle(funding)
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

    def mmp_freezes(self, run_ids: list[str]) -> int:
        """How often the exchange's MMP froze the runs' option quotes."""
        return self.db.execute(
            f"SELECT COUNT(*) FROM orders WHERE run_id IN ({_marks(run_ids)})"
            " AND event = 'mmp_freeze'",
            run_ids,
        ).fetchone()[0]

    def rejects(self, run_ids: list[str]) -> list[tuple[str, int, str | None]]:
        """Refused actions by the code journaled with them: (code, count, the latest
        message), in no order."""
        # SQLite gives a bare column the value of the row MAX() picked: the latest message
        return [
            (r[0], r[1], r[2])
            for r in self.db.execute(
                f"SELECT status, COUNT(*), detail, MAX(id) FROM orders"
                f" WHERE run_id IN ({_marks(run_ids)}) AND event = 'reject' GROUP BY status",
                run_ids,
            )
        ]

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
