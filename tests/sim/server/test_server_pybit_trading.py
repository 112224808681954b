"""Unmodified pybit over loopback: private pushes after each trading action
(WebSocket + WebSocketTrading), the `orderbook.1000` book equal to the REST book at the same
`u`, position and PnL maths by hand, fees on every execution, and hedge mode.

pybit's WebSocket classes are built by `bybitctl.client` (only their URL differs) with a
`callback_function`, which hands over every raw frame before pybit's own processing.
"""

from __future__ import annotations

import copy
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pybit.exceptions import InvalidRequestError

from bybitctl.book import OrderBook
from bybitctl.client import make_ws, make_ws_trading
from bybitctl.config import Settings
from bybitctl.sim import SimHandle, running_exchange
from bybitctl.sim.net.auth import generate_key_pair

from .conftest import http

pytestmark = pytest.mark.e2e

D = Decimal
Frame = dict[str, Any]
MONEY = D("0.00000001")


class Frames:
    """Every frame one pybit WebSocket received, in order, for waiting on."""

    def __init__(self) -> None:
        self.items: list[Frame] = []
        self.lock = threading.Lock()

    def __call__(self, frame: Frame) -> None:
        with self.lock:
            self.items.append(copy.deepcopy(frame))

    def mark(self) -> int:
        with self.lock:
            return len(self.items)

    def wait(self, match: Callable[[Frame], bool], since: int = 0, limit: float = 10.0) -> Frame:
        """The first frame from index `since` on for which `match` holds."""
        deadline = time.monotonic() + limit
        seen = since
        while time.monotonic() < deadline:
            with self.lock:
                fresh = self.items[seen:]
            for frame in fresh:
                if match(frame):
                    return frame
            seen += len(fresh)
            time.sleep(0.02)
        raise AssertionError("no matching frame")

    def item(self, topic: str, match: Callable[[Frame], bool], since: int) -> Frame:
        """The first data item pushed on `topic` (after `since`) for which `match` holds."""
        found: list[Frame] = []

        def has(frame: Frame) -> bool:
            if frame.get("topic") != topic:
                return False
            found[:] = [d for d in frame["data"] if match(d)]
            return bool(found)

        self.wait(has, since)
        return found[0]


def settings(ex: SimHandle, key: str | None = None, secret: str | None = None) -> Settings:
    return Settings(
        base_url=ex.base_url, api_key=key or ex.api_key, api_secret=secret or ex.api_secret
    )


@pytest.fixture
def fresh() -> Iterator[SimHandle]:
    with running_exchange(symbols=("BTCUSDT", "ETHUSDT"), seed=5) as ex:
        yield ex


@pytest.fixture
def private(fresh: SimHandle) -> Iterator[Frames]:
    """pybit's private WebSocket subscribed to order, execution, position and wallet."""
    frames = Frames()
    ws = make_ws(settings(fresh), "private", callback_function=frames)
    try:
        for stream in (ws.order_stream, ws.execution_stream, ws.position_stream, ws.wallet_stream):
            stream(callback=frames)
        deadline = time.monotonic() + 10
        while sum(f.get("op") == "subscribe" and f.get("success") is True
                  for f in list(frames.items)) < 4:  # fmt: skip
            assert time.monotonic() < deadline, "subscriptions not acknowledged"
            time.sleep(0.02)
        yield frames
    finally:
        ws.exit()


@pytest.fixture
def trade_ws(fresh: SimHandle) -> Iterator[Any]:
    """pybit's WebSocketTrading, authenticated; `call(method, **params)` -> the reply."""
    ws = make_ws_trading(settings(fresh))
    deadline = time.monotonic() + 10
    while not ws.auth and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ws.auth

    def call(method: str, **params: Any) -> Frame:
        replies: queue.Queue[Frame] = queue.Queue()
        getattr(ws, method)(replies.put, error_callback=replies.put, **params)
        reply = replies.get(timeout=10)
        assert reply["retCode"] == 0, reply
        return reply

    try:
        yield call
    finally:
        ws.exit()


