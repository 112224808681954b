"""The installed `bybitctl mm ...` against the local exchange: every exit path leaves no order
on the book (checked over REST), writes `--report-json`, and a restart cleans up after a
`kill -9`. The exchange runs in this test process; the bot in a subprocess."""

from __future__ import annotations

import json
import signal
import sqlite3
import sys
import time
from typing import Any

import pytest
from support.synthetic import LINEAR_INSTRUMENT, synthetic_recording

from bybitctl.mm.figures import REPORT_KEYS
from bybitctl.mm.report import plot
from bybitctl.recording import RecordingWriter

from .support import (
    SYMBOL,
    events_of,
    own_open,
    reaped,
    rest,
    run_cli,
    start_bot,
    taker,
    wait_for,
)


def _check_report(doc: dict[str, Any]) -> None:
    assert tuple(doc) == REPORT_KEYS
    for key, value in doc.items():
        if key == "tick_to_quote_us":
            assert set(value) == {"p50", "p99"}
            assert all(isinstance(v, (int, float)) for v in value.values())
        else:
            assert isinstance(value, (int, float)) and not isinstance(value, bool), key


def test_sigterm_cancels_everything_and_writes_the_report(exchange, tmp_path) -> None:
    report_file = tmp_path / "report.json"
    bot = start_bot(exchange, tmp_path, "--report-json", str(report_file))
    http = rest(exchange)
    wait_for(lambda: len(own_open(http)) == 2, timeout=20)
    bot.send_signal(signal.SIGTERM)
    out, err = bot.communicate(timeout=30)
    assert bot.returncode == 0, err
    assert own_open(http) == []
    report = json.loads(report_file.read_text())
    _check_report(report)
    assert report["open_orders_at_exit"] == 0 and report["orders_placed"] >= 2
    lines = events_of(out)
    assert lines[-1]["orders_placed"] == report["orders_placed"]  # the final report
    assert any(e.get("event") == "stopped" and e["reason"] == "signal:SIGTERM" for e in lines)
    assert exchange.api_secret not in out + err


def test_sigint_cancels_everything_exits_130_and_writes_the_report(exchange, tmp_path) -> None:
    report_file = tmp_path / "report.json"
    http = rest(exchange)
    with reaped(start_bot(exchange, tmp_path, "--report-json", str(report_file))) as bot:
        wait_for(lambda: len(own_open(http)) == 2, timeout=20)
        bot.send_signal(signal.SIGINT)
        out, err = bot.communicate(timeout=30)
    assert bot.returncode == 130, err
    assert own_open(http) == []
    _check_report(json.loads(report_file.read_text()))
    assert any(
        e.get("event") == "stopped" and e["reason"] == "signal:SIGINT" for e in events_of(out)
    )


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_a_signal_during_start_up_exits_cleanly_with_the_report(
    exchange, tmp_path, sig: signal.Signals, code: int
) -> None:
    report_file = tmp_path / "report.json"
    exchange.set_faults("slow:700ms")  # start-up's REST calls take seconds

    def started() -> bool:
        return any(r["path"] == "/v5/market/instruments-info" for r in exchange.received)

    with reaped(start_bot(exchange, tmp_path, "--report-json", str(report_file))) as bot:
        wait_for(started, timeout=20, every=0.02)  # its first request: start-up under way
        bot.send_signal(sig)
        out, err = bot.communicate(timeout=30)
    assert bot.returncode == code, err
    report = json.loads(report_file.read_text())
    _check_report(report)
    assert report["orders_placed"] == 0 and report["open_orders_at_exit"] == 0
    lines = events_of(out)
    assert not any(e.get("event") == "start" for e in lines)  # never got to quoting
    stopped = [e for e in lines if e.get("event") == "stopped"]
    assert stopped == [
        {"event": "stopped", "reason": f"signal:{sig.name}", "open_orders": 0, "reconciled": True}
    ]
    # the exit's cancel-all was confirmed over REST, as on every exit path
    paths = [r["path"] for r in exchange.received]
    assert "/v5/order/realtime" in paths and "/v5/order/create" not in paths
    exchange.set_faults("")
    assert own_open(rest(exchange)) == []


