"""`bybitctl stream replay FILE`: a recording through the same pipeline and views as live."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from bybitctl.commands.stream.live import check_output, wants_live_view
from bybitctl.errors import UsageError


@dataclass(frozen=True)
class ReplayOptions:
    """A checked replay request; `speed` None means as fast as the pipeline goes."""

    path: Path
    speed: float | None
    levels: int
    count: int | None
    live_view: bool


def view_of(topics: list[str]) -> str:
    """The live view matching a recording's topics (its first topic decides).

    >>> view_of(["orderbook.50.BTCUSDT"]), view_of(["publicTrade.BTCUSDT"]), view_of([])
    ('book', 'trades', 'log')
    """
    first = topics[0] if topics else ""
    for prefix, kind in (("orderbook.", "book"), ("publicTrade.", "trades"), ("tickers", "ticker")):
        if first.startswith(prefix):
            return kind
    return "log"


def run_replay(opts: ReplayOptions) -> int:
    """Feed the recording's frames to the pipeline, paced or not, and exit 0 at its end."""
    from bybitctl.recording import read_header
    from bybitctl.stream.feed import ReplayFeed
    from bybitctl.stream.pipeline import Pipeline
    from bybitctl.stream.runner import Loop, open_sink

    header = read_header(opts.path)
    topics = list(header.get("topics") or [])
    pipeline = Pipeline(levels=opts.levels)
    sink = open_sink(
        opts.live_view, view_of(topics), f"replay {opts.path.name}", pipeline, opts.levels
    )
    loop = Loop(pipeline, sink, count=opts.count)
    loop.run(ReplayFeed(opts.path, opts.speed, on_state=loop.on_state))
    return 0


def make_replay_command(
    runner: Callable[[ReplayOptions], int] = run_replay,
) -> Callable[..., None]:
    """The `replay` verb; tests pass a runner that captures the options."""

    def replay(
        ctx: typer.Context,
        file: Annotated[Path, typer.Argument(help="A recording made with --record.")],
        speed: Annotated[
            float | None,
            typer.Option("--speed", help="Pace relative to the recording (default 1)."),
        ] = None,
        max_speed: Annotated[
            bool, typer.Option("--max-speed", help="No pacing: as fast as the pipeline goes.")
        ] = False,
        levels: Annotated[int, typer.Option("--levels", "-l", help="Book levels per side.")] = 25,
        count: Annotated[
            int | None, typer.Option("--count", "-n", help="Stop after N events.")
        ] = None,
        output: Annotated[
            str | None, typer.Option("--output", "-o", help="table (live view) | jsonl.")
        ] = None,
    ) -> None:
        """Replay a recording through the same pipeline and views as a live stream."""
        if speed is not None and max_speed:
            raise UsageError("--speed and --max-speed exclude each other")
        if speed is not None and speed <= 0:
            raise UsageError(f"--speed must be positive, got {speed}")
        if levels <= 0 or (count is not None and count <= 0):
            raise UsageError("--levels and --count must be positive")
        root = ctx.find_root().obj
        asked = check_output(output)
        opts = ReplayOptions(
            path=file,
            speed=None if max_speed else (speed or 1.0),
            levels=levels,
            count=count,
            live_view=wants_live_view(asked or getattr(root, "output", None), asked),
        )
        code = runner(opts)
        if code:
            raise typer.Exit(code)

    return replay
