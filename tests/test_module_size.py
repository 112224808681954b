"""No module in `bybitctl` grows past 700 lines: past that a module is doing several jobs, and
the next engineer has to read all of them to change one. Split by responsibility instead."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bybitctl"
MAX_LINES = 700


def test_every_module_is_at_most_700_lines():
    sizes = {
        path.relative_to(PACKAGE.parent).as_posix(): len(path.read_text().splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert len(sizes) > 100  # the walk saw the package
    too_long = {name: n for name, n in sorted(sizes.items()) if n > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"