def test_mm_resume_rearms_a_paused_kill_switch(exchange, tmp_path) -> None:
    bot = start_bot(
        exchange,
        tmp_path,
        "--no-fee-aware",
        "--kill-max-drawdown",
        "0.02",
        "--kill-action",
        "pause",
        spread_bps="0.05",
        min_requote_interval_ms=0,
    )
    with reaped(bot):
        http, flow = rest(exchange), taker(exchange)
        journal = str(tmp_path / "j.sqlite")
        # quotes at the touch: the market itself may trip the switch before the taker does

        def kill_state() -> str:
            status = run_cli(exchange, tmp_path, "mm", "status", "--journal", journal, "-o", "json")
            return (json.loads(status.stdout) if status.stdout else {}).get("kill") or ""

        def paused() -> bool:
            flow.place_order(
                category="linear", symbol=SYMBOL, side="Sell", orderType="Market", qty="0.05"
            )
            return kill_state() == "paused"

        wait_for(paused, timeout=20, every=0.2)
        wait_for(lambda: own_open(http) == [], timeout=5)

        def uptime() -> float:
            status = run_cli(exchange, tmp_path, "mm", "status", "--journal", journal, "-o", "json")
            return float(json.loads(status.stdout)["uptime_s"])

        since = uptime()
        wait_for(lambda: uptime() >= since + 1.0, timeout=20)  # two more status rounds
        assert own_open(http) == [] and kill_state() == "paused"  # paused means paused
        since = int(time.time() * 1000)
        resumed = run_cli(exchange, tmp_path, "mm", "resume", "--journal", journal)
        assert resumed.returncode == 0, resumed.stderr
        assert "kill switch re-armed" in resumed.stderr

        def placed_since() -> int:
            with sqlite3.connect(journal) as db:
                return db.execute(
                    "SELECT COUNT(*) FROM orders WHERE event = 'place' AND ts_ms >= ?", (since,)
                ).fetchone()[0]

        wait_for(placed_since, timeout=10)  # quoting again (a later re-trip is the switch's job)
        bot.send_signal(signal.SIGTERM)
        out, err = bot.communicate(timeout=30)
        assert bot.returncode == 0, err
        kills = [e for e in events_of(out) if e.get("event") == "kill"]
        assert [k["state"] for k in kills][:2] == ["paused", "armed"]
        assert own_open(http) == []


def test_mm_stop_and_status_find_the_running_instance(exchange, tmp_path) -> None:
    bot = start_bot(exchange, tmp_path)
    http = rest(exchange)
    wait_for(lambda: len(own_open(http)) == 2, timeout=20)
    journal = str(tmp_path / "j.sqlite")
    status = wait_for(
        lambda: (
            (
                doc := json.loads(
                    run_cli(
                        exchange, tmp_path, "mm", "status", "--journal", journal, "-o", "json"
                    ).stdout
                )
            ).get("quotes")
            and doc
        )
    )
    assert status["running"] is True and status["pid"] == bot.pid
    assert {q["side"] for q in status["quotes"]} == {"Buy", "Sell"}
    stop = run_cli(exchange, tmp_path, "mm", "stop", "--journal", journal)
    assert stop.returncode == 0, stop.stderr
    assert "0 order(s) left open" in stop.stderr
    assert bot.wait(timeout=30) == 0
    assert own_open(http) == []
    after = json.loads(
        run_cli(exchange, tmp_path, "mm", "status", "--journal", journal, "-o", "json").stdout
    )
    assert after["running"] is False
    report = json.loads(
        run_cli(exchange, tmp_path, "mm", "report", "--journal", journal, "-o", "json").stdout
    )
    _check_report({k: report[k] for k in REPORT_KEYS})
    assert report["exit_reason"] == "signal:SIGTERM"
    table = run_cli(exchange, tmp_path, "mm", "report", "--journal", journal, "-o", "table")
    lines = table.stdout.splitlines()
    rows = dict([*line.split(None, 1), ""][:2] for line in lines)  # field/value lines
    assert list(rows) == list(report)
    assert rows["exit_reason"] == "signal:SIGTERM"
    assert rows["orders_placed"] == str(report["orders_placed"])


def test_restart_after_kill_9_cancels_the_leftovers(exchange, tmp_path) -> None:
    bot = start_bot(exchange, tmp_path)
    http = rest(exchange)
    leftovers = wait_for(lambda: len(own_open(http)) == 2 and own_open(http), timeout=20)
    bot.kill()  # SIGKILL: no chance to clean up; the orders stay on the book
    bot.wait(timeout=10)
    assert {o["orderLinkId"] for o in own_open(http)} == {o["orderLinkId"] for o in leftovers}
    again = start_bot(exchange, tmp_path, "--duration", "1")
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    events = events_of(out)
    cancelled = {e["cancelled"] for e in events if e.get("event") == "reconcile"}
    assert cancelled >= {o["orderLinkId"] for o in leftovers} - _filled(http, leftovers)
    assert own_open(http) == []
    assert events[-1]["runs"] == 2  # the accounting resumed the killed run's


