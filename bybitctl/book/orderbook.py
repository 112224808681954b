"""An exact, fast L2 order book kept in sync with Bybit v5 `orderbook.*` messages.

Layout (chosen by `benchmarks/book_bench.py`, see docs/book.md): each side is a dict from the
exchange's price string to its size string, plus two parallel lists kept sorted ascending by
numeric price: the float prices (for `bisect`) and the price strings (for output). A size
change at a known price, 80% of Bybit's traffic, is one dict store with no number parsing;
only new and deleted levels parse the price and move list items. Floats only order the
levels: two distinct decimal prices of up to 15 significant digits never share a float, and
no float ever reaches an output. Bids are stored ascending too, so the best bid is the last
item and both sides share one update loop.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from typing import Any

from bybitctl.book.analytics import BookAnalytics
from bybitctl.errors import NETWORK, BybitctlError

Level = tuple[str, ...]
"""A level as the exchange sends it: (price, size), or (price, size, rpiSize) in RPI books."""


class BookError(BybitctlError):
    """The local book no longer matches the exchange's and must be rebuilt from a snapshot."""

    exit_code = NETWORK


class BookGap(BookError):
    """A delta arrived out of sequence (an update id was skipped) or before any snapshot."""


class CrossedBook(BookError):
    """A message left the best bid at or above the best ask."""


@dataclass(frozen=True, slots=True)
class BookStats:
    """Counters of what `OrderBook.apply` did with the messages it was given."""

    snapshots: int
    repeats: int
    deltas: int
    stale: int
    dropped: int
    gaps: int
    crossed: int
    unknown_deletes: int


