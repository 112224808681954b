"""Whatever is typed for an `mm` setting, as a flag or in `mm.toml`, either means exactly what
was typed or is refused, exit 2, before a single request reaches the exchange; so is every
file `mm start` and `mm backtest` would read or write that cannot be used.

Each value is first given to `mm start` with the run itself replaced by one that keeps the
options (so an accepted value is compared with what was typed, and nothing runs); a refused
value is then given to the real `bybitctl mm start`, pointed at the local exchange, which
must exit 2 in `error:` lines with the exchange having received nothing."""

from __future__ import annotations

import contextlib
import gzip
import json
import sqlite3
import tomllib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support.examples import examples
from support.synthetic import LINEAR_INSTRUMENT, synthetic_recording
from typer.testing import CliRunner

from bybitctl.cli import run
from bybitctl.commands.mm.start import StartOptions, make_start
from bybitctl.errors import BybitctlError
from bybitctl.recording import RecordingWriter

from ..typed_values import FIELDS, VALUED, expected, flag_classes, toml_classes
from .support import SYMBOL

REQUIRED = {"symbol": SYMBOL, "order_qty": "0.001", "max_position": "0.01"}
SETTINGS = settings(
    max_examples=examples(300),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def pointed(exchange, clean_env, monkeypatch, tmp_path: Path) -> Any:
    """The environment points `bybitctl` at the exchange (with private XDG directories)."""
    for name, value in {
        "BYBIT_BASE_URL": exchange.base_url,
        "BYBIT_API_KEY": exchange.api_key,
        "BYBIT_API_SECRET": exchange.api_secret,
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }.items():
        monkeypatch.setenv(name, value)
    return exchange


@st.composite
def flag_inputs(draw: st.DrawFn) -> tuple[str, str, str]:
    name = draw(st.sampled_from(VALUED))
    classes = flag_classes(name)
    label = draw(st.sampled_from(sorted(classes)))
    return name, label, draw(classes[label])


@st.composite
def toml_inputs(draw: st.DrawFn) -> tuple[str, str, str]:
    name = draw(st.sampled_from(list(FIELDS)))
    classes = toml_classes(name)
    label = draw(st.sampled_from(sorted(classes)))
    return name, label, draw(classes[label])


def _base(name: str) -> list[str]:
    """Flags for the required fields other than `name` (order_qty gives way to an
    order_notional: the two exclude each other)."""
    base = {k: v for k, v in REQUIRED.items() if k != name}
    if name == "order_notional":
        base.pop("order_qty")
    if name in ("category", "mmp_max_delta"):  # an option needs the MMP's qty limit
        base["mmp_max_qty"] = "1"
    if name == "mmp_max_delta":
        base["category"] = "option"
    return [f"--{k.replace('_', '-')}={v}" for k, v in base.items()]


# -- running it ---------------------------------------------------------------------------


def _options(args: list[str]) -> StartOptions | BybitctlError:
    """`mm start` up to its run: the options it would run with, or why it refused."""
    captured: list[StartOptions] = []

    def keep(opts: StartOptions) -> int:
        captured.append(opts)
        return 0

    app = typer.Typer()
    app.command("start")(make_start(keep))
    app.command("unused")(lambda: None)  # keeps `start` a subcommand
    result = CliRunner().invoke(app, ["start", *args])
    if captured:
        return captured[0]
    assert isinstance(result.exception, BybitctlError), result.output
    return result.exception


def _refused_before_any_request(exchange: Any, args: list[str], capsys: Any) -> None:
    before = len(exchange.received)
    capsys.readouterr()
    assert run(["mm", "start", *args]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert lines and lines[0].startswith("error: ") and "Traceback" not in err
    assert all(line.startswith(("error: ", "see docs/mm.md")) for line in lines), err
    assert len(exchange.received) == before, exchange.received[before:]


@SETTINGS
@given(flag_inputs())
def test_a_flag_value_means_what_was_typed_or_nothing_is_sent(
    pointed, tmp_path: Path, capsys, typed: tuple[str, str, str]
) -> None:
    name, label, text = typed
    flag = f"--{name.replace('_', '-')}={text}"
    args = [*_base(name), flag, "--journal", str(tmp_path / "j.sqlite"), "-o", "jsonl"]
    outcome = _options(args)
    if isinstance(outcome, StartOptions):
        event(f"flag, {label}: accepted")
        value = getattr(outcome.config, name)
        assert value == expected(name, text), (name, text, value)
    else:
        event(f"flag, {label}: refused")
        assert outcome.exit_code == 2 and name in outcome.message
        _refused_before_any_request(pointed, args, capsys)


@SETTINGS
@given(toml_inputs())
def test_an_mm_toml_value_means_what_was_typed_or_nothing_is_sent(
    pointed, tmp_path: Path, capsys, typed: tuple[str, str, str]
) -> None:
    name, label, value = typed
    document = f"{name} = {value}\n"
    config = tmp_path / "mm.toml"
    config.write_text(document, encoding="utf-8")
    args = [*_base(name), "--config", str(config), "--journal", str(tmp_path / "j.sqlite")]
    outcome = _options(args)
    if isinstance(outcome, StartOptions):
        event(f"toml, {label}: accepted")
        typed_value = tomllib.loads(document, parse_float=Decimal)[name]
        assert getattr(outcome.config, name) == expected(name, typed_value), document
    else:
        event(f"toml, {label}: refused")
        assert outcome.exit_code == 2
        _refused_before_any_request(pointed, args, capsys)


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--leverage", "2"], "leverage: linear only: options have no leverage"),
        (["--hedge-mode"], "hedge_mode: linear only: options have no hedge mode"),
        (["--mmp-freeze-s", "0"], "mmp_freeze_s: must be at least 0.001 for option"),
    ],
)
def test_an_option_config_options_cannot_have_is_refused_in_one_line(
    pointed, tmp_path: Path, capsys, flags: list[str], says: str
) -> None:
    args = [
        "--symbol=BTC-27DEC25-100000-C",
        "--category=option",
        "--order-qty=0.01",
        "--max-position=0.1",
        "--mmp-max-qty=1",
        *flags,
        "--journal",
        str(tmp_path / "j.sqlite"),
    ]
    outcome = _options(args)
    assert isinstance(outcome, BybitctlError) and outcome.exit_code == 2
    assert says in outcome.message
    _refused_before_any_request(pointed, args, capsys)


