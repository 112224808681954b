"""Option quotes under the local exchange's MMP: taker flow trips it, the exchange cancels
the bot's quotes (CancelByMmp), the bot waits the frozen period out and quotes again; and
`mm start --paper --category option` runs on an option the embedded exchange lists."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from bybitctl.mm.orders import owner
from bybitctl.mm.report import build_report
from bybitctl.sim import SimHandle, running_exchange

from .support import binary, cli_env, rest, taker, wait_for

pytestmark = pytest.mark.e2e
SEED = 3


def an_option(http: Any) -> str:
    """A call of the latest expiry the exchange lists (quoted by its makers), nearest the
    money."""
    rows = http.get_instruments_info(category="option", baseCoin="BTC")["result"]["list"]
    calls = [r for r in rows if r["symbol"].endswith("-C")]
    latest = max(int(r["deliveryTime"]) for r in calls)
    chain = sorted(r["symbol"] for r in calls if int(r["deliveryTime"]) == latest)
    return chain[len(chain) // 2]


@pytest.fixture
def exchange() -> Iterator[SimHandle]:
    with running_exchange(symbols=("BTCUSDT",), seed=SEED) as ex:
        yield ex


def own_option_orders(http: Any, symbol: str) -> list[dict[str, Any]]:
    owns = owner("mm")
    rows = http.get_open_orders(category="option", symbol=symbol)["result"]["list"]
    return [o for o in rows if owns(o["orderLinkId"])]


def test_taker_flow_trips_the_exchange_mmp_the_bot_waits_and_quotes_again(
    exchange, run_engine
) -> None:
    http, flow = rest(exchange), taker(exchange)
    symbol = an_option(http)
    bot = run_engine(
        exchange,
        symbol=symbol,
        category="option",
        order_qty="0.05",
        max_position="1",
        spread_bps=0.5,  # at the touch: little is offered ahead of our ask
        fee_aware=False,
        mmp_max_qty="0.04",
        mmp_freeze_s=1.0,
        mmp_window_ms=5_000,
        reject_limit=3,
    )
    quotes = wait_for(
        lambda: len(own_option_orders(http, symbol)) == 2 and own_option_orders(http, symbol)
    )
    assert all(o["orderLinkId"] and o.get("mmp", True) for o in quotes)
    state = http.get_mmp_state(baseCoin="BTC")["result"]["result"][0]
    assert state["qtyLimit"] == "0.04" and state["frozenPeriod"] == "1000"
    ask = next(o for o in quotes if o["side"] == "Sell")
    n = iter(range(1_000))

    def buy_through_our_ask() -> bool:
        """A taker buys everything offered at or below our ask (ours included): our 0.05
        fill is more than 0.04 in the window, and the exchange's MMP fires."""
        if any(e["state"] == "frozen" for e in bot.of("mmp")):
            return True
        book = http.get_orderbook(category="option", symbol=symbol, limit=25)["result"]
        depth = sum(D(size) for price, size in book["a"] if D(price) <= D(ask["price"]))
        flow.place_order(
            category="option",
            symbol=symbol,
            side="Buy",
            orderType="Limit",
            price=ask["price"],
            qty=str(max(depth, D("0.05"))),
            timeInForce="IOC",
            orderLinkId=f"taker-{next(n)}",
        )
        return False

    wait_for(buy_through_our_ask, every=0.3)
    gone = http.get_order_history(category="option", symbol=symbol, limit=50)["result"]["list"]
    assert any(o.get("cancelType") == "CancelByMmp" for o in gone)
    assert own_option_orders(http, symbol) == []  # nothing quoted while frozen
    wait_for(lambda: any(e["state"] == "released" for e in bot.of("mmp")), timeout=15)
    wait_for(lambda: len(own_option_orders(http, symbol)) == 2, timeout=15)  # quoting again
    assert bot.stop() == 0
    assert own_option_orders(http, symbol) == []
    report = build_report(bot.journal, bot.journal.chain())
    assert report["mmp_freezes"] >= 1 and report["fills"] >= 1
    assert all(r["code"] != 110066 for r in report["rejects"])
    assert not bot.of("rejects") and report["exit_reason"] == "test"


def test_paper_quotes_an_option_the_embedded_exchange_lists(tmp_path: Path) -> None:
    with running_exchange(symbols=("BTCUSDT",), seed=SEED) as ex:
        symbol = an_option(rest(ex))  # the same chain the paper exchange of this seed lists
        env = cli_env(ex, tmp_path)
    report_path = tmp_path / "r.json"
    paper = ["--paper", "--paper-seed", str(SEED), "--category", "option", "--symbol", symbol]
    files = ["--journal", str(tmp_path / "j.sqlite"), "--report-json", str(report_path)]
    done = subprocess.run(
        [binary(), "mm", "start", *paper, "--duration", "3", "-o", "jsonl", *files],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert {"event": "mmp", "state": "armed", "coin": "BTC"} in events
    assert any(e["event"] == "guard" and e["reason"] == "quoting" for e in events)
    report = json.loads(report_path.read_text())
    assert report["orders_placed"] >= 2 and report["open_orders_at_exit"] == 0
    assert report["funding"] == 0
