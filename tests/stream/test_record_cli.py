"""The installed `bybitctl stream record` against the local exchange over loopback: books,
trades and tickers of two symbols in one recording, rotated, replayed by `mm backtest`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bybitctl.recording import iter_recordings, read_header
from bybitctl.sim import SimHandle, running_exchange

pytestmark = pytest.mark.e2e


def bybitctl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("bybitctl", path=str(Path(sys.executable).parent))
    assert binary
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def exchange() -> Iterator[SimHandle]:
    with running_exchange(symbols=("BTCUSDT", "ETHUSDT"), seed=9) as ex:
        yield ex


def test_records_several_symbols_and_streams_into_rotated_files(
    exchange: SimHandle, tmp_path: Path
) -> None:
    done = bybitctl(
        "--base-url", exchange.base_url, "stream", "record",
        "-s", "BTCUSDT", "-s", "ETHUSDT",
        "--record", str(tmp_path / "mkt.jsonl.gz"),
        "--rotate", "2s", "--duration", "5",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # a recorder prints no events
    files = sorted(tmp_path.glob("mkt-*.jsonl.gz"))
    assert len(files) >= 2
    assert read_header(files[0])["topics"] == [
        "orderbook.50.BTCUSDT",
        "orderbook.50.ETHUSDT",
        "publicTrade.BTCUSDT",
        "publicTrade.ETHUSDT",
        "tickers.BTCUSDT",
        "tickers.ETHUSDT",
    ]
    topics = {line["frame"].get("topic") for line in iter_recordings(files)}
    assert {"orderbook.50.BTCUSDT", "orderbook.50.ETHUSDT", "tickers.ETHUSDT"} <= topics
    for later in files[1:]:  # each later file starts from both books
        with_books = [line for line in iter_recordings([later]) if line.get("restated")]
        assert {line["frame"]["topic"] for line in with_books} == {
            "orderbook.50.BTCUSDT",
            "orderbook.50.ETHUSDT",
        }
    instrument = tmp_path / "btc.json"
    instrument.write_text(
        json.dumps(
            {
                "symbol": "BTCUSDT",
                "priceFilter": {"minPrice": "0.1", "maxPrice": "1999999", "tickSize": "0.1"},
                "lotSizeFilter": {
                    "maxOrderQty": "100", "minOrderQty": "0.001", "qtyStep": "0.001",
                    "minNotionalValue": "5",
                },
                "leverageFilter": {
                    "minLeverage": "1", "maxLeverage": "100", "leverageStep": "0.01"
                },
            }
        )
    )  # fmt: skip
    backtest = bybitctl(
        "mm", "backtest", "--data", str(tmp_path / "mkt-*.jsonl.gz"),
        "--instrument", str(instrument), "--symbol", "BTCUSDT",
        "--order-qty", "0.001", "--max-position", "0.01", "-o", "json",
    )  # fmt: skip
    assert backtest.returncode == 0, backtest.stderr
    assert json.loads(backtest.stdout)["orders_placed"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rotate", "1h"], "--record"),
        (["--record", "x.jsonl", "--rotate", "1.5h"], "--rotate 1.5h"),
        (["--record", "x.jsonl", "--streams", "orderbook,kline"], "--streams"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    verb = ["stream", "orderbook", "-s", "BTCUSDT"] if "--streams" not in args else []
    if not verb:
        verb = ["stream", "record", "-s", "BTCUSDT"]
    done = bybitctl(*verb, *args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
