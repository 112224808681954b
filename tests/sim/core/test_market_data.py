"""Public market data of the core: order-book streams, REST book, trades, tickers, klines."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest

from bybitctl.sim.api.exchange import Exchange

from .conftest import Clock, Recorder

D = Decimal


class LocalBook:
    """A subscriber's book rebuilt from snapshot + deltas, checking u and seq as it goes."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        assert snapshot["type"] == "snapshot"
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}
        self.u = 0
        self.seq = -1
        self.apply(snapshot)

    def apply(self, msg: dict[str, Any]) -> None:
        d = msg["data"]
        if msg["type"] == "snapshot":
            self.bids = {p: q for p, q in d["b"]}
            self.asks = {p: q for p, q in d["a"]}
        else:
            assert d["u"] == self.u + 1, (d["u"], self.u)
            for side, rows in ((self.bids, d["b"]), (self.asks, d["a"])):
                for p, q in rows:
                    if q == "0":
                        assert p in side, p
                        del side[p]
                    else:
                        side[p] = q
        assert d["seq"] > self.seq
        self.u, self.seq = d["u"], d["seq"]

    def top(self, n: int) -> tuple[list[list[str]], list[list[str]]]:
        b = sorted(self.bids.items(), key=lambda kv: -D(kv[0]))[:n]
        a = sorted(self.asks.items(), key=lambda kv: D(kv[0]))[:n]
        return [list(x) for x in b], [list(x) for x in a]


def run(ex: Exchange, clock: Clock, steps: int, every: int = 50) -> None:
    for _ in range(steps):
        ex.step(clock.advance(every))


def rest_book(ex: Exchange, limit: int = 1000, cat: str = "linear") -> dict[str, Any]:
    env = ex.handle(
        "GET",
        "/v5/market/orderbook",
        {"category": cat, "symbol": "BTCUSDT", "limit": str(limit)},
        None,
    )
    assert env is not None and env["retCode"] == 0
    return env["result"]


@pytest.mark.parametrize("cat", ["linear", "spot"])
def test_depth_streams_are_contiguous_and_match_the_book(
    ex: Exchange, clock: Clock, rec: Recorder, cat: str
) -> None:
    books = {}
    for depth in (50, 200, 1000):
        (snap,) = ex.subscribe_public(cat, f"orderbook.{depth}.BTCUSDT")
        assert len(snap["data"]["b"]) == depth and len(snap["data"]["a"]) == depth
        books[depth] = LocalBook(snap)
    run(ex, clock, 60)
    for depth, book in books.items():
        msgs = [m for c, t, m in rec.public if t == f"orderbook.{depth}.BTCUSDT" and c == cat]
        assert len(msgs) > 30
        for m in msgs:
            book.apply(m)
        truth = rest_book(ex, depth, cat)
        assert book.top(depth) == (truth["b"], truth["a"])
        assert len(book.bids) == depth and len(book.asks) == depth
    assert rest_book(ex, 1000, cat)["u"] == books[1000].u


def test_rest_u_is_the_1000_stream_u_even_unsubscribed(
    ex: Exchange, clock: Clock, rec: Recorder
) -> None:
    u0 = rest_book(ex)["u"]
    run(ex, clock, 10)
    u1 = rest_book(ex)["u"]
    assert u1 > u0
    (snap,) = ex.subscribe_public("linear", "orderbook.1000.BTCUSDT")
    assert snap["data"]["u"] == u1
    truth = rest_book(ex)
    assert (snap["data"]["b"], snap["data"]["a"]) == (truth["b"], truth["a"])
    assert {"s", "b", "a", "ts", "u", "seq", "cts"} <= set(truth)


def test_level1_is_snapshot_only(ex: Exchange, clock: Clock, rec: Recorder) -> None:
    (snap,) = ex.subscribe_public("linear", "orderbook.1.BTCUSDT")
    run(ex, clock, 30)
    msgs = rec.topic("orderbook.1.BTCUSDT")
    assert msgs and all(m["type"] == "snapshot" for m in msgs)
    us = [snap["data"]["u"]] + [m["data"]["u"] for m in msgs]
    assert us == list(range(us[0], us[0] + len(us)))
    assert all(len(m["data"]["b"]) == 1 and len(m["data"]["a"]) == 1 for m in msgs)


