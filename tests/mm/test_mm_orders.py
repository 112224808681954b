"""The order tracker shared by live runs and the backtest: each rule stepped exactly, and the
invariant the position limit rests on checked over random interleavings of our actions, the
exchange's matching and its three channels of answers (hypothesis)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from support.examples import examples

from bybitctl.mm.actions import (
    OPEN,
    PENDING_AMEND,
    PENDING_CANCEL,
    PENDING_NEW,
    Amend,
    Cancel,
    Inventory,
    Place,
)
from bybitctl.mm.orders import (
    TIMEOUT,
    OrderTracker,
    OrderUpdate,
    owner,
    run_token,
)

D = Decimal
RUN = "mmabcdef"


def place(n: int, side: str = "Buy", price: str = "100", qty: str = "1", idx: int = 0) -> Place:
    return Place(f"{RUN}-{n}", side, D(price), D(qty), True, idx, 0)


def live(
    link: str, price: str = "100", qty: str = "1", cum: str = "0", **kw: object
) -> OrderUpdate:
    status = str(kw.get("status", "PartiallyFilled" if D(cum) else "New"))
    return OrderUpdate(link, str(kw.get("side", "Buy")), status, D(price), D(qty), D(cum))


def resting(tracker: OrderTracker, *places: Place) -> None:
    tracker.sent(places, 1)
    for p in places:
        tracker.on_result(p, 0)
        tracker.on_update(live(p.link_id, str(p.price), str(p.qty), side=p.side), 2)


def test_a_place_is_in_flight_until_the_exchange_shows_it() -> None:
    t = OrderTracker(RUN)
    t.sent([place(1, price="99.5")], 10)
    (o,) = t.open_orders()
    assert (o.status, o.created_ms, o.remaining) == (PENDING_NEW, 10, D(1))
    t.on_result(place(1), 0)
    assert t.orders[o.link_id].status == PENDING_NEW  # accepted: the order stream decides
    assert t.on_update(live(o.link_id, "99.5"), 12)
    assert t.orders[o.link_id].status == OPEN


def test_a_refused_place_goes_and_a_timed_out_one_stays_for_rest() -> None:
    t = OrderTracker(RUN)
    t.sent([place(1), place(2)], 10)
    t.on_result(place(1), 110007)
    t.on_result(place(2), TIMEOUT)
    assert list(t.orders) == [f"{RUN}-2"]


def test_an_amend_counts_at_the_larger_qty_and_a_refusal_restores_it() -> None:
    t = OrderTracker(RUN)
    resting(t, place(1, qty="2"))
    link = f"{RUN}-1"
    down = Amend(link, D("101"), D("1"), 0)
    t.sent([down], 20)
    assert (t.orders[link].qty, t.orders[link].price, t.orders[link].status) == (
        D(2),
        D(101),
        PENDING_AMEND,
    )
    t.on_result(down, 110064)
    assert (t.orders[link].qty, t.orders[link].price, t.orders[link].status) == (D(2), D(100), OPEN)


def test_an_update_from_before_the_amend_landed_is_not_its_confirmation() -> None:
    t = OrderTracker(RUN)
    resting(t, place(1, qty="2"))
    link = f"{RUN}-1"
    t.sent([Amend(link, D("101"), D("3"), 0)], 20)
    assert not t.on_update(live(link, "100", "2", cum="0.5"), 21)  # a fill at the old price
    assert t.orders[link].status == PENDING_AMEND
    assert t.on_update(live(link, "101", "3", cum="0.5"), 22)
    assert (t.orders[link].price, t.orders[link].qty, t.orders[link].status) == (D(101), D(3), OPEN)


def test_a_refused_cancel_reopens_and_one_for_a_gone_order_retires_it() -> None:
    t = OrderTracker(RUN)
    resting(t, place(1), place(2))
    a, b = f"{RUN}-1", f"{RUN}-2"
    t.sent([Cancel(a, "x"), Cancel(b, "x")], 20)
    assert {o.status for o in t.open_orders()} == {PENDING_CANCEL}
    t.on_result(Cancel(a, "x"), 10006)
    t.on_result(Cancel(b, "x"), 110001)  # gone: its executions may still be on their way
    assert t.orders[a].status == OPEN
    assert (t.orders[b].status, t.orders[b].remaining) == (PENDING_CANCEL, D(1))
    t.on_update(live(b, cum="0.25", status="Cancelled"), 21)  # what filled, at last
    assert t.orders[b].remaining == D("0.25")
    t.on_fill(b, "Buy", D("0.25"), 22)
    assert list(t.orders) == [a]


def test_an_answer_that_the_order_is_gone_never_outruns_its_executions() -> None:
    """The race the property test below found: the order fills at the exchange while our
    cancel is on its way; the cancel's answer (order does not exist) comes on the trade
    socket before the execution on the private stream. Until then the fill must count."""
    t = OrderTracker(RUN)
    resting(t, place(1, qty="2"))
    link = f"{RUN}-1"
    t.sent([Cancel(link, "requote")], 20)
    t.on_result(Cancel(link, "requote"), 110001)
    assert sum(o.remaining for o in t.orders.values()) == D(2)
    t.on_fill(link, "Buy", D(2), 25)
    assert t.orders == {}


def test_a_terminal_order_counts_until_its_executions_arrive() -> None:
    retired: list[str] = []
    t = OrderTracker(RUN, on_retire=retired.append)
    resting(t, place(1, qty="2"))
    link = f"{RUN}-1"
    t.on_fill(link, "Buy", D("0.5"), 30)
    t.on_update(live(link, "100", "2", cum="2", status="Filled"), 31)  # 1.5 still coming
    gone = t.orders[link]
    assert (gone.status, gone.qty, gone.filled, gone.remaining) == (
        PENDING_CANCEL,
        D(2),
        D("0.5"),
        D("1.5"),
    )
    t.on_fill(link, "Buy", D("1.5"), 32)
    assert t.orders == {} and retired == [link]


def test_a_live_order_of_this_run_it_does_not_hold_is_taken_back() -> None:
    t = OrderTracker(RUN)
    assert t.on_update(live(f"{RUN}-9", "99", "1"), 40)  # its place timed out, it rests
    assert t.orders[f"{RUN}-9"].status == OPEN
    assert not t.on_update(live("mmzzzzzz-1"), 40)  # another run's: not ours to take
    assert not t.on_update(live(f"{RUN}-8", status="Cancelled"), 40)


def test_adopted_orders_count_only_executions_after_their_adoption() -> None:
    t = OrderTracker(RUN)
    old = "mmzzzzzz-3"
    t.adopt(live(old, "99", "2", cum="0.5"), 5)
    assert t.orders[old].remaining == D("1.5")
    t.on_fill(old, "Buy", D("0.5"), 6, cum_after=D("0.5"))  # already in the position
    assert t.orders[old].filled == D("0.5")
    t.on_fill(old, "Buy", D("0.25"), 7, cum_after=D("0.75"))
    assert t.orders[old].filled == D("0.75")


def test_hedge_fills_move_the_leg_of_their_order() -> None:
    t = OrderTracker(RUN, hedge_mode=True)
    t.legs = (D(1), D(0))
    resting(t, place(1, "Sell", qty="0.4", idx=1), place(2, "Sell", qty="1", idx=2))
    t.on_fill(f"{RUN}-1", "Sell", D("0.4"), 50)  # closes the long leg
    t.on_fill(f"{RUN}-2", "Sell", D("0.3"), 51)  # opens the short leg
    t.on_fill("flatten", "Buy", D("0.3"), 52, position_idx=2)  # not ours to hold: its idx
    assert t.legs == (D("0.6"), D(0))
    assert t.inventory(D("0.6"), D(100)) == Inventory(D("0.6"), D(100), 52, 51, D("0.6"), D(0))


def test_a_resync_retires_what_rest_does_not_list() -> None:
    t = OrderTracker(RUN)
    resting(t, place(1), place(2))
    t.sent([place(3)], 100)  # in flight and recent: the listing may predate it
    t.sent([Cancel(f"{RUN}-2", "x")], 10)  # answered long ago, never confirmed
    t.resync({f"{RUN}-2"}, horizon_ms=50)
    assert sorted(t.orders) == [f"{RUN}-2", f"{RUN}-3"]
    assert t.orders[f"{RUN}-2"].status == OPEN  # listed: its cancel did not take
    assert not t.overdue(horizon_ms=50)


def test_run_ids_and_ownership() -> None:
    token = run_token(1_700_000_000_000)
    assert len(token) == 6 and token == run_token(1_700_000_000_000)
    owns = owner("mm")
    assert owns(f"mm{token}-12") and not owns(f"mm{token}-") and not owns(f"xx{token}-1")


# -- the invariant, over random interleavings ------------------------------------------------


@dataclass
class Channels:
    """What the exchange tells us, on three channels that each keep their order but do not
    keep order between them (Bybit: trade-socket answers, the order stream, executions)."""

    answers: deque[tuple[object, int]] = field(default_factory=deque)
    updates: deque[OrderUpdate] = field(default_factory=deque)
    fills: deque[tuple[str, Decimal]] = field(default_factory=deque)


@dataclass
class Exchange:
    """A venue of our orders only: actions arrive in order; fills happen at will."""

    orders: dict[str, list[Decimal]] = field(default_factory=dict)  # link -> [qty, cum]
    inbox: deque[object] = field(default_factory=deque)
    out: Channels = field(default_factory=Channels)

    def arrive(self) -> None:
        action = self.inbox.popleft()
        link = action.link_id  # type: ignore[attr-defined]
        if isinstance(action, Place):
            self.orders[link] = [action.qty, D(0)]
            self._answer(action, 0, link, "New")
            return
        order = self.orders.get(link)
        if order is None:
            self.out.answers.append((action, 110001))
        elif isinstance(action, Amend):
            if action.qty <= order[1]:
                self.out.answers.append((action, 110064))
            else:
                order[0] = action.qty
                self._answer(action, 0, link, "PartiallyFilled" if order[1] else "New")
        else:
            del self.orders[link]
            self.out.answers.append((action, 0))
            self.out.updates.append(OrderUpdate(link, "Buy", "Cancelled", D(1), order[0], order[1]))

    def _answer(self, action: object, code: int, link: str, status: str) -> None:
        qty, cum = self.orders[link]
        self.out.answers.append((action, code))
        self.out.updates.append(OrderUpdate(link, "Buy", status, D(1), qty, cum))

    def fill(self, link: str, part: Decimal) -> None:
        order = self.orders[link]
        qty = max(D("0.1"), ((order[0] - order[1]) * part).quantize(D("0.1")))
        qty = min(qty, order[0] - order[1])
        order[1] += qty
        self.out.fills.append((link, qty))
        status = "Filled" if order[1] >= order[0] else "PartiallyFilled"
        self.out.updates.append(OrderUpdate(link, "Buy", status, D(1), order[0], order[1]))
        if status == "Filled":
            del self.orders[link]


@settings(max_examples=examples(400), deadline=None)
@given(data=st.data())
def test_every_qty_that_may_still_fill_is_counted(data: st.DataObject) -> None:
    """Our position as heard plus the remaining qty of every order held is never below the
    true position plus what rests at the exchange or is on its way there: a full fill of
    everything we hold covers every fill that can still come, in whatever order the three
    channels deliver."""
    t = OrderTracker(RUN)
    ex = Exchange()
    heard = D(0)
    for n in range(data.draw(st.integers(1, 40))):
        ours = [o for o in t.orders.values() if o.status == OPEN]
        moves = ["place"] + ["amend", "cancel"] * bool(ours)
        moves += ["arrive"] * bool(ex.inbox) + ["fill"] * bool(ex.orders)
        moves += ["answer"] * bool(ex.out.answers) + ["update"] * bool(ex.out.updates)
        moves += ["execution"] * bool(ex.out.fills)
        move = data.draw(st.sampled_from(moves))
        amount = data.draw(st.sampled_from([D("0.3"), D("1")]))
        send: object = None
        if move == "place":
            send = Place(f"{RUN}-{n}", "Buy", D(1), D(1) + amount, True, 0, 0)
        elif move in ("amend", "cancel"):
            o = data.draw(st.sampled_from(ours))
            send = Amend(o.link_id, D(1), o.filled + amount, 0) if move == "amend" else None
            send = send or Cancel(o.link_id, "x")
        elif move == "arrive":
            ex.arrive()
        elif move == "fill":
            ex.fill(data.draw(st.sampled_from(sorted(ex.orders))), amount)
        elif move == "answer":
            t.on_result(*ex.out.answers.popleft())  # type: ignore[arg-type]
        elif move == "update":
            t.on_update(ex.out.updates.popleft(), 0)
        else:
            link, qty = ex.out.fills.popleft()
            heard += qty
            t.on_fill(link, "Buy", qty, 0)
        if send is not None:
            t.sent([send], 0)  # type: ignore[list-item]
            ex.inbox.append(send)
        true = heard + sum((qty for _, qty in ex.out.fills), D(0))
        resting_there = sum((q - c for q, c in ex.orders.values()), D(0))
        on_the_way = sum((a.qty for a in ex.inbox if isinstance(a, Place)), D(0))
        counted = heard + sum((o.remaining for o in t.orders.values()), D(0))
        assert counted >= true + resting_there + on_the_way, move
