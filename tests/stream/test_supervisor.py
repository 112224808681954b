"""The one reconnect policy, through its ports: a fake clock, a scripted connector, attempts
run when the test says. Nothing here sleeps, opens a socket or touches pybit.

`Owner` plays the thread that owns a supervisor: it runs spawned jobs when told, hands the
posted outcomes back to `accept`, and records every state change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bybitctl.errors import NetworkError
from bybitctl.mm.feeds import DOWN, FRAME, UP, Feed
from bybitctl.stream.feed import LiveFeed
from bybitctl.stream.supervisor import (
    CLOSED,
    CONNECTED,
    CONNECTING,
    IDLE,
    RECONNECTING,
    Backoff,
    Supervisor,
)
from bybitctl.stream.topics import Subscription


class Clock:
    """Monotonic seconds that move only when the test moves them."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeLink:
    """An open connection as the connector's port describes it: alive until dropped."""

    def __init__(self, number: int, callback: Callable[[dict[str, Any]], None]) -> None:
        self.number = number
        self.callback = callback
        self.connected = True
        self.closed = False
        self.subscribed: list[str] = []

    def is_connected(self) -> bool:
        return self.connected and not self.closed

    def exit(self) -> None:
        self.closed = True

    def subscribe(self, callback: Callable[[dict[str, Any]], None], topic: str) -> None:
        """The method a `Subscription` names (pybit's `subscribe(topic=..., callback=...)`)."""
        self.subscribed.append(topic)

    def push(self, message: dict[str, Any]) -> None:
        """A frame arriving on this connection."""
        self.callback(message)


class Connector:
    """Scripted outcomes, one per attempt: "ok" opens a `FakeLink`, anything else is the
    text of the exception the attempt raises. Past the script, attempts succeed."""

    def __init__(self, *script: str) -> None:
        self.script = list(script)
        self.links: list[FakeLink] = []
        self.attempts = 0

    def __call__(self, callback: Callable[[dict[str, Any]], None]) -> FakeLink:
        self.attempts += 1
        outcome = self.script.pop(0) if self.script else "ok"
        if outcome != "ok":
            raise ConnectionRefusedError(outcome)
        link = FakeLink(len(self.links), callback)
        self.links.append(link)
        return link


