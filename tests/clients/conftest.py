"""Real clients (ccxt, ccxt.pro, cryptofeed, pybit) against the local exchange over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

import pytest

from bybitctl.testing import LocalBybit, start_local_bybit

T = TypeVar("T")

FUNDING_S = 60
"""Funding interval of the shared exchange: one `advance` reaches the next settlement."""


@pytest.fixture(scope="module")
def shared() -> Iterator[LocalBybit]:
    """One exchange for a module's read-mostly tests (settling funding every minute)."""
    with start_local_bybit(seed=3, funding_interval_s=FUNDING_S) as ex:
        yield ex


def run(coro: Awaitable[T], timeout: float = 20) -> T:
    """Run an async client call to completion from a synchronous test."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def first(items: list[Any], **match: Any) -> Any:
    """The first item whose fields equal `match`."""
    return next(i for i in items if all(i.get(k) == v for k, v in match.items()))
