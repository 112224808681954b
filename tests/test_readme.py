"""The README's Quick start is a promise: two commands, and CI runs the second verbatim."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[str]:
    """The shell lines of the Quick start section's code blocks."""
    text = (ROOT / "README.md").read_text()
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", text, re.M | re.S)
    assert section, "README has no '## Quick start' section"
    blocks = re.findall(r"```[^\n]*\n(.*?)```", section.group(1), re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_quick_start_has_exactly_two_commands() -> None:
    main_job, tests = quick_start_commands()
    assert "bybitctl mm start --paper" in main_job and "--duration" in main_job
    assert "pytest" in tests and "'.[test]'" in tests


def test_ci_runs_the_readme_test_command_verbatim(tmp_path: Path) -> None:
    """.ci/run extracts the second command; prove it by running its extraction line alone."""
    script = (ROOT / ".ci" / "run").read_text()
    extraction = re.search(r'cmd="\$\((.*)\)"', script)
    assert extraction, ".ci/run no longer extracts the command from README.md"
    got = subprocess.run(
        ["bash", "-c", extraction.group(1)], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert got == quick_start_commands()[1]
