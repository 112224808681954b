"""Backtest: determinism, report shape, latency, the position limit under one-sided flow,
stale-book pulls, the kill switch, and reading a recording file."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.examples import cases, examples
from support.synthetic import synthetic_recording

from bybitctl.mm.backtest import Backtest, BacktestSettings, run_backtest
from bybitctl.mm.figures import REPORT_KEYS
from bybitctl.recording import RecordingWriter

from .helpers import book_frame, config, line, rules, trade_frame

D = Decimal


def fake_timer() -> Any:
    ticks = itertools.count(0, 7_000)
    return lambda: next(ticks)


def mm_config(**over: Any) -> Any:
    base = {
        "spread_bps": 2.0,
        "levels": 2,
        "level_spacing_bps": 2.0,
        "max_position": "0.5",
        "refresh_tolerance_bps": 1.0,
        "min_requote_interval_ms": 20,
        "rate_limit": 200,
    }
    return config(**{**base, **over})


def test_same_recording_and_config_give_identical_reports() -> None:
    lines = synthetic_recording(seed=5, messages=1_500)
    cfg = mm_config(spread_bps=1.0)
    a = run_backtest(lines, cfg, rules(), timer=fake_timer())
    b = run_backtest(synthetic_recording(seed=5, messages=1_500), cfg, rules(), timer=fake_timer())
    assert a.report == b.report
    assert a.report["fills"] > 10 and a.report["orders_amended"] > 10  # it really traded
    real = run_backtest(lines, cfg, rules())
    assert {k: v for k, v in real.report.items() if k != "tick_to_quote_us"} == {
        k: v for k, v in a.report.items() if k != "tick_to_quote_us"
    }
    other = run_backtest(
        synthetic_recording(seed=6, messages=1_500), cfg, rules(), timer=fake_timer()
    )
    assert other.report != a.report


def test_report_has_the_report_keys_as_json_numbers() -> None:
    result = run_backtest(synthetic_recording(seed=2, messages=800), mm_config(), rules())
    report = result.report
    assert tuple(report) == REPORT_KEYS
    decoded = json.loads(json.dumps(report))
    for key, value in decoded.items():
        if key == "tick_to_quote_us":
            assert set(value) == {"p50", "p99"} and value["p99"] >= value["p50"] > 0
        else:
            assert isinstance(value, (int, float)) and not isinstance(value, bool), key
    assert report["open_orders_at_exit"] == 0  # the exit cancels everything
    assert 0 < report["quote_uptime_pct"] <= 100


def test_report_agrees_with_fills_and_ledger() -> None:
    settings = BacktestSettings(latency_ms=3, maker_fee=D("-0.0001"), taker_fee=D("0.0006"))
    result = run_backtest(
        synthetic_recording(seed=9, messages=1_500), mm_config(), rules(), settings
    )
    fills = result.fills
    assert result.report["fills"] == len(fills) > 0
    assert D(str(result.report["fees_quote"])) == sum(f.price * f.qty * D("-0.0001") for f in fills)
    assert result.report["fees_quote"] < 0  # maker rebates only
    led = result.ledger
    assert led.spread_capture + led.inventory_pnl(
        result.mark
    ) - led.fees == led.realized + led.unrealized(result.mark)
    signed = sum((f.qty if f.side == "Buy" else -f.qty) for f in fills)
    assert D(str(result.report["final_position"])) == signed


def one_sided_fall(steps: int = 200) -> list[dict[str, Any]]:
    """The price falls a tick per step and takers sell through every bid near the touch."""
    lines = []
    for k in range(steps):
        top = 10_000 - k
        bids = [(f"{(top - i) / 100:.2f}", "1") for i in range(10)]
        asks = [(f"{(top + 1 + i) / 100:.2f}", "1") for i in range(10)]
        lines.append(line(k * 100, book_frame("snapshot", k + 1, bids, asks)))
        lines.append(line(k * 100 + 50, trade_frame("Sell", f"{(top - 30) / 100:.2f}", "50")))
    return lines


def test_one_sided_flow_never_pushes_position_past_max() -> None:
    cfg = mm_config(max_position="0.35", order_qty="0.1", spread_bps=1.0, levels=3)
    result = run_backtest(one_sided_fall(), cfg, rules(), BacktestSettings(latency_ms=7))
    report = result.report
    assert report["max_abs_position"] <= 0.35
    assert report["final_position"] > 0.3  # the limit was reached, not avoided
    assert report["fills"] > 3
    sells = [f for f in result.fills if f.side == "Sell"]
    assert not sells  # nothing lifted our asks


def test_latency_keeps_orders_in_flight() -> None:
    snap = book_frame("snapshot", 1, [("99.99", "1")], [("100.01", "1")])
    lines = [
        line(0, snap),
        line(3, trade_frame("Sell", "99.00", "5")),  # our bid is still on its way
        line(4, book_frame("snapshot", 2, [("99.99", "1")], [("100.01", "1")])),
        line(10, trade_frame("Sell", "99.00", "5")),  # now it rests: filled through
        line(20, book_frame("snapshot", 3, [("99.99", "1")], [("100.01", "1")])),
    ]
    cfg = config(spread_bps=10.0)
    result = run_backtest(lines, cfg, rules(), BacktestSettings(latency_ms=5))
    assert [(f.side, f.price, f.qty, f.ts_ms) for f in result.fills] == [
        ("Buy", D("99.90"), D("0.1"), 10)
    ]  # execution time on the exchange
    early = run_backtest(lines[:2] + lines[4:], cfg, rules(), BacktestSettings(latency_ms=5))
    assert early.fills == []


def test_stale_book_pulls_quotes() -> None:
    snap = book_frame("snapshot", 1, [("99.99", "1")], [("100.01", "1")])
    lines = [line(0, snap), line(10_000, trade_frame("Buy", "100.01", "0.001"))]
    result = run_backtest(
        lines, config(stale_book_ms=5_000), rules(), BacktestSettings(latency_ms=5)
    )
    # two-sided from 5 ms (orders arrive) until the pull lands at 5001 + 5 ms of ~10 s
    assert 49 < result.report["quote_uptime_pct"] < 51
    fresh = run_backtest(
        lines, config(stale_book_ms=60_000), rules(), BacktestSettings(latency_ms=5)
    )
    assert fresh.report["quote_uptime_pct"] > 99


def test_kill_switch_stops_quoting() -> None:
    cfg = mm_config(max_position="5", order_qty="0.1", spread_bps=1.0, levels=3)
    free = run_backtest(one_sided_fall(), cfg, rules())
    killed = run_backtest(
        one_sided_fall(),
        mm_config(
            max_position="5", order_qty="0.1", spread_bps=1.0, levels=3, kill_max_loss="0.05"
        ),
        rules(),
    )
    assert killed.report["fills"] < free.report["fills"]
    last_fill = max(f.ts_ms for f in killed.fills)
    assert last_fill < max(f.ts_ms for f in free.fills)


def test_reads_a_gzip_recording_file(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl.gz"
    lines = synthetic_recording(seed=3, messages=300)
    with RecordingWriter(path, channel="public/linear") as writer:
        for entry in lines:
            writer.write(entry["frame"], entry["recv_ns"])
    from_file = run_backtest(path, mm_config(), rules(), timer=fake_timer())
    in_memory = run_backtest(lines, mm_config(), rules(), timer=fake_timer())
    assert from_file.report == in_memory.report


def test_book_gap_pulls_quotes_until_the_next_snapshot() -> None:
    bids, asks = [("99.99", "1")], [("100.01", "1")]
    lines = [
        line(0, book_frame("snapshot", 1, bids, asks)),
        line(100, book_frame("delta", 2, [("99.98", "1")], [])),
        line(200, book_frame("delta", 5, [("99.97", "1")], [])),  # u 3-4 missing: BookGap
        line(300, book_frame("delta", 6, [("99.96", "1")], [])),  # dropped while resyncing
        line(5_200, book_frame("snapshot", 10, bids, asks)),
        line(10_200, trade_frame("Buy", "100.01", "0.001")),
    ]
    result = run_backtest(lines, config(), rules(), BacktestSettings(latency_ms=5))
    report = result.report
    assert report["orders_placed"] == 4  # both sides before the gap, again after
    assert report["orders_cancelled"] == 4  # pulled at the gap, then the exit's cancel-all
    # two-sided 5..205 and 5205..10200 of the 10.2 s since the first book
    assert 50 < report["quote_uptime_pct"] < 52


@settings(max_examples=examples(12), deadline=None)
@given(
    seed=st.integers(0, 10_000),
    levels=st.integers(1, 3),
    qty=st.sampled_from(["0.05", "0.1", "0.2"]),
    cap=st.sampled_from(["0.2", "0.35", "1"]),
    latency=st.integers(0, 30),
    use_amend=st.booleans(),
    skew=st.booleans(),
)
def test_position_limit_holds_through_whole_replays(
    seed: int, levels: int, qty: str, cap: str, latency: int, use_amend: bool, skew: bool
) -> None:
    cfg = mm_config(
        spread_bps=0.5,
        levels=levels,
        order_qty=qty,
        max_position=cap,
        use_amend=use_amend,
        inventory_skew=skew,
        min_requote_interval_ms=0,
    )
    result = run_backtest(
        synthetic_recording(seed=seed, messages=400), cfg, rules(), BacktestSettings(latency)
    )
    assert D(str(result.report["max_abs_position"])) <= D(cap)


def test_rate_budget_caps_order_actions_per_second() -> None:
    lines = synthetic_recording(seed=4, messages=1_000)
    seconds = (lines[-1]["recv_ns"] - lines[0]["recv_ns"]) / 1e9
    free = run_backtest(lines, mm_config(min_requote_interval_ms=0), rules()).report
    capped = run_backtest(lines, mm_config(min_requote_interval_ms=0, rate_limit=5), rules())
    report = capped.report
    sent = report["orders_placed"] + report["orders_amended"] + report["orders_cancelled"]
    exit_cancels = 2 * 2  # two levels a side, cancelled by the exit outside the budget
    assert sent - exit_cancels <= 5 * seconds + 5  # rate x time + one burst
    assert free["orders_amended"] > 2 * report["orders_amended"]


@settings(max_examples=examples(12), deadline=None)
@given(seed=st.integers(0, 500), latency=st.integers(0, 30), levels=st.integers(1, 3))
def test_hedge_mode_legs_agree_with_the_exchange_model_and_stay_bounded(
    seed: int, latency: int, levels: int
) -> None:
    cfg = mm_config(
        hedge_mode=True,
        spread_bps=0.5,
        levels=levels,
        order_qty="0.1",
        max_position="0.3",
        min_requote_interval_ms=0,
    )
    bt = Backtest(cfg, rules(), BacktestSettings(latency), fake_timer())
    result = bt.run(synthetic_recording(seed=seed, messages=400))
    assert result.report["fills"] > 0
    long, short = bt.model.legs
    assert D(0) <= long and D(0) <= short and long + short <= D("0.3")
    # the client's legs are the exchange model's once every report has arrived
    assert (bt.inventory.long, bt.inventory.short) == (long, short)
    assert bt.inventory.position == long - short == result.ledger.position


# -- the tracker the backtest shares with live runs ------------------------------------------
# The simulated exchange answers the way Bybit does (a retCode, then the order stream's word,
# each execution followed by its order's update) and the client is the live `OrderTracker`.


def book(t_ms: int, u: int, bid: str, ask: str) -> dict[str, Any]:
    return line(t_ms, book_frame("snapshot", u, [(bid, "1")], [(ask, "1")]))


def test_an_order_filled_while_its_amend_is_in_flight_stops_counting_at_once() -> None:
    """The only place where the shared tracker changed backtest results. A part-filled bid
    is amended (new total = filled + 0.1, more than it had); the rest of its first qty fills
    before the amend lands. The exchange's update says Filled before the amend's refusal
    comes back: the order no longer counts, and its level is quoted again at once, as live.
    Before, the backtest kept it as a pending amend (counted at the amend's qty) until the
    refusal, and placed the new bid only on the next book message, 25 ms later here."""
    lines = [
        book(0, 1, "99.99", "100.01"),  # a bid of 0.1 at 99.90, resting from 10 ms
        line(20, trade_frame("Sell", "99.90", "0.04")),  # fills 0.04 of it
        book(40, 2, "100.04", "100.06"),  # mid +5 bps: amended to 99.94, total 0.14
        line(45, trade_frame("Sell", "99.80", "5")),  # through 99.90: the 0.06 left fills
        line(70, trade_frame("Sell", "99.80", "5")),  # through 99.94: is a bid resting there?
        book(80, 3, "100.04", "100.06"),
    ]
    cfg = config(spread_bps=10.0, refresh_tolerance_bps=2.0)
    result = run_backtest(lines, cfg, rules(), BacktestSettings(latency_ms=10))
    assert [(f.price, f.qty, f.ts_ms) for f in result.fills] == [
        (D("99.90"), D("0.04"), 20),
        (D("99.90"), D("0.06"), 45),
        (D("99.94"), D("0.100"), 70),  # placed at 55 (the Filled update), resting from 65
    ]


def test_an_amend_refused_below_the_filled_qty_keeps_the_order_at_its_old_terms() -> None:
    """A fill on its way, then a smaller amend the exchange refuses (the new qty is not above
    what filled, retCode 110064): the order still rests, so it stays ours, at its old terms,
    and the next decision moves it again."""
    lines = [
        book(0, 1, "99.99", "100.01"),  # a bid at 95.00 for 20 USDT: 0.210
        line(30, trade_frame("Sell", "95.00", "0.205")),  # fills 0.205 of it
        book(32, 2, "102.99", "103.01"),  # +3 %: amend to 97.85 for 0.204, refused at 42
        book(50, 3, "102.99", "103.01"),
        book(55, 4, "102.99", "103.01"),  # the refusal is back (52); no requote before 132
    ]
    cfg = config(order_qty=None, order_notional="20", spread_bps=500.0, min_requote_interval_ms=100)
    bt = Backtest(cfg, rules(), BacktestSettings(latency_ms=10), fake_timer())
    bt.feed(lines)
    at_exchange = {o.link_id: (o.price, o.qty, o.filled) for o in bt.model.orders.values()}
    assert at_exchange["mmbt-1"] == (D("95.00"), D("0.210"), D("0.205"))
    bid = bt.tracker.orders["mmbt-1"]
    assert (bid.status, bid.price, bid.qty, bid.filled) == (
        "open",
        D("95.00"),
        D("0.210"),
        D("0.205"),
    )
    assert set(at_exchange) == set(bt.tracker.orders)  # every resting order is tracked


# -- deciding only when the decision's inputs changed ----------------------------------------


def with_quiet_deltas(lines: list[dict[str, Any]], per_message: int = 4) -> list[dict[str, Any]]:
    """The recording with deltas that touch only a deep level (as most of a real feed's do)
    between its own: the top of book, and so the decision's plan, stays as it was."""
    out: list[dict[str, Any]] = []
    shift = 0
    for entry in lines:
        frame = entry["frame"]
        if not frame["topic"].startswith("orderbook."):
            out.append(entry)
            continue
        data = dict(frame["data"], u=frame["data"]["u"] + shift)
        out.append({**entry, "frame": {**frame, "data": data}})
        for k in range(per_message):
            shift += 1
            deep = {"s": data["s"], "b": [["50.00", str(k + 1)]], "a": [], "u": data["u"] + k + 1}
            quiet = {**frame, "type": "delta", "data": {**deep, "seq": data["seq"]}}
            out.append({**entry, "recv_ns": entry["recv_ns"] + (k + 1) * 200_000, "frame": quiet})
    return out


REUSE_CONFIGS = [
    {},
    {"levels": 3, "inventory_skew": True, "min_requote_interval_ms": 0},
    {"reference": "microprice", "max_order_age_ms": 400, "fill_cooldown_ms": 150},
    {"vol_scaling": True, "vol_multiplier": 3.0, "vol_window_ms": 300},
    {"reference": "last", "use_amend": False, "min_requote_interval_ms": 300},
    {"reference": "mark", "stale_book_ms": 40, "kill_max_drawdown": "0.05"},
    {"kill_max_loss": "0.02", "kill_action": "cooldown", "kill_cooldown_s": 1},
    {"mmp_max_qty": "0.15", "mmp_window_ms": 300, "mmp_freeze_s": 1, "rate_limit": 8},
    {"hedge_mode": True, "order_qty": None, "order_notional": "12", "max_notional": "40"},
]


@pytest.mark.parametrize("over", cases(REUSE_CONFIGS))
def test_deciding_only_on_changed_inputs_is_bit_identical_to_deciding_always(
    over: dict[str, Any],
) -> None:
    """The replay calls `settle` only when the plan, our orders, inventory or state changed,
    or a time rule (requote interval, cooldown, order age) can flip; the same replay calling
    it at every decision point gives exactly the same orders, fills and report."""
    cfg = mm_config(spread_bps=1.0, **{k: v for k, v in over.items()})
    for seed, latency in ((11, 5), (12, 0)):
        lines = with_quiet_deltas(synthetic_recording(seed=seed, messages=700, step_ms=(1, 90)))
        results = []
        for reuse in (True, False):
            bt = Backtest(cfg, rules(), BacktestSettings(latency), fake_timer(), reuse=reuse)
            results.append((bt, bt.run(lines)))
        (fast, a), (slow, b) = results
        assert a.report == b.report
        assert a.fills == b.fills and a.decisions == b.decisions
        assert slow.calls == slow.decisions
        assert fast.calls < 0.5 * slow.calls  # the quiet deltas were not decided on again
        assert a.report["orders_placed"] > 0


def ticker(**fields: str) -> dict[str, Any]:
    """A linear tickers message (a delta carries only the fields that changed)."""
    return {
        "topic": "tickers.SIMUSDT",
        "type": "delta",
        "ts": 0,
        "data": {"symbol": "SIMUSDT"} | fields,
    }


def test_funding_settles_on_the_inventory_held_at_each_funding_time() -> None:
    # the long the one-sided fall builds pays a positive rate, then receives a negative one;
    # the ticker announces each time and rate before it, and repeats a settled time after
    lines = one_sided_fall()
    lines += [
        line(0, ticker(markPrice="99.5", fundingRate="0.0001", nextFundingTime="125")),
        line(130, ticker(nextFundingTime="125")),  # not yet updated: no second one
        line(140, ticker(fundingRate="-0.0002", nextFundingTime="15025")),
        line(12_000, ticker(fundingRate="not a rate")),  # ignored: the rate stays
    ]
    lines.sort(key=lambda ln: ln["recv_ns"])
    cfg = mm_config(max_position="0.35", order_qty="0.1", spread_bps=1.0, levels=3)
    result = run_backtest(lines, cfg, rules(), BacktestSettings(latency_ms=0))

    def held(at: int) -> Decimal:
        return sum(
            ((f.qty if f.side == "Buy" else -f.qty) for f in result.fills if f.ts_ms <= at), D(0)
        )

    assert 0 < held(125) < held(15_025)  # a long, held across both
    expected = -held(125) * D("99.5") * D("0.0001") + held(15_025) * D("99.5") * D("0.0002")
    led = result.ledger
    assert led.funding == expected and led.funding_settlements == 2
    report = result.report
    assert D(str(report["funding"])) == expected
    assert report["total_pnl"] == pytest.approx(
        report["realized_pnl"] + report["unrealized_pnl"] + report["funding"]
    )
    # the trading figures are those of the same run without funding times
    plain = run_backtest(one_sided_fall(), cfg, rules(), BacktestSettings(latency_ms=0))
    assert plain.ledger.funding == 0 and plain.ledger.fills == led.fills
    assert plain.ledger.realized == led.realized and plain.ledger.position == led.position
