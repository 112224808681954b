"""`bybitctl mm sweep`: backtest every configuration of a grid on the same recordings, on
local processes or a Dask cluster; one row per configuration, each equal to `mm backtest`
of it (see docs/research.md)."""

from __future__ import annotations

import csv
import io
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any

import orjson
import typer

from bybitctl.commands.mm.backtest import (
    _OWN as BACKTEST_OWN,
)
from bybitctl.commands.mm.backtest import (
    base_config,
    check_recorded,
    instrument_source,
    recorded_defaults,
    recorded_markets,
    recording_sources,
    venue,
)
from bybitctl.commands.mm.common import (
    check_input_file,
    check_output_file,
    config_command,
    number_option,
)
from bybitctl.errors import UsageError
from bybitctl.parsing import NumberRule

FORMATS = ("table", "json", "jsonl", "csv")
WORKERS = NumberRule(minimum=1, maximum=4096)
"""`--workers` and `--batch`."""


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class SweepOptions:
    """Everything a sweep needs, checked."""

    data: list[str]
    grid: dict[str, list[Any]]
    base: dict[str, Any]
    flags: dict[str, Any]
    instrument: Callable[[], dict[str, Any]]
    latency_ms: int
    maker_fee: Any
    taker_fee: Any
    workers: int | None
    scheduler: str | None
    batch: int | None
    fmt: str
    resume: Path | None
    plot: Path | None
    plot_figure: str
    plot_axes: tuple[str, str] | None


def _option(annotation: Any, *decls: str, metavar: str | None = None, help: str) -> Any:
    return Annotated[annotation, typer.Option(*decls, metavar=metavar, help=help)]


_OWN: dict[str, tuple[Any, Any]] = {
    "data": BACKTEST_OWN["data"],
    "grid": (
        _option(
            Path,
            "--grid",
            metavar="FILE",
            help="TOML file: mm fields with lists of values; their cartesian product is run.",
        ),
        ...,
    ),
    "config_file": BACKTEST_OWN["config_file"],
    "instrument": BACKTEST_OWN["instrument"],
    "latency_ms": BACKTEST_OWN["latency_ms"],
    "maker_fee": BACKTEST_OWN["maker_fee"],
    "taker_fee": BACKTEST_OWN["taker_fee"],
    "workers": (
        _option(
            str | None,
            "--workers",
            metavar="N",
            help="Local worker processes (default: the CPUs available). "
            f"Accepts: {WORKERS.interval()}.",
        ),
        None,
    ),
    "scheduler": (
        _option(
            str | None,
            "--scheduler",
            metavar="ADDRESS",
            help="Run on the Dask cluster of this scheduler (tcp://HOST:PORT) instead.",
        ),
        None,
    ),
    "batch": (
        _option(
            str | None,
            "--batch",
            metavar="N",
            help="Configurations stepped through one replay (default: the grid spread evenly "
            f"over the workers). Accepts: {WORKERS.interval()}.",
        ),
        None,
    ),
    "output": (
        _option(str | None, "-o", "--output", metavar="FORMAT", help="table | json | jsonl | csv."),
        None,
    ),
    "resume": (
        _option(
            Path | None,
            "--resume",
            metavar="FILE",
            help="Skip the configurations this earlier output (jsonl or csv) finished.",
        ),
        None,
    ),
    "plot": (
        _option(
            Path | None,
            "--plot",
            metavar="FILE.png",
            help="Heat map of --plot-figure over two swept fields (needs bybitctl[plot]).",
        ),
        None,
    ),
    "plot_figure": (
        _option(str, "--plot-figure", metavar="KEY", help="The row key the heat map shows."),
        "realized_pnl",
    ),
    "plot_axes": (
        _option(
            str | None,
            "--plot-axes",
            metavar="X,Y",
            help="The two swept fields of the heat map (default: the first two).",
        ),
        None,
    ),
}


def read_grid(path: Path) -> dict[str, list[Any]]:
    """The grid file: each key an mm field, each value a non-empty list (TOML floats as
    exact decimals, as in mm.toml)."""
    from bybitctl.mm.config import read_config_file
    from bybitctl.mm.sweep import config_fields

    check_input_file(path, "--grid")
    try:
        values = read_config_file(path)
    except UsageError as exc:
        raise UsageError(f"--grid {path}: {exc.message.removeprefix('mm config: ')}") from None
    known = set(config_fields())
    problems = []
    grid: dict[str, list[Any]] = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in known:
            problems.append(f"{key}: not an mm field")
        elif not isinstance(value, list) or not value:
            problems.append(f"{key}: expected a non-empty list of values")
        else:
            grid[name] = value
    if problems:
        raise UsageError(f"--grid {path}: " + "; ".join(problems))
    if not grid:
        raise UsageError(f"--grid {path}: no field to sweep")
    return grid


