"""Public topics: who subscribed to what, and what each market step publishes to them.

Book deltas, trades, tickers, klines, liquidations, price limits and the insurance pools,
each at Bybit's pace, read from the core's engines and pushed to the core's listener.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NamedTuple

from bybitctl.sim.core.engine import Engine
from bybitctl.sim.core.exchange import Core
from bybitctl.sim.market.feeds import BookFeed
from bybitctl.sim.market.history import INTERVALS, History, candles, interval_start, rows
from bybitctl.sim.market.tickers import TickerFeed, price_limit_row

SPREAD_TOPICS = ("orderbook", "publicTrade", "tickers")
"""The spread channel's public topics (docs/v5/spread/websocket/public)."""
SPREAD_TRADE_KEYS = ("T", "s", "S", "v", "p", "L", "i", "seq")
"""Fields of a spread `publicTrade` item (no BT/RPI flags, unlike other categories)."""
TICKER_PUSH_MS = {"spot": 50, "linear": 100, "inverse": 100, "option": 100, "spread": 100}
"""Bybit's ticker push intervals per category."""
KLINE_PUSH_MS = 1000
"""Kline topics push the running candle at most this often (Bybit: every 1-60 s)."""
PRICE_LIMIT_PUSH_MS = 300
"""Bybit's `priceLimit.{symbol}` push frequency (docs/v5/websocket/public/order-price-limit)."""
INSURANCE_PUSH_MS = 1000
"""`insurance.{USDT,USDC}` push at most this often, and only pools that changed."""
INSURANCE_SHARE = Decimal("0.0005")
"""Share of a liquidation's value the pool keeps (the liquidation fee left after closing)."""
LT_TOPICS = ("kline_lt", "tickers_lt", "lt")
"""Retired leveraged-token topics pybit still offers; subscribing succeeds, nothing streams."""


class _Outlet(NamedTuple):
    """One book's public outputs, with the subscription keys `publish` checks on every step
    (built once: the books never change)."""

    key: tuple[str, str]
    feed: BookFeed
    ticker: TickerFeed
    trades: tuple[str, str]
    """(category, publicTrade topic): per symbol, or per base coin for options."""
    tickers: tuple[str, str]
    price_limit: tuple[str, str]
    ticker_ms: int


