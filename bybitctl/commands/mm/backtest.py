"""`bybitctl mm backtest`: replay a `bybitctl stream --record` recording through the same
strategy, with the queue-position-aware fill model, and print the same report as a live run.
Deterministic for one recording, config and instrument (only the latency figures vary)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer

from bybitctl.commands.common import app_context
from bybitctl.commands.mm.common import (
    ConfigFileOption,
    TableOrJsonOption,
    config_command,
    config_overrides,
    output_choice,
)
from bybitctl.errors import UsageError


@dataclass(frozen=True)
class BacktestOptions:
    """The recording, the checked config, the instrument row (or a thunk that fetches it),
    the simulated venue, and the format."""

    data: Path
    config: Any  # MMConfig
    instrument: Callable[[], dict[str, Any]]
    latency_ms: int
    maker_fee: Decimal
    taker_fee: Decimal
    fmt: str


def _instrument_from_file(path: Path) -> dict[str, Any]:
    """An instruments-info row from a file: the row itself, or a response holding it."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"--instrument {path}: {exc}") from None
    for key in ("result", "list"):
        if isinstance(doc, dict) and key in doc:
            doc = doc[key]
    if isinstance(doc, list):
        doc = doc[0] if doc else {}
    if not isinstance(doc, dict) or "priceFilter" not in doc:
        raise UsageError(f"--instrument {path}: not an instruments-info row")
    return doc


_OWN: dict[str, tuple[Any, Any]] = {
    "data": (
        Annotated[
            Path,
            typer.Option(
                "--data",
                metavar="RECORDING",
                help="A `bybitctl stream --record` file (.jsonl/.gz).",
            ),
        ],
        ...,
    ),
    "config_file": (ConfigFileOption, None),
    "instrument": (
        Annotated[
            Path | None,
            typer.Option(
                "--instrument",
                metavar="FILE",
                help="instruments-info row (JSON); default: fetched from the profile.",
            ),
        ],
        None,
    ),
    "latency_ms": (
        Annotated[
            int, typer.Option("--latency-ms", help="Simulated one-way latency to the exchange.")
        ],
        5,
    ),
    "maker_fee": (
        Annotated[
            str,
            typer.Option("--maker-fee", metavar="RATE", help="Maker fee rate (negative = rebate)."),
        ],
        "0.0002",
    ),
    "taker_fee": (
        Annotated[str, typer.Option("--taker-fee", metavar="RATE", help="Taker fee rate.")],
        "0.00055",
    ),
    "output": (TableOrJsonOption, None),
}


def build_backtest_options(ctx: typer.Context, values: Mapping[str, Any]) -> BacktestOptions:
    """Check every input before reading the recording."""
    from bybitctl.mm.config import load_config

    overrides = config_overrides(values, _OWN)
    config = load_config(values["config_file"], overrides)
    data: Path = values["data"]
    if not data.exists():
        raise UsageError(f"--data: no such file: {data}")
    if values["latency_ms"] < 0:
        raise UsageError(f"--latency-ms must be >= 0, got {values['latency_ms']}")
    fees = {}
    for name in ("maker_fee", "taker_fee"):
        try:
            fees[name] = Decimal(values[name])
        except InvalidOperation:
            raise UsageError(f"--{name.replace('_', '-')}: not a number: {values[name]}") from None
    path = values["instrument"]
    if path is not None:
        row = _instrument_from_file(path)

        def instrument() -> dict[str, Any]:
            return row
    else:
        app = app_context(ctx)

        def instrument() -> dict[str, Any]:
            result = app.http().get_instruments_info(
                category=config.category, symbol=config.symbol
            )["result"]
            if not result.get("list"):
                raise UsageError(f"no {config.category} instrument {config.symbol}")
            return result["list"][0]

    return BacktestOptions(
        data,
        config,
        instrument,
        values["latency_ms"],
        fees["maker_fee"],
        fees["taker_fee"],
        output_choice(values["output"], ctx, ("table", "json")),
    )


def run_backtest_command(opts: BacktestOptions) -> int:
    """Validate against the instrument, replay, print the report."""
    from bybitctl.mm.backtest import BacktestSettings, run_backtest
    from bybitctl.mm.config import validate
    from bybitctl.mm.report import print_report

    rules = validate(opts.config, opts.instrument())
    result = run_backtest(
        opts.data,
        opts.config,
        rules,
        BacktestSettings(
            latency_ms=opts.latency_ms, maker_fee=opts.maker_fee, taker_fee=opts.taker_fee
        ),
    )
    report = {
        **result.report,
        "decisions": result.decisions,
        "spread_capture": float(result.ledger.spread_capture),
        "inventory_pnl": float(result.ledger.inventory_pnl(result.mark)),
    }
    print_report(report, opts.fmt)
    return 0


def make_backtest(
    runner: Callable[[BacktestOptions], int] = run_backtest_command,
) -> Callable[..., None]:
    """The `backtest` command with the same config flags as `start`."""
    return config_command(
        _OWN,
        lambda ctx, values: runner(build_backtest_options(ctx, values)),
        "Replay a recording through the strategy with a queue-aware fill "
        "model; prints the same report as a live run.",
    )
