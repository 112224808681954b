"""The local exchange with a lived-in account, and the environment of a person's terminal.

The account holds what everyday commands show: a filled market order (a position, an
execution, a line of order history) and resting limit orders on two symbols.
`--save-screens DIR` writes the live views the tests saw to DIR (docs/screens).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bybitctl.sim import SimHandle, running_exchange


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--save-screens",
        metavar="DIR",
        default=None,
        help="write the live-view screens of tests/terminal to DIR",
    )


@pytest.fixture(scope="session")
def binary() -> str:
    found = shutil.which("bybitctl", path=str(Path(sys.executable).parent))
    assert found, "bybitctl is not installed in this venv (pip install -e .)"
    return found


@pytest.fixture(scope="session")
def exchange() -> Iterator[SimHandle]:
    """One exchange per test process, its account traded as a person's would be."""
    with running_exchange(symbols=("BTCUSDT", "ETHUSDT"), seed=11) as ex:
        from pybit.unified_trading import HTTP

        http = HTTP(api_key=ex.api_key, api_secret=ex.api_secret)
        http.endpoint = ex.base_url
        order = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy"}
        http.place_order(**order, orderType="Market", qty="0.010")
        http.place_order(**order, orderType="Limit", qty="0.010", price="50000")
        http.place_order(
            category="linear",
            symbol="ETHUSDT",
            side="Sell",
            orderType="Limit",
            qty="0.10",
            price="9000",
            orderLinkId="terminal-test-eth",
        )
        yield ex


@pytest.fixture
def env(exchange: SimHandle, tmp_path: Path) -> dict[str, str]:
    """A person's terminal: a private home, the exchange's URL and keys, no COLUMNS/LINES
    (the terminal's size decides), and a pager that is `cat` unless a test says otherwise."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BYBIT", "_BYBITCTL")) and k not in ("COLUMNS", "LINES", "PAGER")
    }
    return {
        **base,
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "TERM": "xterm-256color",
        "PAGER": "cat",
        "BYBIT_BASE_URL": exchange.base_url,
        "BYBIT_API_KEY": exchange.api_key,
        "BYBIT_API_SECRET": exchange.api_secret,
    }


@pytest.fixture
def save_screen(request: pytest.FixtureRequest) -> object:
    """`save_screen(name, lines)`: keep a screen for the docs when --save-screens is given."""
    target = request.config.getoption("--save-screens")

    def save(name: str, lines: list[str]) -> None:
        if target:
            path = Path(target) / f"{name}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines).rstrip() + "\n")

    return save
