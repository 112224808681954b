"""CPU of `bybitctl mm backtest` against hftbacktest 2.4.4 (numba) on the same recorded market.

The data: a BTCUSDT recording from the local exchange (`bybitctl sim serve` + `bybitctl stream
record`: orderbook.50, publicTrade and tickers on one connection), `--record-seconds` long,
tiled to `--hours` (each copy shifted in time and in update ids, so the book sees one
continuous stream), or an existing recording (`--recording FILE`). The same frames are
written in hftbacktest's Bybit input format (`<recv ns> <raw frame>` per line, gzip) and
converted once with `hftbacktest.data.utils.bybit.convert_depth` (cached as .npz: the
conversion is not timed, as hftbacktest's users convert once).

Matched settings: a one-level post-only maker quoting mid +- `--spread-bps`, moving a quote
(amend / modify) when it is more than `--tolerance-bps` off, `--qty` per order, position at
most `--max-position`, 5 ms order latency each way, hftbacktest's risk-averse queue model
(our fill model's rules: join the back, trades at our price eat the queue first, the queue
shrinks only with the level) and partial fills, maker 0.02 % / taker 0.055 %.

Timing: each run is a separate process; its CPU time (`time.process_time`) covers the whole
replay, not the interpreter's start or imports. Ours includes reading and decoding the
recording (it has no other form); hftbacktest's main figure is its best case, its event
array already in memory and one full untimed run first (numba compiles, every path warm),
with the figure including loading its .npz beside it. Rounds interleave the two.
Also timed: the `bybitctl mm backtest` command as a user runs it (its process's CPU, start-up
included), and a sweep's cost per configuration (`--sweep K` configurations stepped through
one replay, as `mm sweep` runs them) against K hftbacktest runs.

    pip install -e '.[bench]'   # hftbacktest 2.4.4 and numba
    .venv/bin/python benchmarks/backtest_vs_hftbacktest.py [--hours 1] [--rounds 5]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
SYMBOL = "BTCUSDT"


def record(seconds: float, out: Path, inst_out: Path, seed: int) -> None:
    """A recording from the local exchange, and its instruments-info row."""
    sim = subprocess.Popen(
        [str(BIN / "bybitctl"), "sim", "serve", "--symbols", SYMBOL, "--seed", str(seed),
         "--no-profile"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert sim.stdout is not None
        base = sim.stdout.readline().strip()
        url = f"{base}/v5/market/instruments-info?category=linear&symbol={SYMBOL}"
        with urllib.request.urlopen(url, timeout=10) as answer:
            inst_out.write_bytes(orjson.dumps(json.load(answer)["result"]["list"][0]))
        subprocess.run(
            [str(BIN / "bybitctl"), "--base-url", base, "stream", "record", "-s", SYMBOL,
             "--record", str(out), "--duration", str(seconds)],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    finally:
        sim.terminate()
        sim.wait(timeout=20)


def tile(source: Path, hours: float, ours: Path, theirs: Path) -> int:
    """Repeat the recording's frames until `hours` are covered, shifting times and update
    ids per copy; write our recording and hftbacktest's input. Returns the frame count."""
    from bybitctl.recording import RecordingWriter, iter_recording

    lines = [line for line in iter_recording(source) if "topic" in line["frame"]]
    span = lines[-1]["recv_ns"] - lines[0]["recv_ns"] + 1_000_000
    copies = max(1, round(hours * 3600e9 / span))
    u_span = 1 + max(
        (line["frame"]["data"]["u"] for line in lines if line["frame"]["topic"].startswith("ord")),
        default=0,
    )
    frames = 0
    with RecordingWriter(ours, channel="public/linear") as mine, gzip.open(theirs, "wb") as hbt:
        for k in range(copies):
            dt_ns, du = k * span, k * u_span
            for line in lines:
                frame = shifted(line["frame"], dt_ns // 1_000_000, du)
                recv_ns = line["recv_ns"] + dt_ns
                mine.write(frame, recv_ns)
                hbt.write(b"%d %s\n" % (recv_ns, orjson.dumps(frame)))
                frames += 1
    return frames


def shifted(frame: dict[str, Any], dt_ms: int, du: int) -> dict[str, Any]:
    """A frame moved `dt_ms` later, its book update ids `du` further."""
    out = dict(frame)
    if "ts" in out:
        out["ts"] = out["ts"] + dt_ms
    data = out.get("data")
    if out["topic"].startswith("orderbook.") and isinstance(data, dict):
        out["data"] = {**data, "u": data["u"] + du, "seq": data.get("seq", 0) + du}
        if "cts" in out:
            out["cts"] = out["cts"] + dt_ms
    elif isinstance(data, list):
        out["data"] = [{**t, "T": t["T"] + dt_ms} if "T" in t else t for t in data]
    return out


# -- the two sides, each run in a child process ---------------------------------------------


def config_values(args: argparse.Namespace, spread: float) -> dict[str, Any]:
    return {
        "symbol": SYMBOL,
        "order_qty": args.qty,
        "max_position": args.max_position,
        "spread_bps": spread,
        "refresh_tolerance_bps": args.tolerance_bps,
        "levels": 1,
        "post_only": True,
        "use_amend": True,
        "inventory_skew": False,
        "min_requote_interval_ms": 0,
        "max_order_age_ms": 0,
        "rate_limit": 1000,
        "maker_fee_bps": 0,
        "min_edge_bps": 0,
    }


def child_ours(args: argparse.Namespace) -> None:
    from bybitctl.mm.backtest import BacktestSettings, run_backtest, run_backtests
    from bybitctl.mm.config import from_mapping
    from bybitctl.mm.rules import validate

    instrument = json.loads(Path(args.instrument).read_text())
    settings = BacktestSettings(latency_ms=5)
    spreads = [args.spread_bps + 0.5 * k for k in range(args.configs)]
    runs = []
    for spread in spreads:
        config = from_mapping(config_values(args, spread))
        runs.append((config, validate(config, instrument)))
    start = time.process_time()
    if len(runs) == 1:
        results = [run_backtest(args.data, *runs[0], settings)]
    else:
        results = run_backtests(args.data, runs, settings)
    cpu = time.process_time() - start
    print(json.dumps({"cpu": cpu, "fills": [r.report["fills"] for r in results]}))


def child_hbt(args: argparse.Namespace) -> None:
    import numpy as np
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest

    maker = _hbt_maker()
    instrument = json.loads(Path(args.instrument).read_text())
    tick = float(instrument["priceFilter"]["tickSize"])
    lot = float(instrument["lotSizeFilter"]["qtyStep"])

    held = []  # hftbacktest reads the arrays in place: they must outlive the backtest

    def build(data: Any) -> Any:
        held.append(data)
        asset = (
            BacktestAsset()
            .data([data])
            .linear_asset(1.0)
            .constant_order_latency(5_000_000, 5_000_000)
            .risk_adverse_queue_model()
            .partial_fill_exchange()
            .trading_value_fee_model(0.0002, 0.00055)
            .tick_size(tick)
            .lot_size(lot)
        )
        return HashMapMarketDepthBacktest([asset])

    start = time.process_time()
    data = np.load(args.data)["data"]
    load = time.process_time() - start
    half, tol = args.spread_bps * 1e-4, args.tolerance_bps * 1e-4
    qty, max_pos = float(args.qty), float(args.max_position)
    warm = build(data)  # numba compiles, and every path is taken once: untimed
    maker(warm, half, tol, qty, max_pos)
    int(warm.state_values(0).num_trades)  # compiled on first use too
    warm.close()
    fills = []
    start = time.process_time()
    for k in range(args.configs):
        hbt = build(data)
        maker(hbt, half + 0.5e-4 * k, tol, qty, max_pos)
        fills.append(int(hbt.state_values(0).num_trades))
        hbt.close()
    cpu = time.process_time() - start
    print(json.dumps({"cpu": cpu, "load": load, "fills": fills}))


def _hbt_maker() -> Any:
    """hftbacktest's side of the match, compiled by numba."""
    import numpy as np
    from hftbacktest.order import GTX, LIMIT, NEW, PARTIALLY_FILLED
    from numba import njit

    @njit
    def maker(hbt: Any, half: float, tol: float, qty: float, max_pos: float) -> int:
        tick = hbt.depth(0).tick_size
        bid_id = 0
        ask_id = 0
        next_id = 1
        n = 0
        while hbt.wait_next_feed(True, 3_600_000_000_000) != 1:
            n += 1
            depth = hbt.depth(0)
            bb = depth.best_bid
            ba = depth.best_ask
            if not (bb > 0 and ba > 0 and bb < ba):
                continue
            mid = (bb + ba) / 2.0
            hbt.clear_inactive_orders(0)
            orders = hbt.orders(0)
            pos = hbt.position(0)
            want_bid = np.floor(mid * (1.0 - half) / tick + 1e-9) * tick
            if want_bid >= ba:
                want_bid = ba - tick
            want_ask = np.ceil(mid * (1.0 + half) / tick - 1e-9) * tick
            if want_ask <= bb:
                want_ask = bb + tick
            tol_px = tol * mid
            o = orders.get(bid_id) if bid_id else None
            if o is not None and (o.status == NEW or o.status == PARTIALLY_FILLED):
                if abs(o.price - want_bid) > tol_px and o.req == 0:
                    hbt.modify(0, bid_id, want_bid, qty, False)
            elif (o is None or o.req == 0) and pos + qty <= max_pos + 1e-12:
                bid_id = next_id
                next_id += 1
                hbt.submit_buy_order(0, bid_id, want_bid, qty, GTX, LIMIT, False)
            o = orders.get(ask_id) if ask_id else None
            if o is not None and (o.status == NEW or o.status == PARTIALLY_FILLED):
                if abs(o.price - want_ask) > tol_px and o.req == 0:
                    hbt.modify(0, ask_id, want_ask, qty, False)
            elif (o is None or o.req == 0) and qty - pos <= max_pos + 1e-12:
                ask_id = next_id
                next_id += 1
                hbt.submit_sell_order(0, ask_id, want_ask, qty, GTX, LIMIT, False)
        return n

    return maker


# -- the parent: prepare, interleave, report --------------------------------------------------


def child(kind: str, data: Path, instrument: Path, args: argparse.Namespace, configs: int) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--data", str(data),
           "--instrument", str(instrument), "--configs", str(configs),
           "--spread-bps", str(args.spread_bps), "--tolerance-bps", str(args.tolerance_bps),
           "--qty", args.qty, "--max-position", args.max_position]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def cli_cpu(data: Path, instrument: Path, args: argparse.Namespace) -> float:
    """CPU of `bybitctl mm backtest` as a user runs it (its whole process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    flags = []
    for key, value in config_values(args, args.spread_bps).items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + flag[2:])
        else:
            flags += [flag, str(value)]
    subprocess.run(
        [str(BIN / "bybitctl"), "mm", "backtest", "--data", str(data), "--instrument",
         str(instrument), "-o", "json", *flags],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def span(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recording", type=Path, help="use this recording instead of recording")
    parser.add_argument("--instrument", type=Path, help="its instruments-info row (JSON)")
    parser.add_argument("--record-seconds", type=float, default=300)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sweep", type=int, default=8, help="configurations per sweep replay")
    parser.add_argument("--spread-bps", type=float, default=1.0)
    parser.add_argument("--tolerance-bps", type=float, default=1.0)
    parser.add_argument("--qty", default="0.001")
    parser.add_argument("--max-position", default="0.01")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--work", type=Path, help="directory for the data (kept)")
    parser.add_argument("--child", choices=("ours", "hbt"), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--configs", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "ours":
        return child_ours(args)
    if args.child == "hbt":
        return child_hbt(args)

    work = args.work or Path(tempfile.mkdtemp(prefix="bt-vs-hbt-"))
    work.mkdir(parents=True, exist_ok=True)
    source, instrument = args.recording, args.instrument
    if source is None:
        source, instrument = work / "recorded.jsonl.gz", work / "instrument.json"
        if not source.exists():
            print(f"recording {args.record_seconds:.0f} s from the local exchange ...")
            record(args.record_seconds, source, instrument, args.seed)
    assert instrument is not None, "--recording needs --instrument"
    ours, theirs, npz = work / "tiled.jsonl.gz", work / "tiled.hbt.gz", work / "tiled.npz"
    if not npz.exists():
        frames = tile(source, args.hours, ours, theirs)
        import numpy as np
        from hftbacktest.data.utils import bybit

        converted = bybit.convert_depth(str(theirs), single_depth_level=50)
        np.savez_compressed(npz, data=converted)
        (work / "frames").write_text(str(frames))
    frames = int((work / "frames").read_text())
    load = [os.getloadavg()[0]]
    mine, peer, peer_load, cli, fills = [], [], [], [], {}
    for _ in range(args.rounds):
        a = child("ours", ours, instrument, args, 1)
        b = child("hbt", npz, instrument, args, 1)
        mine.append(a["cpu"])
        peer.append(b["cpu"])
        peer_load.append(b["cpu"] + b["load"])
        fills = {"ours": a["fills"][0], "hftbacktest": b["fills"][0]}
        cli.append(cli_cpu(ours, instrument, args))
        load.append(os.getloadavg()[0])
    sweep_mine, sweep_peer = [], []
    for _ in range(max(1, args.rounds // 2)):
        sweep_mine.append(child("ours", ours, instrument, args, args.sweep)["cpu"] / args.sweep)
        sweep_peer.append(child("hbt", npz, instrument, args, args.sweep)["cpu"] / args.sweep)
        load.append(os.getloadavg()[0])
    ratios = [m / p for m, p in zip(mine, peer, strict=True)]
    load_ratios = [m / p for m, p in zip(mine, peer_load, strict=True)]
    sweep_ratios = [m / p for m, p in zip(sweep_mine, sweep_peer, strict=True)]
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {min(load):.2f}-{max(load):.2f}")  # fmt: skip
    print(f"data: {frames} frames ({args.hours:g} h of {source.name}, tiled), {work}")
    print(f"{'':34}{'CPU s (min-max)':>18}{'median':>10}")
    rows = [
        ("hftbacktest 2.4.4 (numba)", peer),
        ("hftbacktest, loading its .npz too", peer_load),
        ("bybitctl replay", mine),
        ("bybitctl mm backtest (process)", cli),
        (f"hftbacktest, per config of {args.sweep}", sweep_peer),
        (f"bybitctl sweep, per config of {args.sweep}", sweep_mine),
    ]
    for name, values in rows:
        print(f"{name:34}{span(values):>18}{statistics.median(values):>10.2f}")
    print(f"ratio bybitctl / hftbacktest, per round: {span(ratios)}, "
          f"median {statistics.median(ratios):.1f}x")  # fmt: skip
    print(f"ratio to hftbacktest loading its .npz too: {span(load_ratios)}, "
          f"median {statistics.median(load_ratios):.1f}x")  # fmt: skip
    print(f"ratio in a sweep of {args.sweep}, per configuration: {span(sweep_ratios)}, "
          f"median {statistics.median(sweep_ratios):.1f}x")  # fmt: skip
    print(f"fills (sanity, not expected equal): {fills}")


if __name__ == "__main__":
    main()
