"""Files only their owner may read: journals, the exchange's state and keys, recordings,
reports and config hold trading records or secrets."""

from __future__ import annotations

import os


def private_opener(path: str | os.PathLike[str], flags: int) -> int:
    """`os.open` that creates a file with mode 0600 and makes an existing one 0600 (a mode
    given to `os.open` applies only to a file it creates). As `opener=` of `open()`:
    `open(path, "w", opener=private_opener)`."""
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    return fd
