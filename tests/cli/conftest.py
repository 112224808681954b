"""In-process runs of the whole CLI (root options, lazy tree, error handler) with no I/O."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner

from bybitctl.cli import run


@dataclass(frozen=True)
class Outcome:
    """Exit code and the two streams of one run."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture(autouse=True)
def _isolated(clean_env: dict[str, str]) -> None:
    """Every CLI test runs without the user's config or BYBIT_* variables."""


@pytest.fixture
def bybitctl() -> Any:
    """`bybitctl(*args, input=None)` -> Outcome, through `bybitctl.cli.run` (the real handler)."""

    def invoke(*args: str, input: str | None = None) -> Outcome:
        runner = CliRunner()
        with runner.isolation(input=input) as (out, err, _):
            code = run(list(args))
            sys.stdout.flush()
            sys.stderr.flush()
            return Outcome(code, out.getvalue().decode(), err.getvalue().decode())

    return invoke


@pytest.fixture
def dry(bybitctl: Any) -> Any:
    """`dry(*args)` -> the JSON description of the request `--dry-run` would send."""

    def invoke(*args: str) -> dict[str, Any]:
        result = bybitctl("-o", "json", *args, "--dry-run")
        assert result.code == 0, result.stderr
        return result.json()

    return invoke