def test_private_pushes_follow_each_trading_action(fresh, private, trade_ws):
    eth = {"category": "linear", "symbol": "ETHUSDT"}
    bid = D(http(fresh).get_orderbook(**eth)["result"]["b"][0][0])
    low = (bid * D("0.97")).quantize(D("0.01"))

    since = private.mark()
    oid = trade_ws("place_order", **eth, side="Buy", orderType="Limit", qty="0.1",
                   price=str(low), orderLinkId="push-1")["data"]["orderId"]  # fmt: skip
    new = private.item("order", lambda o: o["orderId"] == oid, since)
    assert (new["orderStatus"], D(new["price"]), new["orderLinkId"]) == ("New", low, "push-1")
    private.wait(lambda f: f.get("topic") == "wallet", since)

    # each action's pushes end with its wallet push: wait for it before the next action
    since = private.mark()
    trade_ws("amend_order", **eth, orderId=oid, price=str(low - 1))
    amended = private.item("order", lambda o: o["orderId"] == oid, since)
    assert (amended["orderStatus"], D(amended["price"])) == ("New", low - 1)
    private.wait(lambda f: f.get("topic") == "wallet", since)

    since = private.mark()
    trade_ws("cancel_order", **eth, orderLinkId="push-1")
    gone = private.item("order", lambda o: o["orderId"] == oid, since)
    assert gone["orderStatus"] == "Cancelled"
    private.wait(lambda f: f.get("topic") == "wallet", since)

    since = private.mark()
    mid = trade_ws("place_order", **eth, side="Buy", orderType="Market", qty="0.1")
    oid = mid["data"]["orderId"]
    assert private.item("order", lambda o: o["orderId"] == oid, since)["orderStatus"] == "Filled"
    fill = private.item("execution", lambda e: e["orderId"] == oid, since)
    assert fill["isMaker"] is False and D(fill["execFee"]) > 0
    pos = private.item("position", lambda p: p["symbol"] == "ETHUSDT", since)
    assert (pos["side"], D(pos["size"])) == ("Buy", D("0.1"))
    wallet = private.wait(lambda f: f.get("topic") == "wallet", since)
    assert wallet["data"][0]["accountType"] == "UNIFIED"

    since = private.mark()
    close = http(fresh).place_order(**eth, side="Sell", orderType="Market", qty="0.1",
                                    reduceOnly=True)["result"]["orderId"]  # fmt: skip
    closing = private.item("execution", lambda e: e["orderId"] == close, since)
    assert D(closing["closedSize"]) == D("0.1")
    flat = private.item("position", lambda p: p["symbol"] == "ETHUSDT", since)
    assert D(flat["size"]) == 0
    private.wait(lambda f: f.get("topic") == "wallet", since)


def test_orderbook_1000_equals_the_rest_book_at_the_same_u(fresh):
    frames = Frames()
    ws = make_ws(settings(fresh), "linear", callback_function=frames)
    session = http(fresh)
    book = OrderBook("BTCUSDT", depth=1000)
    applied = 0

    def catch_up(u: int) -> None:
        """Apply received frames until the local book is at update id `u`."""
        nonlocal applied
        deadline = time.monotonic() + 10
        while book.update_id is None or book.update_id < u:
            assert time.monotonic() < deadline, "the stream never reached the REST book's u"
            with frames.lock:
                frame = frames.items[applied] if applied < len(frames.items) else None
            if frame is None:
                time.sleep(0.01)
                continue
            applied += 1
            if frame.get("topic") == "orderbook.1000.BTCUSDT":
                book.apply(frame)

    try:
        ws.orderbook_stream(1000, "BTCUSDT", frames)
        frames.wait(lambda f: f.get("type") == "snapshot")
        for round_ in range(3):
            if round_ == 1:  # a user order shows in both
                bid = D(
                    session.get_orderbook(category="linear", symbol="BTCUSDT")["result"]["b"][0][0]
                )
                session.place_order(category="linear", symbol="BTCUSDT", side="Buy",
                                    orderType="Limit", qty="0.5",
                                    price=str(bid - D("0.5")))  # fmt: skip
            rest = session.get_orderbook(category="linear", symbol="BTCUSDT", limit=1000)["result"]
            catch_up(rest["u"])
            assert book.update_id == rest["u"]
            assert len(rest["b"]) == len(rest["a"]) == 1000
            assert [list(level) for level in book.bids()] == rest["b"]
            assert [list(level) for level in book.asks()] == rest["a"]
            assert book.stats.gaps == 0
            time.sleep(0.3)
    finally:
        ws.exit()


# ---- hand-computed positions, PnL and fees on a book that holds still -----------------------

BIDS = [["64990.0", "0.2"], ["64980.0", "1"]]
ASKS = [["65000.0", "0.1"], ["65010.0", "1"]]
TAKER, MAKER = D("0.00055"), D("0.0002")


@pytest.fixture
def still(tmp_path: Path) -> Iterator[SimHandle]:
    """An exchange whose BTCUSDT book is a one-frame recording: replayed, then left alone by
    the synthetic crowd, so every price that trades is known; its mark is the mid, 64995."""
    start = 1_765_000_000_000_000_000
    snapshot = {"topic": "orderbook.50.BTCUSDT", "type": "snapshot", "ts": 1, "cts": 1,
                "data": {"s": "BTCUSDT", "b": BIDS, "a": ASKS, "u": 1, "seq": 1}}  # fmt: skip
    lines = [{"recording": "bybitctl", "version": 1, "created_ns": start,
              "channel": "public/linear", "topics": []},
             {"recv_ns": start, "channel": "public/linear", "frame": snapshot}]  # fmt: skip
    path = tmp_path / "still.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with running_exchange(replay=path, seed=5) as ex:
        session = http(ex)
        deadline = time.monotonic() + 10
        while session.get_orderbook(category="linear", symbol="BTCUSDT")["result"]["a"][:1] != [
            ["65000.0", "0.100"]
        ]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield ex