def test_resubscribe_gets_a_new_snapshot_and_u_continues(
    ex: Exchange, clock: Clock, rec: Recorder
) -> None:
    topic = "orderbook.50.BTCUSDT"
    ex.subscribe_public("linear", topic)
    run(ex, clock, 10)
    last = rec.topic(topic)[-1]["data"]["u"]
    ex.unsubscribe_public("linear", topic)
    n = len(rec.topic(topic))
    run(ex, clock, 10)
    assert len(rec.topic(topic)) == n  # nothing while nobody listens
    (again,) = ex.subscribe_public("linear", topic)
    assert again["type"] == "snapshot" and again["data"]["u"] == last + 1
    book = LocalBook(again)
    run(ex, clock, 10)
    for m in rec.topic(topic)[n:]:
        book.apply(m)


def test_rpi_book_has_three_columns(ex: Exchange) -> None:
    (snap,) = ex.subscribe_public("linear", "orderbook.rpi.BTCUSDT")
    assert snap["topic"] == "orderbook.rpi.BTCUSDT"
    assert all(len(level) == 3 for level in snap["data"]["b"])


def test_unknown_topics_raise_key_error(ex: Exchange) -> None:
    for cat, topic in (
        ("linear", "orderbook.7.BTCUSDT"),
        ("linear", "orderbook.50.NOPE"),
        ("linear", "nonsense.BTCUSDT"),
        ("spot", "kline.2.BTCUSDT"),
    ):
        with pytest.raises(KeyError):
            ex.subscribe_public(cat, topic)


def test_public_trades_and_recent_trades(ex: Exchange, clock: Clock, rec: Recorder) -> None:
    ex.subscribe_public("linear", "publicTrade.BTCUSDT")
    run(ex, clock, 40)
    trades = [t for m in rec.topic("publicTrade.BTCUSDT") for t in m["data"]]
    assert trades and {"T", "s", "S", "v", "p", "L", "i", "BT", "seq"} <= set(trades[0])
    env = ex.handle(
        "GET",
        "/v5/market/recent-trade",
        {"category": "linear", "symbol": "BTCUSDT", "limit": "5"},
        None,
    )
    assert env is not None
    recent = env["result"]["list"]
    assert [r["execId"] for r in recent] == [t["i"] for t in trades[-5:]][::-1]


def test_ticker_snapshot_then_deltas(ex: Exchange, clock: Clock, rec: Recorder) -> None:
    (snap,) = ex.subscribe_public("linear", "tickers.BTCUSDT")
    assert snap["type"] == "snapshot" and "markPrice" in snap["data"]
    run(ex, clock, 20)
    deltas = rec.topic("tickers.BTCUSDT")
    assert deltas and all(m["type"] == "delta" for m in deltas)
    assert any(len(m["data"]) < len(snap["data"]) for m in deltas)
    (spot,) = ex.subscribe_public("spot", "tickers.BTCUSDT")
    assert spot["type"] == "snapshot" and "usdIndexPrice" in spot["data"]


@pytest.mark.parametrize("interval", ["1", "5", "60", "D", "W", "M"])
def test_kline_every_interval(ex: Exchange, clock: Clock, interval: str) -> None:
    run(ex, clock, 20, every=1000)
    env = ex.handle(
        "GET",
        "/v5/market/kline",
        {"category": "linear", "symbol": "BTCUSDT", "interval": interval, "limit": "10"},
        None,
    )
    assert env is not None and env["retCode"] == 0
    rows = env["result"]["list"]
    assert len(rows) == 10
    starts = [int(r[0]) for r in rows]
    assert starts == sorted(starts, reverse=True)
    for r in rows:
        o, h, lo, c = map(D, r[1:5])
        assert lo <= min(o, c) <= max(o, c) <= h
    for kind in ("mark-price-kline", "index-price-kline", "premium-index-price-kline"):
        env = ex.handle(
            "GET",
            f"/v5/market/{kind}",
            {"category": "linear", "symbol": "BTCUSDT", "interval": interval, "limit": "3"},
            None,
        )
        assert (
            env is not None
            and len(env["result"]["list"]) == 3
            and len(env["result"]["list"][0]) == 5
        )
    (msg,) = ex.subscribe_public("linear", f"kline.{interval}.BTCUSDT")
    assert msg["data"][0]["interval"] == interval and msg["data"][0]["confirm"] is False