class Owner:
    """The owning thread: queued jobs, posted outcomes, heard states."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self.posted: list[tuple[str, int, Any]] = []
        self.states: list[tuple[str, str]] = []
        self.frames: list[tuple[int, dict[str, Any]]] = []

    def spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        self.jobs.append((fn, args))

    def run_jobs(self) -> None:
        """Run every spawned job (attempts, closes), as helper threads would."""
        while self.jobs:
            fn, args = self.jobs.pop(0)
            fn(*args)

    def post(self, kind: str, gen: int, payload: Any) -> None:
        self.posted.append((kind, gen, payload))

    def frame_sink(self, gen: int) -> Callable[[dict[str, Any]], None]:
        return lambda message: self.frames.append((gen, message))

    def deliver(self, supervisor: Supervisor) -> list[bool]:
        """Hand every posted outcome to `accept`, in order."""
        posted, self.posted = self.posted, []
        return [supervisor.accept(kind, gen, payload) for kind, gen, payload in posted]

    def settle(self, supervisor: Supervisor) -> None:
        """Run the jobs and deliver their outcomes."""
        self.run_jobs()
        self.deliver(supervisor)

    def retry_delays(self) -> list[float]:
        return [
            float(detail.rsplit("retrying in ", 1)[1].removesuffix("s"))
            for state, detail in self.states
            if state == RECONNECTING
        ]


def supervisor(
    connector: Connector,
    owner: Owner,
    clock: Clock,
    *,
    subscribe: Callable[[Any, Any], None] | None = None,
    rand: Callable[[], float] = lambda: 0.0,
    **kw: Any,
) -> Supervisor:
    kw.setdefault("backoff", Backoff(1.0, 8.0))
    return Supervisor(
        connector,
        subscribe or (lambda link, callback: link.subscribe(callback, "orderbook.50.BTCUSDT")),
        owner.post,
        owner.frame_sink,
        on_state=lambda state, detail: owner.states.append((state, detail)),
        clock=clock,
        rand=rand,
        spawn=owner.spawn,
        **kw,
    )


def connected(*script: str, **kw: Any) -> tuple[Supervisor, Connector, Owner, Clock]:
    """A supervisor whose first attempt came up."""
    connector, owner, clock = Connector(*script), Owner(), Clock()
    sup = supervisor(connector, owner, clock, **kw)
    sup.start()
    owner.settle(sup)
    assert sup.state == CONNECTED
    return sup, connector, owner, clock


def test_start_connects_subscribes_then_reports_up() -> None:
    connector, owner, clock = Connector(), Owner(), Clock()
    sup = supervisor(connector, owner, clock)
    assert (sup.state, sup.gen, sup.link) == (IDLE, 0, None)
    sup.start()
    assert sup.state == CONNECTING
    assert connector.attempts == 0  # the attempt runs off the owner's thread
    owner.run_jobs()
    (link,) = connector.links
    assert link.subscribed == ["orderbook.50.BTCUSDT"]
    assert owner.posted == [(UP, 1, link)]
    assert sup.state == CONNECTING  # nothing changes until the owner accepts the outcome
    assert owner.deliver(sup) == [True]
    assert (sup.state, sup.link, sup.up, sup.connects) == (CONNECTED, link, True, 1)
    assert owner.states == [(CONNECTING, ""), (CONNECTED, "")]
    assert sup.check() is None


def test_a_dropped_socket_is_closed_its_frames_outdated_and_the_topics_sent_again() -> None:
    sup, connector, owner, clock = connected()
    first = connector.links[0]
    first.push({"n": 1})
    first.connected = False
    assert sup.check() == "connection closed"
    assert (sup.state, sup.link, sup.up, sup.drops) == (RECONNECTING, None, False, 1)
    owner.run_jobs()
    assert first.closed  # off the owner's thread: a hung peer cannot hold it
    first.push({"n": 2})  # still queued in the dead socket's reader
    assert [gen for gen, _ in owner.frames] == [1, 1]
    assert sup.gen == 2  # neither frame's generation is the current one
    clock.advance(1.0)
    sup.check()
    owner.settle(sup)
    second = connector.links[1]
    assert (sup.state, sup.link, sup.gen) == (CONNECTED, second, 3)
    assert second.subscribed == ["orderbook.50.BTCUSDT"]  # subscribed afresh
    second.push({"n": 3})
    assert owner.frames[-1] == (sup.gen, {"n": 3})


def test_reconnects_wait_a_doubling_capped_backoff_and_not_a_moment_less() -> None:
    connector, owner, clock = Connector(*["refused"] * 6), Owner(), Clock()
    sup = supervisor(connector, owner, clock, backoff=Backoff(1.0, 8.0))
    sup.start()
    for _ in range(6):
        owner.settle(sup)
        assert sup.state == RECONNECTING
        delay = owner.retry_delays()[-1]
        clock.advance(delay - 0.001)
        assert sup.check() is None
        assert sup.state == RECONNECTING and not owner.jobs  # not due yet
        clock.advance(0.001)
        sup.check()
        assert sup.state == CONNECTING
    assert owner.retry_delays() == [1, 2, 4, 8, 8, 8]
    owner.settle(sup)
    assert sup.state == CONNECTED
    assert connector.attempts == 7


@pytest.mark.parametrize("draw", [0.0, 0.3, 0.999])
def test_jitter_takes_at_most_its_share_off_each_delay(draw: float) -> None:
    connector, owner, clock = Connector(*["refused"] * 5), Owner(), Clock()
    backoff = Backoff(0.5, 4.0, jitter=0.25)
    sup = supervisor(connector, owner, clock, backoff=backoff, rand=lambda: draw)
    sup.start()
    for _ in range(5):
        owner.settle(sup)
        clock.advance(owner.retry_delays()[-1] + 0.01)  # the detail is rounded to 10 ms
        sup.check()
    full = [0.5, 1.0, 2.0, 4.0, 4.0]
    assert owner.retry_delays() == [round(d * (1 - 0.25 * draw), 2) for d in full]
    assert all(0.75 * d <= got <= d for d, got in zip(full, owner.retry_delays(), strict=True))


def test_the_jitter_draw_comes_from_the_injected_source() -> None:
    draws = iter([0.0, 0.999])
    connector, owner, clock = Connector("refused", "refused"), Owner(), Clock()
    backoff = Backoff(2.0, 8.0, jitter=0.5)
    sup = supervisor(connector, owner, clock, backoff=backoff, rand=lambda: next(draws))
    sup.start()
    owner.settle(sup)
    clock.advance(2.0)
    sup.check()
    owner.settle(sup)
    assert owner.retry_delays() == [2.0, 2.0]  # 2 s whole, then 4 s less half of it


def test_a_connection_that_never_comes_up_is_given_up_with_the_last_reason() -> None:
    connector = Connector("connection refused. pybit will no longer try", *["refused"] * 9)
    owner, clock = Owner(), Clock()
    sup = supervisor(connector, owner, clock, give_up_after=3)
    sup.start()
    with pytest.raises(
        NetworkError, match=r"cannot open the WebSocket \(connect failed: refused\)"
    ):
        for _ in range(10):
            owner.settle(sup)
            clock.advance(60)
            sup.check()
    assert connector.attempts == 3
    assert owner.states[1] == (
        RECONNECTING,
        "connect failed: connection refused; retrying in 1s",  # pybit's first sentence only
    )
    assert sup.state == CLOSED


def test_a_connection_that_came_up_once_is_never_given_up() -> None:
    sup, connector, owner, clock = connected(give_up_after=2)
    connector.script = ["refused"] * 10
    connector.links[0].connected = False
    sup.check()
    for _ in range(11):
        clock.advance(60)
        sup.check()
        owner.settle(sup)
    assert sup.state == CONNECTED
    assert connector.attempts == 12


def test_backoff_starts_afresh_only_after_a_stable_connection() -> None:
    sup, connector, owner, clock = connected(stable_after=10.0)

    def drop_after(seconds: float) -> None:
        clock.advance(seconds)
        connector.links[-1].connected = False
        sup.check()
        clock.advance(owner.retry_delays()[-1])
        sup.check()
        owner.settle(sup)
        assert sup.state == CONNECTED

    for _ in range(4):
        drop_after(0.5)  # accepted, then dropped at once: flapping
    drop_after(10.0)  # a good connection
    drop_after(0.5)
    assert owner.retry_delays() == [1, 2, 4, 8, 1, 2]
    assert (sup.connects, sup.drops) == (7, 6)


def test_a_stuck_attempt_times_out_and_its_late_connection_is_closed() -> None:
    connector, owner, clock = Connector(), Owner(), Clock()
    sup = supervisor(connector, owner, clock, connect_timeout=15.0)
    sup.start()
    stuck = owner.jobs.pop()  # the attempt hangs inside pybit: it does not finish yet
    clock.advance(15.0)
    assert sup.check() is None  # not past the timeout yet
    clock.advance(0.001)
    assert sup.check() == "connect timed out"
    assert sup.state == RECONNECTING
    clock.advance(1.0)
    sup.check()
    owner.settle(sup)
    assert sup.state == CONNECTED
    current = sup.link
    stuck[0](*stuck[1])  # the abandoned attempt finally connects
    assert owner.deliver(sup) == [False]
    owner.run_jobs()
    assert connector.links[-1].closed and not current.closed
    assert sup.link is current


def test_an_outcome_for_an_older_attempt_is_ignored() -> None:
    sup, *_ = connected()
    assert sup.accept(DOWN, sup.gen - 1, "connect failed: late") is False
    assert sup.state == CONNECTED


def test_a_silent_socket_is_replaced_and_only_frames_of_the_live_one_count() -> None:
    sup, connector, owner, clock = connected(stale_after=5.0)
    first = connector.links[0]
    for _ in range(3):
        clock.advance(4.0)
        first.push({"n": 1})
        assert sup.check() is None  # frames keep it fresh
    clock.advance(4.0)
    assert sup.check() is None
    clock.advance(1.0)
    assert sup.check() == "no frames for 5s"
    assert sup.state == RECONNECTING and sup.drops == 1
    clock.advance(1.0)
    sup.check()
    owner.settle(sup)
    first.push({"n": 2})  # the replaced socket's reader is not silent, but it is not live
    clock.advance(5.0)
    assert sup.check() == "no frames for 5s"


def test_without_stale_after_a_silent_socket_is_fine() -> None:
    sup, _, _, clock = connected()
    clock.advance(3600.0)
    assert sup.check() is None and sup.state == CONNECTED


def test_close_ends_everything() -> None:
    sup, _, owner, clock = connected()
    link = sup.link
    sup.close()
    assert link.closed and sup.state == CLOSED and sup.link is None
    clock.advance(3600.0)
    assert sup.check() is None and not owner.jobs


def test_close_while_connecting_ignores_the_attempt_and_closes_its_connection() -> None:
    connector, owner, clock = Connector(), Owner(), Clock()
    sup = supervisor(connector, owner, clock)
    sup.start()
    sup.close()
    owner.run_jobs()
    assert owner.deliver(sup) == [False]
    owner.run_jobs()
    assert connector.links[0].closed and sup.state == CLOSED


# -- the two owners: `bybitctl stream` and the market maker ----------------------------------


class Sink:
    """The engine's inbox as `Feed` uses it."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, int, int, Any]] = []

    def put(self, item: tuple[str, str, int, int, Any]) -> None:
        self.items.append(item)


