"""The exchange's last line of defence: an exception in the exchange itself (never client
input, which is refused with its own code) answers 10016 and is logged, with its traceback
only under debug."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests

from bybitctl.sim import running_exchange

from .conftest import StreamCore

pytestmark = pytest.mark.e2e


class BrokenCore(StreamCore):
    """A core whose every REST answer fails: what a bug in the exchange would look like."""

    def handle(
        self, http_method: str, path: str, params: dict[str, Any], account: str | None
    ) -> dict[str, Any] | None:
        raise RuntimeError("the core broke")


@pytest.mark.parametrize("debug", [True, False])
def test_an_exchange_bug_is_10016_and_one_logged_failure(debug, caplog):
    caplog.set_level(logging.ERROR, logger="bybitctl.sim")
    with running_exchange(core=BrokenCore(), debug=debug) as ex:
        reply = requests.get(f"{ex.base_url}/v5/market/time", timeout=10)
        assert reply.status_code == 200
        assert reply.json()["retCode"] == 10016 and reply.json()["retMsg"] == "Server error."
        assert requests.get(f"{ex.base_url}/v5/market/time", timeout=10).json()["retCode"] == 10016
    records = [r for r in caplog.records if r.name.startswith("bybitctl.sim")]
    assert len(records) == 2
    assert all("core call failed" in r.getMessage() for r in records)
    assert all((r.exc_info is not None) == debug for r in records)
    if not debug:
        assert "RuntimeError: the core broke" in records[0].getMessage()