# -- files --------------------------------------------------------------------------------


def _recording(path: Path) -> Path:
    with RecordingWriter(path, channel="public/linear") as writer:
        for line in synthetic_recording(seed=5, messages=50):
            writer.write(line["frame"], line["recv_ns"], line["channel"])
    return path


def _instrument(path: Path) -> Path:
    path.write_text(json.dumps(LINEAR_INSTRUMENT))
    return path


def _sqlite(path: Path) -> Path:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE t (x)")
    return path


def _write(content: bytes) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        path.write_bytes(content)
        return path

    return make


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _gzip(content: bytes) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        path.write_bytes(gzip.compress(content))
        return path

    return make


START = [f"--{k.replace('_', '-')}={v}" for k, v in REQUIRED.items()]
BACKTEST = ["--symbol=SIMUSDT", "--order-qty=0.1", "--max-position=1"]

# (case, argv builder over tmp_path, what stderr says)
FILE_CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    (
        "--report-json is a directory",
        lambda t: ["start", *START, "--report-json", str(_mkdir(t / "out"))],
        "--report-json",
    ),
    (
        "--report-json in a missing directory",
        lambda t: ["start", *START, "--report-json", str(t / "no" / "r.json")],
        "no such directory",
    ),
    (
        "--report-json is the journal",
        lambda t: ["start", *START, "--report-json", str(t / "j.sqlite")],
        "is also the --journal file",
    ),
    (
        "--journal in a missing directory",
        lambda t: ["start", *START, "--journal", str(t / "no" / "j.sqlite")],
        "cannot be created",
    ),
    (
        "--journal is a text file",
        lambda t: ["start", *START, "--journal", str(_write(b"x = 1\n")(t / "j.txt"))],
        "not an mm journal",
    ),
    (
        "--journal is another database",
        lambda t: ["start", *START, "--journal", str(_sqlite(t / "other.db"))],
        "not an mm journal",
    ),
    (
        "--config is missing",
        lambda t: ["start", *START, "--config", str(t / "none.toml")],
        "no such file",
    ),
    (
        "--config is a directory",
        lambda t: ["start", *START, "--config", str(_mkdir(t / "conf"))],
        "is a directory",
    ),
    (
        "--config is not UTF-8",
        lambda t: ["start", *START, "--config", str(_write(b"symbol = '\xff'\n")(t / "c.toml"))],
        "not UTF-8",
    ),
    (
        "--config is not TOML",
        lambda t: ["start", *START, "--config", str(_write(b"symbol = \n")(t / "c.toml"))],
        "mm config:",
    ),
    (
        "--duration is NaN",
        lambda t: ["start", *START, "--duration", "nan"],
        "--duration",
    ),
    (
        "--duration beyond 30 days",
        lambda t: ["start", *START, "--duration", "2592001"],
        "must be in (0, 2592000]",
    ),
    (
        "--paper-seed with underscores",
        lambda t: ["start", "--paper", "--paper-seed", "1_000"],
        "'_' separators",
    ),
    (
        "mm init into a directory",
        lambda t: ["init", str(_mkdir(t / "conf")), "--force"],
        "is a directory",
    ),
    (
        "mm init in a missing directory",
        lambda t: ["init", str(t / "no" / "mm.toml")],
        "no such directory",
    ),
    (
        "--data is missing",
        lambda t: ["backtest", "--data", str(t / "none"), *BACKTEST],
        "no such file",
    ),
    (
        "--data is a directory",
        lambda t: ["backtest", "--data", str(_mkdir(t / "rec")), *BACKTEST],
        "is a directory",
    ),
    (
        "--data is text",
        lambda t: ["backtest", "--data", str(_write(b"hello\n")(t / "r.jsonl")), *BACKTEST],
        "not a bybitctl recording",
    ),
    (
        "--data is random bytes",
        lambda t: ["backtest", "--data", str(_write(bytes(range(256)))(t / "r.bin")), *BACKTEST],
        "not a bybitctl recording",
    ),
    (
        "--data starts with JSON that is no object",
        lambda t: ["backtest", "--data", str(_write(b"[1, 2]\n")(t / "r.jsonl")), *BACKTEST],
        "not a bybitctl recording",
    ),
    (
        "--data is gzip of garbage",
        lambda t: [
            "backtest",
            "--data",
            str(_gzip(b"\x00\x01garbage")(t / "r.jsonl.gz")),
            *BACKTEST,
        ],
        "not a bybitctl recording",
    ),
    (
        "--data is not gzip though named so",
        lambda t: ["backtest", "--data", str(_write(b"plain")(t / "r.jsonl.gz")), *BACKTEST],
        "not a bybitctl recording",
    ),
    (
        "--instrument is not JSON",
        lambda t: [
            "backtest",
            "--data",
            str(_recording(t / "r.jsonl")),
            "--instrument",
            str(_write(b"{")(t / "i.json")),
            *BACKTEST,
        ],
        "--instrument",
    ),
    (
        "--instrument holds NaN",
        lambda t: [
            "backtest",
            "--data",
            str(_recording(t / "r.jsonl")),
            "--instrument",
            str(_write(b'{"priceFilter": NaN}')(t / "i.json")),
            *BACKTEST,
        ],
        "NaN is not a JSON number",
    ),
    (
        "--instrument is a directory",
        lambda t: [
            "backtest",
            "--data",
            str(_recording(t / "r.jsonl")),
            "--instrument",
            str(_mkdir(t / "inst")),
            *BACKTEST,
        ],
        "is a directory",
    ),
    (
        "--instrument has a garbage tick size",
        lambda t: [
            "backtest",
            "--data",
            str(_recording(t / "r.jsonl")),
            "--instrument",
            str(
                _write(
                    json.dumps(
                        {**LINEAR_INSTRUMENT, "priceFilter": {"tickSize": "Infinity"}}
                    ).encode()
                )(t / "i.json")
            ),
            *BACKTEST,
        ],
        "priceFilter.tickSize",
    ),
    (
        "--maker-fee is an exponent",
        lambda t: [
            "backtest",
            "--data",
            str(_recording(t / "r.jsonl")),
            "--instrument",
            str(_instrument(t / "i.json")),
            "--maker-fee",
            "1e-4",
            *BACKTEST,
        ],
        "--maker-fee",
    ),
    (
        "--latency-ms beyond a minute",
        lambda t: [
            "backtest",
            "--data",
            str(_recording(t / "r.jsonl")),
            "--instrument",
            str(_instrument(t / "i.json")),
            "--latency-ms",
            "60001",
            *BACKTEST,
        ],
        "--latency-ms",
    ),
]