def test_the_engine_feed_reports_through_its_inbox_and_keeps_its_interface() -> None:
    connector, owner, clock, sink = Connector(), Owner(), Clock(), Sink()
    topics: list[str] = []
    feed = Feed(
        "public",
        connector,
        lambda link, callback: topics.append("orderbook.50.SIMUSDT"),
        sink,
        Backoff(0.2, 5.0),
        15.0,
        clock=clock,
        rand=lambda: 0.0,
        spawn=owner.spawn,
    )
    feed.start()
    owner.run_jobs()
    (link,) = connector.links
    assert sink.items == [(UP, "public", feed.gen, 0, link)]
    assert feed.accept(*_event(sink.items.pop())) and feed.up and feed.connects == 1
    link.push({"topic": "orderbook.50.SIMUSDT"})
    kind, source, gen, t_ns, message = sink.items.pop()
    assert (kind, source, gen, message) == (
        FRAME,
        "public",
        feed.gen,
        {"topic": "orderbook.50.SIMUSDT"},
    )
    assert t_ns > 0  # perf_counter_ns at the hand-over: where tick-to-quote starts
    link.connected = False
    assert feed.check() == "connection closed"
    assert (feed.up, feed.drops) == (False, 1) and gen != feed.gen
    clock.advance(0.2)
    assert feed.check() is None
    owner.run_jobs()
    assert feed.accept(*_event(sink.items.pop())) and feed.up
    assert topics == ["orderbook.50.SIMUSDT"] * 2
    feed.close()
    assert not feed.up and connector.links[-1].closed


