"""SQLite persistence of accounts, balances, orders, positions, executions and ledgers.

Every core call that changed an account ends in one transaction (`Store.save`), committed
before the call returns, so anything the exchange acknowledged survives `kill -9`: WAL mode
with synchronous=NORMAL loses nothing on a process crash (only an OS crash could drop the
last commits). Rows are JSON documents keyed by their ids; the synthetic market is not
stored, only each coin's fair price, so a restart resumes near where it left off.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from bybitctl.private_files import private_opener
from bybitctl.sim.core.accounts import Account
from bybitctl.sim.core.orders import Order, fmt
from bybitctl.sim.core.positions import Position
from bybitctl.sqlite_files import sqlite_problem

if TYPE_CHECKING:
    from bybitctl.sim.core.exchange import Core
    from bybitctl.sim.core.outbox import Outbox

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (uid TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS orders (order_id TEXT PRIMARY KEY, uid TEXT NOT NULL,
    seq INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS positions (uid TEXT NOT NULL, symbol TEXT NOT NULL, idx INTEGER NOT NULL,
    data BLOB NOT NULL, PRIMARY KEY (uid, symbol, idx));
CREATE TABLE IF NOT EXISTS executions (uid TEXT NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS closed_pnl (uid TEXT NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (uid, n));
CREATE TABLE IF NOT EXISTS tx_log (uid TEXT NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (uid, n));
"""

_ORDER_DEC = ("cum_value", "cum_fee", "closed_pnl")
_ORDER_PLAIN = (
    "order_id", "link_id", "uid", "side", "order_type", "tif", "price", "qty", "position_idx",
    "created", "seq", "reduce_only", "close_on_trigger", "status", "reject_reason",
    "cancel_type", "create_type", "stop_order_type", "market_unit", "leaves", "cum_qty",
    "updated", "take_profit", "stop_loss", "last_price_on_created", "trigger_price",
    "trigger_direction", "trigger_by", "mmp",
)  # fmt: skip
_POS_DEC = ("leverage", "entry_value", "open_fee", "cur_realised", "cum_realised", "take_profit",
            "stop_loss", "added_margin")  # fmt: skip
_POS_PLAIN = ("idx", "size", "auto_add_margin", "created", "updated", "seq")


def _decs(d: dict[str, Decimal]) -> dict[str, str]:
    return {k: fmt(v) for k, v in d.items()}


def _undecs(d: dict[str, str]) -> dict[str, Decimal]:
    return {k: Decimal(v) for k, v in d.items()}


def order_doc(o: Order) -> bytes:
    doc: dict[str, Any] = {k: getattr(o, k) for k in _ORDER_PLAIN}
    doc.update({k: fmt(getattr(o, k)) for k in _ORDER_DEC})
    doc["category"], doc["symbol"] = o.inst.category, o.inst.symbol
    doc["quote_qty"] = None if o.quote_qty is None else fmt(o.quote_qty)
    return orjson.dumps(doc)


def position_doc(p: Position) -> bytes:
    doc: dict[str, Any] = {k: getattr(p, k) for k in _POS_PLAIN}
    doc["category"] = p.inst.category
    doc.update({k: fmt(getattr(p, k)) for k in _POS_DEC})
    return orjson.dumps(doc)


def account_doc(a: Account) -> bytes:
    return orjson.dumps(
        {
            "created": a.created,
            "wallet": _decs(a.wallet),
            "fund": _decs(a.fund),
            "cum_realised": _decs(a.cum_realised),
            "hedge": sorted(a.hedge),
            "leverage": _decs(a.leverage),
            "dcp": a.dcp,
            "mmp": a.mmp,
            "transfers": a.transfers,
            "seq": a.seq,
            "margin_mode": a.margin_mode,
            "deliveries": a.deliveries,
            "spread_executions": a.spread_executions,
        }
    )


