"""Imported first by the benchmarks that replay the tests' seeded market (`support.synthetic`
in `tests/`): puts `tests/` on the import path, as pytest does for the tests themselves."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parents[1] / "tests")
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