def test_instruments_and_market_routes_answer(ex: Exchange) -> None:
    def get(path: str, **p: str) -> Any:
        env = ex.handle("GET", path, p, None)
        assert env is not None and env["retCode"] == 0, (path, env)
        return env["result"]

    lin = get("/v5/market/instruments-info", category="linear")["list"]
    assert [r["symbol"] for r in lin] == ["BTCUSDT", "ETHUSDT"]
    assert lin[0]["priceFilter"]["tickSize"] == "0.1"
    assert [
        r["symbol"] for r in get("/v5/market/instruments-info", category="inverse")["list"]
    ] == ["BTCUSD", "ETHUSD"]
    assert get("/v5/market/instruments-info", category="option")["list"]
    assert (
        get("/v5/market/instruments-info", category="spot", symbol="ETHUSDT")["list"][0]["baseCoin"]
        == "ETH"
    )
    assert int(get("/v5/market/time")["timeSecond"]) == ex.clock() // 1000
    assert (
        len(
            get("/v5/market/funding/history", category="linear", symbol="BTCUSDT", limit="3")[
                "list"
            ]
        )
        == 3
    )
    oi = get(
        "/v5/market/open-interest",
        category="linear",
        symbol="BTCUSDT",
        intervalTime="1h",
        limit="4",
    )
    assert len(oi["list"]) == 4 and oi["nextPageCursor"]
    assert (
        get("/v5/market/risk-limit", category="linear", symbol="BTCUSDT")["list"][0]["isLowestRisk"]
        == 1
    )
    assert get("/v5/market/insurance")["list"]
    assert get("/v5/market/account-ratio", category="linear", symbol="BTCUSDT", period="1h")["list"]
    assert get("/v5/market/historical-volatility", category="option")
    assert get("/v5/market/delivery-price", category="linear")["list"] == []
    env = ex.handle("GET", "/v5/market/orderbook", {"category": "linear"}, None)
    assert env is not None and env["retCode"] == 10001
    assert ex.handle("GET", "/v5/market/not-modelled", {}, None) is None


def test_kline_stream_confirms_the_closed_candle(ex: Exchange, clock: Clock, rec: Recorder) -> None:
    clock.advance(60_000 - clock.now % 60_000)  # start of a minute
    (first,) = ex.subscribe_public("linear", "kline.1.BTCUSDT")
    start = first["data"][0]["start"]
    run(ex, clock, 70, every=1000)
    msgs = rec.topic("kline.1.BTCUSDT")
    rolled = next(m for m in msgs if len(m["data"]) == 2)
    done, running = rolled["data"]
    assert (done["start"], done["confirm"]) == (start, True)
    assert (running["start"], running["confirm"]) == (start + 60_000, False)
    assert done["end"] == start + 59_999


def test_price_limit_stream(ex: Exchange, clock: Clock, rec: Recorder) -> None:
    (snap,) = ex.subscribe_public("linear", "priceLimit.BTCUSDT")
    assert D(snap["data"]["sellLmt"]) < ex.marks["BTCUSDT"] < D(snap["data"]["buyLmt"])
    run(ex, clock, 120, every=25)
    pushes = rec.topic("priceLimit.BTCUSDT")
    # Bybit pushes every 300 ms: 3 s of 25 ms steps gives 10, not one per step
    assert len(pushes) == 10
    assert all(set(m["data"]) == {"symbol", "buyLmt", "sellLmt"} for m in pushes)


