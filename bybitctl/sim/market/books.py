"""Every book of the catalogue with the synthetic crowd quoting around it.

One price path per coin (resumed from saved prices), one basis path per spread, and per book
a `SyntheticMarket` and the core's `Engine` over it: the market layer builds the core's
engines, so the core never needs to know what moves its prices.
"""

from __future__ import annotations

import random
import zlib
from typing import NamedTuple

from bybitctl.sim.core.book import Book
from bybitctl.sim.core.engine import Engine
from bybitctl.sim.core.instruments import Catalogue
from bybitctl.sim.market.history import History
from bybitctl.sim.market.synthetic import OptionPath, PricePath, SyntheticMarket

OPTION_DEPTH = 50
"""Synthetic levels per side of an option book (so orderbook.100 shows up to 50 a side: a
chain has dozens of books, each thinner than a perpetual's)."""
OPTION_STEP_MS = 1000
"""Option books move at most this often: a chain has dozens of books, each far quieter than
a perpetual's."""
OPTION_CHURN = 2.0
"""Adds and cancels per second near an option book's touch (a perpetual's: 20)."""
SPREAD_DEPTH = 50
"""Synthetic levels per side of a spread book (its only stream is orderbook.25)."""
SPREAD_STEP_MS = 100
"""Spread books move at most this often, so a few of them cost `step` little."""
SPREAD_VOL = 3.0
"""Annual volatility of a spread's basis relative to its level: a basis moves much more, in
proportion, than its coin."""


class Books(NamedTuple):
    """The built books and the paths that move them."""

    engines: dict[tuple[str, str], Engine]
    paths: dict[str, PricePath]
    """Coin -> its fair price path."""
    basis: dict[str, PricePath]
    """Spread symbol -> its basis (perp minus spot), which its book quotes around."""
    histories: dict[str, History]
    options: dict[str, OptionPath]
    """Option symbol -> its fair price (the exchange moves their clock on)."""


def build_books(
    catalogue: Catalogue, seed: int, prices: dict[str, float], noise_rate: float, now: int
) -> Books:
    """One price path per coin (resumed from `prices`), one market and engine per book."""
    books = Books({}, {}, {}, {}, {})
    for (cat, sym), inst in catalogue.books.items():
        path = books.paths.get(inst.base)
        if path is None:
            price = prices.get(inst.base, float(inst.start_price))
            rng = random.Random(f"path:{seed}:{inst.base}")
            path = books.paths[inst.base] = PricePath(price, rng)
            books.histories[inst.base] = History(price, now, f"hist:{seed}:{inst.base}")
        rng = random.Random(zlib.crc32(f"{seed}:{cat}:{sym}".encode()))
        book = Book()
        if cat == "spread":
            basis = books.basis[sym] = PricePath(float(inst.start_price), rng, SPREAD_VOL)
            market = SyntheticMarket(
                inst, book, basis, rng, noise_rate / 4, SPREAD_DEPTH, SPREAD_STEP_MS
            )
            # sized like its legs: a level holds ~20k and a trade ~3k of the coin, not
            # of the basis
            unit = float(inst.step) * path.price
            market.level_lots = max(1, round(20000 / unit))
            market.take_lots = max(1, round(3000 / unit))
        elif cat == "option":
            opt = books.options[sym] = OptionPath(path, inst, now)
            market = SyntheticMarket(
                inst, book, opt, rng, noise_rate / 4, OPTION_DEPTH, OPTION_STEP_MS, OPTION_CHURN
            )
        else:
            market = SyntheticMarket(inst, book, path, rng, noise_rate)
        eng = books.engines[(cat, sym)] = Engine(inst, market, book)
        market.liquidations = eng.liquidations
        eng.last_price = max(1, round(market.fair_ticks()))
        eng.open_price = eng.high = eng.low = eng.last_price
    return books
