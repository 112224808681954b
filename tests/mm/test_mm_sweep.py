"""`mm sweep`: the grid's configurations, rows equal to single backtests whatever the batching,
local worker processes and a real Dask cluster (a scheduler and two workers started here,
on loopback) giving the same rows, failures reported in their rows, `--resume`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.examples import cases
from support.synthetic import LINEAR_INSTRUMENT, synthetic_recording

from bybitctl.mm.backtest import BacktestSettings, full_report, run_backtest
from bybitctl.mm.config import ConfigProblems, from_mapping
from bybitctl.mm.rules import validate
from bybitctl.mm.sweep import ERROR, SweepTask, grid_points, run_task, tasks_for
from bybitctl.mm.sweep_workers import run_local
from bybitctl.recording import RecordingWriter

BASE = {
    "symbol": "SIMUSDT",
    "order_qty": "0.1",
    "max_position": "0.5",
    "maker_fee_bps": 0,
    "min_edge_bps": 0,
    "rate_limit": 200,
    "level_spacing_bps": 2,
}
GRID = {"spread_bps": [1, 2], "levels": [1, 2], "refresh_tolerance_bps": [0.5, 1.5]}
SETTINGS = BacktestSettings(latency_ms=5)


def measured(row: dict[str, Any]) -> dict[str, Any]:
    """A row without the wall-clock figure (the only one that varies run to run)."""
    return {k: v for k, v in row.items() if k != "tick_to_quote_us"}


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sweep") / "rec.jsonl.gz"
    with RecordingWriter(path, channel="public/linear") as writer:
        for entry in synthetic_recording(seed=21, messages=700):
            writer.write(entry["frame"], entry["recv_ns"])
    return path


def single(recording: Path, values: dict[str, Any]) -> dict[str, Any]:
    config = from_mapping(values)
    result = run_backtest(recording, config, validate(config, LINEAR_INSTRUMENT), SETTINGS)
    return full_report(result)


def test_the_grid_is_the_cartesian_product_and_flags_fix_fields() -> None:
    points = grid_points(GRID, BASE, {})
    assert len(points) == 8
    assert [p.swept for p in points[:3]] == [
        {"spread_bps": 1.0, "levels": 1, "refresh_tolerance_bps": 0.5},
        {"spread_bps": 1.0, "levels": 1, "refresh_tolerance_bps": 1.5},
        {"spread_bps": 1.0, "levels": 2, "refresh_tolerance_bps": 0.5},
    ]
    fixed = grid_points(GRID, BASE, {"levels": "3"})
    assert len(fixed) == 4 and all("levels" not in p.swept for p in fixed)
    assert all(from_mapping(p.values).levels == 3 for p in fixed)
    notional = grid_points({"order_qty": ["0.1", "0.25"], "max_position": [1]}, BASE, {})
    assert [p.swept for p in notional] == [
        {"order_qty": 0.1, "max_position": 1},
        {"order_qty": 0.25, "max_position": 1},
    ]
    with pytest.raises(ConfigProblems, match="spread_bps"):
        grid_points({"spread_bps": [1, 0]}, BASE, {})


def test_rows_equal_single_backtests_whatever_the_batching(recording: Path) -> None:
    points = grid_points(GRID, BASE, {})
    singles = {p.index: measured({**p.swept, **single(recording, p.values)}) for p in points}
    for workers, batch in cases(((1, None), (3, None), (1, 1), (1, 5))):
        tasks = tasks_for(
            points, [str(recording)], LINEAR_INSTRUMENT, SETTINGS, workers=workers, batch=batch
        )
        rows = {r["index"]: measured(r["row"]) for t in tasks for r in run_task(t)}
        assert rows == singles, (workers, batch)
    assert len({row["fills"] for row in singles.values()}) > 2  # the grid changes outcomes


def test_a_task_that_fails_reports_it_in_its_rows(recording: Path, tmp_path: Path) -> None:
    points = grid_points(GRID, BASE, {})
    good = SweepTask((str(recording),), LINEAR_INSTRUMENT, SETTINGS, tuple(points[:4]))
    gone = tmp_path / "gone.jsonl.gz"
    bad = SweepTask((str(gone),), LINEAR_INSTRUMENT, SETTINGS, tuple(points[4:]))
    finished = list(run_local([good, bad], workers=2))
    rows = {r["index"]: r["row"] for _, task_rows in finished for r in task_rows}
    assert sorted(rows) == list(range(8))  # every configuration has its row
    assert all(ERROR not in rows[i] and rows[i]["decisions"] > 0 for i in range(4))
    for i in range(4, 8):
        assert "no such recording" in rows[i][ERROR]
        assert rows[i]["spread_bps"] == points[i].swept["spread_bps"]
    # one bad configuration among good ones fails alone
    broken = {**points[1].values, "max_position": "0.0001"}  # under the minimum order qty
    mixed = SweepTask(
        (str(recording),),
        LINEAR_INSTRUMENT,
        SETTINGS,
        (points[0], type(points[1])(1, points[1].swept, broken)),
    )
    first, second = run_task(mixed)
    assert ERROR not in first["row"] and "max_position" in second["row"][ERROR]


# -- the command, on local processes and on a Dask cluster ----------------------------------


def bybitctl() -> str:
    found = shutil.which("bybitctl", path=str(Path(sys.executable).parent))
    assert found, "bybitctl is not installed in this venv (pip install -e .)"
    return found


def write_inputs(tmp_path: Path) -> None:
    """mm.toml, grid.toml (GRID) and the instrument row in `tmp_path`."""
    (tmp_path / "mm.toml").write_text(
        "".join(f"{k} = {json.dumps(v)}\n" for k, v in BASE.items() if k != "level_spacing_bps")
    )
    (tmp_path / "grid.toml").write_text(
        "".join(f"{k} = {json.dumps(v)}\n" for k, v in GRID.items())
    )
    (tmp_path / "inst.json").write_text(json.dumps(LINEAR_INSTRUMENT))


def sweep(tmp_path: Path, data: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed `bybitctl mm sweep` of GRID over BASE on `data`."""
    write_inputs(tmp_path)
    return sweep_with_grid(tmp_path, data, "--level-spacing-bps", "2", *args)


