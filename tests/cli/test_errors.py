"""The top-level handler: pybit's and requests' exceptions -> messages and exit codes."""

from __future__ import annotations

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
    assert result.stderr.startswith("error: connection failed")
    assert "Traceback" not in result.stderr
    debug = bybitctl("--debug", "--base-url", "http://127.0.0.1:9", "market", "server-time")
    assert debug.code == 4 and "Traceback" in debug.stderr


def test_unknown_profile_is_a_configuration_error(bybitctl: Any) -> None:
    result = bybitctl("--profile", "ghost", "market", "server-time")
    assert result.code == 3
    assert "no profile 'ghost'" in result.stderr