class OrderBook(BookAnalytics):
    """One symbol's L2 book, fed with Bybit v5 orderbook messages through `apply`.

    Sync rules: a snapshot, or any message with ``u == 1`` (service restart), replaces the
    book; a delta must carry ``u == update_id + 1``; an older ``u`` is ignored; a skipped
    ``u`` or a delta before the first snapshot raises `BookGap`; a crossed result raises
    `CrossedBook`. Either error empties the book and sets `needs_resync`, and deltas are
    then dropped until a snapshot arrives, so a wrong book can never be read. A size of
    ``"0"``, Bybit's delete marker, removes the level (compared as a string: one C compare).

    With ``depth`` set, only the best ``depth`` levels per side are kept after each message,
    as in Bybit's depth-N topics: a level pushed out of the window stops receiving updates,
    so keeping it would leave it stale.

    RPI books (topic ``orderbook.rpi.*``, levels ``[price, size, rpiSize]``) keep both
    sizes: reads return 3-tuples, a level goes when both sizes are zero, and analytics count
    ``size + rpiSize`` (all displayed liquidity).

    >>> book = OrderBook("BTCUSDT", depth=50)
    >>> book.apply({"topic": "orderbook.50.BTCUSDT", "type": "snapshot", "ts": 1,
    ...     "data": {"s": "BTCUSDT", "b": [["100.0", "2"]], "a": [["100.5", "1"]],
    ...     "u": 7, "seq": 70}, "cts": 1})
    True
    >>> book.best_bid(), book.best_ask(), book.update_id
    (('100.0', '2'), ('100.5', '1'), 7)
    """

    __slots__ = (
        "_ad",
        "_ak",
        "_ap",
        "_bd",
        "_bk",
        "_bp",
        "_crossed",
        "_deltas",
        "_depth",
        "_dropped",
        "_expect",
        "_gaps",
        "_repeats",
        "_rpi",
        "_sides",
        "_snapshots",
        "_stale",
        "_unknown",
        "cts",
        "depth",
        "needs_resync",
        "seq",
        "symbol",
        "topic",
        "ts",
        "update_id",
    )

    def __init__(self, symbol: str, depth: int | None = None) -> None:
        if depth is not None and depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.symbol = symbol
        self.depth = depth
        self._depth = depth if depth is not None else 1 << 62
        # Per side: price string -> size (a str, or (size, rpiSize) in RPI books), and the
        # ascending float keys and price strings, index-aligned.
        self._bd: dict[str, Any] = {}
        self._bk: list[float] = []
        self._bp: list[str] = []
        self._ad: dict[str, Any] = {}
        self._ak: list[float] = []
        self._ap: list[str] = []
        self._sides = (("b", self._bd, self._bk, self._bp), ("a", self._ad, self._ak, self._ap))
        self._rpi = False
        self._expect = -1  # the only delta `u` the fast path accepts; -1 matches none
        self.needs_resync = False
        self.update_id: int | None = None
        self.seq: int | None = None
        self.ts: int | None = None
        self.cts: int | None = None
        self.topic: str | None = None
        self._snapshots = self._repeats = self._deltas = self._stale = 0
        self._dropped = self._gaps = self._crossed = self._unknown = 0

    # -- updates ------------------------------------------------------------------------

    def apply(self, message: Mapping[str, Any]) -> bool:
        """Apply one decoded orderbook message; return True when the book changed.

        Returns False for a stale delta, a delta dropped while `needs_resync`, and a
        snapshot identical to the current book (level 1 re-sends every 3 s with the same
        ``u``). The message is never mutated nor copied. Cost: O(1) per changed size; per
        added or removed level a bisect plus a memmove of two n-item lists (well under a
        microsecond at Bybit depths); O(n log n) per snapshot.

        Raises `BookGap`, `CrossedBook`, or `BookError` for a malformed message; each
        empties the book and sets `needs_resync`.

        >>> book = _demo()
        >>> delta = {"type": "delta", "ts": 2, "data": {"b": [["99.5", "0"]], "a": [], "u": 11,
        ...     "seq": 501}}
        >>> book.apply(delta), book.bids()
        (True, [('100.0', '2')])
        >>> book.apply(delta)  # u=11 again: stale
        False
        """
        data = message["data"]
        u = data["u"]
        if u != self._expect or message["type"] != "delta":
            return self._apply_out_of_line(message, data, u)
        try:
            seq = data["seq"]
            ts = message["ts"]
            grew = False
            if self._rpi:
                grew = self._apply_rpi_levels(data)
            else:
                for name, d, keys, prices in self._sides:
                    for p, q in data[name]:
                        if q == "0":
                            if p in d:
                                del d[p]
                                i = bisect_left(keys, float(p))
                                del keys[i]
                                del prices[i]
                            else:
                                self._delete_other_spelling(d, keys, prices, p)
                        elif p in d:
                            d[p] = q
                        else:
                            f = float(p)
                            i = bisect_left(keys, f)
                            if i < len(keys) and keys[i] == f:  # same price, other spelling
                                d[prices[i]] = q
                            else:
                                keys.insert(i, f)
                                prices.insert(i, p)
                                d[p] = q
                                grew = True
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            self._invalidate()
            raise BookError(f"{self.symbol}: malformed orderbook delta u={u}: {exc!r}") from exc
        if grew:  # only a new price can cross the book or deepen it
            bk = self._bk
            ak = self._ak
            if bk and ak and bk[-1] >= ak[0]:
                self._crossed += 1
                self._invalidate()
                raise CrossedBook(f"{self.symbol}: book crossed after delta u={u}")
            if len(bk) > self._depth or len(ak) > self._depth:
                self._trim()
        self.update_id = u
        self._expect = u + 1
        self.seq = seq
        self.ts = ts
        self.cts = message.get("cts")
        self._deltas += 1
        return True

    def _apply_out_of_line(
        self, message: Mapping[str, Any], data: Mapping[str, Any], u: int
    ) -> bool:
        """Everything but an in-sequence delta: snapshots, u == 1, stale, resync, gaps."""
        kind = message["type"]
        if kind == "snapshot" or (kind == "delta" and u == 1):
            return self._replace(message, data, u)
        if kind != "delta":
            raise BookError(f"{self.symbol}: unknown orderbook message type {kind!r}")
        if self.needs_resync:
            self._dropped += 1
            return False
        if self.update_id is None:
            self._gaps += 1
            self._invalidate()
            raise BookGap(f"{self.symbol}: delta u={u} before any snapshot")
        if u <= self.update_id:
            self._stale += 1
            return False
        self._gaps += 1
        expected = self.update_id + 1
        self._invalidate()
        raise BookGap(f"{self.symbol}: update id gap: expected u={expected}, got u={u}")

    def _replace(self, message: Mapping[str, Any], data: Mapping[str, Any], u: int) -> bool:
        """Rebuild both sides from a full-book message."""
        topic = message.get("topic")
        try:
            bids, asks = data["b"], data["a"]
            first = bids[0] if bids else asks[0] if asks else ()
            rpi = len(first) == 3 or (topic is not None and topic.startswith("orderbook.rpi."))
            bd, bk, bp = _build_side(bids, rpi)
            ad, ak, ap = _build_side(asks, rpi)
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            self._invalidate()
            raise BookError(f"{self.symbol}: malformed orderbook snapshot u={u}: {exc!r}") from exc
        if bk and ak and bk[-1] >= ak[0]:
            self._crossed += 1
            self._invalidate()
            raise CrossedBook(f"{self.symbol}: snapshot u={u} is crossed")
        _trim_side(bd, bk, bp, self._depth, bids=True)
        _trim_side(ad, ak, ap, self._depth, bids=False)
        repeat = (
            u == self.update_id
            and not self.needs_resync
            and rpi == self._rpi
            and bd == self._bd
            and ad == self._ad
        )
        # Mutate in place: `_sides` holds these very containers.
        self._bd.clear()
        self._bd.update(bd)
        self._bk[:] = bk
        self._bp[:] = bp
        self._ad.clear()
        self._ad.update(ad)
        self._ak[:] = ak
        self._ap[:] = ap
        self._rpi = rpi
        self.needs_resync = False
        self.update_id = u
        self._expect = u + 1
        # A REST /v5/market/orderbook result carries ts and cts inside `data`.
        self.seq = data.get("seq")
        self.ts = message.get("ts", data.get("ts"))
        self.cts = message.get("cts", data.get("cts"))
        if topic is not None:
            self.topic = topic
        if repeat:
            self._repeats += 1
            return False
        self._snapshots += 1
        return True

    def _apply_rpi_levels(self, data: Mapping[str, Any]) -> bool:
        """The delta loop for RPI levels [price, size, rpiSize], gone when both are zero;
        True when a new price was added."""
        grew = False
        for name, d, keys, prices in self._sides:
            for p, q, r in data[name]:
                if q == "0" and r == "0":
                    if p in d:
                        del d[p]
                        i = bisect_left(keys, float(p))
                        del keys[i]
                        del prices[i]
                    else:
                        self._delete_other_spelling(d, keys, prices, p)
                elif p in d:
                    d[p] = (q, r)
                else:
                    f = float(p)
                    i = bisect_left(keys, f)
                    if i < len(keys) and keys[i] == f:
                        d[prices[i]] = (q, r)
                    else:
                        keys.insert(i, f)
                        prices.insert(i, p)
                        d[p] = (q, r)
                        grew = True
        return grew

    def _delete_other_spelling(
        self, d: dict[str, Any], keys: list[float], prices: list[str], p: str
    ) -> None:
        """Delete a price not found by its string: another spelling of a level, or unknown."""
        f = float(p)
        i = bisect_left(keys, f)
        if i < len(keys) and keys[i] == f:
            del d[prices[i]]
            del keys[i]
            del prices[i]
        else:
            self._unknown += 1

    def _trim(self) -> None:
        """Keep the best `depth` levels per side."""
        _trim_side(self._bd, self._bk, self._bp, self._depth, bids=True)
        _trim_side(self._ad, self._ak, self._ap, self._depth, bids=False)

    def _invalidate(self) -> None:
        """Empty the book and wait for a snapshot: a book out of sync must not be read."""
        for container in (self._bd, self._bk, self._bp, self._ad, self._ak, self._ap):
            container.clear()
        self.needs_resync = True
        self._expect = -1

    # -- reads --------------------------------------------------------------------------

    def best_bid(self) -> Level | None:
        """The highest bid as (price, size[, rpiSize]) strings, or None. O(1).

        >>> _demo().best_bid()
        ('100.0', '2')
        """
        bp = self._bp
        if not bp:
            return None
        p = bp[-1]
        return (p, *self._bd[p]) if self._rpi else (p, self._bd[p])

    def best_ask(self) -> Level | None:
        """The lowest ask as (price, size[, rpiSize]) strings, or None. O(1).

        >>> _demo().best_ask()
        ('100.5', '1')
        """
        ap = self._ap
        if not ap:
            return None
        p = ap[0]
        return (p, *self._ad[p]) if self._rpi else (p, self._ad[p])

    def top(self) -> tuple[float, float, float, float]:
        """Best bid, its size, best ask, its size as floats, 0.0 for an empty side: the
        market maker's view of the touch, where the prices are the sort keys already held
        (each the float of its price string). Sizes exclude rpiSize. O(1).

        >>> _demo().top()
        (100.0, 2.0, 100.5, 1.0)
        """
        bk, ak = self._bk, self._ak
        rpi = self._rpi
        if bk:
            size = self._bd[self._bp[-1]]
            bid, bid_qty = bk[-1], float(size[0] if rpi else size)
        else:
            bid = bid_qty = 0.0
        if ak:
            size = self._ad[self._ap[0]]
            ask, ask_qty = ak[0], float(size[0] if rpi else size)
        else:
            ask = ask_qty = 0.0
        return bid, bid_qty, ask, ask_qty

    def bids(self, n: int | None = None) -> list[Level]:
        """The best `n` bids (all when None), best first, as the exchange's strings. O(n).

        >>> _demo().bids(2)
        [('100.0', '2'), ('99.5', '4')]
        """
        ps = self._bp[::-1] if n is None else self._bp[: -n - 1 : -1] if n > 0 else []
        return self._rows(ps, self._bd)

    def asks(self, n: int | None = None) -> list[Level]:
        """The best `n` asks (all when None), best first, as the exchange's strings. O(n).

        >>> _demo().asks(5)
        [('100.5', '1'), ('101', '3')]
        """
        ps = self._ap[:] if n is None else self._ap[:n] if n > 0 else []
        return self._rows(ps, self._ad)

    def level_at(self, price: Decimal | str, side: str | None = None) -> Level | None:
        """The level at `price` as (price, size[, rpiSize]) strings, or None when no level
        has that price; `side` "bid" or "ask" looks on that side only. Prices compare as
        numbers (`"100.10"` finds `"100.1"`). O(1) when the exchange spells the price as
        `str(price)` does, else O(log n).

        >>> _demo().level_at(Decimal("99.50")), _demo().level_at("101", "bid")
        (('99.5', '4'), None)
        """
        if side is None:
            sides = self._sides
        elif side == "bid":
            sides = self._sides[:1]
        elif side == "ask":
            sides = self._sides[1:]
        else:
            raise ValueError(f"side must be 'bid', 'ask' or None, got {side!r}")
        key = price if isinstance(price, str) else str(price)
        rpi = self._rpi
        for _, d, keys, prices in sides:
            value = d.get(key)
            if value is None and keys:
                f = float(key)
                i = bisect_left(keys, f)
                if i < len(keys) and keys[i] == f:
                    key = prices[i]
                    value = d[key]
            if value is not None:
                return (key, *value) if rpi else (key, value)
        return None

    def size_at(self, price: Decimal | str, side: str | None = None) -> Decimal:
        """The displayed size at `price` (size + rpiSize in RPI books, as the analytics count
        it), 0 when no level has that price; `side` as in `level_at`. O(1) / O(log n).

        >>> _demo().size_at("100.50"), _demo().size_at("100.25")
        (Decimal('1'), Decimal('0'))
        """
        level = self.level_at(price, side)
        if level is None:
            return Decimal(0)
        return Decimal(level[1]) + Decimal(level[2]) if self._rpi else Decimal(level[1])

    def _rows(self, ps: list[str], d: dict[str, Any]) -> list[Level]:
        if self._rpi:
            return [(p, *d[p]) for p in ps]
        return list(zip(ps, map(d.__getitem__, ps), strict=True))

    @property
    def rpi(self) -> bool:
        """True when the book holds RPI levels (price, size, rpiSize)."""
        return self._rpi

    @property
    def stats(self) -> BookStats:
        """Counters: snapshots, unchanged repeats, deltas, stale, dropped, gaps, crossed,
        unknown deletes.

        >>> _demo().stats.snapshots
        1
        """
        return BookStats(
            snapshots=self._snapshots,
            repeats=self._repeats,
            deltas=self._deltas,
            stale=self._stale,
            dropped=self._dropped,
            gaps=self._gaps,
            crossed=self._crossed,
            unknown_deletes=self._unknown,
        )

    # -- export and checks --------------------------------------------------------------

    def to_snapshot(self) -> dict[str, Any]:
        """The book as a Bybit snapshot message; `apply` on a fresh book rebuilds it exactly.
        O(n).

        >>> snap = _demo().to_snapshot()
        >>> snap["type"], snap["data"]["b"], snap["data"]["u"]
        ('snapshot', [['100.0', '2'], ['99.5', '4']], 10)
        >>> OrderBook("BTCUSDT").apply(snap)
        True
        """
        topic = self.topic
        if topic is None:
            topic = f"orderbook.{self.depth or 200}.{self.symbol}"
        return {
            "topic": topic,
            "type": "snapshot",
            "ts": self.ts,
            "data": {
                "s": self.symbol,
                "b": [list(level) for level in self.bids()],
                "a": [list(level) for level in self.asks()],
                "u": self.update_id,
                "seq": self.seq,
            },
            "cts": self.cts,
        }

    def _check(self) -> None:
        """Assert every invariant; the stress tests call it after each action. O(n)."""
        for d, keys, prices in ((self._bd, self._bk, self._bp), (self._ad, self._ak, self._ap)):
            assert len(keys) == len(prices) == len(d), "side containers disagree in size"
            assert set(prices) == set(d), "price list and dict disagree"
            assert all(float(p) == k for p, k in zip(prices, keys, strict=True)), "bad key"
            assert all(a < b for a, b in pairwise(keys)), "side not sorted"
            assert len(keys) <= self._depth, "deeper than depth"
            for value in d.values():
                if self._rpi:
                    size, rpi_size = Decimal(value[0]), Decimal(value[1])
                    assert size >= 0 and rpi_size >= 0 and size + rpi_size > 0, value
                else:
                    assert isinstance(value, str) and Decimal(value) > 0, value
        assert not (self._bk and self._ak and self._bk[-1] >= self._ak[0]), "book crossed"
        if self.needs_resync:
            assert not self._bd and not self._ad and self._expect == -1, "resync book not empty"
        elif self.update_id is None:
            assert not self._bd and not self._ad and self._expect == -1, "levels before snapshot"
        else:
            assert self.update_id >= 1 and self._expect == self.update_id + 1, "update id"


