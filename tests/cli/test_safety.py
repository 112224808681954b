"""Dangerous rows: confirmation on a terminal, refusal off one, nothing asked on safe targets."""

from __future__ import annotations

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
        "on api.bybit.nl, profile main. Send it?"
    ]


def test_terminal_confirmation_no_sends_nothing() -> None:
    with pytest.raises(UsageError, match="not confirmed; nothing was sent"):
        confirm_if_dangerous(_opts(tty=True, answer=False))


def test_no_question_on_safe_target_or_with_yes() -> None:
    confirm_if_dangerous(_opts(tty=False, answer=False, safe=True))
    confirm_if_dangerous(_opts(tty=False, answer=False, yes=True))
