"""Throughput of the local exchange's network layer, on one pinned core.

    .venv/bin/python benchmarks/sim_bench.py [--seconds 5] [--concurrency 32] [--subscribers 10]

Prints, each next to a baseline measured in the same run on the same core:
- signed REST requests/s: `bybitctl sim serve` (real core, rate limits off) in a subprocess
  pinned with `taskset -c 0`, driven by concurrent keep-alive loopback connections from another
  core, every request signed as pybit signs it; baseline: a bare aiohttp app answering a fixed
  JSON body. Also the server's CPU per request, and its idle load (the market ticking).
- WebSocket book messages/s delivered across N subscribers of one orderbook topic: the
  exchange around a core that publishes deltas as fast as the server lets it (so the figure is
  the network layer's fan-out capacity, not the synthetic market's pace).
Targets: >= 2,000 signed requests/s and >= 20,000 book messages/s.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parents[1]
SERVE_REST = "import sys; from bybitctl.commands.sim import app; app(['serve', *sys.argv[1:]])"


def pinned(args: list[str], core: int) -> list[str]:
    """Prefix `taskset -c CORE` when available, so the server gets exactly one core."""
    return ["taskset", "-c", str(core), *args] if shutil.which("taskset") else args


def pin_self(core: int) -> None:
    """Keep the client off the server's core where the OS allows it."""
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {core})


def start_server(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        pinned([sys.executable, *args], 0),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **env},
        cwd=ROOT,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process so far (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_server(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=20)


async def drive_rest(
    base_url: str,
    path: str,
    query: str,
    keys: dict[str, str] | None,
    seconds: float,
    n: int,
    pid: int,
) -> tuple[float, float]:
    """Requests/s from `n` concurrent keep-alive loopback connections, each request freshly
    signed as pybit signs it. A minimal HTTP/1.1 client on asyncio streams (one request in
    flight per connection, no pipelining) keeps the client's own cost small next to the
    server's, so the figure is the server's."""
    host, port = base_url.removeprefix("http://").split(":")
    target = f"{path}?{query}" if query else path
    done = 0
    failed = 0
    deadline = 0.0

    def request() -> bytes:
        lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}", "Accept: application/json"]
        if keys is not None:
            ts = str(int(time.time() * 1000))
            payload = f"{ts}{keys['api_key']}5000{query}".encode()
            sign = hmac.new(keys["api_secret"].encode(), payload, hashlib.sha256).hexdigest()
            lines += [
                f"X-BAPI-API-KEY: {keys['api_key']}",
                f"X-BAPI-SIGN: {sign}",
                f"X-BAPI-TIMESTAMP: {ts}",
                "X-BAPI-RECV-WINDOW: 5000",
            ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def worker() -> None:
        nonlocal done, failed
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < deadline:
                writer.write(request())
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
                if head.startswith(b"HTTP/1.1 200") and orjson.loads(body).get("retCode") == 0:
                    done += 1
                else:
                    failed += 1
        finally:
            writer.close()

    deadline = time.perf_counter() + 0.5
    await asyncio.gather(*(worker() for _ in range(n)))  # warm-up
    done = failed = 0
    cpu = cpu_seconds(pid)
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(worker() for _ in range(n)))
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds(pid) - cpu
    if failed:
        raise SystemExit(f"{failed} requests failed during the benchmark")
    return done / elapsed, cpu / done * 1e6


