"""Public market-data streams of one book: orderbook depths, trades, ticker and klines.

Depth streams publish lazily: book changes accumulate in the sides' dirty maps and `flush`
turns them into one delta per running depth (`u` + 1 each), so a REST read, a new
subscription and every market step all see the same published book. `orderbook.1000` always
runs, because the REST book's `u` is that stream's update id.
"""

from __future__ import annotations

from typing import Any

from bybitctl.sim.core.book import Side
from bybitctl.sim.core.engine import Engine
from bybitctl.sim.core.instruments import Instrument

STREAMS = {"1": 1, "50": 50, "200": 200, "1000": 1000, "rpi": 50}
"""Stream name (the middle of `orderbook.{name}.{symbol}`) -> depth."""
OPTION_STREAMS = {"25": 25, "100": 100}
SPREAD_STREAMS = {"25": 25}
CATEGORY_STREAMS = {"option": OPTION_STREAMS, "spread": SPREAD_STREAMS}
REST_STREAM = {"option": "100", "spread": "25"}
"""The stream whose `u` the REST book carries: orderbook.1000, .100 for options, .25 for
spreads (`/v5/spread/orderbook` answers at most 25 levels)."""


class DepthStream:
    """Update id and window boundary (key of the N-th level, None: fewer levels) of one depth."""

    __slots__ = ("ask_bound", "bid_bound", "depth", "name", "running", "topic", "u")

    def __init__(self, name: str, depth: int, symbol: str) -> None:
        self.name = name
        self.depth = depth
        self.topic = f"orderbook.{name}.{symbol}"
        self.u = 0
        self.running = False
        self.bid_bound: int | None = None
        self.ask_bound: int | None = None


Change = tuple[int, int, int]
"""(key, size at the last flush, size now) of one level."""


def _changes(side: Side) -> list[Change]:
    """The side's changed levels since the last flush, best first; shared by every depth."""
    levels, dirty = side.levels, side.dirty
    out = []
    for k in sorted(dirty):
        lvl = levels.get(k)
        out.append((k, dirty[k], lvl.qty if lvl else 0))
    return out


def _side_delta(
    side: Side, changes: list[Change], old: int | None, new: int | None, inst: Instrument
) -> list[list[str]]:
    """Levels whose visible size inside a depth window changed: a changed level, or one the
    window's edge (`old` -> `new`, keys of its last level) moved across."""
    rows = changes
    if old != new:
        lo, hi = (old, new) if old is not None and (new is None or old < new) else (new, old)
        levels, dirty = side.levels, side.dirty
        edge = [
            (k, q, q)
            for k in side.keys.irange(lo, hi, inclusive=(False, True))
            if k not in dirty
            for q in (levels[k].qty,)
        ]
        if edge:
            rows = sorted(changes + edge)
    last = None if old is None or new is None else max(old, new)
    sign, out = side.sign, []
    for k, before, cur in rows:
        if last is not None and k > last:
            break
        if old is not None and k > old:
            before = 0
        after = cur if new is None or k <= new else 0
        if before != after:
            out.append([inst.price_str(k * sign), inst.qty_str(after) if after else "0"])
    return out


def _levels(side: Side, n: int, inst: Instrument) -> list[list[str]]:
    return [[inst.price_str(p), inst.qty_str(q)] for p, q in side.top(n)]


def _rpi(levels: list[list[str]]) -> list[list[str]]:
    """RPI rows carry a third column, the retail-price-improvement size (none here)."""
    return [[p, q, "0"] for p, q in levels]


