"""The live stream verbs, one per row of `bybitctl.stream.topics.SPECS`.

Each verb is the same builder with the options its row takes (the others are left out of
its signature, so `--help` shows only what applies). The builder checks every input and
turns it into `StreamOptions` before any connection is made; `run_live` does the work.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from bybitctl.errors import UsageError
from bybitctl.stream.topics import (
    BOOK_DEPTHS,
    SPECS,
    StreamSpec,
    Subscription,
    channel,
    plan,
)

OUTPUTS = ("table", "jsonl")


@dataclass(frozen=True)
class StreamOptions:
    """Everything one live stream needs, checked; `settings` is a thunk so building the
    options never reads the config file."""

    spec: StreamSpec
    channel: str
    subscriptions: tuple[Subscription, ...]
    levels: int
    count: int | None
    duration: float | None
    record: Path | None
    output: str | None
    settings: Callable[[], Any]
    debug: bool = False
    rotate: Any = None  # bybitctl.recording.Rotation


def _option(annotation: Any, *decls: str, metavar: str | None = None, help: str) -> Any:
    return Annotated[annotation, typer.Option(*decls, metavar=metavar, help=help)]


def _hidden(annotation: Any, *decls: str, metavar: str | None = None) -> Any:
    """A global option a stream verb also takes itself; help shows it once, at the top."""
    return Annotated[annotation, typer.Option(*decls, metavar=metavar, hidden=True)]


# Parameters by name; a verb's signature is the ones its row takes plus COMMON.
_PARAMS: dict[str, tuple[Any, Any]] = {
    "symbol": (
        _option(
            list[str] | None,
            "--symbol",
            "-s",
            metavar="SYMBOL",
            help="Symbol (repeat for many on one connection).",
        ),
        None,
    ),
    "category": (
        _option(
            str | None,
            "--category",
            "-c",
            metavar="CATEGORY",
            help="spot|linear|inverse|option (default linear).",
        ),
        None,
    ),
    "depth": (
        _option(
            int | None,
            "--depth",
            "-d",
            metavar="DEPTH",
            help="Book depth: 1|50|200|1000; option 25|100 (default 50, option 25).",
        ),
        None,
    ),
    "interval": (
        _option(
            str | None,
            "--interval",
            "-i",
            metavar="INTERVAL",
            help="1 3 5 15 30 60 120 240 360 720 D W M (default 1).",
        ),
        None,
    ),
    "levels": (
        _option(int, "--levels", "-l", metavar="N", help="Book levels per side in each event."),
        25,
    ),
}
COMMON: dict[str, tuple[Any, Any]] = {
    "count": (
        _option(int | None, "--count", "-n", metavar="N", help="Exit 0 after N events."),
        None,
    ),
    "duration": (
        _option(float | None, "--duration", metavar="SECONDS", help="Exit 0 after S seconds."),
        None,
    ),
    "record": (
        _option(
            Path | None,
            "--record",
            metavar="FILE",
            help="Also write raw frames to FILE (JSONL; gzip if .gz).",
        ),
        None,
    ),
    "rotate": (
        _option(
            str | None,
            "--rotate",
            metavar="PERIOD|SIZE",
            help="Cut the recording into files every PERIOD (1h, 1d) or SIZE (100MB).",
        ),
        None,
    ),
    "output": (
        _option(
            str | None,
            "--output",
            "-o",
            metavar="FORMAT",
            help="table (live view, default on a terminal) | jsonl.",
        ),
        None,
    ),
    "base_url": (_hidden(str | None, "--base-url", metavar="URL"), None),
    "profile": (_hidden(str | None, "--profile", metavar="NAME"), None),
    "testnet": (_hidden(bool, "--testnet"), False),
    "demo": (_hidden(bool, "--demo"), False),
}


def build_options(ctx: typer.Context, spec: StreamSpec, values: dict[str, Any]) -> StreamOptions:
    """Check the inputs of one verb and bind the app context; no I/O."""
    category = values.get("category")
    try:
        subs = plan(
            spec,
            category=category,
            symbols=tuple(values.get("symbol") or ()),
            depth=values.get("depth"),
            interval=values.get("interval"),
        )
    except UsageError as exc:
        exc.hint = exc.hint or _depth_hint(spec, category, values.get("depth"))
        raise
    levels = values.get("levels", 25)
    _check_positive("--levels", levels)
    _check_positive("--count", values["count"])
    _check_positive("--duration", values["duration"])
    app = _app_context(ctx, values)
    rotate = check_rotate(values.get("rotate"), values["record"])
    return StreamOptions(
        spec=spec,
        channel=channel(spec, category),
        subscriptions=tuple(subs),
        levels=levels,
        count=values["count"],
        duration=values["duration"],
        record=values["record"],
        output=check_output(values["output"]) or app.output,
        settings=app.settings,
        debug=app.debug,
        rotate=rotate,
    )


def _depth_hint(spec: StreamSpec, category: str | None, depth: int | None) -> str | None:
    """For a book depth the exchange does not send: the next one up, cut to `--levels`."""
    if depth is None or spec.view != "book":
        return None
    offered = BOOK_DEPTHS.get("spread" if spec.connection == "spread" else category or "linear", ())
    bigger = next((d for d in offered if d > depth), None)
    if bigger is None:
        return None
    return f"for a {depth}-level ladder: --depth {bigger} --levels {depth}"


def check_rotate(rotate: str | None, record: Path | None) -> Any:
    """`--rotate`, which only means something with `--record`."""
    from bybitctl.recording import parse_rotation

    if rotate is None:
        return None
    if record is None:
        raise UsageError("--rotate needs --record FILE")
    return parse_rotation(rotate)


def _check_positive(name: str, value: float | None) -> None:
    if value is not None and value <= 0:
        raise UsageError(f"{name} must be positive, got {value}")


def check_output(output: str | None) -> str | None:
    """A stream's own `-o` takes table (the live view) or jsonl."""
    if output is not None and output not in OUTPUTS:
        raise UsageError(f"-o {output} is not offered by stream (choose from table, jsonl)")
    return output