def position(session: Any) -> dict[str, Any]:
    [row] = session.get_positions(category="linear", symbol="BTCUSDT")["result"]["list"]
    return row


def usdt(session: Any) -> D:
    wallet = session.get_wallet_balance(accountType="UNIFIED", coin="USDT")["result"]
    return D(wallet["list"][0]["coin"][0]["walletBalance"])


def test_position_pnl_and_fees_by_hand(still):
    alice = http(still)
    key, secret = generate_key_pair()
    still.add_key(key, secret, account="100002")
    bob = http(still, key, secret)
    a0, b0 = usdt(alice), usdt(bob)
    btc = {"category": "linear", "symbol": "BTCUSDT"}
    # bob quotes inside the recorded spread; alice's market buy takes 0.1 @ 65000 (the best
    # ask) then bob's 0.1 @ 65005
    bob.place_order(**btc, side="Sell", orderType="Limit", qty="0.1", price="65005")
    alice.place_order(**btc, side="Buy", orderType="Market", qty="0.2")
    open_fees = D(6500) * TAKER + D("6500.5") * TAKER  # 3.575 + 3.575275
    p = position(alice)
    assert (p["side"], D(p["size"]), D(p["avgPrice"])) == ("Buy", D("0.2"), D("65002.5"))
    assert D(p["positionValue"]) == D("13000.5")
    assert D(p["markPrice"]) == D(64995)
    assert D(p["unrealisedPnl"]) == (D(64995) - D("65002.5")) * D("0.2")  # -1.5
    assert D(p["curRealisedPnl"]) == -open_fees
    q = position(bob)
    assert (q["side"], D(q["size"]), D(q["avgPrice"])) == ("Sell", D("0.1"), D(65005))
    assert D(q["unrealisedPnl"]) == (D(65005) - D(64995)) * D("0.1")  # a short gains 1.0
    assert usdt(bob) - b0 == -D("6500.5") * MAKER  # -1.3001

    # alice sells 0.15 into the 64990 bid: closes 0.15 of her 0.2
    alice.place_order(**btc, side="Sell", orderType="Market", qty="0.15")
    gross = (D(64990) - D("65002.5")) * D("0.15")  # -1.875
    close_fee = D(64990) * D("0.15") * TAKER  # 5.361675
    [closed] = alice.get_closed_pnl(**btc)["result"]["list"]
    expected = gross - close_fee - open_fees * D("0.75")  # the closed share of the open fees
    assert D(closed["closedPnl"]) == expected.quantize(MONEY)  # -12.59938125
    assert (D(closed["avgEntryPrice"]), D(closed["avgExitPrice"])) == (D("65002.5"), D(64990))
    assert D(closed["closedSize"]) == D("0.15")
    p = position(alice)
    assert (D(p["size"]), D(p["avgPrice"])) == (D("0.05"), D("65002.5"))
    assert D(p["curRealisedPnl"]) == gross - close_fee - open_fees
    assert usdt(alice) - a0 == gross - close_fee - open_fees  # -14.38695, to the last decimal

    # execFee on every execution: value x the maker or taker rate
    for session, count in ((alice, 3), (bob, 1)):
        rows = session.get_executions(**btc)["result"]["list"]
        assert len(rows) == count
        for e in rows:
            rate = MAKER if e["isMaker"] else TAKER
            assert D(e["feeRate"]) == rate
            assert D(e["execFee"]) == (D(e["execValue"]) * rate).quantize(MONEY)
            assert D(e["execValue"]) == D(e["execPrice"]) * D(e["execQty"])


