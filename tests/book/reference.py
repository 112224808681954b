"""A deliberately plain reference book (dicts keyed by Decimal, sorted on read) and message
builders; the engine must agree with it on every step."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bybitctl.book import BookGap, CrossedBook


def snapshot(
    u: int,
    bids: list[list[str]],
    asks: list[list[str]],
    *,
    topic: str = "orderbook.50.BTCUSDT",
    seq: int | None = None,
    ts: int = 1_700_000_000_000,
) -> dict[str, Any]:
    """A Bybit snapshot message."""
    data = {"s": "BTCUSDT", "b": bids, "a": asks, "u": u, "seq": seq if seq is not None else u}
    return {"topic": topic, "type": "snapshot", "ts": ts, "data": data, "cts": ts - 2}


def delta(
    u: int,
    bids: list[list[str]],
    asks: list[list[str]],
    *,
    topic: str = "orderbook.50.BTCUSDT",
    seq: int | None = None,
    ts: int = 1_700_000_000_100,
) -> dict[str, Any]:
    """A Bybit delta message."""
    data = {"s": "BTCUSDT", "b": bids, "a": asks, "u": u, "seq": seq if seq is not None else u}
    return {"topic": topic, "type": "delta", "ts": ts, "data": data, "cts": ts - 2}


class RefBook:
    """The sync rules written the obvious way: Decimal keys, full scans, sorting on read.

    `apply` returns what `OrderBook.apply` should return, or the exception class it should
    raise. Levels keep the first spelling of a price, as the engine does.
    """

    def __init__(self, depth: int | None = None, rpi: bool = False) -> None:
        self.depth = depth
        self.rpi = rpi
        self.bids: dict[Decimal, tuple[str, ...]] = {}
        self.asks: dict[Decimal, tuple[str, ...]] = {}
        self.update_id: int | None = None
        self.needs_resync = False
        self.unknown_deletes = 0

    def _is_zero(self, level: list[str]) -> bool:
        return all(size == "0" for size in level[1:])

    def apply(self, message: dict[str, Any]) -> bool | type[Exception]:
        data = message["data"]
        u = data["u"]
        if message["type"] == "snapshot" or u == 1:
            bids = {Decimal(lv[0]): tuple(lv) for lv in data["b"] if not self._is_zero(lv)}
            asks = {Decimal(lv[0]): tuple(lv) for lv in data["a"] if not self._is_zero(lv)}
            bids, asks = self._trimmed(bids, asks)
            if self._crossed(bids, asks):
                return self._fail(CrossedBook)
            same = (
                u == self.update_id
                and not self.needs_resync
                and bids == self.bids
                and asks == self.asks
            )
            self.bids, self.asks = bids, asks
            self.update_id = u
            self.needs_resync = False
            return not same
        if self.needs_resync:
            return False
        if self.update_id is None:
            return self._fail(BookGap)
        if u <= self.update_id:
            return False
        if u != self.update_id + 1:
            return self._fail(BookGap)
        for side, levels in ((self.bids, data["b"]), (self.asks, data["a"])):
            for level in levels:
                key = Decimal(level[0])
                if self._is_zero(level):
                    if key in side:
                        del side[key]
                    else:
                        self.unknown_deletes += 1
                elif key in side:
                    side[key] = (side[key][0], *level[1:])
                else:
                    side[key] = tuple(level)
        if self._crossed(self.bids, self.asks):
            return self._fail(CrossedBook)
        self.bids, self.asks = self._trimmed(self.bids, self.asks)
        self.update_id = u
        return True

    def _trimmed(self, bids: dict, asks: dict) -> tuple[dict, dict]:
        if self.depth is None:
            return bids, asks
        best_bids = sorted(bids, reverse=True)[: self.depth]
        best_asks = sorted(asks)[: self.depth]
        return {k: bids[k] for k in best_bids}, {k: asks[k] for k in best_asks}

    @staticmethod
    def _crossed(bids: dict, asks: dict) -> bool:
        return bool(bids) and bool(asks) and max(bids) >= min(asks)

    def _fail(self, error: type[Exception]) -> type[Exception]:
        self.bids, self.asks = {}, {}
        self.needs_resync = True
        return error

    def bid_rows(self) -> list[tuple[str, ...]]:
        return [self.bids[k] for k in sorted(self.bids, reverse=True)]

    def ask_rows(self) -> list[tuple[str, ...]]:
        return [self.asks[k] for k in sorted(self.asks)]
