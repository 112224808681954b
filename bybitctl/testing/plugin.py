"""The pytest plugin: a `local_bybit` fixture, a fresh funded exchange for each test.

Configure it per test (or module, with `pytestmark`) through the `local_bybit` marker:

    @pytest.mark.local_bybit(symbols=["BTCUSDT"], balances={"USDT": 100}, funding_interval=60)

and run every such exchange as a `bybitctl sim serve` process instead of a thread with
`pytest --local-bybit-process` (or `local_bybit_process = true` in the ini file).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from bybitctl.testing.exchange import LocalBybit

MARKER_OPTIONS = ("symbols", "seed", "balances", "funding_interval", "tls")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("local_bybit", "the local Bybit v5 exchange (bybitctl)")
    group.addoption(
        "--local-bybit-process",
        action="store_true",
        default=None,
        help="run each local_bybit exchange as a `bybitctl sim serve` process",
    )
    parser.addini(
        "local_bybit_process", "run local_bybit exchanges as processes", type="bool", default=False
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "local_bybit(symbols=..., seed=..., balances=..., funding_interval=..., tls=...): "
        "how the local_bybit fixture starts its exchange",
    )


@pytest.fixture
def local_bybit(request: pytest.FixtureRequest) -> Iterator[LocalBybit]:
    """A local Bybit v5 exchange on a free loopback port with a funded account: its URLs
    (`base_url`, `ws_public(category)`, `ws_private`, `ws_trade`) and keys."""
    options: dict[str, Any] = {}
    marker = request.node.get_closest_marker("local_bybit")
    if marker is not None:
        unknown = set(marker.kwargs) - set(MARKER_OPTIONS)
        if unknown or marker.args:
            raise pytest.UsageError(
                f"local_bybit marker takes only {', '.join(MARKER_OPTIONS)} as keywords"
            )
        options = dict(marker.kwargs)
    from bybitctl.testing.exchange import start_local_bybit

    process = request.config.getoption("--local-bybit-process")
    if process is None:
        process = request.config.getini("local_bybit_process")
    with start_local_bybit(
        symbols=tuple(options.get("symbols", ("BTCUSDT", "ETHUSDT"))),
        seed=int(options.get("seed", 1)),
        balances=options.get("balances"),
        funding_interval_s=options.get("funding_interval"),
        tls=bool(options.get("tls", False)),
        process=bool(process),
    ) as exchange:
        yield exchange
