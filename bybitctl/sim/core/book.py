"""The order book behind one symbol: price levels of FIFO queues, synthetic and user orders mixed.

Both sides are keyed so that a smaller key is a better price (asks by price, bids by minus
price), which lets every walk, window and diff be written once. Each level keeps a queue of
entries in time order; a synthetic entry (no order) stands for anonymous liquidity, so a
user order joining a level waits behind what was already there, as on Bybit.

Every change records the level's size before the first change since the last publication
(`Side.dirty`), which is all the depth streams need to compute their deltas.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from sortedcontainers import SortedList


class Entry:
    """A resting quantity at one level; `order` is None for synthetic liquidity."""

    __slots__ = ("order", "qty")

    def __init__(self, order: Any, qty: int) -> None:
        self.order = order
        self.qty = qty


class Level:
    __slots__ = ("qty", "queue")

    def __init__(self) -> None:
        self.qty = 0
        self.queue: deque[Entry] = deque()


class Side:
    """One side of the book; `sign` turns a price into its key (-1 for bids, 1 for asks)."""

    __slots__ = ("dirty", "keys", "levels", "sign")

    def __init__(self, sign: int) -> None:
        self.sign = sign
        self.levels: dict[int, Level] = {}
        self.keys = SortedList()
        self.dirty: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.levels)

    def best(self) -> int | None:
        """Best price in ticks, or None when the side is empty."""
        return self.keys[0] * self.sign if self.levels else None

    def worst(self) -> int | None:
        return self.keys[-1] * self.sign if self.levels else None

    def qty_at(self, price: int) -> int:
        lvl = self.levels.get(price * self.sign)
        return lvl.qty if lvl else 0

    def _touch(self, key: int, lvl: Level | None) -> None:
        if key not in self.dirty:
            self.dirty[key] = lvl.qty if lvl else 0

    def add(self, price: int, qty: int, order: Any = None) -> Entry:
        """Append `qty` at `price`; adjacent synthetic quantity merges into one entry."""
        key = price * self.sign
        lvl = self.levels.get(key)
        self._touch(key, lvl)
        if lvl is None:
            lvl = self.levels[key] = Level()
            self.keys.add(key)
        lvl.qty += qty
        q = lvl.queue
        if order is None and q and q[-1].order is None:
            q[-1].qty += qty
            return q[-1]
        e = Entry(order, qty)
        q.append(e)
        return e

    def change_entry(self, price: int, entry: Entry, new_qty: int) -> None:
        """Set a user entry's size in place (amend down keeps queue priority); 0 removes it."""
        key = price * self.sign
        lvl = self.levels[key]
        self._touch(key, lvl)
        lvl.qty += new_qty - entry.qty
        entry.qty = new_qty
        if new_qty == 0:
            lvl.queue.remove(entry)
            if not lvl.queue:
                del self.levels[key]
                self.keys.remove(key)

    def cancel_synthetic(self, price: int, qty: int) -> int:
        """Withdraw up to `qty` synthetic lots from the back of the level; returns the lots."""
        key = price * self.sign
        lvl = self.levels.get(key)
        if lvl is None:
            return 0
        done = 0
        q = lvl.queue
        for e in reversed(q):
            if e.order is None:
                d = min(e.qty, qty - done)
                e.qty -= d
                done += d
                if done == qty:
                    break
        if done:
            self._touch(key, lvl)
            lvl.qty -= done
            if any(e.qty == 0 for e in q):
                lvl.queue = deque(e for e in q if e.qty)
            if not lvl.queue:
                del self.levels[key]
                self.keys.remove(key)
        return done

    def take(self, limit: int | None, lots: int, budget: int | None) -> list[tuple[Any, int, int]]:
        """Consume liquidity best-first up to `limit` (a price, inclusive) and `lots`.

        `budget`, when given, caps the value taken in price-ticks x lots (spot market buys
        in quote coin). Returns fills as (maker order or None, price, lots) in match order.
        """
        fills: list[tuple[Any, int, int]] = []
        sign = self.sign
        limit_key = None if limit is None else limit * sign
        keys, levels, dirty = self.keys, self.levels, self.dirty
        while lots > 0 and keys:
            key = keys[0]
            if limit_key is not None and key > limit_key:
                break
            price = key * sign
            lvl = levels[key]
            if key not in dirty:
                dirty[key] = lvl.qty
            q = lvl.queue
            while lots > 0 and q:
                e = q[0]
                n = min(e.qty, lots)
                if budget is not None:
                    n = min(n, budget // price)
                    if n <= 0:
                        lots = 0
                        break
                    budget -= n * price
                e.qty -= n
                lvl.qty -= n
                lots -= n
                fills.append((e.order, price, n))
                if e.qty == 0:
                    q.popleft()
            if not q:
                del levels[key]
                keys.pop(0)
        return fills

    def synthetic_at(self, price: int) -> int:
        """Anonymous lots at `price` (user orders there not counted)."""
        lvl = self.levels.get(price * self.sign)
        return sum(e.qty for e in lvl.queue if e.order is None) if lvl else 0

    def set_synthetic(self, price: int, lots: int) -> None:
        """Make the anonymous liquidity at `price` exactly `lots`, leaving user orders be:
        a replayed book's levels are what everybody else shows there. Added lots queue behind
        what already rests, as a newcomer's would."""
        have = self.synthetic_at(price)
        if lots < have:
            self.cancel_synthetic(price, have - lots)
        elif lots > have:
            self.add(price, lots - have)

    def take_users(self, limit: int, lots: int) -> list[tuple[Any, int, int]]:
        """The user orders a trade of `lots` printed elsewhere reached, best price first down
        to `limit`: the anonymous liquidity ahead of them uses up the trade's size but stays on
        the book (a replayed book's own updates remove it). Returns (order, price, lots)."""
        fills: list[tuple[Any, int, int]] = []
        sign = self.sign
        for key in list(self.keys.irange(None, limit * sign)):
            if lots <= 0:
                break
            price = key * sign
            for e in list(self.levels[key].queue):
                n = min(e.qty, lots)
                lots -= n
                if e.order is not None and n:
                    fills.append((e.order, price, n))
                    self.change_entry(price, e, e.qty - n)
                if lots <= 0:
                    break
        return fills

    def available(self, limit: int | None, lots: int) -> int:
        """Lots a taker could get down to `limit`, counting no further than `lots` (for FOK)."""
        got = 0
        limit_key = None if limit is None else limit * self.sign
        for key in self.keys:
            if (limit_key is not None and key > limit_key) or got >= lots:
                break
            got += self.levels[key].qty
        return got

    def top(self, n: int) -> list[tuple[int, int]]:
        """The best `n` levels as (price, lots)."""
        levels, sign = self.levels, self.sign
        return [(k * sign, levels[k].qty) for k in self.keys.islice(0, n)]

    def prices_through(self, limit: int) -> list[int]:
        """Prices of the levels at or better than `limit`, best first."""
        sign = self.sign
        return [k * sign for k in self.keys.irange(None, limit * sign)]

    def nth_key(self, n: int) -> int | None:
        """Key of the n-th best level (1-based), or None when the side has fewer levels."""
        return self.keys[n - 1] if len(self.keys) >= n else None


class Book:
    """Bids and asks of one symbol plus the cross sequence that orders every book event."""

    __slots__ = ("asks", "bids", "seq")

    def __init__(self) -> None:
        self.bids = Side(-1)
        self.asks = Side(1)
        self.seq = 0

    def side(self, side: str) -> Side:
        """The side a resting order of `side` ("Buy"/"Sell") sits on."""
        return self.bids if side == "Buy" else self.asks

    def opposite(self, side: str) -> Side:
        """The side an order of `side` takes from."""
        return self.asks if side == "Buy" else self.bids

    def check(self) -> None:
        """Assert the invariants (not crossed, sizes positive and consistent); for tests."""
        for s in (self.bids, self.asks):
            assert list(s.keys) == sorted(s.levels)
            for lvl in s.levels.values():
                assert lvl.qty > 0 and lvl.qty == sum(e.qty for e in lvl.queue)
                assert all(e.qty > 0 for e in lvl.queue)
        bb, ba = self.bids.best(), self.asks.best()
        assert bb is None or ba is None or bb < ba, (bb, ba)
