"""Parameter sweeps: every configuration of a grid backtested on the same recordings.

A grid is a TOML file of mm fields, each with a list of values (`spread_bps = [1, 2, 4]`);
the sweep runs their cartesian product over a base config (an `mm.toml` and flags, which
fix a field for every run). Each configuration's row is exactly what `mm backtest` reports
for it: the replay is `bybitctl.mm.backtest`'s, unchanged.

Work is cut into tasks of several configurations each; a task replays the data once and
steps all of its configurations through it (`run_backtests`: the reading, decoding and
the book are paid once per task). Tasks are plain data (`SweepTask`), and `run_task` is a
module-level function, so they run the same on local processes and on a Dask cluster. A
task that fails reports its error in each of its rows (a task whose replay failed as a
whole is retried one configuration at a time, so only the broken ones say so); no failure
loses the sweep.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from bybitctl.mm.backtest import BacktestSettings, full_report, run_backtest, run_backtests
from bybitctl.mm.config import MMConfig, from_mapping
from bybitctl.mm.rules import validate

ERROR = "error"
"""The key a failed configuration's row carries (with the swept fields, no figures)."""


@dataclass(frozen=True)
class Point:
    """One configuration of the grid: its index in grid order, its swept fields' values
    (as JSON values, named as in mm.toml) and every field it is built from."""

    index: int
    swept: dict[str, Any]
    values: dict[str, Any]


@dataclass(frozen=True)
class SweepTask:
    """Configurations stepped through one replay: picklable, so a local process or a Dask
    worker runs it alike. `data` are recording paths or fsspec URLs, in time order."""

    data: tuple[str, ...]
    instrument: dict[str, Any]
    settings: BacktestSettings
    points: tuple[Point, ...]


def grid_points(
    grid: Mapping[str, Sequence[Any]],
    base: Mapping[str, Any],
    fixed: Mapping[str, Any],
) -> list[Point]:
    """The cartesian product of `grid` (field -> values, in file order; the last field
    varies fastest) over `base` (the mm.toml), with `fixed` (the flags) winning over both:
    a flag's field is not swept. Each configuration is built and checked by the config's
    rules; a bad one raises `ConfigProblems` naming it."""
    swept = {name: list(values) for name, values in grid.items() if name not in fixed}
    names = list(swept)
    points = []
    for index, combo in enumerate(itertools.product(*swept.values())):
        chosen = dict(zip(names, combo, strict=True))
        values = {**base, **chosen, **fixed}
        config = from_mapping(values)
        points.append(Point(index, {n: json_value(getattr(config, n)) for n in names}, values))
    return points


def json_value(value: Any) -> Any:
    """A config value as a JSON value: exact decimals as numbers, lists item by item."""
    if isinstance(value, Decimal):
        whole = value == value.to_integral_value() and value.as_tuple().exponent >= 0
        return int(value) if whole else float(value)
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return value


def config_fields() -> tuple[str, ...]:
    """The names a grid may sweep: every mm.toml field."""
    return tuple(f.name for f in fields(MMConfig))


def split(points: Sequence[Point], tasks: int) -> list[tuple[Point, ...]]:
    """`points` cut into at most `tasks` runs of consecutive configurations, as even as can
    be (the first ones one longer)."""
    tasks = max(1, min(tasks, len(points)))
    size, extra = divmod(len(points), tasks)
    out, start = [], 0
    for n in range(tasks):
        end = start + size + (1 if n < extra else 0)
        out.append(tuple(points[start:end]))
        start = end
    return [chunk for chunk in out if chunk]


def tasks_for(
    points: Sequence[Point],
    data: Sequence[str],
    instrument: Mapping[str, Any],
    settings: BacktestSettings,
    *,
    workers: int,
    batch: int | None,
) -> list[SweepTask]:
    """The tasks of a sweep: `batch` configurations per replay, or as many as spread the
    grid evenly over the workers."""
    count = math.ceil(len(points) / batch) if batch else workers
    return [
        SweepTask(tuple(data), dict(instrument), settings, chunk) for chunk in split(points, count)
    ]


def run_task(task: SweepTask) -> list[dict[str, Any]]:
    """Backtest every configuration of `task` in one replay; one row per configuration,
    in the task's order, each `{"index", "row"}`."""
    built = []
    failed: dict[int, str] = {}
    for point in task.points:
        try:
            config = from_mapping(point.values)
            built.append((point, config, validate(config, task.instrument)))
        except Exception as exc:
            failed[point.index] = describe(exc)
    try:
        results = run_backtests(list(task.data), [(c, r) for _, c, r in built], task.settings)
    except Exception:
        results = []
        for _, config, rules in built:  # one at a time: only the broken ones fail
            try:
                results.append(run_backtest(list(task.data), config, rules, task.settings))
            except Exception as exc:
                results.append(exc)
    figures = iter(results)
    rows = []
    for point in task.points:
        if point.index in failed:
            rows.append(failed_row(point, failed[point.index]))
            continue
        result = next(figures)
        if isinstance(result, Exception):
            rows.append(failed_row(point, describe(result)))
        else:
            rows.append({"index": point.index, "row": {**point.swept, **full_report(result)}})
    return rows


def failed_row(point: Point, error: str) -> dict[str, Any]:
    """The row of a configuration that could not be backtested."""
    return {"index": point.index, "row": {**point.swept, ERROR: error}}


def describe(exc: BaseException) -> str:
    """One line saying what went wrong."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def swept_key(row: Mapping[str, Any], names: Iterable[str]) -> tuple[str, ...]:
    """A configuration's identity in an output file: its swept values, as text."""
    return tuple(_text(row.get(name)) for name in names)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + ",".join(_text(v) for v in value) + "]"
    return str(value)


def done_keys(rows: Iterable[Mapping[str, Any]], names: Sequence[str]) -> set[tuple[str, ...]]:
    """The configurations an earlier sweep's rows finished (a failed row is run again)."""
    return {swept_key(row, names) for row in rows if not row.get(ERROR)}


def ordered(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Task rows `{"index", "row"}` back in grid order, as output rows."""
    for item in sorted(rows, key=lambda r: r["index"]):
        yield item["row"]
