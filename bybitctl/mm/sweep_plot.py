"""The heat map of one figure of a sweep over two swept fields (`mm sweep --plot`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bybitctl.errors import UsageError


def heat_map(
    rows: Sequence[Mapping[str, Any]], axes: tuple[str, str], figure: str, path: Path
) -> None:
    """`figure` over `axes` (x, y) to a PNG; where other fields were swept too, each cell
    is the mean over them (the title says so). Failed configurations are left out."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(
            "--plot needs matplotlib", hint="install it with: pip install 'bybitctl[plot]'"
        ) from None
    x_name, y_name = axes
    cells: dict[tuple[Any, Any], list[float]] = defaultdict(list)
    for row in rows:
        if row.get("error") or row.get(figure) in (None, ""):
            continue
        cells[(_key(row.get(x_name)), _key(row.get(y_name)))].append(float(row[figure]))
    xs = sorted({x for x, _ in cells}, key=_order)
    ys = sorted({y for _, y in cells}, key=_order)
    grid = [
        [sum(cells[(x, y)]) / len(cells[(x, y)]) if cells.get((x, y)) else float("nan") for x in xs]
        for y in ys
    ]
    averaged = any(len(v) > 1 for v in cells.values())
    fig, ax = plt.subplots(figsize=(1.2 * len(xs) + 3, 0.8 * len(ys) + 2))
    image = ax.imshow(grid, origin="lower", aspect="auto", cmap="RdYlGn")
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_yticks(range(len(ys)), [str(y) for y in ys])
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    for j, line in enumerate(grid):
        for i, value in enumerate(line):
            if value == value:  # not NaN
                ax.text(i, j, f"{value:.4g}", ha="center", va="center", fontsize=8)
    title = figure + (" (mean over the other swept fields)" if averaged else "")
    ax.set_title(title)
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise UsageError(f"--plot {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


def _key(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _order(value: Any) -> tuple[int, Any]:
    try:
        return (0, float(value))
    except (TypeError, ValueError):
        return (1, str(value))