@dataclass
class Saved:
    """What a state file held, ready to be put back into a fresh exchange."""

    prices: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: list[dict[str, Any]] = field(default_factory=list)
    positions: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    executions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    closed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    tx: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def restore(self, ex: Core) -> None:
        """Rebuild accounts and rest their open orders on the (still empty) books."""
        t = ex.trading
        for uid, d in self.accounts.items():
            a = Account(uid, d["created"], wallet=_undecs(d["wallet"]))
            a.fund = _undecs(d["fund"])
            a.cum_realised = _undecs(d["cum_realised"])
            a.hedge = set(d["hedge"])
            a.leverage = _undecs(d["leverage"])
            a.dcp = d["dcp"]
            a.mmp = d["mmp"]
            a.transfers = d["transfers"]
            a.seq = d["seq"]
            a.margin_mode = d.get("margin_mode", a.margin_mode)
            a.deliveries = d.get("deliveries", [])
            a.spread_executions = d.get("spread_executions", [])
            a.executions = self.executions.get(uid, [])
            a.closed_pnl = self.closed.get(uid, [])
            a.tx_log = self.tx.get(uid, [])
            ex.accounts[uid] = a
            for base, settings in a.mmp.items():
                t.set_mmp(a, base, settings)
        for uid, symbol, d in self.positions:
            inst = ex.catalogue.get(d["category"], symbol)
            if inst is None or uid not in ex.accounts:
                continue
            pos = Position(inst, d["idx"], Decimal(d["leverage"]))
            for k in _POS_PLAIN:
                setattr(pos, k, d[k])
            for k in _POS_DEC:
                setattr(pos, k, Decimal(d.get(k, "0")))  # a field added later: its default
            ex.accounts[uid].positions[(symbol, pos.idx)] = pos
            if inst.category == "option" and pos.size:
                t.ensure_option_mark(inst, ex.clock())
            if pos.size and (pos.take_profit or pos.stop_loss):
                t.tpsl.add((uid, symbol, pos.idx))
        for d in self.orders:
            inst = ex.catalogue.get(d["category"], d["symbol"])
            a = ex.accounts.get(d["uid"])
            if inst is None or a is None:
                continue
            kw = {
                k: d[k] for k in _ORDER_PLAIN if k in d
            }  # files from before a field keep its default
            kw.update({k: Decimal(d[k]) for k in _ORDER_DEC})
            q = d["quote_qty"]
            o = Order(inst=inst, quote_qty=None if q is None else Decimal(q), **kw)
            a.orders[o.order_id] = o
            if o.link_id:
                a.link_ids[o.link_id] = o.order_id
            if o.status == "Untriggered":
                a.open_orders[o.order_id] = o
                t.conditional[o.order_id] = o
            elif o.is_open and o.price is not None and o.leaves:
                a.open_orders[o.order_id] = o
                book = ex.engines[(inst.category, inst.symbol)].book
                o.entry = book.side(o.side).add(o.price, o.leaves, o)
            t.order_seq = max(t.order_seq, o.seq)
        t.exec_seq = int(self.meta.get("exec_seq", "0"))
        t.ids.counter = int(self.meta.get("id_counter", "0"))
        ex.private_seq = int(self.meta.get("private_seq", "0"))


def _first_changed(rows: list[dict[str, Any]], changed: dict[str, Any], saved: int) -> int:
    """Index of the oldest row to rewrite: new rows, or updated ones (found from the end,
    where still-filling closing orders sit)."""
    want = {id(r) for r in changed.values()}
    start, i = saved, len(rows) - 1
    while want and i >= 0:
        if id(rows[i]) in want:
            want.discard(id(rows[i]))
            start = min(start, i)
        i -= 1
    return start


class StateFileError(ValueError):
    """The state file cannot be used: not an SQLite file of this exchange, or not openable."""


APPLICATION_ID = 0x62787374
"""SQLite's application id of a state file ("bxst"), stamped when the file is created."""
TABLES = frozenset(
    {"meta", "accounts", "orders", "positions", "executions", "closed_pnl", "tx_log"}
)
"""What a state file written before the application id holds."""