def test_hedge_mode_through_pybit(fresh, private):
    session = http(fresh)
    eth = {"category": "linear", "symbol": "ETHUSDT"}
    session.switch_position_mode(**eth, mode=3)
    with pytest.raises(InvalidRequestError, match="position idx not match position mode"):
        session.place_order(**eth, side="Buy", orderType="Market", qty="0.1")
    since = private.mark()
    session.place_order(**eth, side="Buy", orderType="Market", qty="0.1", positionIdx=1)
    session.place_order(**eth, side="Sell", orderType="Market", qty="0.2", positionIdx=2)
    rows = {r["positionIdx"]: r for r in session.get_positions(**eth)["result"]["list"]}
    assert (rows[1]["side"], D(rows[1]["size"])) == ("Buy", D("0.1"))
    assert (rows[2]["side"], D(rows[2]["size"])) == ("Sell", D("0.2"))
    short = private.item("position", lambda p: p["positionIdx"] == 2 and D(p["size"]), since)
    assert short["side"] == "Sell"
    with pytest.raises(InvalidRequestError, match="existing position"):
        session.switch_position_mode(**eth, mode=0)
    # a Sell on the long's slot closes it, and only it, however large it is asked to be
    since = private.mark()
    session.place_order(**eth, side="Sell", orderType="Market", qty="0.5", positionIdx=1)
    rows = {r["positionIdx"]: r for r in session.get_positions(**eth)["result"]["list"]}
    assert (D(rows[1]["size"]), D(rows[2]["size"])) == (0, D("0.2"))
    flat = private.item("position", lambda p: p["positionIdx"] == 1, since)
    assert D(flat["size"]) == 0
    [closed] = session.get_closed_pnl(**eth)["result"]["list"]
    assert D(closed["closedSize"]) == D("0.1") and closed["side"] == "Sell"


def test_order_types_and_time_in_force_on_a_known_book(still):
    """Every order type and time in force through pybit HTTP, with partial fills, against
    asks 0.1 @ 65000 and 1 @ 65010, bids 0.2 @ 64990 and 1 @ 64980."""
    alice = http(still)
    key, secret = generate_key_pair()
    still.add_key(key, secret, account="100002")
    bob = http(still, key, secret)
    btc = {"category": "linear", "symbol": "BTCUSDT"}

    def order(session: Any, **params: Any) -> dict[str, Any]:
        oid = session.place_order(**btc, **params)["result"]["orderId"]
        [row] = session.get_order_history(**btc, orderId=oid)["result"]["list"]
        return row

    ioc = order(alice, side="Buy", orderType="Limit", qty="0.3", price="65005",
                timeInForce="IOC")  # fmt: skip
    assert (ioc["orderStatus"], D(ioc["cumExecQty"]), D(ioc["avgPrice"])) == (
        "Cancelled", D("0.1"), D(65000))  # fmt: skip
    fok = order(alice, side="Buy", orderType="Limit", qty="1.5", price="65010",
                timeInForce="FOK")  # fmt: skip
    assert (fok["orderStatus"], D(fok["cumExecQty"])) == ("Cancelled", 0)
    fok = order(alice, side="Buy", orderType="Limit", qty="0.5", price="65010",
                timeInForce="FOK")  # fmt: skip
    assert (fok["orderStatus"], D(fok["avgPrice"])) == ("Filled", D(65010))
    post = order(alice, side="Buy", orderType="Limit", qty="0.1", price="65010",
                 timeInForce="PostOnly")  # fmt: skip
    assert (post["orderStatus"], post["rejectReason"]) == (
        "Cancelled", "EC_PostOnlyWillTakeLiquidity")  # fmt: skip
    gtc = order(alice, side="Sell", orderType="Limit", qty="0.1", price="65015",
                timeInForce="PostOnly")  # fmt: skip
    assert gtc["orderStatus"] == "New"
    # bob's market buy sweeps the 0.5 left at 65010, then half of alice's quote
    sweep = order(bob, side="Buy", orderType="Market", qty="0.55")
    assert sweep["orderStatus"] == "Filled"
    assert abs(D(sweep["avgPrice"]) - (D("32505") + D("3250.75")) / D("0.55")) < D("0.0001")
    [part] = alice.get_open_orders(**btc, orderId=gtc["orderId"])["result"]["list"]
    assert (part["orderStatus"], D(part["cumExecQty"]), D(part["leavesQty"])) == (
        "PartiallyFilled", D("0.05"), D("0.05"))  # fmt: skip
    alice.amend_order(**btc, orderId=gtc["orderId"], qty="0.08")
    [part] = alice.get_open_orders(**btc, orderId=gtc["orderId"])["result"]["list"]
    assert (part["orderStatus"], D(part["leavesQty"])) == ("PartiallyFilled", D("0.03"))
    alice.cancel_order(**btc, orderId=gtc["orderId"])
    [done] = alice.get_order_history(**btc, orderId=gtc["orderId"])["result"]["list"]
    assert (done["orderStatus"], D(done["cumExecQty"])) == ("Cancelled", D("0.05"))
    market = order(alice, side="Sell", orderType="Market", qty="0.3")
    assert (market["orderStatus"], D(market["cumExecQty"])) == ("Filled", D("0.3"))
    # 0.2 at 64990, then 0.1 at 64980
    assert D(market["cumExecValue"]) == D("0.2") * 64990 + D("0.1") * 64980
