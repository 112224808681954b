"""`bybitctl mm backtest`: replay a `bybitctl stream --record` recording through the same
strategy, with the queue-position-aware fill model, and print the same report as a live run.
Deterministic for one recording, config and instrument (only the latency figures vary)."""

from __future__ import annotations

import glob
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
    number_option,
    output_choice,
    paper_defaults,
    warn_retired,
)
from bybitctl.errors import UsageError
from bybitctl.parsing import NumberRule


@dataclass(frozen=True)
class BacktestOptions:
    """The recording, the checked config, the instrument row (or a thunk that fetches it),
    the simulated venue, and the format."""

    data: list[str]
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


_GLOB = frozenset("*?[")


def recording_sources(items: list[str], option: str = "--data") -> list[str]:
    """The recordings `--data` names (paths, globs, fsspec URLs), each checked by its
    header line, in time order (by when each was created; a glob's matches and a list
    alike). A glob that matches nothing, a missing file and a file that is no recording are
    refused in one line before anything is read."""
    from bybitctl.recording import is_url, read_header

    if not items:
        raise UsageError(f"{option} is required")
    found: list[str] = []
    for item in items:
        if is_url(item):
            found += _url_matches(item, option) if _GLOB & set(item) else [item]
            continue
        if _GLOB & set(item):
            matches = sorted(p for p in glob.glob(item) if Path(p).is_file())
            if not matches:
                raise UsageError(f"{option} {item} matches no file")
            found += matches
            continue
        check_input_file(Path(item), option)
        found.append(item)
    created = {}
    for source in dict.fromkeys(found):
        try:
            header = read_header(source)
        except (UsageError, OSError, EOFError, AttributeError):
            # unreadable, a broken gzip stream, or a first line that is JSON but no object
            raise UsageError(f"{option} {source} is not a bybitctl recording") from None
        stamp = header.get("created_ns")
        created[source] = stamp if isinstance(stamp, int) else 0
    return sorted(created, key=lambda source: created[source])


def _url_matches(pattern: str, option: str) -> list[str]:
    """The URLs an fsspec glob matches, with their protocol."""
    try:
        import fsspec
    except ImportError:
        raise UsageError(
            f"{option} {pattern}: URLs need fsspec",
            hint="install it with: pip install 'bybitctl[cluster]'",
        ) from None
    try:
        files = fsspec.open_files(pattern)
    except (ValueError, ImportError, OSError) as exc:
        raise UsageError(f"{option} {pattern}: {exc}") from None
    if not files:
        raise UsageError(f"{option} {pattern} matches no file")
    return sorted(f.full_name for f in files)


LATENCY = NumberRule(minimum=0, maximum=60_000)
"""`--latency-ms`: up to a minute each way."""
FEE_RATE = NumberRule(signed=True, minimum=Decimal("-0.1"), maximum=Decimal("0.1"))
"""`--maker-fee` / `--taker-fee`: fractions of the traded value, within +-10%."""


_OWN: dict[str, tuple[Any, Any]] = {
    "data": (
        Annotated[
            list[str],
            typer.Option(
                "--data",
                metavar="RECORDING",
                help="A `bybitctl stream --record` file (.jsonl/.gz), a glob, or an fsspec "
                "URL; repeat for more. Replayed in time order as one recording.",
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
                help=f"Simulated one-way latency to the exchange. Accepts: {LATENCY.interval()}.",
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
                help=f"Maker fee rate (negative = rebate). Accepts: {FEE_RATE.interval()}.",
            ),
        ],
        "0.0002",
    ),
    "taker_fee": (
        Annotated[
            str,
            typer.Option(
                "--taker-fee",
                metavar="RATE",
                help=f"Taker fee rate. Accepts: {FEE_RATE.interval()}.",
            ),
        ],
        "0.00055",
    ),
    "output": (TableOrJsonOption, None),
}


def base_config(values: Mapping[str, Any], own: Mapping[str, Any]) -> tuple[dict, dict]:
    """The `--config` file's values and the config flags given (checked, not yet built)."""
    from bybitctl.mm.config import read_config_file

    config_file = values["config_file"]
    if config_file is not None:
        check_input_file(config_file, "--config")
    file_values = read_config_file(config_file) if config_file is not None else {}
    warn_retired(file_values)
    return file_values, config_overrides(values, own)


