"""Everyday one-off queries on a terminal of 80x24 and 160x50, read off the emulated screen:
whole values on one line, the columns a person needs, the ladder, field/value records,
nested tables, readable times, the empty-result message and the pager."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bybitctl.catalog import find
from terminal.screen import Terminal, run

SIZES = [(80, 24), (160, 50)]
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def show(binary: str, env: dict[str, str], cols: int, rows: int, *args: str) -> list[str]:
    """The rows a command showed on a `cols` x `rows` terminal (it must exit 0)."""
    code, lines = run([binary, *args], cols=cols, rows=rows, env=env)
    assert code == 0, "\n".join(lines)
    return lines


def data(binary: str, env: dict[str, str], *args: str) -> Any:
    """The same answer as json, through a pipe."""
    proc = subprocess.run(
        [binary, *args, "-o", "json"], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(proc.stdout)


def table(lines: list[str], header: str) -> tuple[list[str], list[list[str]]]:
    """The header line starting with `header` and the rows under it (to a blank line)."""
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 1 :]:
        if not line or line.startswith("note:"):
            break
        rows.append(line.split())
    return lines[start].split(), rows


def records(lines: list[str]) -> dict[str, str]:
    """Field/value lines as a dict (the first word is the field)."""
    out = {}
    for line in lines:
        if not line:
            break
        name, _, value = line.partition(" ")
        out[name] = value.strip()
    return out


@pytest.mark.parametrize(("cols", "rows"), SIZES)
def test_tickers_fit_whole_columns_and_say_what_was_left_out(
    binary: str, env: dict[str, str], cols: int, rows: int
) -> None:
    lines = show(binary, env, cols, rows, "market", "tickers", "--category", "linear")
    header, body = table(lines, "symbol")
    columns = list(find("market", "tickers").view.columns)
    assert header == columns[: len(header)] and len(header) >= 4
    assert sorted(r[0] for r in body) == ["BTCUSDT", "ETHUSDT"]
    assert all(len(r) == len(header) for r in body), "a cell was cut or folded"
    assert all(re.fullmatch(r"-?\d+(\.\d+)?", cell) for r in body for cell in r[1:4])
    assert max(len(line) for line in lines) <= cols
    assert len(lines) == 1 + len(body) + (2 if cols == 80 else 0)
    if cols == 80:
        # every column left out is named, on a line of its own when the words leave no room
        note = re.fullmatch(r"note: (\d+) columns? did not fit \(-o wide shows all\):", lines[-2])
        assert note, lines[-2:]
        assert int(note[1]) == len(columns) - len(header)
        assert lines[-1].split(", ") == columns[len(header) :]
    else:
        assert "nextFundingTime" in header and not any(line.startswith("note:") for line in lines)
        assert all(ISO.fullmatch(r[header.index("nextFundingTime")]) for r in body)


@pytest.mark.parametrize(("cols", "rows"), SIZES)
def test_orderbook_is_a_ladder(binary: str, env: dict[str, str], cols: int, rows: int) -> None:
    args = ("market", "orderbook", "--category", "linear", "--symbol", "BTCUSDT", "--limit", "5")
    lines = show(binary, env, cols, rows, *args)
    assert lines[0].startswith("BTCUSDT  ") and "spread " in lines[0] and " u " in lines[0]
    assert ISO.search(lines[0])
    header, body = table(lines, "bidCum")
    assert header == ["bidCum", "bidSize", "bid", "ask", "askSize", "askCum"]
    assert len(body) == 5 and len(lines) == 7
    bids = [float(r[2]) for r in body]
    asks = [float(r[3]) for r in body]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
    cums = [float(r[0]) for r in body]
    assert cums == sorted(cums) and abs(cums[1] - cums[0] - float(body[1][1])) < 1e-9


@pytest.mark.parametrize(("cols", "rows"), SIZES)
def test_klines_have_named_columns_and_readable_times(
    binary: str, env: dict[str, str], cols: int, rows: int
) -> None:
    args = ("market", "kline", "--category", "linear", "--symbol", "BTCUSDT", "--interval", "60")
    lines = show(binary, env, cols, rows, *args, "--limit", "5")
    header, body = table(lines, "start")
    named = ["start", "open", "high", "low", "close", "volume", "turnover"]
    assert header == named[: len(header)] and len(header) >= (5 if cols == 80 else 7)
    assert len(body) == 5 and all(ISO.fullmatch(r[0]) for r in body)
    assert all(float(r[2]) >= max(float(r[1]), float(r[4])) for r in body)  # high >= open/close


@pytest.mark.parametrize(("cols", "rows"), SIZES)
def test_one_instrument_is_field_value_lines(
    binary: str, env: dict[str, str], cols: int, rows: int
) -> None:
    args = ("market", "instruments-info", "--category", "linear", "--symbol", "BTCUSDT")
    lines = show(binary, env, cols, rows, *args)
    fields = records(lines)
    expected = data(binary, env, *args)["list"][0]
    assert fields["symbol"] == "BTCUSDT"
    assert fields["priceFilter.tickSize"] == expected["priceFilter"]["tickSize"]
    assert fields["lotSizeFilter.qtyStep"] == expected["lotSizeFilter"]["qtyStep"]
    assert ISO.fullmatch(fields["launchTime"])
    assert len(lines) == len(fields) < rows, "fits one screen"
    assert not any("{" in line or "[" in line for line in lines), "no JSON in a cell"


@pytest.mark.parametrize(("cols", "rows"), SIZES)
def test_wallet_balance_is_a_record_and_a_coin_table(
    binary: str, env: dict[str, str], cols: int, rows: int
) -> None:
    lines = show(binary, env, cols, rows, "account", "wallet-balance", "--account-type", "UNIFIED")
    fields = records(lines)
    assert fields["accountType"] == "UNIFIED" and "totalEquity" in fields
    header, body = table(lines, "coin ")
    assert header[:4] == ["coin", "equity", "walletBalance", "usdValue"]
    coins = {r[0]: r for r in body}
    assert {"BTC", "ETH", "USDT", "USDC"} <= set(coins)
    assert len(lines) < rows and not any("{" in line for line in lines)


@pytest.mark.parametrize(("cols", "rows"), SIZES)
def test_open_orders_show_whole_order_ids(
    binary: str, env: dict[str, str], cols: int, rows: int
) -> None:
    lines = show(binary, env, cols, rows, "trade", "open-orders", "--category", "linear")
    header, body = table(lines, "symbol")
    assert header[:6] == ["symbol", "side", "orderType", "price", "qty", "orderId"]
    assert len(body) == 2 and all(UUID.fullmatch(r[5]) for r in body)
    assert {(r[0], r[1], r[3]) for r in body} >= {("ETHUSDT", "Sell", "9000.00")}
    if cols == 160:
        assert header[-1] == "createdTime" and all(ISO.fullmatch(r[-1]) for r in body)


@pytest.mark.parametrize(("cols", "rows"), SIZES)
def test_positions_history_executions_and_fee_rate(
    binary: str, env: dict[str, str], cols: int, rows: int
) -> None:
    linear = ("--category", "linear")
    position = records(show(binary, env, cols, rows, "position", "positions", *linear,
                            "--symbol", "BTCUSDT"))  # fmt: skip
    assert (position["symbol"], position["side"], position["size"]) == ("BTCUSDT", "Buy", "0.010")
    assert re.fullmatch(r"-?\d+(\.\d+)?", position["unrealisedPnl"])

    lines = show(binary, env, cols, rows, "trade", "order-history", *linear)
    header, body = table(lines, "symbol")
    assert header[:8] == ["symbol", "side", "orderType", "price", "qty", "avgPrice",
                          "cumExecQty", "orderStatus"]  # fmt: skip
    assert len(body) == 3 and {r[7] for r in body} == {"New", "Filled"}

    execution = records(show(binary, env, cols, rows, "position", "executions", *linear))
    assert execution["execQty"] == "0.010" and ISO.fullmatch(execution["execTime"])
    assert UUID.fullmatch(execution["orderId"])

    fees = records(show(binary, env, cols, rows, "account", "fee-rates", *linear,
                        "--symbol", "BTCUSDT"))  # fmt: skip
    assert fees["symbol"] == "BTCUSDT" and fees["makerFeeRate"] and fees["takerFeeRate"]


@pytest.mark.parametrize(("cols", "rows"), SIZES)
def test_an_empty_answer_says_so(binary: str, env: dict[str, str], cols: int, rows: int) -> None:
    lines = show(binary, env, cols, rows, "trade", "open-orders", "--category", "inverse")
    assert lines == ["no open orders"]
    closed = show(binary, env, cols, rows, "position", "closed-pnl", "--category", "linear")
    assert closed == ["no closed positions"]


def test_wide_shows_every_field_as_blocks_when_a_row_is_too_long(
    binary: str, env: dict[str, str]
) -> None:
    lines = show(binary, env, 80, 24, "market", "tickers", "--category", "linear", "-o", "wide")
    blocks = "\n".join(lines).split("\n\n")
    assert len(blocks) == 2
    for block in blocks:
        fields = records(block.splitlines())
        assert {"symbol", "lastPrice", "fundingCap", "basisRateYear"} <= set(fields)


def test_a_long_table_goes_through_the_pager_on_a_terminal(
    binary: str, env: dict[str, str], tmp_path: Path
) -> None:
    paged = tmp_path / "paged.txt"
    env = {**env, "PAGER": f"cat > {paged}; echo PAGED"}
    args = ("market", "kline", "--category", "linear", "--symbol", "BTCUSDT", "--interval", "1")
    lines = show(binary, env, 80, 24, *args, "--limit", "100")
    assert lines[0] == "PAGED" and len(paged.read_text().splitlines()) == 101
    direct = show(binary, env, 80, 24, "--no-pager", *args, "--limit", "100")
    notes = sum(line.startswith("note:") for line in direct)
    assert "PAGED" not in direct and len(direct) == 101 + notes  # header, 100 rows
    short = show(binary, env, 80, 24, *args, "--limit", "5")
    assert "PAGED" not in short and 6 <= len(short) <= 7
    piped = subprocess.run(
        [binary, *args, "--limit", "100", "-o", "table"], capture_output=True, text=True, env=env
    )
    assert "PAGED" not in piped.stdout and len(piped.stdout.splitlines()) == 101


def test_global_options_after_the_command(binary: str, env: dict[str, str]) -> None:
    """The one rule, on a terminal: `--base-url` and `-o` wherever they are given."""
    base_url = env.pop("BYBIT_BASE_URL")
    lines = show(binary, env, 80, 24, "market", "server-time", "--base-url", base_url)
    fields = records(lines)
    assert ISO.fullmatch(fields["timeSecond"]) and ISO.fullmatch(fields["timeNano"])


def test_a_refused_connection_to_the_local_exchange_says_how_to_start_it(
    binary: str, env: dict[str, str]
) -> None:
    env = {**env, "BYBIT_BASE_URL": "http://127.0.0.1:9"}
    term = Terminal([binary, "market", "server-time"], cols=80, rows=24, env=env)
    assert term.wait_exit() == 4
    assert term.lines[:2] == [
        "error: cannot connect to http://127.0.0.1:9 (connection refused)",
        "is the local exchange running? start it with: bybitctl sim serve --port 9",
    ]


def test_a_confirmation_names_what_it_will_do_and_where(binary: str, env: dict[str, str]) -> None:
    """On a live target (not loopback, testnet or demo) an order asks first, naming it."""
    env = {**env, "BYBIT_BASE_URL": "http://192.0.2.1:9"}  # TEST-NET: nothing is ever sent
    order = ["trade", "place-order", "--category", "linear", "--symbol", "BTCUSDT", "--side",
             "Buy", "--order-type", "Limit", "--qty", "0.01", "--price", "60000"]  # fmt: skip
    term = Terminal([binary, *order], cols=160, rows=24, env=env)
    term.wait_for(lambda t: "Send it? [y/N]:" in t.text(), "the question")
    assert term.lines[0] == (
        "Place Order: linear BTCUSDT Buy Limit qty 0.01 price 60000 on 192.0.2.1:9, "
        "profile default. Send it? [y/N]:"
    )
    term.type("n\r")
    assert term.wait_exit() == 2
    assert "error: not confirmed; nothing was sent (pass --yes to skip this question)" in term.lines


def test_a_withdrawal_names_the_address_a_line_each_when_narrow(
    binary: str, env: dict[str, str]
) -> None:
    """Every parameter that decides where money goes is asked about; a question wider than
    the terminal lists one a line rather than folding mid-address."""
    env = {**env, "BYBIT_BASE_URL": "http://192.0.2.1:9"}  # TEST-NET: nothing is ever sent
    withdraw = ["asset", "withdraw", "--coin", "USDT", "--chain", "ETH", "--address",
                "0xATTACKER", "--amount", "5000", "--timestamp", "1700000000000",
                "--account-type", "FUND"]  # fmt: skip
    term = Terminal([binary, *withdraw], cols=60, rows=24, env=env)
    term.wait_for(lambda t: "Send it? [y/N]:" in t.text(), "the question")
    assert term.lines[:8] == [
        "Withdraw on 192.0.2.1:9, profile default:",
        "  coin USDT",
        "  chain ETH",
        "  address 0xATTACKER",
        "  amount 5000",
        "  timestamp 1700000000000",
        "  accountType FUND",
        "Send it? [y/N]:",
    ]
    term.type("n\r")
    assert term.wait_exit() == 2
