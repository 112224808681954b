"""Requests that change the account, end to end: an unanswered one is reported as possibly
carried out, a batch's refused items fail the run, and what a batch item carries obeys the
single-order command's rules. The installed binary against the local exchange."""

from __future__ import annotations

import time
from typing import Any

from bybitctl.sim import SimHandle

from .conftest import limit_buy


def _open_orders(bybitctl: Any, link: str) -> list[dict[str, Any]]:
    result = bybitctl(
        "trade", "open-orders", "--category", "linear", "--order-link-id", link, "-o", "json"
    )
    assert result.code == 0, result.stderr
    return result.json()["list"]


def test_an_unanswered_order_may_rest_on_the_book_and_the_error_says_how_to_look(
    bybitctl: Any, exchange: SimHandle, received: Any
) -> None:
    """The exchange holds its answer past --timeout, then places the order: exit 4 must not
    read as "nothing happened", since a script would place the order a second time."""
    exchange.set_faults("slow:1500ms")
    try:
        order = (*limit_buy("0.01"), "--price", "1000", "--order-link-id", "late-1")
        result = bybitctl("--timeout", "0.3", *order)
    finally:
        exchange.set_faults("")
    assert result.code == 4, result.stderr
    assert result.stderr.splitlines() == [
        f"error: no answer from {exchange.base_url} within the timeout (--timeout); the "
        "exchange may have carried it out",
        "check before sending it again: bybitctl trade open-orders --category linear "
        "--order-link-id late-1 (or trade order-history)",
    ]
    assert [r["path"] for r in received()] == ["/v5/order/create"]
    deadline = time.monotonic() + 20
    while not (found := _open_orders(bybitctl, "late-1")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [o["orderLinkId"] for o in found] == ["late-1"]


def test_an_unanswered_read_says_nothing_of_changes(bybitctl: Any, exchange: SimHandle) -> None:
    exchange.set_faults("slow:1s")
    try:
        result = bybitctl("--timeout", "0.2", "market", "server-time")
    finally:
        exchange.set_faults("")
    assert result.code == 4
    assert result.stderr == (
        f"error: no answer from {exchange.base_url} within the timeout (--timeout)\n"
    )


def test_timeouts_and_recv_windows_out_of_range_send_nothing(bybitctl: Any, received: Any) -> None:
    order = (*limit_buy("0.01"), "--price", "1000")
    for option, value, rule in [
        ("--timeout", "2147483648", "in (0, 300]"),
        ("--timeout", "9223372037", "in (0, 300]"),
        ("--timeout", "0", "in (0, 300]"),
        ("--recv-window", "60001", "in [1, 60000]"),
    ]:
        result = bybitctl(option, value, *order)
        assert result.code == 2, result.stderr
        assert rule in result.stderr and "Traceback" not in result.stderr
    result = bybitctl("config", "set", "timeout", "99999999999")
    assert result.code == 2 and "in (0, 300]" in result.stderr
    assert received() == []
