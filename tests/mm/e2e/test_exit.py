"""The exit is bounded: with the exchange slow, refusing connections or frozen, SIGTERM still
ends the run (the exit's own bound is `SHUTDOWN_S`), and the report says what could not be
confirmed: orders not confirmed gone, fills not reconciled with the exchange's executions.

The runs' durations are never checked against the bound itself: each test waits for the
process to end, with a timeout generous enough only to catch a hang."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

from bybitctl.mm.actions import Place
from bybitctl.mm.executor import Executor
from bybitctl.mm.inbox import Inbox
from bybitctl.sim import SimHandle
from bybitctl.sim.net.auth import generate_key_pair

from .support import (
    SYMBOL,
    binary,
    config_flags,
    events_of,
    executions,
    own_open,
    reaped,
    rest,
    settings,
    start_bot,
    wait_for,
)

HANG_S = 60
"""Far above the exit's bound: only a hung exit reaches it."""
TAKER = "200002"


def _quoting(ex: SimHandle) -> Any:
    http = rest(ex)
    wait_for(lambda: len(own_open(http)) == 2, timeout=20)
    return http


def _report(stdout: str) -> dict[str, Any]:
    return events_of(stdout)[-1]


def _reachable(http: Any) -> bool:
    try:
        http.get_server_time()
    except Exception:  # refused: not yet
        return False
    return True


def test_sigterm_with_the_exchange_slow_ends_and_says_what_it_could_not_confirm(
    exchange, tmp_path
) -> None:
    report_file = tmp_path / "report.json"
    with reaped(start_bot(exchange, tmp_path, "--report-json", str(report_file))) as bot:
        http = _quoting(exchange)
        exchange.set_faults("slow:30s")  # every REST answer far beyond the exit's bound
        bot.send_signal(signal.SIGTERM)
        out, err = bot.communicate(timeout=HANG_S)
    exchange.set_faults("")
    # the trade socket still answers: its cancels, confirmed by the order stream, took
    assert own_open(http) == []
    assert bot.returncode == 4, err  # the exit could not reach REST: a network error
    report = _report(out)
    assert report["open_orders_at_exit"] == 0 and report["reconciled"] is False
    assert json.loads(report_file.read_text())["open_orders_at_exit"] == 0
    assert "could not list open orders over REST" in err
    assert "fills not reconciled" in err and "Traceback" not in err
    stopped = [e for e in events_of(out) if e.get("event") == "stopped"]
    assert stopped == [
        {"event": "stopped", "reason": "signal:SIGTERM", "open_orders": 0, "reconciled": False}
    ]


def _take_our_ask(ex: SimHandle) -> str:
    """Buy through our ask on the exchange's own thread (its connections are refused), so
    the bot cannot hear of the fill; returns the ask's orderLinkId."""

    def take() -> str:
        core = ex._server.core
        ours = core.handle(
            "GET", "/v5/order/realtime", {"category": "linear", "symbol": SYMBOL}, "100001"
        )["result"]["list"]
        ask = next(o for o in ours if o["side"] == "Sell")
        book = core.handle(
            "GET",
            "/v5/market/orderbook",
            {"category": "linear", "symbol": SYMBOL, "limit": "500"},
            None,
        )["result"]
        qty = sum(Decimal(q) for p, q in book["a"] if Decimal(p) <= Decimal(ask["price"]))
        order = {
            "category": "linear",
            "symbol": SYMBOL,
            "side": "Buy",
            "orderType": "Limit",
            "price": ask["price"],
            "qty": str(qty),
            "timeInForce": "IOC",
        }
        assert core.handle("POST", "/v5/order/create", order, TAKER)["retCode"] == 0
        return str(ask["orderLinkId"])

    return str(ex.call(take))