class PublicFeeds:
    """Every public topic of the core's books: subscriptions, snapshots and pushes."""

    def __init__(self, core: Core, histories: dict[str, History]) -> None:
        self.core = core
        self.engines = core.engines
        self.histories = histories
        self.subs: set[tuple[str, str]] = set()
        self.kline_subs: dict[tuple[str, str], tuple[Engine, str]] = {}
        self.kline_sent: dict[tuple[str, str], int] = {}
        self.kline_start: dict[tuple[str, str], int] = {}
        self.price_limit_sent: dict[tuple[str, str], int] = {}
        self.insurance = core.trading.insurance
        """Insurance pool per settle coin (the core's); liquidations feed it."""
        self.insurance_due: set[tuple[str, str]] = set()
        """(category, insurance topic) to push at the next insurance tick."""
        self.insurance_sent = 0
        self.feeds: dict[tuple[str, str], BookFeed] = {}
        self.tickers: dict[tuple[str, str], TickerFeed] = {}
        self._outlets: list[_Outlet] = []
        for key, eng in self.engines.items():
            eng.book.bids.dirty.clear()
            eng.book.asks.dirty.clear()
            feed = self.feeds[key] = BookFeed(eng)
            ticker = self.tickers[key] = TickerFeed(eng, core)
            cat, sym = key
            trades = f"publicTrade.{eng.inst.base if cat == 'option' else sym}"
            self._outlets.append(
                _Outlet(
                    key,
                    feed,
                    ticker,
                    (cat, trades),
                    (cat, f"tickers.{sym}"),
                    (cat, f"priceLimit.{sym}"),
                    TICKER_PUSH_MS[cat],
                )
            )

    def subscribe(self, category: str, topic: str, now: int) -> list[dict[str, Any]]:
        """Initial messages for a new subscriber; KeyError for a topic the exchange lacks."""
        kind, _, rest = topic.partition(".")
        if category == "spread" and kind not in SPREAD_TOPICS:
            raise KeyError(topic)
        if kind == "orderbook":
            name, _, sym = rest.partition(".")
            feed = self.feeds.get((category, sym))
            if feed is None or name not in feed.streams:
                raise KeyError(topic)
            pending, snap = feed.subscribe(name, now)
            self.emit(category, pending)
            self.subs.add((category, topic))
            return [snap]
        if kind == "kline":
            interval, _, sym = rest.partition(".")
            eng = self.engines.get((category, sym))
            if eng is None or (interval not in INTERVALS and interval != "M"):
                raise KeyError(topic)
            self.kline_subs[(category, topic)] = (eng, interval)
            self.kline_start[(category, topic)] = interval_start(interval, now)
            return [self._kline_message(eng, interval, topic, now)]
        if kind == "publicTrade" and category == "option":
            # option trades stream per base coin (publicTrade.BTC)
            if not any(c == "option" and e.inst.base == rest for (c, _), e in self.engines.items()):
                raise KeyError(topic)
            self.subs.add((category, topic))
            return []
        if kind in ("publicTrade", "tickers", "allLiquidation", "liquidation", "priceLimit"):
            eng = self.engines.get((category, rest))
            if eng is None:
                raise KeyError(topic)
            self.subs.add((category, topic))
            if kind == "tickers":
                return [self.tickers[(category, rest)].snapshot(now)]
            if kind == "priceLimit":
                self.price_limit_sent[(category, rest)] = now
                row = price_limit_row(eng)
                return [{"topic": topic, "data": row, "ts": now}]
            return []
        if kind == "insurance" and rest in self.insurance:
            # the first push (every pool of the coin) comes at the next insurance tick
            self.subs.add((category, topic))
            self.insurance_due.add((category, topic))
            return []
        if (
            (kind == "insurance" and rest == "inverse")
            or topic == "system.status"
            or (kind in LT_TOPICS and category == "spot")
        ):
            # accepted, and quiet: no maintenance, no insurance moves, no leveraged tokens
            self.subs.add((category, topic))
            return []
        raise KeyError(topic)

    def unsubscribe(self, category: str, topic: str) -> None:
        self.subs.discard((category, topic))
        self.kline_subs.pop((category, topic), None)
        kind, _, rest = topic.partition(".")
        if kind == "orderbook":
            name, _, sym = rest.partition(".")
            feed = self.feeds.get((category, sym))
            if feed is not None:
                feed.stop(name)

    def publish(self, now: int) -> None:
        """Push what changed since the last step to the topics' subscribers."""
        subs = self.subs
        for key, feed, tfeed, trades, tickers, price_limit, ticker_ms in self._outlets:
            cat = key[0]
            self.emit(cat, feed.flush(now))
            eng = feed.eng
            if eng.pending:
                if trades in subs:
                    topic, data = trades[1], eng.pending
                    if cat == "spread":
                        data = [{k: t[k] for k in SPREAD_TRADE_KEYS} for t in data]
                    self.core.listener.on_public(
                        cat, topic, {"topic": topic, "type": "snapshot", "ts": now, "data": data}
                    )
                eng.pending = []
            if tickers in subs and now - tfeed.sent >= ticker_ms:
                msg = tfeed.update(now)
                if msg is not None:
                    self.core.listener.on_public(cat, tickers[1], msg)
            liqs = eng.liquidations
            if liqs:
                self._publish_liquidations(cat, eng, now)
                liqs.clear()
            if (
                price_limit in subs
                and now - self.price_limit_sent.get(key, 0) >= PRICE_LIMIT_PUSH_MS
            ):
                self.price_limit_sent[key] = now
                topic = price_limit[1]
                msg = {"topic": topic, "data": price_limit_row(eng), "ts": now}
                self.core.listener.on_public(cat, topic, msg)
        if self.insurance_due and now - self.insurance_sent >= INSURANCE_PUSH_MS:
            self._publish_insurance(now)
        for key, (eng, interval) in self.kline_subs.items():
            start = interval_start(interval, now)
            rolled = start != self.kline_start.get(key, start)
            if rolled or now - self.kline_sent.get(key, 0) >= KLINE_PUSH_MS:
                self.kline_sent[key], self.kline_start[key] = now, start
                msg = self._kline_message(eng, interval, key[1], now, closed=rolled)
                self.core.listener.on_public(key[0], key[1], msg)

    def insurance_pools(self, coin: str, now: int) -> list[dict[str, Any]]:
        """The pools of `coin`: one shared by its linear symbols (as `/v5/market/insurance`)."""
        syms = ",".join(
            s for (c, s), e in self.engines.items() if c == "linear" and e.inst.settle == coin
        )
        if not syms:
            return []
        bal = str(self.insurance[coin].quantize(Decimal("0.00000001")))
        return [{"coin": coin, "symbols": syms, "balance": bal, "updateTime": str(now)}]

    def _publish_insurance(self, now: int) -> None:
        self.insurance_sent = now
        for cat, topic in self.insurance_due:
            if (cat, topic) in self.subs:
                data = self.insurance_pools(topic.partition(".")[2], now)
                if data:
                    msg = {"topic": topic, "type": "delta", "ts": now, "data": data}
                    self.core.listener.on_public(cat, topic, msg)
        self.insurance_due.clear()

    def _publish_liquidations(self, cat: str, eng: Engine, now: int) -> None:
        """allLiquidation batches the records; the retired `liquidation` topic (still in
        pybit) carried one record per message, as an object. A linear liquidation feeds its
        coin's insurance pool."""
        inst = eng.inst
        if cat == "linear" and inst.settle in self.insurance:
            crowd = (inst.value(p, n) for _, n, p, by_crowd in eng.liquidations if by_crowd)
            self.insurance[inst.settle] += sum(crowd) * INSURANCE_SHARE
            topic = f"insurance.{inst.settle}"
            for c in ("linear", "inverse", "spot"):
                if (c, topic) in self.subs:
                    self.insurance_due.add((c, topic))
        data = [
            {"T": now, "s": inst.symbol, "S": s, "v": inst.qty_str(n), "p": inst.price_str(p)}
            for s, n, p, _ in eng.liquidations
        ]
        topic = f"allLiquidation.{inst.symbol}"
        if (cat, topic) in self.subs:
            msg = {"topic": topic, "type": "snapshot", "ts": now, "data": data}
            self.core.listener.on_public(cat, topic, msg)
        topic = f"liquidation.{inst.symbol}"
        if (cat, topic) in self.subs:
            for d in data:
                one = {"updatedTime": now, "symbol": d["s"], "side": d["S"], "size": d["v"],
                       "price": d["p"]}  # fmt: skip
                msg = {"topic": topic, "type": "snapshot", "ts": now, "data": one}
                self.core.listener.on_public(cat, topic, msg)

    def emit(self, category: str, msgs: list[tuple[str, dict[str, Any]]]) -> None:
        subs, on_public = self.subs, self.core.listener.on_public
        for topic, msg in msgs:
            if (category, topic) in subs:
                on_public(category, topic, msg)

    def _kline_message(
        self, eng: Engine, interval: str, topic: str, now: int, closed: bool = False
    ) -> dict[str, Any]:
        """The running candle; with `closed`, the one that just ended first (confirm: true)."""
        hist = self.histories[eng.inst.base]
        data = candles(eng, hist, interval, None, now, 2 if closed else 1, now)
        items = []
        for row, raw in reversed(list(zip(rows(eng, data, "trade"), data, strict=True))):
            s = raw[0]
            end = s + INTERVALS.get(interval, 0) - 1
            if interval == "M":
                end = interval_start("M", s + 32 * 86_400_000) - 1
            items.append(
                {
                    "start": s,
                    "end": end,
                    "interval": interval,
                    "open": row[1],
                    "close": row[4],
                    "high": row[2],
                    "low": row[3],
                    "volume": row[5],
                    "turnover": row[6],
                    "confirm": s != data[0][0],
                    "timestamp": now,
                }
            )
        return {"topic": topic, "type": "snapshot", "ts": now, "data": items}
