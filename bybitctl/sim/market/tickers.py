"""Ticker rows for REST `/v5/market/tickers` and the `tickers.{symbol}` stream.

Derivative tickers stream as a snapshot then deltas holding only the fields that changed;
spot, option and spread tickers are snapshot-only, as on Bybit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bybitctl.sim.core.desk import PRICE_BAND
from bybitctl.sim.core.engine import Engine
from bybitctl.sim.core.orders import fmt
from bybitctl.sim.market.synthetic import OptionPath

if TYPE_CHECKING:
    from bybitctl.sim.core.exchange import Core


def ticker(eng: Engine, ex: Core, now: int) -> dict[str, Any]:
    """One ticker row in the category's shape."""
    inst, book = eng.inst, eng.book
    bb, ba = book.bids.best(), book.asks.best()
    if inst.category == "spread":
        return _spread(eng, bb, ba)
    last = eng.last_price
    prev = eng.open_price or last
    pcnt = Decimal(last - prev) / Decimal(prev) if prev else Decimal(0)
    common = {
        "symbol": inst.symbol,
        "lastPrice": inst.price_str(last),
        "prevPrice24h": inst.price_str(prev),
        "price24hPcnt": fmt(pcnt.quantize(Decimal("0.000001"))),
        "highPrice24h": inst.price_str(eng.high),
        "lowPrice24h": inst.price_str(eng.low),
        "turnover24h": fmt(eng.turnover.quantize(Decimal("0.0001"))),
        "volume24h": inst.qty_str(eng.volume),
    }
    bid = {
        "bid1Price": inst.price_str(bb) if bb is not None else "",
        "bid1Size": inst.qty_str(book.bids.qty_at(bb)) if bb is not None else "",
        "ask1Price": inst.price_str(ba) if ba is not None else "",
        "ask1Size": inst.qty_str(book.asks.qty_at(ba)) if ba is not None else "",
    }
    if inst.category == "spot":
        return {**common, **bid, "usdIndexPrice": fmt(ex.usd.get(inst.base, Decimal(0)))}
    if inst.category == "option":
        return _option(eng, ex, bid, common)
    mark = Decimal(repr(eng.market.path.price)).quantize(inst.tick)
    oi = sum(
        abs(p.size) for a in ex.accounts.values() for p in a.positions.values() if p.inst is inst
    )
    oi_dec = inst.qty_dec(oi) + inst.qty_dec(eng.market.level_lots * 500)
    oi_value = oi_dec * mark if not inst.inverse else oi_dec / mark
    return {
        **common,
        "tickDirection": eng.tick_direction,
        "prevPrice1h": inst.price_str(prev),
        "markPrice": fmt(mark),
        "indexPrice": fmt(mark),
        "openInterest": fmt(oi_dec),
        "openInterestValue": fmt(oi_value.quantize(Decimal("0.01"))),
        "fundingRate": fmt(ex.funding_rate(inst.symbol, ex.next_funding)),
        "nextFundingTime": str(ex.next_funding),
        "predictedDeliveryPrice": "",
        "basisRate": "",
        "basis": "",
        "deliveryFeeRate": "",
        "deliveryTime": "0",
        **bid,
        "preOpenPrice": "",
        "preQty": "",
        "curPreListingPhase": "",
        "fundingIntervalHour": str(max(1, ex.funding_interval // 3_600_000)),
        "fundingCap": "0.005",
        "basisRateYear": "",
    }


def _option(eng: Engine, ex: Core, bid: dict[str, str], common: dict[str, str]) -> dict[str, Any]:
    """Option tickers carry IVs and greeks (Black-Scholes at the book's implied vol)."""
    path = eng.market.path
    assert isinstance(path, OptionPath)
    g = path.greeks()
    under = fmt(Decimal(repr(path.underlying.price)).quantize(Decimal("0.01")))
    iv = f"{g['iv']:.4f}"
    return {
        "symbol": common["symbol"],
        "bidPrice": bid["bid1Price"] or "0",
        "bidSize": bid["bid1Size"] or "0",
        "bidIv": iv,
        "askPrice": bid["ask1Price"] or "0",
        "askSize": bid["ask1Size"] or "0",
        "askIv": iv,
        "lastPrice": common["lastPrice"],
        "highPrice24h": common["highPrice24h"],
        "lowPrice24h": common["lowPrice24h"],
        "markPrice": f"{g['price']:.8f}",
        "indexPrice": under,
        "markPriceIv": iv,
        "underlyingPrice": under,
        "openInterest": "0",
        "turnover24h": common["turnover24h"],
        "volume24h": common["volume24h"],
        "totalVolume": common["volume24h"],
        "totalTurnover": common["turnover24h"],
        "delta": f"{g['delta']:.8f}",
        "gamma": f"{g['gamma']:.8f}",
        "vega": f"{g['vega']:.8f}",
        "theta": f"{g['theta']:.8f}",
        "predictedDeliveryPrice": "0",
        "change24h": common["price24hPcnt"],
    }


def _spread(eng: Engine, bb: int | None, ba: int | None) -> dict[str, Any]:
    """A spread ticker (docs/v5/spread/websocket/public/ticker): touch, last and 24h figures."""
    inst, book = eng.inst, eng.book
    return {
        "symbol": inst.symbol,
        "bidPrice": inst.price_str(bb) if bb is not None else "",
        "bidSize": inst.qty_str(book.bids.qty_at(bb)) if bb is not None else "",
        "askPrice": inst.price_str(ba) if ba is not None else "",
        "askSize": inst.qty_str(book.asks.qty_at(ba)) if ba is not None else "",
        "lastPrice": inst.price_str(eng.last_price),
        "highPrice24h": inst.price_str(eng.high),
        "lowPrice24h": inst.price_str(eng.low),
        "prevPrice24h": inst.price_str(eng.open_price or eng.last_price),
        "volume24h": inst.qty_str(eng.volume),
    }


_REST_OPTION = {
    "bidPrice": "bid1Price",
    "bidSize": "bid1Size",
    "bidIv": "bid1Iv",
    "askPrice": "ask1Price",
    "askSize": "ask1Size",
    "askIv": "ask1Iv",
    "markPriceIv": "markIv",
}
"""REST option tickers name the touch and the IVs as Bybit's REST does (`bid1Price`,
`markIv`); the `tickers` stream keeps the WebSocket names."""


def rest_row(row: dict[str, Any], category: str) -> dict[str, Any]:
    """A ticker row as `/v5/market/tickers` shows it."""
    if category != "option":
        return row
    return {_REST_OPTION.get(k, k): v for k, v in row.items()}


SNAPSHOT_ONLY = ("spot", "option", "spread")
"""Categories whose tickers stream snapshots only."""


class TickerFeed:
    """Remembers the last published ticker so the next push can be a delta."""

    def __init__(self, eng: Engine, ex: Core) -> None:
        self.eng = eng
        self.ex = ex
        self.last: dict[str, Any] = {}
        self.topic = f"tickers.{eng.inst.symbol}"
        self.sent = 0
        """When the last push was built (ms), to keep to Bybit's push interval."""

    def _envelope(self, kind: str, data: dict[str, Any], now: int) -> dict[str, Any]:
        if self.eng.inst.category == "spread":
            return {"topic": self.topic, "ts": now, "type": kind, "data": data}
        return {"topic": self.topic, "type": kind, "data": data, "cs": self.eng.book.seq, "ts": now}

    def snapshot(self, now: int) -> dict[str, Any]:
        self.last = ticker(self.eng, self.ex, now)
        self.sent = now
        return self._envelope("snapshot", self.last, now)

    def update(self, now: int) -> dict[str, Any] | None:
        """The next push, or None when nothing changed."""
        cur = ticker(self.eng, self.ex, now)
        self.sent = now
        if self.eng.inst.category in SNAPSHOT_ONLY:
            if cur == self.last:
                return None
            self.last = cur
            return self._envelope("snapshot", cur, now)
        delta = {k: v for k, v in cur.items() if self.last.get(k) != v}
        if not delta:
            return None
        self.last = cur
        delta["symbol"] = cur["symbol"]
        return self._envelope("delta", delta, now)


def price_limit_row(eng: Engine) -> dict[str, Any]:
    """The price band orders of `eng` must keep to (`priceLimit` topic and REST route)."""
    inst = eng.inst
    fair = Decimal(repr(eng.market.path.price))
    return {
        "symbol": inst.symbol,
        "buyLmt": inst.price_str(int(fair * (1 + PRICE_BAND) / inst.tick)),
        "sellLmt": inst.price_str(int(fair * (1 - PRICE_BAND) / inst.tick) + 1),
    }
