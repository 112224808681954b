"""The exchange the server talks to: the core, its market and its store, answering requests.

`Exchange` assembles the layers below it (the core's engines built over the synthetic
market, the public feeds, a replayed recording, the SQLite store) behind the
`ExchangeCore` port of `bybitctl.sim.net.ports`, and maps each wire request onto core calls
through `ROUTES`, the dispatch table of the REST routes: `handle` for REST, `trade_op` for
the trade WebSocket, `subscribe_public` for public topics and `step` on a timer. Each call
ends by flushing what changed: private pushes, public trades, and the state file if any.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, cast

from bybitctl.sim.api import routes_account, routes_market, routes_spread, routes_trade
from bybitctl.sim.api.params import binding, check_ranges
from bybitctl.sim.core.accounts import Account
from bybitctl.sim.core.clock import wall_ms
from bybitctl.sim.core.engine import Engine
from bybitctl.sim.core.errors import ApiError, ApiFailure
from bybitctl.sim.core.exchange import Core
from bybitctl.sim.core.funding import DEFAULT_INTERVAL_MS
from bybitctl.sim.core.instruments import build_catalogue
from bybitctl.sim.core.outbox import Outbox
from bybitctl.sim.market.books import build_books
from bybitctl.sim.market.public import PublicFeeds
from bybitctl.sim.market.replay import Replay, apply_book, apply_trades, recorded_mid, stream_depth
from bybitctl.sim.market.synthetic import MAX_DT_S, OptionPath, PricePath, SyntheticMarket
from bybitctl.sim.store.state import Store

Route = Callable[["Exchange", dict[str, Any], Account | None], Any]

ROUTES: dict[tuple[str, str], Route] = {
    **routes_market.ROUTES,
    **routes_trade.ROUTES,
    **routes_account.ROUTES,
    **routes_spread.ROUTES,
}
"""(HTTP method, path) of every REST route the exchange models; `handle` answers None for
others."""

_Priced = tuple[PricePath | OptionPath, dict[str, Decimal], str, Decimal]
"""Where a market step writes a price: (price path, prices dict, key, tick)."""


class Exchange(Core):
    """A deterministic Bybit v5 exchange: same seed, same clock readings, same answers."""

    routes = ROUTES

    def __init__(
        self,
        symbols: Sequence[str] = ("BTCUSDT", "ETHUSDT"),
        seed: int = 1,
        clock: Callable[[], int] = wall_ms,
        state_path: str | None = None,
        noise_rate: float = 4.0,
        replay: str | None = None,
        funding_interval_ms: int = DEFAULT_INTERVAL_MS,
    ) -> None:
        self.offset = 0
        """Milliseconds the exchange's time runs ahead of `clock` (`advance_clock`)."""
        self.wall = clock

        def shifted() -> int:
            return self.wall() + self.offset

        now = clock()
        self.last_step = now
        self.prices_saved = now
        catalogue = build_catalogue(tuple(symbols), now, funding_interval_ms)
        self.store = Store(state_path) if state_path else None
        self.replay = Replay(replay) if replay else None
        self.replayed: dict[tuple[str, str], int] = {}
        """Books the replay drives -> depth of the recorded stream they follow (0: trades only
        so far); the synthetic crowd leaves them alone."""
        self.pinned: set[str] = set()
        """Coins whose fair price a replayed book sets (their random walk stops)."""
        saved = self.store.load() if self.store else None
        books = build_books(catalogue, seed, saved.prices if saved else {}, noise_rate, now)
        super().__init__(catalogue, books.engines, seed, shifted, funding_interval_ms)
        self.paths = books.paths
        self.basis = books.basis
        self.histories = books.histories
        self.option_paths = books.options
        self._priced = self._priced_books()
        self._update_marks()
        if saved:
            saved.restore(self)  # user orders rest first; the crowd's liquidity fills around them
        for eng in self.engines.values():
            eng.market.seed_book(now)
        self.public = PublicFeeds(self, self.histories)
        self.feeds = self.public.feeds
        """The public book feeds, by (category, symbol)."""

    # ---- the server's port ------------------------------------------------------------

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
            check_ranges(binding(http_method, path), params)
            res = route(self, params, acct)
        except ApiError as e:
            result = e.result if isinstance(e, ApiFailure) else {}
            env = {"retCode": e.code, "retMsg": e.msg, "result": result, "retExtInfo": {}}
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
        return self.public.subscribe(category, topic, self.clock())

    def unsubscribe_public(self, category: str, topic: str) -> None:
        self.public.unsubscribe(category, topic)

    def advance_clock(self, ms: int) -> None:
        """Move the exchange's time `ms` ahead of its clock for good (tests reach a funding
        time or an expiry without waiting); the market itself moves at most one step's worth.
        What fell due settles at the next step."""
        if ms < 0:
            raise ValueError("the exchange's clock only moves forward")
        self.offset += ms

    def set_price(self, coin: str, price: float) -> None:
        """Move a coin's fair price (and so its marks, index and every book of it) to
        `price` at once, as a sudden market move would; the random walk goes on from there.
        KeyError for a coin the exchange does not list, ValueError for a price not above 0."""
        if not price > 0:
            raise ValueError("the price must be above 0")
        self.paths[coin].price = float(price)
        self._update_marks()

    def step(self, now_ms: int) -> None:
        """Advance the market to `now_ms` (plus any `advance_clock`), then publish book
        deltas, trades, tickers, klines."""
        now_ms += self.offset
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
            for opt in self.option_paths.values():
                opt.now = now_ms
            self._update_marks()
            self.settle(now_ms)
            trading = self.trading
            expired = trading.expired
            for key, eng in self.engines.items():
                market = cast(SyntheticMarket, eng.market)
                if not market.due(now_ms) or key in self.replayed or key[1] in expired:
                    continue

                def take(side: str, lots: int, limit: int, eng: Engine = eng) -> None:
                    trading.synthetic_take(eng, side, lots, limit, now_ms)

                market.step(now_ms, take)
            trading.check_tpsl(now_ms)
            trading.check_triggers(now_ms)
            self.check_dcp(now_ms)
        self.public.publish(now_ms)
        self._flush(now_ms)
        if self.store is not None and now_ms - self.prices_saved >= 1000:
            self.prices_saved = now_ms
            self.store.save_prices({b: p.price for b, p in self.paths.items()})

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

    def _flush(self, now: int) -> Outbox | None:
        """Push what changed, then persist it."""
        out = super()._flush(now)
        if out is not None and self.store is not None:
            self.store.save(self, out)
        return out
