"""`bybitctl mm ...` argv -> Options, with no I/O: each verb's runner is replaced by one that
captures the options (the first layer; the second is tests/mm/e2e)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from bybitctl.commands.mm.backtest import make_backtest
from bybitctl.commands.mm.report import make_report
from bybitctl.commands.mm.start import StartOptions, _check_target, make_start
from bybitctl.commands.mm.stop import make_stop
from bybitctl.config import Settings
from bybitctl.errors import UsageError
from bybitctl.recording import RecordingWriter

REQUIRED = ["--symbol", "BTCUSDT", "--order-qty", "0.001", "--max-position", "0.01"]


def _app(verb: str, factory: Any) -> tuple[typer.Typer, list[Any]]:
    captured: list[Any] = []

    def runner(opts: Any) -> int:
        captured.append(opts)
        return 0

    app = typer.Typer()
    app.command(verb)(factory(runner))
    app.command("unused")(lambda: None)  # keep `verb` a subcommand
    return app, captured


def _invoke(app: typer.Typer, *args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_flags_override_the_config_file(tmp_path: Path, clean_env: dict[str, str]) -> None:
    config = tmp_path / "mm.toml"
    config.write_text(
        'symbol = "ETHUSDT"\norder_qty = "0.01"\nmax_position = "0.1"\n'
        "spread_bps = 8\npost_only = true\n"
    )
    app, captured = _app("start", make_start)
    result = _invoke(
        app,
        "start",
        "--config",
        str(config),
        "--spread-bps",
        "3",
        "--no-post-only",
        "--duration",
        "5",
        "-o",
        "jsonl",
        "--journal",
        str(tmp_path / "j.sqlite"),
    )
    assert result.exit_code == 0, result.output
    opts: StartOptions = captured[0]
    assert opts.config.symbol == "ETHUSDT" and opts.config.spread_bps == 3.0
    assert opts.config.post_only is False and opts.config.order_qty == Decimal("0.01")
    assert opts.duration == 5 and not opts.live_view and not opts.paper
    assert opts.journal == tmp_path / "j.sqlite"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--spread-bps", "0"], "spread_bps"),
        (["--levels", "two"], "levels"),
        (["--duration", "-1"], "--duration"),
        (["-o", "csv"], "-o csv"),
        (["--leftovers", "keep"], "leftovers"),
    ],
)
def test_bad_input_exits_2_naming_it(args: list[str], message: str, clean_env: Any) -> None:
    app, captured = _app("start", make_start)
    result = _invoke(app, "start", *REQUIRED, *args)
    assert isinstance(result.exception, UsageError)
    assert message in result.exception.message and not captured


def test_leftovers_defaults_to_cancel_and_adopt_is_a_flag(clean_env: Any) -> None:
    app, captured = _app("start", make_start)
    assert _invoke(app, "start", *REQUIRED).exit_code == 0
    assert _invoke(app, "start", *REQUIRED, "--leftovers", "adopt").exit_code == 0
    assert [o.config.leftovers for o in captured] == ["cancel", "adopt"]


def test_missing_required_field_is_named(clean_env: Any) -> None:
    app, captured = _app("start", make_start)
    result = _invoke(app, "start", "--symbol", "BTCUSDT", "--order-qty", "0.001")
    assert isinstance(result.exception, UsageError)
    assert "max_position" in result.exception.message and not captured


def test_mainnet_needs_yes_off_a_terminal(clean_env: Any) -> None:
    app, captured = _app("start", make_start)
    assert _invoke(app, "start", *REQUIRED).exit_code == 0
    opts = captured[0]
    mainnet = Settings(api_key="k", api_secret="s")
    with pytest.raises(UsageError, match="--yes"):
        _check_target(opts, mainnet)  # CliRunner's stdin is not a terminal
    _check_target(opts, Settings(api_key="k", api_secret="s", testnet=True))  # safe target
    _check_target(replace(opts, yes=True), mainnet)


def test_stop_report_and_backtest_options(tmp_path: Path, clean_env: Any) -> None:
    app, captured = _app("stop", make_stop)
    assert _invoke(app, "stop", "--journal", str(tmp_path / "j"), "--timeout", "3").exit_code == 0
    assert captured[0].journal == tmp_path / "j" and captured[0].timeout == 3

    app, captured = _app("report", make_report)
    assert _invoke(app, "report", "-o", "json", "--run", "mmabc").exit_code == 0
    assert captured[0].fmt == "json" and captured[0].run_id == "mmabc"
    result = _invoke(app, "report", "--plot", "out.svg")
    assert isinstance(result.exception, UsageError)

    data = tmp_path / "rec.jsonl"
    RecordingWriter(data, channel="public/linear").close()  # a recording with no frames
    app, captured = _app("backtest", make_backtest)
    result = _invoke(app, "backtest", "--data", str(data), *REQUIRED, "--maker-fee", "-0.0001")
    assert result.exit_code == 0, result.output
    assert captured[0].maker_fee == Decimal("-0.0001") and captured[0].latency_ms == 5
    result = _invoke(app, "backtest", "--data", str(tmp_path / "none"), *REQUIRED)
    assert isinstance(result.exception, UsageError)


def test_backtest_takes_the_recorded_symbol_and_a_paper_runs_defaults(
    tmp_path: Path, clean_env: Any
) -> None:
    spot = tmp_path / "eth.jsonl"
    RecordingWriter(spot, channel="public/spot", topics=["orderbook.50.ETHUSDT"]).close()
    app, captured = _app("backtest", make_backtest)
    result = _invoke(app, "backtest", "--data", str(spot))
    assert result.exit_code == 0, result.output
    config = captured[-1].config
    assert (config.symbol, config.category) == ("ETHUSDT", "spot")
    assert config.order_qty == Decimal("0.001") and config.max_position == Decimal("0.01")
    assert config.spread_bps == 4  # as `mm start --paper` quotes
    result = _invoke(app, "backtest", "--data", str(spot), "--spread-bps", "9")
    assert result.exit_code == 0 and captured[-1].config.spread_bps == 9

    result = _invoke(app, "backtest", "--data", str(spot), "--symbol", "BTCUSDT")
    assert isinstance(result.exception, UsageError)
    assert "holds no BTCUSDT (it holds ETHUSDT)" in str(result.exception)
    for bad in ("BTCUSDT\x1b[2J", "btcusdt"):  # the config's rule first, never echoed raw
        result = _invoke(app, "backtest", "--data", str(spot), "--symbol", bad)
        assert result.exit_code != 0 and "holds no" not in str(result.exception)
        assert "\x1b" not in str(result.exception)

    both = tmp_path / "both.jsonl"
    topics = ["orderbook.50.BTCUSDT", "publicTrade.BTCUSDT", "tickers.ETHUSDT"]
    RecordingWriter(both, channel="public/linear", topics=topics).close()
    result = _invoke(app, "backtest", "--data", str(both))
    assert isinstance(result.exception, UsageError)
    assert "holds BTCUSDT, ETHUSDT: choose one with --symbol" in str(result.exception)
    result = _invoke(app, "backtest", "--data", str(both), "--symbol", "ETHUSDT")
    assert result.exit_code == 0, result.output
    assert (captured[-1].config.symbol, captured[-1].config.category) == ("ETHUSDT", "linear")


def test_paper_fills_in_defaults_that_flags_and_file_override(
    tmp_path: Path, clean_env: Any
) -> None:
    app, captured = _app("start", make_start)
    assert _invoke(app, "start", "--paper").exit_code == 0
    defaults = captured[-1].config
    assert defaults.symbol == "BTCUSDT" and defaults.order_qty == Decimal("0.001")
    assert defaults.post_only and defaults.fee_aware  # tight, but never below the fee floor
    assert defaults.spread_bps == 4 and defaults.refresh_tolerance_bps == 4
    assert captured[-1].paper_seed is None  # a new market per run unless asked
    assert _invoke(app, "start", "--paper", "--paper-seed", "7").exit_code == 0
    assert captured[-1].paper_seed == 7
    result = _invoke(app, "start", "--paper", "--spread-bps", "9")
    assert result.exit_code == 0 and captured[-1].config.spread_bps == 9
    # an order_notional (flag or file) replaces the default order_qty instead of clashing
    result = _invoke(app, "start", "--paper", "--order-notional", "100")
    assert result.exit_code == 0, result.output
    assert captured[-1].config.order_notional == Decimal(100)
    assert captured[-1].config.order_qty is None
    config = tmp_path / "mm.toml"
    config.write_text('order_notional = "80"\nspread_bps = 7\n')
    result = _invoke(app, "start", "--paper", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert captured[-1].config.order_notional == Decimal(80)
    assert captured[-1].config.spread_bps == 7
    result = _invoke(app, "start", "--paper", "--order-notional", "-5")
    assert isinstance(result.exception, UsageError)
    assert "order_notional" in result.exception.message
