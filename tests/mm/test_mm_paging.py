"""The REST paging loop of the safety net (`paged`): rows page by page, and an end even when
the exchange's cursor never runs out."""

from __future__ import annotations

from collections.abc import Callable
from itertools import cycle
from typing import Any

from bybitctl.mm.rest import paged

LIMIT = 50
"""Calls after which the fake exchange gives up: unguarded, `paged` would ask forever."""


def exchange(
    cursors: list[str], rows_per_page: int = 1
) -> tuple[list[str | None], Callable[..., dict[str, Any]]]:
    """A plain function answering like a pybit list call, handing out `cursors` in a cycle;
    and the cursor each call was made with."""
    calls: list[str | None] = []
    nexts = cycle(cursors)

    def call(**kwargs: Any) -> dict[str, Any]:
        assert kwargs.pop("category") == "linear" and kwargs.pop("limit") == 50
        calls.append(kwargs.pop("cursor", None))
        assert not kwargs
        if len(calls) > LIMIT:
            raise AssertionError("paged kept following a cursor it had already followed")
        rows = [{"n": len(calls)}] * rows_per_page
        return {"retCode": 0, "result": {"list": rows, "nextPageCursor": next(nexts)}}

    return calls, call


def test_paged_stops_when_the_exchange_repeats_a_cursor() -> None:
    calls, call = exchange(["a", "b"])  # a, b, a, b, ... for ever
    pages = list(paged(call, category="linear", limit=50))
    assert calls == [None, "a", "b"]
    assert pages == [[{"n": 1}], [{"n": 2}], [{"n": 3}]]


def test_paged_stops_on_the_same_cursor_twice_in_a_row() -> None:
    calls, call = exchange(["same"])
    assert len(list(paged(call, category="linear", limit=50))) == 2
    assert calls == [None, "same"]


def test_paged_follows_fresh_cursors_to_the_end() -> None:
    calls, call = exchange(["p2", "p3", ""])
    assert [rows[0]["n"] for rows in paged(call, category="linear", limit=50)] == [1, 2, 3]
    assert calls == [None, "p2", "p3"]


def test_paged_stops_at_an_empty_page_even_with_a_cursor() -> None:
    calls, call = exchange(["p2"], rows_per_page=0)
    assert list(paged(call, category="linear", limit=50)) == [[]]
    assert calls == [None]
