"""The top-level handler: pybit's and requests' exceptions -> messages and exit codes."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError

from bybitctl.cli import translate
from bybitctl.errors import ConfigError, ExchangeError, NetworkError


def test_exchange_rejection_carries_the_documented_meaning() -> None:
    error = translate(
        InvalidRequestError(
            request="POST /v5/order/create: {}",
            message="Insufficient balance",
            status_code=110007,
            time="12:00:00",
            resp_headers={},
        )
    )
    assert isinstance(error, ExchangeError)
    assert error.exit_code == 1
    assert error.show().splitlines()[0] == "error: Insufficient balance (retCode 110007)"
    assert len(error.show().splitlines()) == 2  # the meaning from error_codes.json


@pytest.mark.parametrize(
    "exc",
    [
        FailedRequestError(
            request="GET /",
            message="HTTP status code is not 200.",
            status_code=502,
            time="12:00:00",
            resp_headers={},
        ),
        requests.exceptions.ConnectionError("Connection refused"),
        requests.exceptions.ReadTimeout("read timed out"),
    ],
)
def test_network_failures_exit_4(exc: Exception) -> None:
    error = translate(exc)
    assert isinstance(error, NetworkError) and error.exit_code == 4


def test_pybit_missing_keys_exit_3() -> None:
    error = translate(PermissionError("Authenticated endpoints require keys."))
    assert isinstance(error, ConfigError) and error.exit_code == 3


def test_a_bug_is_not_translated() -> None:
    assert translate(ZeroDivisionError("x")) is None


def test_connection_refused_end_to_end_in_process(bybitctl: Any) -> None:
    result = bybitctl("--base-url", "http://127.0.0.1:9", "--timeout", "5", "market", "server-time")
    assert result.code == 4
    assert result.stderr == (
        "error: cannot connect to http://127.0.0.1:9 (connection refused)\n"
        "is the local exchange running? start it with: bybitctl sim serve --port 9\n"
    )
    debug = bybitctl("--debug", "--base-url", "http://127.0.0.1:9", "market", "server-time")
    assert debug.code == 4 and "Traceback" in debug.stderr


def test_unknown_profile_is_a_configuration_error(bybitctl: Any) -> None:
    result = bybitctl("--profile", "ghost", "market", "server-time")
    assert result.code == 3
    assert "no profile 'ghost'" in result.stderr


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:9", "cannot connect to http://127.0.0.1:9 (connection refused)"),
        (
            "http://no-such-host.invalid",
            "cannot connect to http://no-such-host.invalid "
            "(cannot resolve host 'no-such-host.invalid')",
        ),
    ],
)
def test_network_errors_are_one_readable_line(url: str, expected: str) -> None:
    """Not requests' repr of urllib3's wrapper ("HTTPConnectionPool(... Max retries ...")."""
    host = url.split("//")[1].split(":")[0]
    if host.endswith(".invalid"):
        try:
            socket.getaddrinfo(host, 80)
            pytest.skip("this resolver answers for .invalid names")
        except OSError:
            pass
    try:
        requests.get(url + "/v5/market/time", timeout=5)
    except requests.exceptions.RequestException as exc:
        error = translate(exc)
    assert isinstance(error, NetworkError)
    assert error.message == expected
    if "127.0.0.1" in url:  # a loopback address: how to start the local exchange there
        assert (
            error.hint
            == "is the local exchange running? start it with: bybitctl sim serve --port 9"
        )
    else:
        assert error.hint is None


def test_read_timeout_names_the_target_and_the_option() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()  # accepts the connection in the kernel, never answers
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        with pytest.raises(requests.exceptions.ReadTimeout) as caught:
            requests.get(url + "/v5/market/time", timeout=0.2)
    error = translate(caught.value)
    assert error is not None
    assert error.show() == f"error: no answer from {url} within the timeout (--timeout)"


def test_http_status_error_names_the_request_but_not_its_parameters() -> None:
    error = translate(
        FailedRequestError(
            request="POST http://127.0.0.1:8/v5/order/create: {'symbol': 'BTCUSDT'}",
            message="HTTP status code is not 200.",
            status_code=502,
            time="12:00:00",
            resp_headers={},
        )
    )
    assert error is not None
    assert error.show() == "error: HTTP 502 from POST http://127.0.0.1:8/v5/order/create"


def test_meaning_line_only_when_it_adds_something() -> None:
    same = ExchangeError(
        10004,
        "Error sign, please check your signature generation algorithm.",
        "Error sign, please check your signature generation algorithm.",
    )
    assert same.show().count("\n") == 0
    more = ExchangeError(10003, "API key is invalid.", "API key is invalid. Check the domain.")
    assert more.show().splitlines()[1] == "API key is invalid. Check the domain."


def test_pybit_demo_refusal_says_to_pass_demo(bybitctl: Any) -> None:
    result = bybitctl(
        "--base-url",
        "http://127.0.0.1:9",
        "--api-key",
        "K",
        "--api-secret-stdin",
        "misc",
        "request-demo-trading-funds",
        "--yes",
        input="S\n",
    )
    assert result.code == 2
    assert "pass --demo" in result.stderr


@pytest.mark.parametrize(
    ("args", "hoisted"),
    [
        (["market", "server-time", "--profile", "p"], ["--profile", "p", "market", "server-time"]),
        (["market", "--base-url=http://x", "server-time"],
         ["--base-url=http://x", "market", "server-time"]),
        (["config", "show", "--debug"], ["--debug", "config", "show"]),
        (["trade", "open-orders", "--testnet", "--category", "linear"],
         ["--testnet", "trade", "open-orders", "--category", "linear"]),
        (["-o", "csv", "market", "server-time", "--profile", "p"],
         ["-o", "csv", "--profile", "p", "market", "server-time"]),
        # the command's own option of the same name stays the command's
        (["config", "init", "--profile", "x"], ["config", "init", "--profile", "x"]),
        (["sim", "serve", "--profile"], ["sim", "serve", "--profile"]),
        (["market", "tickers", "-o", "json", "--fields", "a"],
         ["market", "tickers", "-o", "json", "--fields", "a"]),
        # a value is never taken for an option, nor anything after `--`
        (["market", "tickers", "--symbol", "--profile"], ["market", "tickers", "--symbol",
                                                          "--profile"]),
        (["call", "get_tickers", "--", "--profile"], ["call", "get_tickers", "--", "--profile"]),
    ],
)  # fmt: skip
def test_global_options_may_come_after_the_command(args: list[str], hoisted: list[str]) -> None:
    from bybitctl.commands.root import command, hoist_global_options

    assert hoist_global_options(command(), args) == hoisted


def test_a_global_option_after_the_command_takes_effect(dry: Any) -> None:
    described = dry("market", "server-time", "--base-url", "http://127.0.0.1:9")
    assert described["url"] == "http://127.0.0.1:9/v5/market/time"
    described = dry("market", "tickers", "--timeout=2.5", "--category", "linear", "--testnet")
    assert described["url"].startswith("https://api-testnet.bybit.com/v5/market/tickers?")


def test_unknown_option_is_still_plain(bybitctl: Any) -> None:
    result = bybitctl("market", "server-time", "--bogus")
    assert result.code == 2 and "No such option: --bogus" in result.stderr


def test_empty_api_secret_stdin_is_bad_input(bybitctl: Any) -> None:
    """Not a later "no secret" (exit 3) or a silent unsigned request."""
    result = bybitctl("--api-key", "K", "--api-secret-stdin", "market", "server-time", input="")
    assert result.code == 2
    assert result.stderr == "error: --api-secret-stdin: no API secret on stdin\n"


def test_an_answer_that_is_not_json_is_one_line() -> None:
    """pybit's own wording ("Conflict. Could not decode JSON.", request "JSON decoding")."""
    error = translate(
        FailedRequestError(
            request="JSON decoding",
            message="Conflict. Could not decode JSON.",
            status_code=409,
            time="12:00:00",
            resp_headers=None,
        )
    )
    assert isinstance(error, NetworkError)
    assert error.show() == (
        "error: the server's answer is not JSON (is the base URL a Bybit v5 API?)"
    )