def test_after_kill_9_the_exchange_cancels_the_quotes_by_dcp(exchange, tmp_path) -> None:
    """The bot arms Bybit's disconnect-cancel-all (10 s) and holds the `dcp.future` topic,
    so a crashed bot's quotes do not outlive it even if nobody restarts it."""
    bot = start_bot(exchange, tmp_path)
    http = rest(exchange)
    wait_for(lambda: len(own_open(http)) == 2, timeout=20)
    info = http.query_dcp_info()["result"]["dcpInfos"]
    assert any(row["product"] == "DERIVATIVES" and row["dcpStatus"] == "ON" for row in info)
    bot.kill()
    bot.wait(timeout=10)
    assert own_open(http)  # nobody cancelled them yet
    wait_for(lambda: own_open(http) == [], timeout=25)


def _filled(http: Any, orders: list[dict[str, Any]]) -> set[str]:
    """Leftovers that filled before the restart (nothing to cancel there)."""
    done = set()
    for o in orders:
        row = http.get_open_orders(
            category="linear", symbol=o["symbol"], orderLinkId=o["orderLinkId"]
        )["result"]["list"]
        if row and row[0]["orderStatus"] == "Filled":
            done.add(o["orderLinkId"])
    return done


def test_paper_run_finishes_by_itself_with_the_report(exchange, tmp_path) -> None:
    report_file = tmp_path / "paper.json"
    run = run_cli(
        exchange,
        tmp_path,
        "mm",
        "start",
        "--paper",
        "--duration",
        "3",
        "--symbol",
        "BTCUSDT",
        "--order-qty",
        "0.001",
        "--max-position",
        "0.005",
        "--journal",
        str(tmp_path / "paper.sqlite"),
        "--report-json",
        str(report_file),
        "-o",
        "jsonl",
    )
    assert run.returncode == 0, run.stderr
    _check_report(json.loads(report_file.read_text()))
    final = events_of(run.stdout)[-1]
    assert final["open_orders_at_exit"] == 0 and final["orders_placed"] >= 2


def test_backtest_is_deterministic(exchange, tmp_path) -> None:
    data = tmp_path / "rec.jsonl.gz"
    with RecordingWriter(data, channel="public/linear") as writer:
        for line in synthetic_recording(seed=5, messages=1500):
            writer.write(line["frame"], line["recv_ns"], line["channel"])
    instrument = tmp_path / "instrument.json"
    instrument.write_text(json.dumps(LINEAR_INSTRUMENT))
    args = (
        "mm",
        "backtest",
        "--data",
        str(data),
        "--instrument",
        str(instrument),
        "--symbol",
        "SIMUSDT",
        "--order-qty",
        "0.1",
        "--max-position",
        "1",
        "--spread-bps",
        "3",
        "--maker-fee-bps",
        "0",
        "-o",
        "json",
    )
    first, second = run_cli(exchange, tmp_path, *args), run_cli(exchange, tmp_path, *args)
    assert first.returncode == 0, first.stderr
    one, two = json.loads(first.stdout), json.loads(second.stdout)
    one.pop("tick_to_quote_us"), two.pop("tick_to_quote_us")  # wall-clock figures
    assert one == two
    assert one["fills"] > 0 and one["orders_placed"] > 0


def test_init_writes_a_config_that_starts(exchange, tmp_path) -> None:
    target = tmp_path / "mm.toml"
    assert run_cli(exchange, tmp_path, "mm", "init", str(target)).returncode == 0
    again = run_cli(exchange, tmp_path, "mm", "init", str(target))
    assert again.returncode == 2 and "--force" in again.stderr
    bad = run_cli(
        exchange,
        tmp_path,
        "mm",
        "start",
        "--config",
        str(target),
        "--spread-bps",
        "0",
        "--journal",
        str(tmp_path / "x.sqlite"),
    )
    assert bad.returncode == 2 and "spread_bps" in bad.stderr
    assert own_open(rest(exchange)) == []


def test_plot_without_matplotlib_names_the_extra(tmp_path, monkeypatch) -> None:
    from bybitctl.errors import UsageError
    from bybitctl.mm.journal import Journal

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    journal = Journal(tmp_path / "j.sqlite")
    with pytest.raises(UsageError) as caught:
        plot(journal, [], tmp_path / "x.png")
    assert "pip install 'bybitctl[plot]'" in caught.value.show()


def test_a_start_that_fails_after_journaling_still_writes_the_report(exchange, tmp_path) -> None:
    # a position on the symbol: it cannot switch to hedge mode, so the run is refused
    rest(exchange).place_order(
        category="linear", symbol=SYMBOL, side="Buy", orderType="Market", qty="0.001"
    )
    report_file = tmp_path / "report.json"
    with reaped(
        start_bot(exchange, tmp_path, "--hedge-mode", "--report-json", str(report_file))
    ) as bot:
        _, err = bot.communicate(timeout=60)
    assert bot.returncode == 2, err
    assert "hedge_mode: cannot switch" in err
    report = json.loads(report_file.read_text())
    _check_report(report)
    assert report["orders_placed"] == 0 and report["open_orders_at_exit"] == 0
    assert own_open(rest(exchange)) == []
