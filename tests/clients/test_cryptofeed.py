"""cryptofeed's Bybit feed, unmodified, against the local exchange (which it reaches over
wss:// only: the exchange serves TLS with a self-signed certificate)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from cryptofeed import FeedHandler
from cryptofeed.connection import RestEndpoint, WebsocketEndpoint
from cryptofeed.defines import CANDLES, L2_BOOK, TICKER, TRADES
from cryptofeed.exchanges import Bybit

from bybitctl.testing import LocalBybit, start_local_bybit

CHANNELS = (L2_BOOK, TRADES, TICKER, CANDLES)


@pytest.fixture(scope="module")
def tls_exchange() -> Iterator[LocalBybit]:
    with start_local_bybit(tls=True, seed=5) as ex:
        yield ex


def local_feed(ex: LocalBybit) -> type[Bybit]:
    """cryptofeed's Bybit with its endpoints (class attributes) pointed at `ex`."""
    linear, spot = Bybit.websocket_endpoints[0], Bybit.websocket_endpoints[1]
    opts = {"compression": None, "ssl": ex.tls}

    class LocalFeed(Bybit):
        websocket_endpoints: ClassVar[list[WebsocketEndpoint]] = [
            WebsocketEndpoint(ex.ws_public("linear"), instrument_filter=linear.instrument_filter,
                              channel_filter=linear.channel_filter, options=opts),
            WebsocketEndpoint(ex.ws_public("spot"), instrument_filter=spot.instrument_filter,
                              channel_filter=spot.channel_filter, options=opts),
        ]  # fmt: skip
        rest_endpoints: ClassVar[list[RestEndpoint]] = [
            RestEndpoint(ex.base_url, routes=Bybit.rest_endpoints[0].routes)
        ]

    return LocalFeed


def test_books_trades_tickers_candles(
    tls_exchange: LocalBybit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # cryptofeed reads the instruments with `requests`, which trusts this bundle
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_exchange.cafile))
    seen: dict[tuple[str, str], Any] = {}
    done = asyncio.Event()
    symbols = ("BTC-USDT-PERP", "BTC-USDT")

    async def callback(obj: Any, receipt: float) -> None:
        seen.setdefault((type(obj).__name__, obj.symbol), obj)
        kinds = {"OrderBook", "Trade", "Candle"}
        if all((k, s) in seen for k in kinds for s in symbols) and ("Ticker", symbols[0]) in seen:
            done.set()

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})
    feed = local_feed(tls_exchange)(
        symbols=list(symbols),
        channels=list(CHANNELS),
        callbacks=dict.fromkeys(CHANNELS, callback),
        candle_closed_only=False,
    )
    handler.add_feed(feed)
    try:
        handler.run(start_loop=False, install_signal_handlers=False)
        loop.run_until_complete(asyncio.wait_for(done.wait(), 30))
    finally:
        handler.stop(loop)
        loop.close()
        asyncio.set_event_loop(None)
    book = seen[("OrderBook", "BTC-USDT-PERP")].book
    best_bid, best_ask = book.bids.index(0)[0], book.asks.index(0)[0]
    assert 0 < best_bid < best_ask
    ticker = seen[("Ticker", "BTC-USDT-PERP")]
    assert ticker.bid < ticker.ask
    assert seen[("Trade", "BTC-USDT")].price > 0
    assert seen[("Candle", "BTC-USDT-PERP")].interval == "1m"
