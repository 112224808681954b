"""One book's state: its price levels, the crowd quoting around it, and its public tape.

`Engine` is what every other part reads a symbol through: order entry and matching use its
book, market data (`bybitctl.sim.market`) its tape, 24h figures and candles. The crowd (the
synthetic market) is reached through `Crowd`, the little the core reads of it, so the core
never imports the market layer.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol

from bybitctl.sim.core.book import Book
from bybitctl.sim.core.instruments import Instrument
from bybitctl.sim.core.orders import ZERO


class FairPrice(Protocol):
    """A price path: where the fair price of a book's coin (or basis) is now."""

    price: float


class Crowd(Protocol):
    """The liquidity around a book, as the core sees it: the fair price its orders are
    banded against and its market orders sweep to."""

    path: FairPrice

    def fair_ticks(self) -> float:
        """The fair price in ticks of the book's instrument."""
        ...


class Engine:
    """The book of one symbol, its synthetic crowd, and the public tape of its trades."""

    def __init__(self, inst: Instrument, market: Crowd, book: Book) -> None:
        self.inst = inst
        self.book = book
        self.market = market
        self.last_price = 0
        self.tick_direction = "ZeroPlusTick"
        self.cts = 0
        self.recent: deque[dict[str, Any]] = deque(maxlen=1000)
        self.pending: list[dict[str, Any]] = []
        self.volume = 0
        self.turnover = ZERO
        self.high = 0
        self.low = 0
        self.open_price = 0
        self.liquidations: list[tuple[str, int, int, bool]] = []
        """Liquidations since the last publish, for `allLiquidation`: (position side, lots,
        price in ticks, whether the crowd's rather than a user's)."""
        self.candles: dict[int, list[Any]] = {}
        """minute start (ms) -> [open, high, low, close, lots, turnover] in ticks/lots/Decimal."""

    def record_trade(self, side: str, price: int, lots: int, now: int, trade_id: str) -> None:
        """Print one trade: last price, tick direction, tape, 24h figures and the 1m candle."""
        inst = self.inst
        last = self.last_price
        if price > last:
            self.tick_direction = "PlusTick"
        elif price < last:
            self.tick_direction = "MinusTick"
        elif self.tick_direction == "PlusTick":
            self.tick_direction = "ZeroPlusTick"
        elif self.tick_direction == "MinusTick":
            self.tick_direction = "ZeroMinusTick"
        self.last_price = price
        self.cts = now
        value = inst.value(price, lots)
        self.volume += lots
        self.turnover += value
        self.high = max(self.high, price)
        self.low = min(self.low, price) if self.low else price
        t = {
            "T": now,
            "s": inst.symbol,
            "S": side,
            "v": inst.qty_str(lots),
            "p": inst.price_str(price),
            "L": self.tick_direction,
            "i": trade_id,
            "BT": False,
            "RPI": False,
            "seq": self.book.seq,
        }
        self.recent.append(t)
        self.pending.append(t)
        start = now - now % 60000
        c = self.candles.get(start)
        if c is None:
            self.candles[start] = [price, price, price, price, lots, value]
        else:
            c[1] = max(c[1], price)
            c[2] = min(c[2], price)
            c[3] = price
            c[4] += lots
            c[5] += value
