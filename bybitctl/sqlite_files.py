"""Whether a file is one of bybitctl's SQLite databases (the mm journal, the exchange's
state), told before SQLite opens it: SQLite would write its journal mode and tables into any
database it is pointed at, another program's included.

A database is known by its SQLite application id, stamped when bybitctl creates it; one
written before the id was set is known by its tables.
"""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path
from urllib.parse import quote

MAGIC = b"SQLite format 3\x00"
"""The first bytes of every SQLite database file."""


def readonly_uri(path: Path) -> str:
    """An SQLite URI that opens `path` read-only (nothing written, not even a -wal file's
    journal mode)."""
    return f"file:{quote(str(path.absolute()))}?mode=ro"


def sqlite_problem(
    path: Path, what: str, application_id: int, tables: frozenset[str]
) -> str | None:
    """Why `path` is not `what` (e.g. "an mm journal"), worded to follow the path in one
    line ("is a directory, not an mm journal"), or None when it is one: a regular file
    holding an SQLite database with `application_id`, or with no id and every one of
    `tables`. A missing file is "no such file"; the caller decides whether that is allowed."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISDIR(info.st_mode):
        return f"is a directory, not {what}"
    if not stat.S_ISREG(info.st_mode):
        return f"is not a regular file, not {what}"
    if info.st_size == 0:
        return f"is an empty file, not {what}"
    try:
        with path.open("rb") as fh:
            header = fh.read(len(MAGIC))
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if header != MAGIC:
        return f"is not {what} (not an SQLite database)"
    try:
        db = sqlite3.connect(readonly_uri(path), uri=True, isolation_level=None, timeout=5)
        try:
            found_id = db.execute("PRAGMA application_id").fetchone()[0]
            found = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        finally:
            db.close()
    except sqlite3.Error as exc:
        return f"is not a readable SQLite database ({exc})"
    if found_id == application_id or (found_id == 0 and found >= tables):
        return None
    return f"is an SQLite database, but not {what}"
