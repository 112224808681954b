"""The synchronous core of the local exchange, behind the `ExchangeCore` protocol.

`Exchange` ties together instruments, one synthetic market and matching engine per book,
accounts and the public feeds. The network layer calls it from one thread: `handle` for
REST, `trade_op` for the trade WebSocket, `subscribe_public` for public topics and `step`
on a timer. Each call ends by flushing what changed: private pushes (one message per topic
and category), public trades, and the SQLite state when a state file is used.
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from bybitctl.sim.api import routes_account, routes_market, routes_trade
from bybitctl.sim.core.accounts import INITIAL_BALANCES, Account
from bybitctl.sim.core.book import Book
from bybitctl.sim.core.desk import Ids
from bybitctl.sim.core.engine import Engine
from bybitctl.sim.core.entry import Trading
from bybitctl.sim.core.errors import ApiError
from bybitctl.sim.core.instruments import Catalogue, build_catalogue
from bybitctl.sim.core.outbox import Outbox
from bybitctl.sim.core.ports import Listener
from bybitctl.sim.market.feeds import BookFeed
from bybitctl.sim.market.history import INTERVALS, History, candles, interval_start, rows
from bybitctl.sim.market.replay import Replay, apply_book, apply_trades, recorded_mid, stream_depth
from bybitctl.sim.market.synthetic import MAX_DT_S, OptionPath, PricePath, SyntheticMarket
from bybitctl.sim.market.tickers import TickerFeed
from bybitctl.sim.store.state import Store

Route = Callable[["Exchange", dict[str, Any], Account | None], Any]

OPTION_DEPTH = 100
"""Synthetic levels per side of an option book (its deepest stream is orderbook.100)."""
OPTION_STEP_MS = 200
"""Option books move at most this often (Bybit pushes orderbook.100 every 100 ms)."""
SPREAD_DEPTH = 50
"""Synthetic levels per side of a spread book (its only stream is orderbook.25)."""
SPREAD_STEP_MS = 100
"""Spread books move at most this often, so a few of them cost `step` little."""
SPREAD_VOL = 3.0
"""Annual volatility of a spread's basis relative to its level: a basis moves much more, in
proportion, than its coin."""
SPREAD_TOPICS = ("orderbook", "publicTrade", "tickers")
"""The spread channel's public topics (docs/v5/spread/websocket/public)."""
SPREAD_TRADE_KEYS = ("T", "s", "S", "v", "p", "L", "i", "seq")
"""Fields of a spread `publicTrade` item (no BT/RPI flags, unlike other categories)."""
ROUTES: dict[tuple[str, str], Route] = {
    **routes_market.ROUTES,
    **routes_trade.ROUTES,
    **routes_account.ROUTES,
}
"""(HTTP method, path) of every REST route the core models; `handle` answers None for others."""

TICKER_PUSH_MS = {"spot": 50, "linear": 100, "inverse": 100, "option": 100, "spread": 100}
"""Bybit's ticker push intervals per category."""
KLINE_PUSH_MS = 1000
PRICE_LIMIT_PUSH_MS = 300
"""Bybit's `priceLimit.{symbol}` push frequency (docs/v5/websocket/public/order-price-limit)."""
INSURANCE_PUSH_MS = 1000
"""`insurance.{USDT,USDC}` push at most this often, and only pools that changed."""
INSURANCE_START = Decimal("902178.57602476")
"""Every pool's balance at start (the figure of Bybit's documented example)."""
INSURANCE_SHARE = Decimal("0.0005")
"""Share of a liquidation's value the pool keeps (the liquidation fee left after closing)."""
LT_TOPICS = ("kline_lt", "tickers_lt", "lt")
"""Retired leveraged-token topics pybit still offers; subscribing succeeds, nothing streams."""
"""Kline topics push the running candle at most this often (Bybit: every 1-60 s)."""


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


_Priced = tuple[PricePath | OptionPath, dict[str, Decimal], str, Decimal]
"""Where a market step writes a price: (price path, prices dict, key, tick)."""


class _Outlet(NamedTuple):
    """One book's public outputs, with the subscription keys `_publish` checks on every step
    (built once: the books never change)."""

    key: tuple[str, str]
    feed: BookFeed
    ticker: TickerFeed
    trades: tuple[str, str]
    """(category, publicTrade topic): per symbol, or per base coin for options."""
    tickers: tuple[str, str]
    price_limit: tuple[str, str]
    ticker_ms: int


class _NullListener:
    def on_public(self, category: str, topic: str, message: dict[str, Any]) -> None:
        return None

    def on_private(self, account: str, topic: str, message: dict[str, Any]) -> None:
        return None