def _event(item: tuple[str, str, int, int, Any]) -> tuple[str, int, Any]:
    kind, _, gen, _, payload = item
    return kind, gen, payload


def test_a_failed_engine_feed_attempt_says_why_in_its_down_event() -> None:
    connector, owner, sink = Connector("handshake refused. pybit will retry"), Owner(), Sink()
    feed = Feed("private", connector, lambda link, cb: None, sink, spawn=owner.spawn)
    feed.start()
    owner.run_jobs()
    (item,) = sink.items
    assert item[:2] == (DOWN, "private")
    assert item[4] == "connect failed: handshake refused"
    assert feed.accept(*_event(item)) and not feed.up


def test_the_live_feed_reconnects_and_drops_the_dead_sockets_frames() -> None:
    connector, owner, clock = Connector(), Owner(), Clock()
    states: list[tuple[str, str]] = []
    feed = LiveFeed(
        connector,
        [Subscription("orderbook.50.BTCUSDT", "subscribe", {"topic": "orderbook.50.BTCUSDT"})],
        lambda state, detail: states.append((state, detail)),
        backoff=Backoff(0.5, 4.0),
        clock=clock,
        spawn=owner.spawn,
    )
    feed.start()
    owner.run_jobs()
    assert feed.poll(0) == []
    assert feed.state == CONNECTED
    first = connector.links[0]
    assert first.subscribed == ["orderbook.50.BTCUSDT"]
    first.push({"n": 1})
    assert [frame for _, frame in feed.poll(0)] == [{"n": 1}]
    first.connected = False
    first.push({"n": 2})
    assert [frame for _, frame in feed.poll(0)] == [{"n": 2}]  # frames before the loss first
    assert feed.state == CONNECTED
    assert feed.poll(0) == [] and feed.state == RECONNECTING
    first.push({"n": 3})  # late, from the dead socket
    clock.advance(0.5)
    assert feed.poll(0) == []
    owner.run_jobs()
    assert feed.poll(0) == [] and feed.state == CONNECTED
    assert connector.links[1].subscribed == ["orderbook.50.BTCUSDT"]
    assert states == [
        (CONNECTING, ""),
        (CONNECTED, "subscribed orderbook.50.BTCUSDT"),
        (RECONNECTING, "connection closed; retrying in 0.5s"),
        (CONNECTING, ""),
        (CONNECTED, "subscribed orderbook.50.BTCUSDT"),
    ]
