"""Requests that change the account, end to end: an unanswered one is reported as possibly
carried out, a batch's refused items fail the run, and what a batch item carries obeys the
single-order command's rules. The installed binary against the local exchange."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

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


def _item(symbol: str, qty: str, link: str) -> dict[str, str]:
    return {"symbol": symbol, "side": "Buy", "orderType": "Limit", "qty": qty, "price": "1000",
            "orderLinkId": link}  # fmt: skip


def test_a_batch_whose_items_are_all_refused_fails_naming_each(
    bybitctl: Any, received: Any
) -> None:
    items = [_item("NOPEUSDT", "0.01", "b-all-1"), _item("BTCUSDT", "0.0001", "b-all-2")]
    result = bybitctl(
        "trade", "place-batch-order", "--category", "linear", "--request", json.dumps(items),
        "-o", "json",
    )  # fmt: skip
    assert result.code == 1, result.stderr
    verdicts = received()[0]
    assert [r["path"] for r in received()] == ["/v5/order/create-batch"]
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert [json.loads(line)["item"] for line in lines] == [0, 1]
    assert all(json.loads(line)["retCode"] not in (0, None) for line in lines)
    assert [row["orderId"] for row in result.json()["list"]] == ["", ""]
    assert verdicts["body"]["request"] == items


def test_a_batch_with_one_refused_item_places_the_rest_and_exits_1(bybitctl: Any) -> None:
    items = [_item("BTCUSDT", "0.01", "b-some-1"), _item("NOPEUSDT", "0.01", "b-some-2")]
    result = bybitctl(
        "trade", "place-batch-order", "--category", "linear", "--request", json.dumps(items),
        "-o", "table",
    )  # fmt: skip
    assert result.code == 1, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("error: item 1 refused: ") and line.endswith(")")
    assert "(retCode " in line
    assert [o["orderLinkId"] for o in _open_orders(bybitctl, "b-some-1")] == ["b-some-1"]


def test_a_batch_that_succeeds_exits_0(bybitctl: Any) -> None:
    items = [_item("BTCUSDT", "0.01", "b-ok-1")]
    result = bybitctl(
        "trade", "place-batch-order", "--category", "linear", "--request", json.dumps(items)
    )
    assert result.code == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("command", "item", "error"),
    [
        (
            "place-batch-order",
            {"qty": "\u0663"},
            "invalid value for --request[1].qty: expected a decimal number, got '٣': only "
            "ASCII digits 0-9 are allowed",
        ),
        (
            "place-batch-order",
            {"price": "1e3"},
            "invalid value for --request[1].price: expected a decimal number, got '1e3': "
            "write it without an exponent",
        ),
        (
            "place-batch-order",
            {"side": "Bought"},
            "invalid value for --request[1].side: 'Bought' is not one of Buy, Sell",
        ),
        (
            "amend-batch-order",
            {"triggerPrice": "-1"},
            "invalid value for --request[1].triggerPrice: expected a decimal number",
        ),
        (
            "cancel-batch-order",
            {"orderLinkId": "a\u0000b"},
            "invalid value for --request[1].orderLinkId: control characters are not allowed",
        ),
    ],
)
def test_a_batch_item_obeys_the_single_commands_rules_before_anything_is_sent(
    bybitctl: Any, received: Any, command: str, item: dict[str, str], error: str
) -> None:
    items = [_item("BTCUSDT", "0.01", "b-x-1"), {**_item("BTCUSDT", "0.01", "b-x-2"), **item}]
    result = bybitctl(
        "trade", command, "--category", "linear", "--request", json.dumps(items, ensure_ascii=False)
    )
    assert result.code == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {error}")
    assert received() == []


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            (*limit_buy("0"), "--price", "1000"),
            "invalid value for --qty: expected a decimal number > 0, got '0'",
        ),
        (
            (*limit_buy("0.01"), "--price", "0.000"),
            "invalid value for --price: expected a decimal number > 0, got '0.000'",
        ),
        (
            ("position", "set-leverage", "--category", "linear", "--symbol", "BTCUSDT",
             "--buy-leverage", "0", "--sell-leverage", "10"),
            "invalid value for --buy-leverage: expected a decimal number > 0, got '0'",
        ),
        (
            ("trade", "place-batch-order", "--category", "linear", "--request",
             json.dumps([{**_item("BTCUSDT", "0", "z-1")}])),
            "invalid value for --request[0].qty: expected a decimal number > 0, got '0'",
        ),
    ],
)  # fmt: skip
def test_zero_of_a_positive_field_is_refused_before_sending(
    bybitctl: Any, received: Any, args: tuple[str, ...], error: str
) -> None:
    result = bybitctl(*args)
    assert result.code == 2, result.stderr
    assert result.stderr == f"error: {error}\n"
    assert received() == []


def test_a_key_twice_in_a_batch_item_is_refused_not_resolved(bybitctl: Any, received: Any) -> None:
    """`{"qty": "0.01", "qty": "100"}`: neither is picked; nothing is sent."""
    request = '[{"symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.01","qty":"100"}]'
    result = bybitctl("trade", "place-batch-order", "--category", "linear", "--request", request)
    assert result.code == 2
    assert result.stderr == (
        "error: invalid value for --request: expected a JSON array or object: JSON object has "
        "the key 'qty' twice: give it once\n"
    )
    assert received() == []
