"""Dangerous rows: confirmation on a terminal, refusal off one, nothing asked on safe targets."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bybitctl.errors import UsageError
from bybitctl.request import Presentation, Request, RunOptions, Target, confirm_if_dangerous

ORDER = (
    "trade",
    "place-order",
    "--category",
    "linear",
    "--symbol",
    "BTCUSDT",
    "--side",
    "Buy",
    "--order-type",
    "Market",
    "--qty",
    "1",
)


def test_dangerous_on_mainnet_refused_without_a_terminal(bybitctl: Any) -> None:
    result = bybitctl(*ORDER)
    assert result.code == 2
    assert result.stderr == (
        "error: not sent: Place Order: linear BTCUSDT Buy Market qty 1 on api.bybit.com, "
        "profile default needs confirmation; stdin is not a terminal\npass --yes to send it\n"
    )
    assert result.stdout == ""


@pytest.mark.parametrize(
    "target",
    [("--testnet",), ("--demo",), ("--base-url", "http://127.0.0.1:9"), ("--yes",)],
)
def test_safe_targets_and_yes_skip_the_question(bybitctl: Any, target: tuple[str, ...]) -> None:
    # Past the safety check the next gate is credentials: exit 3, not the refusal's 2.
    result = bybitctl(*target, *ORDER)
    assert result.code == 3, result.stderr
    assert "credentials" in result.stderr


def test_yes_after_the_subcommand(bybitctl: Any) -> None:
    assert bybitctl(*ORDER, "--yes").code == 3


def test_read_only_rows_never_ask(bybitctl: Any) -> None:
    result = bybitctl("account", "wallet-balance", "--account-type", "UNIFIED")
    assert result.code == 3


def test_dry_run_of_a_dangerous_row_needs_no_confirmation(bybitctl: Any) -> None:
    assert bybitctl(*ORDER, "--dry-run").code == 0


ASKED: list[str] = []


def _opts(
    *, tty: bool, answer: bool, safe: bool = False, yes: bool = False, params: Any = None
) -> RunOptions:
    def confirm(text: str) -> bool:
        ASKED.append(text)
        return answer

    request = Request(
        "POST", "/v5/order/create", params or {}, auth=True, dangerous=True, summary="Place Order"
    )
    target = Target(
        http=lambda **_: None,
        is_safe=lambda: safe,
        stdin_isatty=lambda: tty,
        confirm=confirm,
        describe=lambda: "api.bybit.nl, profile main",
        width=lambda: 200,
    )
    return RunOptions(request, Presentation("json"), target, yes=yes, label="trade place-order")


def test_terminal_confirmation_yes_proceeds() -> None:
    confirm_if_dangerous(_opts(tty=True, answer=True))


def test_the_question_names_the_order_and_the_target() -> None:
    """Like `kubectl delete` names the object: what, on which market, how much, where."""
    ASKED.clear()
    params = {
        "category": "linear", "symbol": "BTCUSDT", "side": "Sell", "orderType": "Limit",
        "qty": "0.010", "price": "70000", "orderLinkId": "mine-1", "timeInForce": "GTC",
    }  # fmt: skip
    confirm_if_dangerous(_opts(tty=True, answer=True, params=params))
    assert ASKED == [
        "Place Order: linear BTCUSDT Sell Limit qty 0.010 price 70000 orderLinkId mine-1 "
        "timeInForce GTC on api.bybit.nl, profile main. Send it?"
    ]


def test_a_question_too_wide_for_the_terminal_lists_a_parameter_a_line() -> None:
    ASKED.clear()
    params = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "qty": "1"}
    opts = _opts(tty=True, answer=True, params=params)
    narrow = replace(opts, target=replace(opts.target, width=lambda: 40))
    confirm_if_dangerous(narrow)
    assert ASKED == [
        "Place Order on api.bybit.nl, profile main:\n  linear\n  BTCUSDT\n  Buy\n  qty 1\nSend it?"
    ]


WHERE_MONEY_GOES = [
    (
        ("asset", "withdraw", "--coin", "USDT", "--chain", "ETH", "--address", "0xATTACKER",
         "--amount", "5000", "--timestamp", "1700000000000", "--account-type", "FUND"),
        "Withdraw: coin USDT chain ETH address 0xATTACKER amount 5000 timestamp 1700000000000 "
        "accountType FUND",
    ),
    (
        ("asset", "create-universal-transfer", "--transfer-id", "t-1", "--coin", "USDT",
         "--amount", "1", "--from-member-id", "1", "--to-member-id", "999",
         "--from-account-type", "UNIFIED", "--to-account-type", "FUND"),
        "Create Universal Transfer: transferId t-1 coin USDT amount 1 fromMemberId 1 "
        "toMemberId 999 fromAccountType UNIFIED toAccountType FUND",
    ),
    (
        ("asset", "create-internal-transfer", "--transfer-id", "t-2", "--coin", "USDT",
         "--amount", "1", "--from-account-type", "UNIFIED", "--to-account-type", "FUND"),
        "Create Internal Transfer: transferId t-2 coin USDT amount 1 fromAccountType UNIFIED "
        "toAccountType FUND",
    ),
    (
        ("position", "set-leverage", "--category", "linear", "--symbol", "BTCUSDT",
         "--buy-leverage", "1", "--sell-leverage", "100"),
        "Set Leverage: linear BTCUSDT buyLeverage 1 sellLeverage 100",
    ),
    (
        ("trade", "place-order", "--category", "linear", "--symbol", "BTCUSDT", "--side", "Buy",
         "--order-type", "Limit", "--qty", "1", "--price", "5", "--order-link-id", "me",
         "--param", 'tpslMode=Full', "--param", 'x={"a":[1]}'),
        "Place Order: linear BTCUSDT Buy Limit qty 1 price 5 orderLinkId me tpslMode Full "
        'x {"a":[1]}',
    ),
]  # fmt: skip


@pytest.mark.parametrize(("args", "words"), WHERE_MONEY_GOES, ids=lambda v: str(v)[:30])
def test_the_refusal_names_every_parameter_that_decides_the_request(
    bybitctl: Any, args: tuple[str, ...], words: str
) -> None:
    """Where the money goes (address, chain, member, account types, both leverages) is
    named, so nobody confirms a withdrawal to an address they never read."""
    result = bybitctl(*args)
    assert result.code == 2
    assert result.stderr.splitlines()[0] == (
        f"error: not sent: {words} on api.bybit.com, profile default needs confirmation; "
        "stdin is not a terminal"
    )


def test_values_are_escaped_in_the_question_and_the_refusal(bybitctl: Any) -> None:
    """A right-to-left override or an escape sequence in an address cannot reorder or
    repaint the line the user confirms."""
    result = bybitctl(
        "asset", "withdraw", "--coin", "USDT", "--chain", "ETH", "--address", "0xGOOD\u202eDAB",
        "--amount", "1", "--timestamp", "1700000000000", "--account-type", "FUND",
    )  # fmt: skip
    assert result.code == 2
    assert "address 0xGOOD\\u202eDAB " in result.stderr and "\u202e" not in result.stderr
    address = "0xGOOD\u202eDAB\x1b[2K"
    ASKED.clear()
    confirm_if_dangerous(_opts(tty=True, answer=True, params={"address": address}))
    assert ASKED == [
        "Place Order: address 0xGOOD\\u202eDAB\\x1b[2K on api.bybit.nl, profile main. Send it?"
    ]


def test_usage_errors_escape_what_they_echo(bybitctl: Any) -> None:
    result = bybitctl("market", "tickers", "--categ\u202eory", "linear")
    assert result.code == 2
    assert "--categ\\u202eory" in result.stderr and "\u202e" not in result.stderr


def test_terminal_confirmation_no_sends_nothing() -> None:
    with pytest.raises(UsageError, match="not confirmed; nothing was sent"):
        confirm_if_dangerous(_opts(tty=True, answer=False))


def test_no_question_on_safe_target_or_with_yes() -> None:
    confirm_if_dangerous(_opts(tty=False, answer=False, safe=True))
    confirm_if_dangerous(_opts(tty=False, answer=False, yes=True))