def wants_live_view(output: str | None, asked: str | None = None) -> bool:
    """The live view only on a terminal and only when no machine format was asked for
    (any format but table, from `-o`, BYBITCTL_OUTPUT or the profile, means JSONL). A table
    asked for on this command line (`asked`) in a pipe is said to be JSONL on stderr."""
    live = output in (None, "table", "wide") and sys.stdout.isatty()
    if asked in ("table", "wide") and not live:
        print("stream: -o table draws on a terminal; this pipe gets jsonl", file=sys.stderr)
    return live


def _app_context(ctx: typer.Context, values: dict[str, Any]) -> Any:
    """The root's AppContext (a default one when the group runs on its own), with the target
    the stream command's own options name (`--base-url`, `--profile`, `--testnet`, `--demo`)
    over the root's."""
    from bybitctl.context import AppContext

    root = ctx.find_root()
    if root.obj is None:
        root.obj = AppContext()
    for key in ("base_url", "profile"):
        if values[key] is not None:
            root.obj.overrides[key] = values[key]
    for key in ("testnet", "demo"):
        if values[key]:
            root.obj.overrides[key] = True
    return root.obj


def run_live(opts: StreamOptions) -> int:
    """Connect, stream until a limit or Ctrl-C (exit 130 from the top-level handler)."""
    from bybitctl.stream.feed import LiveFeed, connector
    from bybitctl.stream.pipeline import Pipeline
    from bybitctl.stream.runner import Loop, open_recorder, open_sink

    settings = opts.settings()
    if opts.channel == "private":
        settings.require_credentials()
    pipeline = Pipeline(levels=opts.levels)
    topics = [s.topic for s in opts.subscriptions]
    recorder = open_recorder(opts.record, opts.channel, topics, opts.rotate, pipeline)
    live_view = wants_live_view(opts.output or settings.output, opts.output)
    sink = open_sink(live_view, opts.spec.view, " ".join(topics), pipeline, opts.levels)
    loop = Loop(pipeline, sink, count=opts.count, duration=opts.duration, recorder=recorder)
    loop.run(
        LiveFeed(
            connector(settings, opts.channel, debug=opts.debug),
            list(opts.subscriptions),
            loop.on_state,
        )
    )
    return 0


def make_command(
    spec: StreamSpec, runner: Callable[[StreamOptions], int] = run_live
) -> Callable[..., None]:
    """The Typer callback for `spec`, with a signature of exactly the options it takes."""

    def command(ctx: typer.Context, **values: Any) -> None:
        code = runner(build_options(ctx, spec, values))
        if code:
            raise typer.Exit(code)

    names = [n for n in _PARAMS if n in spec.inputs or (n == "levels" and spec.view == "book")]
    params = [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    ]
    for name, (annotation, default) in [*((n, _PARAMS[n]) for n in names), *COMMON.items()]:
        params.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
            )
        )
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__name__ = spec.name.replace("-", "_")
    command.__doc__ = spec.summary
    return command


def add_stream_commands(
    app: typer.Typer, runner: Callable[[StreamOptions], int] = run_live
) -> None:
    """Register one verb per stream row on `app`."""
    for spec in SPECS:
        app.command(spec.name, help=spec.summary, epilog=_example(spec))(make_command(spec, runner))


def _example(spec: StreamSpec) -> str:
    """A command line of the verb, from the inputs it takes."""
    words = ["bybitctl", "stream", spec.name]
    if spec.connection == "private" and "category" in spec.inputs:
        words += ["--category", "linear"]
    if "symbol" in spec.inputs:
        words += ["--symbol", "BTCUSDT_BTC/USDT" if spec.connection == "spread" else "BTCUSDT"]
    if "interval" in spec.inputs:
        words += ["--interval", "5"]
    if spec.view == "book" and spec.connection != "spread":
        words += ["--depth", "50", "--levels", "20"]
    return "Example:\n  " + " ".join(words)