def build_sweep_options(ctx: typer.Context, values: Mapping[str, Any]) -> SweepOptions:
    """Check every input before anything is read or run."""
    from bybitctl.mm.config import from_mapping
    from bybitctl.mm.figures import REPORT_KEYS

    file_values, flags = base_config(values, _OWN)
    grid = read_grid(values["grid"])
    data = recording_sources(list(values["data"]))
    swept = {name: points[0] for name, points in grid.items()}
    markets = recorded_markets(data)
    base = {**recorded_defaults(markets, {**file_values, **swept, **flags}), **file_values}
    latency, maker_fee, taker_fee = venue(values)
    workers = number_option(values["workers"], "--workers", WORKERS, integral=True)
    batch = number_option(values["batch"], "--batch", WORKERS, integral=True)
    scheduler = values["scheduler"]
    if scheduler is not None and workers is not None:
        raise UsageError("--workers is for local processes; a --scheduler cluster has its own")
    if scheduler is not None and "://" not in scheduler:
        raise UsageError(f"--scheduler {scheduler}: expected an address like tcp://HOST:PORT")
    fmt = values["output"] or ("table" if sys.stdout.isatty() else "jsonl")
    if fmt not in FORMATS:
        raise UsageError(f"-o {fmt} is not offered here (choose from {', '.join(FORMATS)})")
    resume = values["resume"]
    if resume is not None and resume.exists():
        check_input_file(resume, "--resume")
    plot = values["plot"]
    axes = None
    if plot is not None:
        check_output_file(plot, "--plot", not_any_of={})
        figure = values["plot_figure"]
        if figure not in (*REPORT_KEYS, "decisions", "spread_capture", "inventory_pnl"):
            raise UsageError(f"--plot-figure {figure} is not a report key")
        if values["plot_axes"] is not None:
            parts = [p.strip() for p in values["plot_axes"].split(",")]
            if len(parts) != 2 or not all(p in grid and p not in flags for p in parts):
                raise UsageError(f"--plot-axes {values['plot_axes']}: name two swept fields")
            axes = (parts[0], parts[1])
        elif len([n for n in grid if n not in flags]) < 2:
            raise UsageError("--plot needs two swept fields")
    # the config of every configuration is built by `grid_points` (before anything runs)
    any_symbol = {**base, **flags}
    symbol = next(iter(grid.get("symbol", [])), any_symbol.get("symbol"))
    category = any_symbol.get("category", "linear")
    if not isinstance(symbol, str):
        raise UsageError("mm config: symbol: required (in --config, a flag or the grid)")
    if "symbol" in grid and len(grid["symbol"]) > 1 and "symbol" not in flags:
        raise UsageError("--grid: one sweep backtests one symbol")
    check_recorded(markets, from_mapping({**base, **swept, **flags}).symbol)
    return SweepOptions(
        data,
        grid,
        base,
        flags,
        instrument_source(ctx, values["instrument"], str(category), symbol),
        latency,
        maker_fee,
        taker_fee,
        workers,
        scheduler,
        batch,
        fmt,
        resume,
        plot,
        values["plot_figure"],
        axes,
    )


def run_sweep_command(opts: SweepOptions) -> int:
    """Build and check every configuration, run them, write the rows as they finish."""
    from bybitctl.mm import sweep_workers
    from bybitctl.mm.backtest import BacktestSettings
    from bybitctl.mm.config import from_mapping
    from bybitctl.mm.rules import validate
    from bybitctl.mm.sweep import done_keys, grid_points, ordered, swept_key, tasks_for

    points = grid_points(opts.grid, opts.base, opts.flags)
    names = list(points[0].swept)
    rank = {swept_key(p.swept, names): p.index for p in points}
    instrument = opts.instrument()
    problems = []
    for point in points:
        try:
            validate(from_mapping(point.values), instrument)
        except UsageError as exc:
            problems.append(f"{_label(point.swept)}: {exc.message}")
    if problems:
        raise UsageError(problems[0] + (f" (and {len(problems) - 1} more)" if problems[1:] else ""))
    earlier: list[dict[str, Any]] = []
    if opts.resume is not None and opts.resume.exists():
        earlier = read_rows(opts.resume)
        finished = done_keys(earlier, names)
        points = [p for p in points if swept_key(p.swept, names) not in finished]
        earlier = [r for r in earlier if swept_key(r, names) in finished]
    settings = BacktestSettings(
        latency_ms=opts.latency_ms, maker_fee=opts.maker_fee, taker_fee=opts.taker_fee
    )
    client = None
    if opts.scheduler is not None:
        client = sweep_workers.connect(opts.scheduler)
        workers = sweep_workers.cluster_workers(client)
    else:
        workers = opts.workers or _cpus()
    tasks = tasks_for(points, opts.data, instrument, settings, workers=workers, batch=opts.batch)
    where = opts.scheduler or f"{min(workers, max(len(tasks), 1))} local process(es)"
    progress = Progress(len(points), len(tasks), where, sys.stderr)
    writer = RowWriter(opts.fmt, sys.stdout, header=not (opts.resume and earlier))
    rows: list[dict[str, Any]] = []
    try:
        finished_tasks = (
            sweep_workers.run_dask(tasks, client)
            if client is not None
            else sweep_workers.run_local(tasks, workers)
        )
        for _, task_rows in finished_tasks:
            rows += task_rows
            progress.done(task_rows)
            writer.stream(item["row"] for item in task_rows)
    finally:
        if client is not None:
            client.close()
    all_rows = sorted(
        [*earlier, *ordered(rows)], key=lambda r: rank.get(swept_key(r, names), len(rank))
    )
    writer.finish(all_rows)
    progress.close()
    if opts.plot is not None:
        from bybitctl.mm.sweep_plot import heat_map

        axes = opts.plot_axes or (names[0], names[1])
        heat_map(all_rows, axes, opts.plot_figure, opts.plot)
    return 1 if any("error" in r for r in all_rows) else 0


