"""Perpetual funding: the synthetic rate and its settlement into every open position.

Every `interval` milliseconds (on the epoch grid, as Bybit settles at 00:00, 08:00 and
16:00 UTC) each open perpetual position pays or receives its value at the mark times the
rate: longs pay a positive rate to shorts. The rate is drawn from (seed, symbol, settlement
time) alone, so the rate a ticker predicts, the one `/v5/market/funding/history` lists and
the one settled are the same number.
"""

from __future__ import annotations

import random
import zlib
from decimal import Decimal

DEFAULT_INTERVAL_MS = 8 * 3600 * 1000
RATE_CAP = Decimal("0.00375")
"""Bybit's upper and lower funding rate of the usual perpetuals (instruments-info)."""
MAX_CATCH_UP = 1000
"""Most settlements one step makes up for after the clock jumped (older ones are skipped)."""


def funding_rate(seed: int, symbol: str, settle_ms: int) -> Decimal:
    """The rate settled at `settle_ms`: around Bybit's 0.01 % interest baseline, capped.

    >>> funding_rate(1, "BTCUSDT", 0) == funding_rate(1, "BTCUSDT", 0)
    True
    """
    rng = random.Random(zlib.crc32(f"{seed}:funding:{symbol}:{settle_ms}".encode()))
    rate = Decimal(round(0.0001 + rng.gauss(0, 0.00003), 6)).quantize(Decimal("0.000001"))
    return max(-RATE_CAP, min(RATE_CAP, rate))


def next_settlement(now_ms: int, interval_ms: int) -> int:
    """The first settlement time strictly after `now_ms`.

    >>> next_settlement(1, 60_000), next_settlement(60_000, 60_000)
    (60000, 120000)
    """
    return now_ms - now_ms % interval_ms + interval_ms