def test_option_books_stream_25_and_100(ex: Exchange, clock: Clock, rec: Recorder) -> None:
    env = ex.handle("GET", "/v5/market/instruments-info", {"category": "option"}, None)
    assert env is not None
    sym = env["result"]["list"][4]["symbol"]  # an at-the-money call
    books = {}
    for depth in (25, 100):
        (snap,) = ex.subscribe_public("option", f"orderbook.{depth}.{sym}")
        books[depth] = LocalBook(snap)
    with pytest.raises(KeyError):
        ex.subscribe_public("option", f"orderbook.50.{sym}")
    run(ex, clock, 40, every=100)
    for depth, book in books.items():
        for _, t, m in rec.public:
            if t == f"orderbook.{depth}.{sym}":
                book.apply(m)
        env = ex.handle(
            "GET",
            "/v5/market/orderbook",
            {"category": "option", "symbol": sym, "limit": str(depth)},
            None,
        )
        assert env is not None
        assert book.top(depth) == (env["result"]["b"], env["result"]["a"])
    assert env["result"]["u"] == books[100].u
    t = ex.handle("GET", "/v5/market/tickers", {"category": "option", "symbol": sym}, None)
    assert t is not None
    row = t["result"]["list"][0]
    assert 0 < float(row["delta"]) < 1 and float(row["markPrice"]) > 0


def test_all_liquidation_stream(ex: Exchange, clock: Clock, rec: Recorder) -> None:
    assert ex.subscribe_public("linear", "allLiquidation.BTCUSDT") == []
    run(ex, clock, 400, every=100)
    liq = [d for m in rec.topic("allLiquidation.BTCUSDT") for d in m["data"]]
    assert liq and set(liq[0]) == {"T", "s", "S", "v", "p"}
    assert {d["S"] for d in liq} <= {"Buy", "Sell"}


def test_option_trades_stream_per_base_coin(ex: Exchange, clock: Clock, rec: Recorder) -> None:
    assert ex.subscribe_public("option", "publicTrade.BTC") == []
    with pytest.raises(KeyError):
        ex.subscribe_public("option", "publicTrade.SOL")
    run(ex, clock, 200, every=100)
    pushes = [(c, t, m) for c, t, m in rec.public if t.startswith("publicTrade.")]
    assert pushes and {(c, t) for c, t, _ in pushes} == {("option", "publicTrade.BTC")}
    symbols = {d["s"] for _, _, m in pushes for d in m["data"]}
    assert all(s.startswith("BTC-") for s in symbols) and len(symbols) > 1


def test_book_streams_stay_exact_with_user_orders_and_reads_between_steps(
    ex: Exchange, clock: Clock, rec: Recorder
) -> None:
    """User orders change the book between steps and REST reads publish mid-step; every
    depth stream still rebuilds the exact book."""
    rng = random.Random(3)
    topics = {d: f"orderbook.{d}.BTCUSDT" for d in ("50", "200", "1000")}
    books = {d: LocalBook(ex.subscribe_public("linear", t)[0]) for d, t in topics.items()}
    uid = "1001"
    ex.ensure_account(uid)
    for i in range(300):
        mark = ex.marks["BTCUSDT"]
        side = rng.choice(["Buy", "Sell"])
        off = D(rng.randint(-5, 60)) / 10
        price = mark - off if side == "Buy" else mark + off
        p = {"category": "linear", "symbol": "BTCUSDT", "side": side, "orderType": "Limit",
             "qty": str(D(rng.randint(1, 300)) / 1000), "price": str(price)}  # fmt: skip
        ex.handle("POST", "/v5/order/create", p, uid)
        if i % 7 == 0:
            ex.handle(
                "POST", "/v5/order/cancel-all", {"category": "linear", "symbol": "BTCUSDT"}, uid
            )
        if i % 5 == 0:
            rest_book(ex, 50)
        if i % 3 == 0:
            ex.step(clock.advance(rng.randint(5, 200)))
    ex.step(clock.advance(10))
    truth = rest_book(ex)
    for d, book in books.items():
        for _, t, m in rec.public:
            if t == topics[d]:
                book.apply(m)
        n = int(d)
        assert book.top(n) == (truth["b"][:n], truth["a"][:n])
    assert books["1000"].u == truth["u"]
    ex.engines[("linear", "BTCUSDT")].book.check()