@pytest.mark.parametrize(("case", "argv", "says"), FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_an_unusable_file_or_flag_is_refused_in_one_line_before_any_request(
    pointed, tmp_path: Path, capsys, case: str, argv: Callable[[Path], list[str]], says: str
) -> None:
    args = argv(tmp_path)
    if "--journal" not in args and args[0] == "start":
        args += ["--journal", str(tmp_path / "j.sqlite")]
    before = len(pointed.received)
    capsys.readouterr()
    assert run(["mm", *args]) == 2, case
    err = capsys.readouterr().err
    assert says in err, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert len(pointed.received) == before
    assert not (tmp_path / "j.sqlite").exists()  # nothing was even created


def test_a_backtest_skips_frames_that_are_not_usable_market_data(
    tmp_path: Path, clean_env, capsys
) -> None:
    data = _recording(tmp_path / "r.jsonl")
    with data.open("a") as fh:
        for frame in ({"topic": "publicTrade.SIMUSDT", "data": [{"p": "nan"}]}, {"op": "pong"}):
            fh.write(json.dumps({"recv_ns": 10**19, "channel": "linear", "frame": frame}) + "\n")
    args = ["--data", str(data), "--instrument", str(_instrument(tmp_path / "i.json"))]
    assert run(["mm", "backtest", *args, *BACKTEST, "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["orders_placed"] >= 0


@pytest.mark.parametrize("junk", ["[1, 2]", '{"recv_ns": "x", "frame": {}}', '{"recv_ns": 1}', "7"])
def test_a_backtest_refuses_a_recording_line_of_another_shape(
    tmp_path: Path, clean_env, capsys, junk: str
) -> None:
    data = _recording(tmp_path / "r.jsonl")
    lines = len(data.read_text().splitlines())
    with data.open("a") as fh:
        fh.write(junk + "\n")
    args = ["--data", str(data), "--instrument", str(_instrument(tmp_path / "i.json"))]
    assert run(["mm", "backtest", *args, *BACKTEST, "-o", "json"]) == 2
    err = capsys.readouterr().err
    assert f"line {lines + 1} is not a recorded frame" in err and len(err.splitlines()) == 1
