"""ccxt.pro's bybit class (WebSockets), unmodified, against the local exchange."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import ccxt.pro as pro

from bybitctl.testing import LocalBybit

from .conftest import run

PERP = "BTC/USDT:USDT"


def test_public_streams(shared: LocalBybit) -> None:
    async def go() -> None:
        ex = pro.bybit(shared.ccxt_config())
        try:
            book = await ex.watch_order_book(PERP, 50)
            assert book["bids"][0][0] < book["asks"][0][0] and len(book["bids"]) == 50
            book = await ex.watch_order_book(PERP, 50)  # a delta applied on the snapshot
            assert book["timestamp"] and book["bids"][0][0] < book["asks"][0][0]
            ticker = await ex.watch_ticker(PERP)
            assert ticker["last"] > 0
            trades = await ex.watch_trades(PERP)
            assert trades and trades[0]["symbol"] == PERP
            candles = await ex.watch_ohlcv(PERP, "1m")
            assert candles[-1][4] > 0
        finally:
            await ex.close()

    run(go())


async def until(watch: Callable[[], Awaitable[Any]], done: Callable[[], bool]) -> None:
    """Keep a watch pending until ccxt's caches (which take every update, awaited or not)
    satisfy `done`; bounded, and woken by each update."""
    pending: asyncio.Future[Any] | None = None
    for _ in range(100):
        if pending is None or pending.done():
            pending = asyncio.ensure_future(watch())
        if done():
            pending.cancel()
            return
        await asyncio.wait({pending}, timeout=0.2)
    raise AssertionError("the awaited update never came")


async def subscribed(ex: pro.bybit) -> None:
    """Wait until the order stream delivers: a resting probe order is pushed once the
    subscriptions sent before it are in (each retry waits for a push, not a fixed time)."""
    last = (await ex.fetch_ticker(PERP))["last"]
    for _ in range(20):
        watcher = asyncio.ensure_future(ex.watch_orders(PERP))
        probe = await ex.create_order(PERP, "limit", "buy", 0.01, round(last * 0.9, 1))
        try:
            await asyncio.wait_for(watcher, 1.0)
            return
        except TimeoutError:
            continue
        finally:
            await ex.cancel_order(probe["id"], PERP)
    raise AssertionError("no order push after 20 probes")


def test_private_streams_and_order_entry(shared: LocalBybit) -> None:
    async def go() -> None:
        ex = pro.bybit(shared.ccxt_config())
        try:
            await ex.watch_positions([PERP])  # the snapshot, fetched over REST
            # subscribe every private stream, then wait until they are all in
            streams = (ex.watch_my_trades(PERP), ex.watch_positions([PERP]), ex.watch_balance())
            early = [asyncio.ensure_future(w) for w in streams]
            await subscribed(ex)
            for pending in early:
                pending.cancel()
            placed = await ex.create_order_ws(PERP, "market", "buy", 0.01)
            mine = placed["id"]
            await until(
                lambda: ex.watch_orders(PERP),
                lambda: any(o["id"] == mine and o["status"] == "closed" for o in ex.orders or ()),
            )
            await until(
                lambda: ex.watch_my_trades(PERP),
                lambda: any(t["order"] == mine for t in ex.myTrades or ()),
            )
            await until(
                lambda: ex.watch_positions([PERP]),
                lambda: any(p["contracts"] >= 0.01 for p in ex.positions or ()),
            )
            # the wallet push of the fill, kept per account type
            await until(ex.watch_balance, lambda: any(
                isinstance(b, dict) and (b.get("USDT") or {}).get("total", 0) > 0
                for b in (ex.balance or {}).values()))  # fmt: skip
            last = (await ex.fetch_ticker(PERP))["last"]
            resting = await ex.create_order_ws(PERP, "limit", "buy", 0.01, round(last * 0.97, 1))
            await ex.edit_order_ws(resting["id"], PERP, "limit", "buy", 0.01, round(last * 0.96, 1))
            await ex.cancel_order_ws(resting["id"], PERP)
            canceled = await ex.fetch_canceled_orders(PERP)
            assert any(o["id"] == resting["id"] and o["price"] == round(last * 0.96, 1)
                       for o in canceled)  # fmt: skip
        finally:
            await ex.close()

    run(go())