class Store:
    """One SQLite file; `save` writes what an outbox says changed, in one transaction."""

    def __init__(self, path: str) -> None:
        file = Path(path)
        if file.exists() or file.is_symlink():
            problem = sqlite_problem(file, "a state file of this exchange", APPLICATION_ID, TABLES)
            if problem is not None:
                raise StateFileError(f"{path} {problem}")
        else:
            try:  # 0600 before SQLite (its -wal and -shm files take the same mode)
                os.close(private_opener(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
            except OSError as exc:
                raise StateFileError(f"cannot create {path}: {exc.strerror or exc}") from None
        try:
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            if self.db.execute("PRAGMA application_id").fetchone()[0] == 0:
                self.db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            self.db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise StateFileError(f"{path} is not a state file ({exc})") from None
        self.tx_saved: dict[str, int] = {}
        self.closed_saved: dict[str, int] = {}

    def load(self) -> Saved | None:
        """Everything the file holds, or None for a new file; StateFileError when it holds
        something else (tables of another program, rows that are not this exchange's JSON)."""
        try:
            return self._load()
        except (sqlite3.Error, orjson.JSONDecodeError, TypeError, ValueError) as exc:
            self.db.close()
            raise StateFileError(f"the state file cannot be read ({exc})") from None

    def _load(self) -> Saved | None:
        db = self.db
        s = Saved()
        s.meta = dict(db.execute("SELECT key, value FROM meta"))
        s.prices = orjson.loads(s.meta.get("prices", "{}"))
        for uid, data in db.execute("SELECT uid, data FROM accounts"):
            s.accounts[uid] = orjson.loads(data)
        if not s.accounts:
            return s if s.prices else None
        s.orders = [orjson.loads(d) for (d,) in db.execute("SELECT data FROM orders ORDER BY seq")]
        s.positions = [
            (uid, sym, orjson.loads(d))
            for uid, sym, d in db.execute("SELECT uid, symbol, data FROM positions")
        ]
        for uid, d in db.execute("SELECT uid, data FROM executions ORDER BY seq"):
            s.executions.setdefault(uid, []).append(orjson.loads(d))
        for uid, d in db.execute("SELECT uid, data FROM closed_pnl ORDER BY uid, n"):
            s.closed.setdefault(uid, []).append(orjson.loads(d))
        for uid, d in db.execute("SELECT uid, data FROM tx_log ORDER BY uid, n"):
            s.tx.setdefault(uid, []).append(orjson.loads(d))
        self.tx_saved = {u: len(v) for u, v in s.tx.items()}
        self.closed_saved = {u: len(v) for u, v in s.closed.items()}
        return s

    def save(self, ex: Core, out: Outbox) -> None:
        db = self.db
        uids = set(out.orders) | set(out.execs) | set(out.positions) | set(out.wallets)
        uids |= set(out.closed) | out.touched
        db.execute("BEGIN")
        try:
            for uid in uids:
                a = ex.accounts[uid]
                db.execute("INSERT OR REPLACE INTO accounts VALUES (?, ?)", (uid, account_doc(a)))
                n = self.tx_saved.get(uid, 0)
                db.executemany(
                    "INSERT OR REPLACE INTO tx_log VALUES (?, ?, ?)",
                    [(uid, i, orjson.dumps(r)) for i, r in enumerate(a.tx_log[n:], n)],
                )
                self.tx_saved[uid] = len(a.tx_log)
                rows = a.closed_pnl
                start = _first_changed(rows, out.closed.get(uid, {}), self.closed_saved.get(uid, 0))
                db.executemany(
                    "INSERT OR REPLACE INTO closed_pnl VALUES (?, ?, ?)",
                    [(uid, i, orjson.dumps(r)) for i, r in enumerate(rows[start:], start)],
                )
                self.closed_saved[uid] = len(rows)
                for sym, idx in out.positions.get(uid, ()):
                    pos = a.positions.get((sym, idx))
                    if pos is not None:
                        db.execute(
                            "INSERT OR REPLACE INTO positions VALUES (?, ?, ?, ?)",
                            (uid, sym, idx, position_doc(pos)),
                        )
            db.executemany(
                "INSERT OR REPLACE INTO orders VALUES (?, ?, ?, ?)",
                [
                    (o.order_id, o.uid, o.seq, order_doc(o))
                    for orders in out.orders.values()
                    for o in orders.values()
                ],
            )
            db.executemany(
                "INSERT INTO executions VALUES (?, ?, ?)",
                [(uid, e["seq"], orjson.dumps(e)) for uid, es in out.execs.items() for e in es],
            )
            self._meta(ex)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _meta(self, ex: Core) -> None:
        t = ex.trading
        self.db.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [
                ("exec_seq", str(t.exec_seq)),
                ("id_counter", str(t.ids.counter)),
                ("private_seq", str(ex.private_seq)),
            ],
        )

    def save_prices(self, prices: dict[str, float]) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('prices', ?)", (orjson.dumps(prices),))

    def close(self) -> None:
        self.db.close()
