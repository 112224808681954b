"""`bybitctl mm backtest`: replay a `bybitctl stream --record` recording through the same
strategy, with the queue-position-aware fill model, and print the same report as a live run.
Deterministic for one recording, config and instrument (only the latency figures vary)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from bybitctl.commands.common import app_context
from bybitctl.commands.mm.common import (
    ConfigFileOption,
    TableOrJsonOption,
    check_input_file,
    config_command,
    config_overrides,
    decimal_option,
    number_option,
    output_choice,
    warn_retired,
)
from bybitctl.errors import UsageError
from bybitctl.parsing import NumberRule


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
    """An instruments-info row from a file: the row itself, or a response holding it, as
    standard JSON (`bybitctl.parsing.json_value`: no NaN, no exponents)."""
    from bybitctl import parsing

    check_input_file(path, "--instrument")
    try:
        doc = parsing.json_value(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"--instrument {path}: not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"--instrument {path}: {exc.strerror or exc}") from None
    except parsing.InvalidValue as exc:
        raise UsageError(f"--instrument {path}: {exc}") from None
    for key in ("result", "list"):
        if isinstance(doc, dict) and key in doc:
            doc = doc[key]
    if isinstance(doc, list):
        doc = doc[0] if doc else {}
    if not isinstance(doc, dict) or "priceFilter" not in doc:
        raise UsageError(f"--instrument {path}: not an instruments-info row")
    return doc


def _check_recording(path: Path) -> None:
    """`--data` is a `bybitctl stream --record` file, by its header line."""
    from bybitctl.recording import read_header

    check_input_file(path, "--data")
    try:
        read_header(path)
    except UsageError:
        raise UsageError(f"--data {path} is not a bybitctl recording") from None
    except (OSError, EOFError, AttributeError):
        # unreadable, a broken gzip stream, or a first line that is JSON but no object
        raise UsageError(f"--data {path} is not a bybitctl recording") from None


LATENCY = NumberRule(minimum=0, maximum=60_000)
"""`--latency-ms`: up to a minute each way."""
FEE_RATE = NumberRule(signed=True, minimum=Decimal("-0.1"), maximum=Decimal("0.1"))
"""`--maker-fee` / `--taker-fee`: fractions of the traded value, within +-10%."""


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
            str,
            typer.Option(
                "--latency-ms",
                metavar="MS",
                help="Simulated one-way latency to the exchange. Accepts: [0, 60000].",
            ),
        ],
        "5",
    ),
    "maker_fee": (
        Annotated[
            str,
            typer.Option(
                "--maker-fee",
                metavar="RATE",
                help="Maker fee rate (negative = rebate). Accepts: [-0.1, 0.1].",
            ),
        ],
        "0.0002",
    ),
    "taker_fee": (
        Annotated[
            str,
            typer.Option(
                "--taker-fee", metavar="RATE", help="Taker fee rate. Accepts: [-0.1, 0.1]."
            ),
        ],
        "0.00055",
    ),
    "output": (TableOrJsonOption, None),
}


def build_backtest_options(ctx: typer.Context, values: Mapping[str, Any]) -> BacktestOptions:
    """Check every input before reading the recording (and before fetching anything)."""
    from bybitctl.mm.config import from_mapping, read_config_file

    config_file = values["config_file"]
    if config_file is not None:
        check_input_file(config_file, "--config")
    file_values = read_config_file(config_file) if config_file is not None else {}
    warn_retired(file_values)
    config = from_mapping({**file_values, **config_overrides(values, _OWN)})
    data: Path = values["data"]
    _check_recording(data)
    latency = number_option(values["latency_ms"], "--latency-ms", LATENCY, integral=True)
    fees = {
        name: decimal_option(values[name], f"--{name.replace('_', '-')}", FEE_RATE)
        for name in ("maker_fee", "taker_fee")
    }
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
        latency,
        fees["maker_fee"],
        fees["taker_fee"],
        output_choice(values["output"], ctx, ("table", "json")),
    )


def run_backtest_command(opts: BacktestOptions) -> int:
    """Validate against the instrument, replay, print the report."""
    from bybitctl.mm.backtest import BacktestSettings, run_backtest
    from bybitctl.mm.report import print_report
    from bybitctl.mm.rules import validate

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