def test_sigterm_with_the_exchange_unreachable_reports_a_fill_it_could_not_see(
    exchange, tmp_path
) -> None:
    exchange.add_key(*generate_key_pair(), account=TAKER)
    report_file = tmp_path / "report.json"
    # quotes at the touch, so a taker reaches them
    bot = start_bot(
        exchange, tmp_path, "--no-fee-aware", "--report-json", str(report_file), spread_bps="0.05"
    )
    with reaped(bot):
        http = _quoting(exchange)
        exchange.set_faults("refuse:15s")  # every connection dropped, none accepted
        taken = _take_our_ask(exchange)
        bot.send_signal(signal.SIGTERM)
        out, err = bot.communicate(timeout=HANG_S)
    assert bot.returncode == 1, err  # orders it could not confirm gone
    report = _report(out)
    assert report["reconciled"] is False and report["open_orders_at_exit"] >= 1
    assert json.loads(report_file.read_text())["open_orders_at_exit"] >= 1
    assert f"not confirmed cancelled at exit (cannot connect to {exchange.base_url}" in err
    assert taken in err and "DCP is armed" in err and "fills not reconciled" in err
    wait_for(lambda: _reachable(http), timeout=30)
    ours = executions(http)
    assert taken in {e["orderLinkId"] for e in ours}
    assert report["fills"] < len(ours)  # the fill it could not see is not claimed
    # nothing outlives the bot: DCP cancelled what its exit could not
    wait_for(lambda: own_open(http) == [], timeout=30)
    # and the next run on the journal books the fill the stream never brought
    again = start_bot(exchange, tmp_path, "--no-fee-aware", "--duration", "1", spread_bps="0.05")
    out, err = again.communicate(timeout=HANG_S)
    assert again.returncode == 0, err
    report = _report(out)
    assert report["reconciled"] is True and report["runs"] == 2
    assert report["fills"] == len(executions(http))


def test_sigterm_with_the_exchange_frozen_ends_and_dcp_cleans_up(tmp_path: Path) -> None:
    """The exchange stops answering anything (SIGSTOP): requests hang instead of failing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BYBIT", "XDG_"))}
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "xdg"),
        XDG_DATA_HOME=str(tmp_path / "data"),
    )
    command = [binary(), "sim", "serve", "--port", "0", "--symbols", SYMBOL, "--seed", "3"]
    sim = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None
        sim.stdout.readline()  # the base URL: serving, with the `paper` profile written
        flags = ["--journal", str(tmp_path / "j.sqlite"), "-o", "jsonl"]
        bot = subprocess.Popen(
            [binary(), "--profile", "paper", "mm", "start", *config_flags(), *flags],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with reaped(bot):
            assert bot.stdout is not None
            for line in bot.stdout:  # its status events: wait until both quotes rest
                event = json.loads(line)
                quotes = event.get("quotes") or []
                if len(quotes) == 2 and all(q["status"] == "open" for q in quotes):
                    break
            sim.send_signal(signal.SIGSTOP)
            bot.send_signal(signal.SIGTERM)
            out, err = bot.communicate(timeout=HANG_S)
        assert bot.returncode == 1, err
        assert "not confirmed cancelled at exit" in err and "DCP is armed" in err
        assert events_of(out)[-1]["open_orders_at_exit"] == 2
        sim.send_signal(signal.SIGCONT)
        http = _paper_http(tmp_path, env)
        wait_for(lambda: own_open(http) == [], timeout=30)
    finally:
        sim.send_signal(signal.SIGCONT)
        sim.terminate()
        sim.wait(timeout=30)


def _paper_http(tmp_path: Path, env: dict[str, str]) -> Any:
    """pybit's HTTP for the `paper` profile `sim serve` wrote."""
    from bybitctl.client import make_http
    from bybitctl.config import resolve_settings

    return make_http(resolve_settings({"profile": "paper"}, env))


def test_closing_the_executor_drops_what_it_has_not_sent(exchange) -> None:
    """A place queued behind a request in progress is never sent once the executor closes,
    so the exit knows it made no order; the one in progress is `sending` until it returns."""
    inbox = Inbox()
    executor = Executor(settings(exchange), "linear", SYMBOL, rest(exchange), inbox, use_ws=False)
    exchange.set_faults("slow:1s")
    places = [
        Place(f"mmtestxx-{n}", "Buy", Decimal("1000"), Decimal("0.002"), True, 0, 0)
        for n in range(1, 4)
    ]
    for place in places:  # one request each: the first in progress, two queued behind it
        executor.submit([place])
    wait_for(lambda: sum(r["path"] == "/v5/order/create" for r in exchange.received) == 1)
    dropped = executor.close()
    assert executor.sending
    wait_for(lambda: not executor.sending, timeout=30)
    exchange.set_faults("")
    sent = [r["body"]["orderLinkId"] for r in exchange.received if r["path"] == "/v5/order/create"]
    assert sent == ["mmtestxx-1"] and dropped == places[1:]
    rest(exchange).cancel_all_orders(category="linear", symbol=SYMBOL)