def venue(values: Mapping[str, Any]) -> tuple[int, Decimal, Decimal]:
    """`--latency-ms`, `--maker-fee`, `--taker-fee`, checked."""
    latency = number_option(values["latency_ms"], "--latency-ms", LATENCY, integral=True)
    fees = [
        number_option(values[name], f"--{name.replace('_', '-')}", FEE_RATE, exact=True)
        for name in ("maker_fee", "taker_fee")
    ]
    return latency, fees[0], fees[1]


def instrument_source(
    ctx: typer.Context, path: Path | None, category: str, symbol: str
) -> Callable[[], dict[str, Any]]:
    """The instruments-info row: read from `--instrument` now (so a bad file is refused
    before anything else), or a thunk that fetches it from the active profile."""
    if path is not None:
        row = _instrument_from_file(path)

        def instrument() -> dict[str, Any]:
            return row

        return instrument
    app = app_context(ctx)

    def fetch() -> dict[str, Any]:
        result = app.http().get_instruments_info(category=category, symbol=symbol)["result"]
        if not result.get("list"):
            raise UsageError(f"no {category} instrument {symbol}")
        return result["list"][0]

    return fetch


Markets = set[tuple[str, str]]
"""(category, symbol) pairs a set of recordings names in their headers' topics."""


def recorded_markets(data: list[str]) -> Markets:
    """What the recordings' headers say they hold (nothing, for headers without topics)."""
    from bybitctl.recording import read_header

    markets: Markets = set()
    for source in data:
        header = read_header(source)
        for topic in header.get("topics") or ():
            if isinstance(topic, str) and "." in topic:
                channel = str(header.get("channel", ""))  # "public/linear"
                markets.add((channel.rsplit("/", 1)[-1], topic.rsplit(".", 1)[1]))
    return markets


def recorded_defaults(markets: Markets, given: Mapping[str, Any]) -> dict[str, Any]:
    """The config a backtest starts from before `given` (the config file and the flags)
    wins: a paper run's defaults, with the symbol (and category) the recordings hold when
    they hold only one; a choice left open among several is an error."""
    from bybitctl.mm.config import CATEGORIES

    recorded: dict[str, Any] = {}
    symbols = sorted({symbol for _, symbol in markets})
    symbol = given.get("symbol")
    if symbol is None and len(symbols) > 1:
        raise UsageError(f"--data holds {', '.join(symbols)}: choose one with --symbol")
    if symbol is None and symbols:
        symbol = recorded["symbol"] = symbols[0]
    channels = {channel for channel, held in markets if held == symbol}
    if "category" not in given and len(channels) == 1 and channels <= set(CATEGORIES):
        recorded["category"] = channels.pop()
    defaults = paper_defaults({**recorded, **given})
    return {**{k: v for k, v in defaults.items() if k != "symbol"}, **recorded}


def check_recorded(markets: Markets, symbol: str) -> None:
    """A (checked) symbol the recordings do not hold is an error before anything replays."""
    symbols = sorted({recorded for _, recorded in markets})
    if symbols and symbol not in symbols:
        raise UsageError(f"--data holds no {symbol} (it holds {', '.join(symbols)})")


def build_backtest_options(ctx: typer.Context, values: Mapping[str, Any]) -> BacktestOptions:
    """Check every input before reading the recording (and before fetching anything)."""
    from bybitctl.mm.config import from_mapping

    file_values, flags = base_config(values, _OWN)
    data = recording_sources(list(values["data"]))
    given = {**file_values, **flags}
    markets = recorded_markets(data)
    config = from_mapping({**recorded_defaults(markets, given), **given})
    check_recorded(markets, config.symbol)
    latency, maker_fee, taker_fee = venue(values)
    return BacktestOptions(
        data,
        config,
        instrument_source(ctx, values["instrument"], config.category, config.symbol),
        latency,
        maker_fee,
        taker_fee,
        output_choice(values["output"], ctx, ("table", "json")),
    )


def run_backtest_command(opts: BacktestOptions) -> int:
    """Validate against the instrument, replay, print the report."""
    from bybitctl.mm.backtest import BacktestSettings, full_report, run_backtest
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
    print_report(full_report(result), opts.fmt)
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