async def drive_ws(
    url: str, topic: str, subscribers: int, seconds: float, pid: int
) -> tuple[float, float]:
    """Book messages/s received in total by `subscribers` clients of one topic, and the
    server's CPU microseconds per delivered message (its firehose core included)."""
    counts = [0] * subscribers
    counting = False

    async def reader(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if counting and msg.type == aiohttp.WSMsgType.TEXT:
                counts[i] += 1

    async with aiohttp.ClientSession() as session:
        sockets = [await session.ws_connect(url, max_msg_size=0) for _ in range(subscribers)]
        for ws in sockets:
            await ws.send_str(json.dumps({"op": "subscribe", "args": [topic]}))
        tasks = [asyncio.create_task(reader(i, ws)) for i, ws in enumerate(sockets)]
        await asyncio.sleep(1.0)
        counting = True
        cpu = cpu_seconds(pid)
        start = time.perf_counter()
        await asyncio.sleep(seconds)
        total = sum(counts)
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds(pid) - cpu
        for ws in sockets:
            await ws.close()
        for task in tasks:
            task.cancel()
    return total / elapsed, cpu / max(total, 1) * 1e6


class FirehoseCore:
    """A core whose every `step` publishes `burst` realistic orderbook deltas for one topic."""

    def __init__(self, burst: int) -> None:
        self.burst = burst
        self.listener: Any = None
        self.active: set[tuple[str, str]] = set()
        self.u = 1

    def set_listener(self, listener: Any) -> None:
        self.listener = listener

    def ensure_account(self, account: str) -> None:
        pass

    def handle(self, method: str, path: str, params: dict[str, Any], account: str | None) -> None:
        return None

    def trade_op(self, op: str, args: list[dict[str, Any]], account: str) -> dict[str, Any]:
        return {"retCode": 0, "retMsg": "OK", "data": {}, "retExtInfo": {}}

    def _data(self) -> dict[str, Any]:
        px = 65000 + self.u % 50
        bids = [[f"{px - i}.10", f"{(self.u + i) % 7 + 0.001:.3f}"] for i in range(3)]
        asks = [[f"{px + i}.20", f"{(self.u * i) % 5 + 0.002:.3f}"] for i in range(3)]
        return {"s": "BTCUSDT", "b": bids, "a": asks, "u": self.u, "seq": 10_000_000 + self.u}

    def subscribe_public(self, category: str, topic: str) -> list[dict[str, Any]]:
        if topic != "orderbook.50.BTCUSDT":
            raise KeyError(topic)
        self.active.add((category, topic))
        return [{"topic": topic, "type": "snapshot", "ts": 0, "data": self._data(), "cts": 0}]

    def unsubscribe_public(self, category: str, topic: str) -> None:
        self.active.discard((category, topic))

    def step(self, now_ms: int) -> None:
        for category, topic in self.active:
            for _ in range(self.burst):
                self.u += 1
                message = {"topic": topic, "type": "delta", "ts": now_ms, "data": self._data()}
                message["cts"] = now_ms
                self.listener.on_public(category, topic, message)

    def dcp_connected(self, account: str, product: str) -> None:
        pass

    def dcp_disconnected(self, account: str, product: str, now_ms: int) -> None:
        pass

    def close(self) -> None:
        pass


def serve_firehose(burst: int) -> None:
    """Subprocess mode: the exchange around `FirehoseCore`, URL on stdout, until stdin closes."""
    from bybitctl.sim import running_exchange

    with running_exchange(core=FirehoseCore(burst), rate_limits=False) as ex:
        print(ex.ws_base, flush=True)
        sys.stdin.read()


def serve_baseline() -> None:
    """Subprocess mode: a bare aiohttp app with one fixed JSON answer (the REST baseline)."""
    from aiohttp import web

    body = orjson.dumps({"retCode": 0, "retMsg": "OK", "result": {}, "retExtInfo": {}, "time": 0})

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(f"http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--burst", type=int, default=200, help="deltas per 25 ms step")
    parser.add_argument("--mode", choices=("bench", "firehose", "baseline"), default="bench")
    args = parser.parse_args()
    if args.mode == "firehose":
        serve_firehose(args.burst)
        return
    if args.mode == "baseline":
        serve_baseline()
        return
    pin_self(1)
    print(f"cpus: {os.cpu_count()}; server pinned to core 0: {bool(shutil.which('taskset'))}")
    n, secs = args.concurrency, args.seconds
    with tempfile.TemporaryDirectory() as tmp:
        env = {"XDG_DATA_HOME": tmp, "XDG_CONFIG_HOME": tmp, "HOME": tmp}
        proc, base = start_server([__file__, "--mode", "baseline"], env)
        try:
            baseline = asyncio.run(drive_rest(base, "/x", "", None, secs, n, proc.pid))
        finally:
            stop_server(proc)
        serve = ["-c", SERVE_REST, "--no-rate-limits", "--no-profile"]
        proc, base = start_server(serve, env)
        try:
            time.sleep(1.0)
            idle = cpu_seconds(proc.pid)
            time.sleep(secs)
            idle = (cpu_seconds(proc.pid) - idle) / secs
            keys = json.loads((Path(tmp) / "bybitctl" / "sim-keys.json").read_text())
            query = "category=linear&symbol=BTCUSDT"
            modelled = asyncio.run(
                drive_rest(base, "/v5/position/list", query, keys, secs, n, proc.pid)
            )
            example = asyncio.run(
                drive_rest(base, "/v5/account/smp-group", "", keys, secs, n, proc.pid)
            )
        finally:
            stop_server(proc)
    rows = [
        ("baseline: bare aiohttp, fixed JSON, unsigned", baseline),
        ("signed GET /v5/position/list (core)", modelled),
        ("signed GET /v5/account/smp-group (example)", example),
    ]
    print(f"REST idle server load (synthetic market ticking every 25 ms): {idle:.0%} of a core")
    print("REST columns: wall-clock rate (core 0 is shared with whatever else runs), ratio to")
    print("  the baseline, server CPU per request (idle ticking included), and the capacity of")
    print("  one core: the CPU left after ticking over the marginal cost per request")
    for label, (rate, cpu_us) in rows:
        ticking = idle if label.startswith("signed") else 0.0
        marginal = cpu_us - ticking * 1e6 / rate
        capacity = (1 - ticking) * 1e6 / marginal
        print(
            f"REST {label:<46} {rate:7.0f} req/s  {rate / baseline[0]:4.2f}x"
            f"  {cpu_us:4.0f} us CPU/req  capacity {capacity:6.0f} req/s/core"
        )
    print("REST target: >= 2000 signed req/s on one core")
    firehose = subprocess.Popen(
        pinned([sys.executable, __file__, "--mode", "firehose", "--burst", str(args.burst)], 0),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert firehose.stdout is not None and firehose.stdin is not None
    ws_base = firehose.stdout.readline().strip()
    try:
        rate, cpu_us = asyncio.run(
            drive_ws(
                f"{ws_base}/v5/public/linear",
                "orderbook.50.BTCUSDT",
                args.subscribers,
                args.seconds,
                firehose.pid,
            )
        )
    finally:
        firehose.stdin.close()
        firehose.wait(timeout=20)
    offered = args.burst * 40 * args.subscribers
    print(
        f"WS book messages delivered across {args.subscribers} subscribers: {rate:7.0f} msg/s"
        f"  (offered <= {offered}/s)  {cpu_us:4.1f} us CPU/msg"
        f"  capacity {1e6 / cpu_us:6.0f} msg/s/core"
    )
    print("WS target: >= 20000 book messages/s across 10 subscribers")


if __name__ == "__main__":
    main()
