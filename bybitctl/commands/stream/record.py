"""`bybitctl stream record`: several streams of several symbols into one recording, on one
connection (books, trades and tickers together, as a backtest needs), optionally rotated
into files by time or size for 24/7 collection (see docs/research.md)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from bybitctl.commands.stream.live import (
    COMMON,
    StreamOptions,
    _app_context,
    _check_positive,
    _option,
    check_rotate,
)
from bybitctl.errors import UsageError
from bybitctl.stream.topics import SPECS, channel, plan

RECORDABLE = ("orderbook", "rpi-orderbook", "trades", "ticker")
"""The stream verbs `record` can combine: the public market of a category's symbols."""
DEFAULT_STREAMS = "orderbook,trades,ticker"

_PARAMS: dict[str, tuple[Any, Any]] = {
    "record": (
        _option(Path, "--record", metavar="FILE", help="Recording to write (JSONL; gzip if .gz)."),
        ...,
    ),
    "symbol": (
        _option(list[str], "--symbol", "-s", metavar="SYMBOL", help="Symbol (repeat for many)."),
        ...,
    ),
    "category": (
        _option(
            str | None,
            "--category",
            "-c",
            metavar="CATEGORY",
            help="spot|linear|inverse (default linear).",
        ),
        None,
    ),
    "streams": (
        _option(
            str,
            "--streams",
            metavar="LIST",
            help=f"Comma-separated: {', '.join(RECORDABLE)}.",
        ),
        DEFAULT_STREAMS,
    ),
    "depth": (
        _option(int | None, "--depth", "-d", metavar="DEPTH", help="Book depth (default 50)."),
        None,
    ),
    "rotate": COMMON["rotate"],
    "duration": COMMON["duration"],
    "base_url": COMMON["base_url"],
    "profile": COMMON["profile"],
    "testnet": COMMON["testnet"],
    "demo": COMMON["demo"],
}


def build_record_options(ctx: typer.Context, values: dict[str, Any]) -> StreamOptions:
    """Check the inputs and plan every subscription; no I/O."""
    names = [n.strip() for n in values["streams"].split(",") if n.strip()]
    unknown = [n for n in names if n not in RECORDABLE]
    if unknown or not names:
        raise UsageError(f"--streams {values['streams']}: choose from {', '.join(RECORDABLE)}")
    if len(set(names)) != len(names):
        raise UsageError(f"--streams {values['streams']}: a stream is named twice")
    specs = {spec.name: spec for spec in SPECS}
    symbols = tuple(values["symbol"])
    category = values["category"]
    subs = []
    for name in names:
        spec = specs[name]
        depth = values["depth"] if "depth" in spec.inputs else None
        subs += plan(spec, category=category, symbols=symbols, depth=depth)
    if values["depth"] is not None and "orderbook" not in names:
        raise UsageError("--depth needs the orderbook stream")
    _check_positive("--duration", values["duration"])
    app = _app_context(ctx, values)
    spec = specs[names[0]]
    return StreamOptions(
        spec=spec,
        channel=channel(spec, category),
        subscriptions=tuple(subs),
        levels=1,
        count=None,
        duration=values["duration"],
        record=values["record"],
        output="jsonl",
        settings=app.settings,
        debug=app.debug,
        rotate=check_rotate(values["rotate"], values["record"]),
    )


def run_record(opts: StreamOptions) -> int:
    """Connect and record until --duration or Ctrl-C; connection notes on stderr."""
    from bybitctl.stream.feed import LiveFeed, connector
    from bybitctl.stream.pipeline import Pipeline
    from bybitctl.stream.runner import Loop, QuietSink, open_recorder

    settings = opts.settings()
    pipeline = Pipeline(levels=1, book_levels=False)
    topics = [s.topic for s in opts.subscriptions]
    recorder = open_recorder(opts.record, opts.channel, topics, opts.rotate, pipeline)
    loop = Loop(pipeline, QuietSink(sys.stderr), duration=opts.duration, recorder=recorder)
    result = loop.run(
        LiveFeed(
            connector(settings, opts.channel, debug=opts.debug),
            list(opts.subscriptions),
            loop.on_state,
        )
    )
    print(f"recorded {result.frames} frame(s) to {opts.record}", file=sys.stderr)
    return 0


def make_record_command(
    runner: Callable[[StreamOptions], int] = run_record,
) -> Callable[..., None]:
    """The `record` verb."""
    from bybitctl.commands.common import with_options

    def command(ctx: typer.Context, **values: Any) -> None:
        code = runner(build_record_options(ctx, values))
        if code:
            raise typer.Exit(code)

    command.__doc__ = (
        "Record books, trades and tickers of several symbols into one recording "
        "(rotated by time or size with --rotate)."
    )
    return with_options(command, _PARAMS)
