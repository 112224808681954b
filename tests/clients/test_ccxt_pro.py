"""ccxt.pro's bybit class (WebSockets), unmodified, against the local exchange."""

from __future__ import annotations

import asyncio

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


def test_private_streams_and_order_entry(shared: LocalBybit) -> None:
    async def go() -> None:
        ex = pro.bybit(shared.ccxt_config())
        try:
            await ex.watch_positions([PERP])  # the snapshot, fetched over REST
            balance = asyncio.ensure_future(ex.watch_balance())
            orders = asyncio.ensure_future(ex.watch_orders(PERP))
            fills = asyncio.ensure_future(ex.watch_my_trades(PERP))
            positions = asyncio.ensure_future(ex.watch_positions([PERP]))
            await asyncio.sleep(0.5)  # the subscriptions are in
            placed = await ex.create_order_ws(PERP, "market", "buy", 0.01)
            got = await orders
            assert any(o["id"] == placed["id"] and o["status"] == "closed" for o in got)
            assert any(t["order"] == placed["id"] for t in await fills)
            assert (await balance)["USDT"]["total"] > 0
            assert (await positions)[0]["contracts"] >= 0.01
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