class Exchange:
    """A deterministic Bybit v5 exchange: same seed, same clock readings, same answers."""

    def __init__(
        self,
        symbols: Sequence[str] = ("BTCUSDT", "ETHUSDT"),
        seed: int = 1,
        clock: Callable[[], int] = wall_clock_ms,
        state_path: str | None = None,
        noise_rate: float = 4.0,
        replay: str | None = None,
    ) -> None:
        self.clock = clock
        self.seed = seed
        now = clock()
        self.last_step = now
        self.catalogue: Catalogue = build_catalogue(tuple(symbols), now)
        self.listener: Listener = _NullListener()
        self.paths: dict[str, PricePath] = {}
        self.basis: dict[str, PricePath] = {}
        """Spread symbol -> its basis (perp minus spot), which its book quotes around."""
        self.histories: dict[str, History] = {}
        self.engines: dict[tuple[str, str], Engine] = {}
        self.feeds: dict[tuple[str, str], BookFeed] = {}
        self.tickers: dict[tuple[str, str], TickerFeed] = {}
        self.marks: dict[str, Decimal] = {}
        self.usd: dict[str, Decimal] = {"USDT": Decimal(1), "USDC": Decimal(1)}
        self.accounts: dict[str, Account] = {}
        self.subs: set[tuple[str, str]] = set()
        self.kline_subs: dict[tuple[str, str], tuple[Engine, str]] = {}
        self.kline_sent: dict[tuple[str, str], int] = {}
        self.kline_start: dict[tuple[str, str], int] = {}
        self.price_limit_sent: dict[tuple[str, str], int] = {}
        self.insurance: dict[str, Decimal] = {"USDT": INSURANCE_START, "USDC": INSURANCE_START}
        """Shared insurance pool per settle coin of the linear books; liquidations feed it."""
        self.insurance_due: set[tuple[str, str]] = set()
        """(category, insurance topic) to push at the next insurance tick."""
        self.insurance_sent = 0
        self.private_seq = 0
        self.prices_saved = now
        self.store = Store(state_path) if state_path else None
        self.replay = Replay(replay) if replay else None
        self.replayed: dict[tuple[str, str], int] = {}
        """Books the replay drives -> depth of the recorded stream they follow (0: trades only
        so far); the synthetic crowd leaves them alone."""
        self.pinned: set[str] = set()
        """Coins whose fair price a replayed book sets (their random walk stops)."""
        saved = self.store.load() if self.store else None
        self._build_engines(saved.prices if saved else {}, noise_rate, now)
        self._priced = self._priced_books()
        self._update_marks()
        self.trading = Trading(self.catalogue, self.engines, self.accounts, self.marks, Ids(seed))
        if saved:
            saved.restore(self)  # user orders rest first; the crowd's liquidity fills around them
        for eng in self.engines.values():
            eng.market.seed_book(now)
        self._outlets: list[_Outlet] = []
        for key, eng in self.engines.items():
            eng.book.bids.dirty.clear()
            eng.book.asks.dirty.clear()
            feed = self.feeds[key] = BookFeed(eng)
            ticker = self.tickers[key] = TickerFeed(eng, self)
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
        self.routes = ROUTES

    def _build_engines(self, prices: dict[str, float], noise_rate: float, now: int) -> None:
        """One price path per coin (resumed from `prices`), one market and engine per book."""
        seed = self.seed
        for (cat, sym), inst in self.catalogue.books.items():
            path = self.paths.get(inst.base)
            if path is None:
                price = prices.get(inst.base, float(inst.start_price))
                rng = random.Random(f"path:{seed}:{inst.base}")
                path = self.paths[inst.base] = PricePath(price, rng)
                self.histories[inst.base] = History(price, now, f"hist:{seed}:{inst.base}")
            rng = random.Random(zlib.crc32(f"{seed}:{cat}:{sym}".encode()))
            book = Book()
            if cat == "spread":
                basis = self.basis[sym] = PricePath(float(inst.start_price), rng, SPREAD_VOL)
                market = SyntheticMarket(
                    inst, book, basis, rng, noise_rate / 4, SPREAD_DEPTH, SPREAD_STEP_MS
                )
                # sized like its legs: a level holds ~20k and a trade ~3k of the coin, not
                # of the basis
                unit = float(inst.step) * path.price
                market.level_lots = max(1, round(20000 / unit))
                market.take_lots = max(1, round(3000 / unit))
            elif cat == "option":
                opt = OptionPath(path, float(inst.strike), inst.expiry, now, inst.call)
                market = SyntheticMarket(
                    inst, book, opt, rng, noise_rate / 4, OPTION_DEPTH, OPTION_STEP_MS
                )
            else:
                market = SyntheticMarket(inst, book, path, rng, noise_rate)
            eng = self.engines[(cat, sym)] = Engine(inst, market, book)
            eng.last_price = max(1, round(market.fair_ticks()))
            eng.open_price = eng.high = eng.low = eng.last_price

    # ---- protocol ---------------------------------------------------------------------

    def set_listener(self, listener: Listener) -> None:
        self.listener = listener

    def ensure_account(self, account: str) -> None:
        if account not in self.accounts:
            self.new_account(account, self.clock())
            self._flush(self.clock())

    def new_account(self, uid: str, now: int) -> Account:
        """A UNIFIED account funded by logged deposits, so the ledger sums from zero."""
        acct = self.accounts[uid] = Account(uid, now, wallet={})
        for coin, amount in INITIAL_BALANCES.items():
            acct.book_change(coin, amount, now, {"type": "TRANSFER_IN", "category": ""})
        self.trading.out.wallet(uid)
        return acct

    def handle(
        self, http_method: str, path: str, params: dict[str, Any], account: str | None
    ) -> dict[str, Any] | None:
        route = self.routes.get((http_method, path))
        if route is None:
            return None
        acct = None
        if account is not None:
            acct = self.accounts.get(account)
            if acct is None:
                acct = self.new_account(account, self.clock())
        try:
            res = route(self, params, acct)
        except ApiError as e:
            env = {"retCode": e.code, "retMsg": e.msg, "result": {}, "retExtInfo": {}}
        else:
            ext: dict[str, Any] = {}
            if isinstance(res, tuple):
                res, ext = res
            env = {"retCode": 0, "retMsg": "OK", "result": res, "retExtInfo": ext}
        if acct is not None:
            self._flush(self.clock())
        return env

    def trade_op(self, op: str, args: list[dict[str, Any]], account: str) -> dict[str, Any]:
        """Trade-WebSocket ops map onto the same routes as REST create/amend/cancel."""
        path = routes_trade.WS_OPS.get(op)
        if path is None:
            return {"retCode": 10404, "retMsg": f"unknown op: {op}", "data": {}, "retExtInfo": {}}
        if not args or not isinstance(args[0], dict):
            return {"retCode": 10001, "retMsg": "args invalid", "data": {}, "retExtInfo": {}}
        env = self.handle("POST", path, dict(args[0]), account)
        assert env is not None
        return {
            "retCode": env["retCode"],
            "retMsg": env["retMsg"],
            "data": env["result"],
            "retExtInfo": env["retExtInfo"],
        }

    def subscribe_public(self, category: str, topic: str) -> list[dict[str, Any]]:
        """Initial messages for a new subscriber; KeyError for a topic the exchange lacks."""
        now = self.clock()
        kind, _, rest = topic.partition(".")
        if category == "spread" and kind not in SPREAD_TOPICS:
            raise KeyError(topic)
        if kind == "orderbook":
            name, _, sym = rest.partition(".")
            feed = self.feeds.get((category, sym))
            if feed is None or name not in feed.streams:
                raise KeyError(topic)
            pending, snap = feed.subscribe(name, now)
            self.emit_public(category, pending)
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
                row = routes_market.price_limit_row(eng)
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

    def unsubscribe_public(self, category: str, topic: str) -> None:
        self.subs.discard((category, topic))
        self.kline_subs.pop((category, topic), None)
        kind, _, rest = topic.partition(".")
        if kind == "orderbook":
            name, _, sym = rest.partition(".")
            feed = self.feeds.get((category, sym))
            if feed is not None:
                feed.stop(name)

    def step(self, now_ms: int) -> None:
        """Advance the market to `now_ms`, then publish book deltas, trades, tickers, klines."""
        dt = min((now_ms - self.last_step) / 1000.0, MAX_DT_S)
        if dt > 0:
            self.last_step = now_ms
            if self.replay is not None:
                self._replay(now_ms)
            for base, path in self.paths.items():
                if base not in self.pinned:
                    path.advance(dt)
            for path in self.basis.values():
                path.advance(dt)
            self._update_marks()
            trading = self.trading
            for key, eng in self.engines.items():
                if key in self.replayed:
                    continue

                def take(side: str, lots: int, limit: int, eng: Engine = eng) -> None:
                    trading.synthetic_take(eng, side, lots, limit, now_ms)

                eng.market.step(now_ms, take)
            trading.check_tpsl(now_ms)
            trading.check_triggers(now_ms)
            self._check_dcp(now_ms)
        self._publish(now_ms)
        self._flush(now_ms)
        if self.store is not None and now_ms - self.prices_saved >= 1000:
            self.prices_saved = now_ms
            self.store.save_prices({b: p.price for b, p in self.paths.items()})

    def dcp_connected(self, account: str, product: str) -> None:
        acct = self.accounts.get(account)
        if acct is not None:
            acct.dcp_gone.pop(product, None)

    def dcp_disconnected(self, account: str, product: str, now_ms: int) -> None:
        acct = self.accounts.get(account)
        if acct is not None:
            acct.dcp_gone[product] = now_ms

    def close(self) -> None:
        if self.replay is not None:
            self.replay.close()
        if self.store is not None:
            self.store.save_prices({b: p.price for b, p in self.paths.items()})
            self.store.close()
            self.store = None

    # ---- internals --------------------------------------------------------------------

    def _replay(self, now: int) -> None:
        """Apply the recording's frames that are due."""
        assert self.replay is not None
        for category, frame in self.replay.due(now):
            topic = frame.get("topic")
            if not isinstance(topic, str):
                continue
            if topic.startswith("publicTrade."):
                for key in apply_trades(
                    self.engines, self.trading, category, frame.get("data"), now
                ):
                    self.replayed.setdefault(key, 0)
                continue
            book = stream_depth(topic)
            data = frame.get("data")
            if book is None or not isinstance(data, dict):
                continue
            depth, symbol = book
            key = (category, symbol)
            eng = self.engines.get(key)
            snapshot = frame.get("type") == "snapshot"
            following = self.replayed.get(key, 0)
            # each book follows the deepest recorded stream, from that stream's snapshot on
            if eng is None or depth < following or (depth > following and not snapshot):
                continue
            self.replayed[key] = depth
            apply_book(eng, self.trading, data, snapshot, now)
            mid = recorded_mid(eng.book)
            if mid is not None and eng.inst.category not in ("option", "spread"):
                # the recorded mid, not one a user's quote inside the spread would move (a
                # spread book's mid is a basis, not its coin's price)
                self.paths[eng.inst.base].price = float(eng.inst.price_dec(mid)) / 2
                self.pinned.add(eng.inst.base)

    def _priced_books(self) -> list[_Priced]:
        """Each price a market step moves: the mark of every perpetual, and the USD price of
        every coin with a USDT spot book. Option and spread books set neither, so
        `_update_marks` need not price them (an option's price is a Black-Scholes run)."""
        out: list[_Priced] = []
        for (cat, sym), eng in self.engines.items():
            inst = eng.inst
            if inst.derivative:
                out.append((eng.market.path, self.marks, sym, inst.tick))
            elif cat == "spot" and inst.quote == "USDT":
                out.append((eng.market.path, self.usd, inst.base, inst.tick))
        return out

    def _update_marks(self) -> None:
        for path, prices, key, tick in self._priced:
            prices[key] = Decimal(repr(path.price)).quantize(tick)

    def _check_dcp(self, now: int) -> None:
        """DCP, as on Bybit: once every private connection subscribed to a product's DCP
        topic has been gone longer than the window set for it, cancel that product's orders
        (once per disconnection)."""
        for acct in self.accounts.values():
            for product, since in list(acct.dcp_gone.items()):
                window = acct.dcp.get(product)
                if window is not None and now - since > window * 1000:
                    self.trading.cancel_products(acct, product, now)
                    del acct.dcp_gone[product]

    def _publish(self, now: int) -> None:
        subs = self.subs
        for key, feed, tfeed, trades, tickers, price_limit, ticker_ms in self._outlets:
            cat = key[0]
            self.emit_public(cat, feed.flush(now))
            eng = feed.eng
            if eng.pending:
                if trades in subs:
                    topic, data = trades[1], eng.pending
                    if cat == "spread":
                        data = [{k: t[k] for k in SPREAD_TRADE_KEYS} for t in data]
                    self.listener.on_public(
                        cat, topic, {"topic": topic, "type": "snapshot", "ts": now, "data": data}
                    )
                eng.pending = []
            if tickers in subs and now - tfeed.sent >= ticker_ms:
                msg = tfeed.update(now)
                if msg is not None:
                    self.listener.on_public(cat, tickers[1], msg)
            liqs = eng.market.liquidations
            if liqs:
                self._publish_liquidations(cat, eng, now)
                liqs.clear()
            if (
                price_limit in subs
                and now - self.price_limit_sent.get(key, 0) >= PRICE_LIMIT_PUSH_MS
            ):
                self.price_limit_sent[key] = now
                topic = price_limit[1]
                msg = {"topic": topic, "data": routes_market.price_limit_row(eng), "ts": now}
                self.listener.on_public(cat, topic, msg)
        if self.insurance_due and now - self.insurance_sent >= INSURANCE_PUSH_MS:
            self._publish_insurance(now)
        for key, (eng, interval) in self.kline_subs.items():
            start = interval_start(interval, now)
            rolled = start != self.kline_start.get(key, start)
            if rolled or now - self.kline_sent.get(key, 0) >= KLINE_PUSH_MS:
                self.kline_sent[key], self.kline_start[key] = now, start
                msg = self._kline_message(eng, interval, key[1], now, closed=rolled)
                self.listener.on_public(key[0], key[1], msg)

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
                    self.listener.on_public(cat, topic, msg)
        self.insurance_due.clear()

    def _publish_liquidations(self, cat: str, eng: Engine, now: int) -> None:
        """allLiquidation batches the records; the retired `liquidation` topic (still in
        pybit) carried one record per message, as an object. A linear liquidation feeds its
        coin's insurance pool."""
        inst = eng.inst
        if cat == "linear" and inst.settle in self.insurance:
            fee = sum(inst.value(p, n) for _, n, p in eng.market.liquidations) * INSURANCE_SHARE
            self.insurance[inst.settle] += fee
            topic = f"insurance.{inst.settle}"
            for c in ("linear", "inverse", "spot"):
                if (c, topic) in self.subs:
                    self.insurance_due.add((c, topic))
        data = [
            {"T": now, "s": inst.symbol, "S": s, "v": inst.qty_str(n), "p": inst.price_str(p)}
            for s, n, p in eng.market.liquidations
        ]
        topic = f"allLiquidation.{inst.symbol}"
        if (cat, topic) in self.subs:
            msg = {"topic": topic, "type": "snapshot", "ts": now, "data": data}
            self.listener.on_public(cat, topic, msg)
        topic = f"liquidation.{inst.symbol}"
        if (cat, topic) in self.subs:
            for d in data:
                one = {"updatedTime": now, "symbol": d["s"], "side": d["S"], "size": d["v"],
                       "price": d["p"]}  # fmt: skip
                msg = {"topic": topic, "type": "snapshot", "ts": now, "data": one}
                self.listener.on_public(cat, topic, msg)

    def emit_public(self, category: str, msgs: list[tuple[str, dict[str, Any]]]) -> None:
        subs, on_public = self.subs, self.listener.on_public
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

    def _flush(self, now: int) -> None:
        """Turn the outbox into private pushes and persist what changed."""
        out = self.trading.out
        if out.empty():
            return
        self.trading.out = Outbox()
        on_private = self.listener.on_private
        for uid, orders in out.orders.items():
            for items in _by_category((o.inst.category, o.to_dict()) for o in orders.values()):
                on_private(uid, "order", self._private("order", items, now))
        for uid, execs in out.execs.items():
            for items in _by_category((e["category"], e) for e in execs):
                on_private(uid, "execution", self._private("execution", items, now))
                fast = [{k: e[k] for k in _FAST} for e in items]
                on_private(uid, "execution.fast", self._private("execution.fast", fast, now))
        for uid, keys in out.positions.items():
            acct = self.accounts[uid]
            items = [
                acct.positions[k].to_dict(self.marks[k[0]])
                for k in sorted(keys)
                if k in acct.positions
            ]
            if items:
                on_private(uid, "position", self._private("position", items, now))
        for uid, coins in out.wallets.items():
            acct = self.accounts[uid]
            w = acct.wallet_dict(self.marks, self.usd, sorted(coins) or None)
            on_private(uid, "wallet", self._private("wallet", [w], now))
        if self.store is not None:
            self.store.save(self, out)

    def _private(self, topic: str, data: list[dict[str, Any]], now: int) -> dict[str, Any]:
        self.private_seq += 1
        return {
            "id": f"{self.seed}-{self.private_seq}",
            "topic": topic,
            "creationTime": now,
            "data": data,
        }


_FAST = ("category", "symbol", "execId", "execPrice", "execQty", "orderId", "isMaker",
         "orderLinkId", "side", "execTime", "seq")  # fmt: skip
"""The fields of an `execution.fast` item."""


def _by_category(items: Any) -> list[list[dict[str, Any]]]:
    """Group push items so each message holds one category (the server can route
    `order.linear` subscribers without splitting messages)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for cat, item in items:
        groups.setdefault(cat, []).append(item)
    return list(groups.values())
