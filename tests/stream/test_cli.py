"""argv -> StreamOptions / ReplayOptions, with no connection made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from bybitctl.commands.stream import app as stream_app
from bybitctl.commands.stream.live import StreamOptions, add_stream_commands
from bybitctl.commands.stream.replay import ReplayOptions, make_replay_command
from bybitctl.context import AppContext
from bybitctl.errors import UsageError
from bybitctl.stream.topics import SPECS


def _capture() -> tuple[typer.Typer, list[Any]]:
    seen: list[Any] = []

    def runner(opts: Any) -> int:
        seen.append(opts)
        return 0

    app = typer.Typer()
    add_stream_commands(app, runner)
    app.command("replay")(make_replay_command(runner))
    return app, seen


def _invoke(args: list[str], obj: AppContext | None = None) -> tuple[Any, Any]:
    app, seen = _capture()
    result = CliRunner().invoke(app, args, obj=obj or AppContext(env={}))
    return result, seen


def test_orderbook_options() -> None:
    obj = AppContext(env={})
    result, seen = _invoke(
        [
            "orderbook",
            "-s",
            "BTCUSDT",
            "--symbol",
            "ETHUSDT",
            "--depth",
            "200",
            "--levels",
            "5",
            "--count",
            "10",
            "--record",
            "out.jsonl.gz",
            "-o",
            "jsonl",
            "--base-url",
            "http://127.0.0.1:9",
        ],
        obj,
    )
    assert result.exit_code == 0, result.output
    (opts,) = seen
    assert isinstance(opts, StreamOptions)
    assert [s.topic for s in opts.subscriptions] == [
        "orderbook.200.BTCUSDT",
        "orderbook.200.ETHUSDT",
    ]
    assert (opts.channel, opts.levels, opts.count, opts.duration) == ("public/linear", 5, 10, None)
    assert opts.record == Path("out.jsonl.gz")
    assert opts.output == "jsonl"
    assert opts.settings().base_url == "http://127.0.0.1:9"


def test_private_verb_takes_category_but_no_symbol() -> None:
    result, seen = _invoke(["order", "--category", "linear", "--duration", "2.5"])
    assert result.exit_code == 0, result.output
    assert seen[0].channel == "private"
    assert [s.topic for s in seen[0].subscriptions] == ["order.linear"]
    assert seen[0].duration == 2.5
    result, _ = _invoke(["order", "--symbol", "BTCUSDT"])
    assert result.exit_code == 2
    assert "No such option: --symbol" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["orderbook"], "needs at least one --symbol"),
        (["orderbook", "-s", "X", "--depth", "7"], "--depth 7 is not offered"),
        (["orderbook", "-s", "X", "--count", "0"], "--count must be positive"),
        (["orderbook", "-s", "X", "-o", "csv"], "-o csv is not offered"),
        (["kline", "-s", "X", "--interval", "4"], "--interval 4 is not offered"),
        (["replay", "f.jsonl", "--speed", "2", "--max-speed"], "exclude each other"),
        (["replay", "f.jsonl", "--speed", "0"], "--speed must be positive"),
    ],
)
def test_bad_input_is_refused_before_any_io(args: list[str], message: str) -> None:
    result, seen = _invoke(args)
    assert isinstance(result.exception, UsageError)
    assert message in str(result.exception)
    assert result.exception.exit_code == 2
    assert seen == []


def test_replay_options() -> None:
    result, seen = _invoke(["replay", "r.jsonl", "--max-speed", "--levels", "3"])
    assert result.exit_code == 0, result.output
    assert seen == [ReplayOptions(Path("r.jsonl"), None, 3, None, False)]
    _, seen = _invoke(["replay", "r.jsonl"])
    assert seen[0].speed == 1.0
    _, seen = _invoke(["replay", "r.jsonl", "--speed", "4"])
    assert seen[0].speed == 4.0


def test_a_table_asked_for_in_a_pipe_is_said_to_be_jsonl() -> None:
    """CliRunner's stdout is not a terminal: the live view cannot draw, and says so."""
    result, seen = _invoke(["replay", "r.jsonl", "-o", "table"])
    assert result.exit_code == 0 and seen[0].live_view is False
    assert "-o table draws on a terminal; this pipe gets jsonl" in result.stderr
    result, seen = _invoke(["replay", "r.jsonl"])  # nothing asked: jsonl, quietly
    assert seen[0].live_view is False and "draws on a terminal" not in result.stderr


def test_help_lists_every_verb_and_only_the_options_each_takes() -> None:
    result = CliRunner().invoke(stream_app, ["--help"])
    assert result.exit_code == 0
    for spec in SPECS:
        assert spec.name in result.output
    assert "replay" in result.output
    wallet = CliRunner().invoke(stream_app, ["wallet", "--help"]).output
    assert "--symbol" not in wallet
    assert "--depth" not in wallet
    book = CliRunner().invoke(stream_app, ["orderbook", "--help"]).output
    assert "--depth" in book
    assert "--levels" in book
    assert "--interval" not in book


def test_building_the_group_imports_neither_pybit_nor_rich_nor_the_book() -> None:
    code = (
        "import sys, typer.main\n"
        "from bybitctl.commands.stream import app\n"
        "typer.main.get_command(app)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pybit', 'rich', 'requests')"
        " or m.startswith('bybitctl.book')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
