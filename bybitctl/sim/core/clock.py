"""The exchange's one wall clock: milliseconds since the epoch.

The core reads time only through the clock it is handed (tests hand it a fake one); this is
the real one, that clock's default, and the network layer's clock for faults, timeouts and
idle connections.
"""

from __future__ import annotations

import time


def wall_ms() -> int:
    """True wall-clock milliseconds (never skewed: the `skew` fault shifts only what clients
    are told)."""
    return time.time_ns() // 1_000_000
