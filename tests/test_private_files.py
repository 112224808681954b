"""Files bybitctl writes for its owner alone are 0600, whether new or already there."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from bybitctl.private_files import private_opener


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_is_created_0600(tmp_path: Path) -> None:
    path = tmp_path / "new"
    with open(path, "w", opener=private_opener) as fh:
        fh.write("secret")
    assert mode(path) == 0o600


def test_an_existing_readable_file_becomes_0600(tmp_path: Path) -> None:
    path = tmp_path / "old"
    path.write_text("x")
    path.chmod(0o644)
    os.close(private_opener(path, os.O_WRONLY | os.O_TRUNC))
    assert mode(path) == 0o600 and path.read_text() == ""