def _build_side(
    levels: list[list[str]], rpi: bool
) -> tuple[dict[str, Any], list[float], list[str]]:
    """A side from snapshot levels in any order: (dict, float keys, price strings)."""
    by_key: dict[float, tuple[str, Any]] = {}
    if rpi:
        for p, q, r in levels:
            if q != "0" or r != "0":
                by_key[float(p)] = (p, (q, r))
    else:
        for p, q in levels:
            if q != "0":
                by_key[float(p)] = (p, q)
    keys = sorted(by_key)
    prices = [by_key[k][0] for k in keys]
    return dict(by_key.values()), keys, prices


def _trim_side(
    d: dict[str, Any], keys: list[float], prices: list[str], depth: int, *, bids: bool
) -> None:
    """Drop the levels beyond the best `depth`: the front of the ascending bid lists, the
    back of the ask lists."""
    extra = len(keys) - depth
    if extra <= 0:
        return
    cut = slice(None, extra) if bids else slice(depth, None)
    for p in prices[cut]:
        del d[p]
    del keys[cut]
    del prices[cut]


def _demo() -> OrderBook:
    """A small synced book the doctests share: bids 100.0x2, 99.5x4; asks 100.5x1, 101x3."""
    book = OrderBook("BTCUSDT")
    book.apply(
        {
            "topic": "orderbook.50.BTCUSDT",
            "type": "snapshot",
            "ts": 1700000000000,
            "data": {
                "s": "BTCUSDT",
                "b": [["100.0", "2"], ["99.5", "4"]],
                "a": [["100.5", "1"], ["101", "3"]],
                "u": 10,
                "seq": 500,
            },
            "cts": 1699999999998,
        }
    )
    return book