def _label(swept: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in swept.items())


class Progress:
    """One line on stderr per finished task: configurations done, failed, time."""

    def __init__(self, configs: int, tasks: int, where: str, err: IO[str]) -> None:
        self.configs = configs
        self.done_configs = 0
        self.failed = 0
        self.err = err
        self.start = time.monotonic()
        err.write(f"sweep: {configs} configuration(s) in {tasks} task(s) on {where}\n")
        err.flush()

    def done(self, rows: Sequence[dict[str, Any]]) -> None:
        self.done_configs += len(rows)
        self.failed += sum(1 for r in rows if "error" in r["row"])
        elapsed = time.monotonic() - self.start
        self.err.write(
            f"sweep: {self.done_configs}/{self.configs} done, {self.failed} failed, "
            f"{elapsed:.1f}s\n"
        )
        self.err.flush()

    def close(self) -> None:
        if self.failed:
            self.err.write(f"sweep: {self.failed} configuration(s) failed: see their rows\n")
            self.err.flush()


class RowWriter:
    """jsonl and csv rows go out as they finish (csv: the header once); table and json are
    written whole at the end, in grid order."""

    def __init__(self, fmt: str, out: IO[str], *, header: bool) -> None:
        self.fmt = fmt
        self.out = out
        self.header = header
        self.columns: list[str] | None = None

    def stream(self, rows: Any) -> None:
        if self.fmt == "jsonl":
            for row in rows:
                self.out.write(orjson.dumps(row).decode() + "\n")
            self.out.flush()
        elif self.fmt == "csv":
            for row in rows:
                self._csv_row(row)
            self.out.flush()

    def _csv_row(self, row: Mapping[str, Any]) -> None:
        flat = flatten(row)
        if self.columns is None:
            self.columns = [k for k in flat if k != "error"] + ["error"]
            if self.header:
                self._csv_line(self.columns)
        self._csv_line([_cell(flat.get(c)) for c in self.columns])

    def _csv_line(self, cells: Sequence[str]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(cells)
        self.out.write(buffer.getvalue())

    def finish(self, rows: list[dict[str, Any]]) -> None:
        if self.fmt == "json":
            self.out.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        elif self.fmt == "table":
            from bybitctl.output import render

            render({"result": {"list": [flatten(r) for r in rows]}}, "table", out=self.out)
        self.out.flush()


def flatten(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row with its nested figures as dotted columns (`tick_to_quote_us.p50`)."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            for sub, inner in value.items():
                flat[f"{key}.{sub}"] = inner
        else:
            flat[key] = value
    return flat


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return orjson.dumps(value).decode()
    return str(value)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of an earlier sweep's output: JSON lines, a JSON list or CSV."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--resume {path}: cannot read it: {exc}") from None
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            rows = orjson.loads(stripped)
        elif stripped.startswith("{") or not stripped:
            rows = [orjson.loads(line) for line in text.splitlines() if line.strip()]
        else:
            rows = list(csv.DictReader(io.StringIO(text)))
    except (orjson.JSONDecodeError, csv.Error) as exc:
        raise UsageError(f"--resume {path}: not a sweep's output: {exc}") from None
    if not all(isinstance(r, dict) for r in rows):
        raise UsageError(f"--resume {path}: not a sweep's output")
    return rows


def make_sweep(
    runner: Callable[[SweepOptions], int] = run_sweep_command,
) -> Callable[..., None]:
    """The `sweep` command with the same config flags as `backtest`."""
    return config_command(
        _OWN,
        lambda ctx, values: runner(build_sweep_options(ctx, values)),
        "Backtest every configuration of a grid on the same recordings, on local "
        "processes or a Dask cluster; one row per configuration.",
    )
