"""The README is a promise: the Quick start (two commands, CI runs the second verbatim) and
the pipeline and cron lines, run here as written against the local exchange."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

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


def pipeline_lines() -> list[str]:
    """The command lines of the "Pipelines and cron" section, comments left out."""
    text = (ROOT / "README.md").read_text()
    section = re.search(r"^## Pipelines and cron\n(.*?)(?=^## )", text, re.M | re.S)
    assert section, "README has no '## Pipelines and cron' section"
    (block,) = re.findall(r"```sh\n(.*?)```", section.group(1), re.S)
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


CRON = re.compile(r"^([0-9*/,-]+ ){5}")
"""A crontab line's schedule: the five fields before the command."""


@pytest.mark.e2e
def test_the_pipelines_and_cron_lines_run_as_written(tmp_path: Path) -> None:
    """Each line of the README's pipelines, run by bash against the local exchange exactly as
    written (a cron line without its schedule), with a `main` profile that points there."""
    import json
    import os
    import sys

    from bybitctl.sim import running_exchange

    bin_dir = Path(sys.executable).parent
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BYBIT", "_BYBITCTL"))},
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    with running_exchange(symbols=("BTCUSDT", "ETHUSDT"), seed=3) as ex:

        def bash(line: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True
            )

        setup = bash(
            f"printf %s {ex.api_secret} | bybitctl config init --profile main "
            f"--base-url {ex.base_url} --api-key {ex.api_key} --api-secret-stdin --use"
        )
        assert setup.returncode == 0, setup.stderr
        for price in ("50000", "51000"):
            order = bash(
                "bybitctl trade place-order --category linear --symbol BTCUSDT --side Buy "
                f"--order-type Limit --qty 0.01 --price {price}"
            )
            assert order.returncode == 0, order.stderr
        seen = {}
        for line in pipeline_lines():
            command = CRON.sub("", line)
            runs = [bash(command) for _ in range(2 if command != line else 1)]
            for run in runs:
                assert run.returncode == 0, (line, run.stderr)
            seen[command] = runs[-1].stdout
    outputs = iter(seen.items())
    command, out = next(outputs)
    assert "-o csv" in command and out.splitlines()[0] == "symbol,lastPrice"
    assert sorted(row.split(",")[0] for row in out.splitlines()[1:]) == ["BTCUSDT", "ETHUSDT"]
    command, out = next(outputs)
    assert "order-history" in command and len(out.split()) == 2
    assert all(re.fullmatch(r"[0-9a-f-]{36}", order_id) for order_id in out.split())
    command, out = next(outputs)
    assert "b[0][0]" in command and re.fullmatch(r"\d+(\.\d+)?\n", out), out
    command, out = next(outputs)
    assert "kline" in command and all(
        re.fullmatch(r"\d{13}\t\d+(\.\d+)?", row) for row in out.splitlines()
    )
    command, out = next(outputs)
    assert "wallet.jsonl" in command and out == ""
    snapshots = (tmp_path / "wallet.jsonl").read_text().splitlines()
    assert len(snapshots) == 2, "the cron line appends one JSON line per run"
    assert all(json.loads(line)["accountType"] == "UNIFIED" for line in snapshots)
    command, out = next(outputs)
    assert command.startswith("bybitctl call") and json.loads(out)["list"][0]["symbol"] == "BTCUSDT"
    command, out = next(outputs)
    assert command.startswith("bybitctl api") and "timeSecond" in json.loads(out)