def rows_of(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def by_config(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(r[k] for k in GRID): measured(r) for r in rows}


@pytest.fixture(scope="module")
def local_rows(recording: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    done = sweep(tmp_path_factory.mktemp("local"), recording, "--workers", "2", "-o", "jsonl")
    assert done.returncode == 0, done.stderr
    assert "8/8 done, 0 failed" in done.stderr
    return rows_of(done.stdout)


@pytest.mark.e2e
def test_local_workers_give_the_rows_of_single_backtests(
    local_rows: list[dict], recording: Path, tmp_path: Path
) -> None:
    assert len(local_rows) == 8
    for point in grid_points(GRID, BASE, {}):
        row = by_config(local_rows)[tuple(point.swept.values())]
        assert row == measured({**point.swept, **single(recording, point.values)})
        assert list(row)[:3] == list(GRID)  # the swept fields first, named as in mm.toml
    one = sweep(tmp_path, recording, "--workers", "1", "--batch", "3", "-o", "json")
    assert one.returncode == 0, one.stderr
    ordered = json.loads(one.stdout)  # json: the whole sweep in grid order
    assert [tuple(r[k] for k in GRID) for r in ordered] == [
        tuple(p.swept.values()) for p in grid_points(GRID, BASE, {})
    ]
    assert by_config(ordered) == by_config(local_rows)


@pytest.mark.e2e
def test_resume_skips_the_configurations_an_output_file_has(
    local_rows: list[dict], recording: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rows.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in local_rows[:5]))
    done = sweep(tmp_path, recording, "--resume", str(out), "-o", "jsonl")
    assert done.returncode == 0, done.stderr
    new = rows_of(done.stdout)
    assert len(new) == 3 and "3 configuration(s)" in done.stderr
    assert by_config(local_rows[:5] + new) == by_config(local_rows)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Dask scheduler and two single-threaded workers, each its own process, on loopback."""
    pytest.importorskip("distributed", reason="the cluster extra is part of the test extra")
    where = tmp_path_factory.mktemp("dask")
    file = where / "scheduler.json"
    cli = [sys.executable, "-m"]
    procs = [
        subprocess.Popen(
            [
                *cli,
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(file),
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(where / "scheduler.log", "w"),  # noqa: SIM115
            cwd=where,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not file.exists() or not file.read_text().strip():
            assert procs[0].poll() is None, (where / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        for n in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        *cli,
                        "distributed.cli.dask_worker",
                        address,
                        "--nthreads",
                        "1",
                        "--host",
                        "127.0.0.1",
                        "--no-dashboard",
                        "--name",
                        f"w{n}",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=open(where / f"worker{n}.log", "w"),  # noqa: SIM115
                    cwd=where,
                )
            )
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.mark.e2e
def test_a_dask_cluster_gives_the_rows_of_local_workers(
    dask_cluster: str, local_rows: list[dict], recording: Path, tmp_path: Path
) -> None:
    done = sweep(tmp_path, recording, "--scheduler", dask_cluster, "-o", "jsonl", "--batch", "2")
    assert done.returncode == 0, done.stderr
    assert f"on {dask_cluster}" in done.stderr and "8/8 done, 0 failed" in done.stderr
    assert by_config(rows_of(done.stdout)) == by_config(local_rows)
    # data by fsspec URL, read by the workers themselves
    by_url = sweep(tmp_path, recording.resolve().as_uri(), "--scheduler", dask_cluster)
    assert by_url.returncode == 0, by_url.stderr
    assert by_config(rows_of(by_url.stdout)) == by_config(local_rows)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("grid", "args", "message"),
    [
        ("spread_bps = [1, 2]\nwarp = [1]\n", [], "warp: not an mm field"),
        ("spread_bps = 2\n", [], "spread_bps: expected a non-empty list"),
        ("spread_bps = [1, 0]\n", [], "spread_bps"),
        ("spread_bps = [1, 2]\n", ["--workers", "0"], "--workers"),
        ("spread_bps = [1, 2]\n", ["--scheduler", "localhost:8786"], "tcp://HOST:PORT"),
        ("spread_bps = [1, 2]\n", ["-o", "yaml"], "-o yaml"),
        ("spread_bps = [1, 2]\n", ["--plot", "x.png"], "two swept fields"),
        (
            "spread_bps = [1, 2]\nlevels = [1]\n",
            ["--plot", "x.png", "--plot-figure", "x"],
            "not a report key",
        ),
        ("spread_bps = [1, 2]\n", ["--data", "nowhere-*.jsonl"], "matches no file"),
        ("max_position = [0.0001]\n", [], "max_position"),  # below the minimum order qty
    ],
)
def test_bad_input_is_refused_in_one_line_before_anything_runs(
    recording: Path, tmp_path: Path, grid: str, args: list[str], message: str
) -> None:
    write_inputs(tmp_path)
    (tmp_path / "grid.toml").write_text(grid)
    done = sweep_with_grid(tmp_path, recording, *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == "" and "sweep:" not in done.stderr  # nothing ran


def sweep_with_grid(
    tmp_path: Path, data: Path | str, *args: str
) -> subprocess.CompletedProcess[str]:
    """`bybitctl mm sweep` with the input files as they are in `tmp_path`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BYBIT", "XDG_"))}
    env["HOME"] = str(tmp_path / "home")
    base = ["--data", str(data)] if "--data" not in args else []
    return subprocess.run(
        [
            bybitctl(),
            "mm",
            "sweep",
            *base,
            "--grid",
            str(tmp_path / "grid.toml"),
            "--config",
            str(tmp_path / "mm.toml"),
            "--instrument",
            str(tmp_path / "inst.json"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
