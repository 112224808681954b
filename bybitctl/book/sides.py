"""One side of a book as `OrderBook` stores it: a dict from price string to size, and two
index-aligned lists sorted ascending by numeric price (float keys for `bisect`, price strings
for output). Building a side from a snapshot and trimming it to a depth."""

from __future__ import annotations

from typing import Any


def build_side(levels: list[list[str]], rpi: bool) -> tuple[dict[str, Any], list[float], list[str]]:
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


def trim_side(
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