class BookFeed:
    """The published view of one engine's book, per depth."""

    def __init__(self, eng: Engine) -> None:
        self.eng = eng
        cat = eng.inst.category
        names = CATEGORY_STREAMS.get(cat, STREAMS)
        sym = eng.inst.symbol
        self.streams = {n: DepthStream(n, d, sym) for n, d in names.items()}
        self.top: tuple[int | None, int, int | None, int] = (None, 0, None, 0)
        self.rest_stream = REST_STREAM.get(cat, "1000")
        self._start(self.streams[self.rest_stream])

    def _start(self, st: DepthStream) -> None:
        book = self.eng.book
        st.running = True
        st.u += 1
        st.bid_bound = book.bids.nth_key(st.depth)
        st.ask_bound = book.asks.nth_key(st.depth)

    def flush(self, now: int) -> list[tuple[str, dict[str, Any]]]:
        """Publish every change since the last flush: one message per running depth."""
        book = self.eng.book
        bids, asks = book.bids, book.asks
        if not bids.dirty and not asks.dirty:
            return []
        book.seq += 1
        inst = self.eng.inst
        out: list[tuple[str, dict[str, Any]]] = []
        bid_changes, ask_changes = _changes(bids), _changes(asks)
        for st in self.streams.values():
            if not st.running:
                continue
            if st.depth == 1:
                top = _top(bids, asks)
                if top != self.top:
                    self.top = top
                    st.u += 1
                    out.append((st.topic, self._message(st, "snapshot", now)))
                continue
            nb, na = bids.nth_key(st.depth), asks.nth_key(st.depth)
            b = _side_delta(bids, bid_changes, st.bid_bound, nb, inst)
            a = _side_delta(asks, ask_changes, st.ask_bound, na, inst)
            st.bid_bound, st.ask_bound = nb, na
            if b or a:
                st.u += 1
                if st.name == "rpi":
                    b, a = _rpi(b), _rpi(a)
                out.append((st.topic, self._envelope(st, "delta", now, b, a)))
        bids.dirty.clear()
        asks.dirty.clear()
        return out

    def _envelope(
        self, st: DepthStream, kind: str, now: int, b: list[list[str]], a: list[list[str]]
    ) -> dict[str, Any]:
        eng = self.eng
        return {
            "topic": st.topic,
            "type": kind,
            "ts": now,
            "data": {"s": eng.inst.symbol, "b": b, "a": a, "u": st.u, "seq": eng.book.seq},
            "cts": eng.cts or now,
        }

    def _message(self, st: DepthStream, kind: str, now: int) -> dict[str, Any]:
        inst, book = self.eng.inst, self.eng.book
        b, a = _levels(book.bids, st.depth, inst), _levels(book.asks, st.depth, inst)
        if st.name == "rpi":
            b, a = _rpi(b), _rpi(a)
        return self._envelope(st, kind, now, b, a)

    def subscribe(self, name: str, now: int) -> tuple[list[tuple[str, dict[str, Any]]], dict]:
        """(pending deltas to publish first, the snapshot for the new subscriber).

        A stream that was stopped restarts with `u` one above where it left off.
        """
        st = self.streams[name]
        pending = self.flush(now)
        if not st.running:
            self._start(st)
            if name == "1":
                self.top = _top(self.eng.book.bids, self.eng.book.asks)
        return pending, self._message(st, "snapshot", now)

    def stop(self, name: str) -> None:
        if name != self.rest_stream and name in self.streams:
            self.streams[name].running = False

    def rest(self, limit: int, now: int) -> tuple[list[tuple[str, dict[str, Any]]], dict]:
        """(pending deltas, the REST `/v5/market/orderbook` result at orderbook.1000's `u`)."""
        pending = self.flush(now)
        eng = self.eng
        inst, book = eng.inst, eng.book
        return pending, {
            "s": inst.symbol,
            "b": _levels(book.bids, limit, inst),
            "a": _levels(book.asks, limit, inst),
            "ts": now,
            "u": self.streams[self.rest_stream].u,
            "seq": book.seq,
            "cts": eng.cts or now,
        }


def _top(bids: Side, asks: Side) -> tuple[int | None, int, int | None, int]:
    bb, ba = bids.best(), asks.best()
    return (
        bb,
        bids.qty_at(bb) if bb is not None else 0,
        ba,
        asks.qty_at(ba) if ba is not None else 0,
    )
