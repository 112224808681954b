"""Through `bybitctl` itself: every catalogue route answers retCode 0 to valid
parameters and 10001 naming a required parameter left out, and none answers 404.

The whole walk runs the real CLI in-process (`bybitctl.cli.run`, as `bybitctl api ...`, which
sends what it is given without checking required parameters, so the exchange does); a sample
runs the installed binary to show the two agree.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bybitctl import catalog
from bybitctl.cli import run
from bybitctl.sim import SimHandle, running_exchange

from .conftest import http

pytestmark = pytest.mark.e2e

Params = dict[str, Any]


@pytest.fixture(scope="module")
def walk_exchange() -> Iterator[SimHandle]:
    """A fresh exchange (SOLUSDT is left untouched for switching its position mode)."""
    with running_exchange(symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT"), seed=11) as ex:
        yield ex


@pytest.fixture
def cli(walk_exchange: SimHandle, clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    """`cli(*args)` -> (exit code, stdout, stderr) of `bybitctl` run in-process against the
    exchange, keys from the environment as a user would set them."""
    monkeypatch.setenv("BYBIT_BASE_URL", walk_exchange.base_url)
    monkeypatch.setenv("BYBIT_API_KEY", walk_exchange.api_key)
    monkeypatch.setenv("BYBIT_API_SECRET", walk_exchange.api_secret)
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str, str]:
        with runner.isolation() as (out, err, _):
            code = run(list(args))
            sys.stdout.flush()
            sys.stderr.flush()
            return code, out.getvalue().decode(), err.getvalue().decode()

    return invoke


def placeholder(param: catalog.Param) -> Any:
    if param.enum:
        return param.enum[0]
    return {
        "string": "BTCUSDT",
        "integer": 1,
        "number": 1,
        "decimal": "1",
        "boolean": True,
        "array": [],
        "object": {},
    }[param.type]


def rest_order(ex: SimHandle, link: str) -> None:
    """A resting BTCUSDT bid 3% under the market, for the amend and cancel routes."""
    session = http(ex)
    bid = session.get_orderbook(category="linear", symbol="BTCUSDT")["result"]["b"][0][0]
    price = (Decimal(bid) * Decimal("0.97")).quantize(Decimal("0.1"))
    session.place_order(
        category="linear",
        symbol="BTCUSDT",
        side="Buy",
        orderType="Limit",
        qty="0.001",
        price=str(price),
        orderLinkId=link,
    )


def eth_position(ex: SimHandle) -> Params:
    """A long ETHUSDT position to set a take-profit and stop-loss on."""
    session = http(ex)
    session.place_order(
        category="linear", symbol="ETHUSDT", side="Buy", orderType="Market", qty="0.1"
    )
    mark = Decimal(
        session.get_tickers(category="linear", symbol="ETHUSDT")["result"]["list"][0]["markPrice"]
    )
    return {
        "category": "linear",
        "symbol": "ETHUSDT",
        "positionIdx": 0,
        "tpslMode": "Full",
        "takeProfit": str((mark * 2).quantize(Decimal("0.01"))),
        "stopLoss": str((mark / 2).quantize(Decimal("0.01"))),
    }


def with_order(link: str, params: Params) -> Callable[[SimHandle], Params]:
    def prepare(ex: SimHandle) -> Params:
        rest_order(ex, link)
        return params

    return prepare


def isolated_position(ex: SimHandle) -> Params:
    """Isolated margin and a BTCUSDT position to add margin to (the walk stays isolated)."""
    session = http(ex)
    session.set_margin_mode(setMarginMode="ISOLATED_MARGIN")
    session.place_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Market",
                        qty="0.01")  # fmt: skip
    return {"category": "linear", "symbol": "BTCUSDT", "margin": "1"}


SPREAD = "BTCUSDT_BTC/USDT"


def with_spread_order(link: str | None, params: Params) -> Callable[[SimHandle], Params]:
    """Cross margin again (spread trading needs it) and, with `link`, a resting spread order."""

    def prepare(ex: SimHandle) -> Params:
        session = http(ex)
        session.set_margin_mode(setMarginMode="REGULAR_MARGIN")
        if link is not None:
            session.spread_place_order(symbol=SPREAD, side="Buy", orderType="Limit", qty="0.01",
                                       price="10", orderLinkId=link)  # fmt: skip
        return params

    return prepare


VALID: dict[tuple[str, str], Params | Callable[[SimHandle], Params]] = {
    # documented examples naming what this exchange does not have: instruments it does not
    # list, orders and positions that do not exist, option-only features
    ("GET", "/v5/market/funding/history"): {"category": "linear", "symbol": "BTCUSDT"},
    ("GET", "/v5/market/index-price-kline"): {
        "category": "inverse",
        "symbol": "BTCUSD",
        "interval": "1",
    },
    ("POST", "/v5/account/mmp-reset"): lambda ex: (
        http(ex).set_mmp(
            baseCoin="BTC", window="5000", frozenPeriod="100000", qtyLimit="10", deltaLimit="100"
        )
        and {"baseCoin": "BTC"}
    ),
    ("POST", "/v5/asset/transfer/inter-transfer"): {
        "transferId": "6a1c5a5e-9f0b-4d7c-8a1e-0c2b1d3e4f50",
        "coin": "USDT",
        "amount": "1",
        "fromAccountType": "UNIFIED",
        "toAccountType": "FUND",
    },
    ("POST", "/v5/position/trading-stop"): eth_position,
    ("POST", "/v5/position/add-margin"): isolated_position,
    ("GET", "/v5/spread/max-qty"): {"symbol": SPREAD, "side": "1", "orderPrice": "10"},
    ("POST", "/v5/spread/order/create"): with_spread_order(
        None,
        {
            "symbol": SPREAD,
            "side": "Buy",
            "orderType": "Limit",
            "qty": "0.01",
            "price": "10",
            "orderLinkId": "walk-spread-create",
            "timeInForce": "PostOnly",
        },
    ),
    ("POST", "/v5/spread/order/amend"): with_spread_order(
        "walk-spread-amend",
        {"symbol": SPREAD, "orderLinkId": "walk-spread-amend", "price": "11", "qty": "0.02"},
    ),
    ("POST", "/v5/spread/order/cancel"): with_spread_order(
        "walk-spread-cancel", {"orderLinkId": "walk-spread-cancel"}
    ),
    ("POST", "/v5/account/demo-apply-money"): {
        "adjustType": 0,
        "utaDemoApplyMoney": [{"coin": "USDT", "amountStr": "1"}],
    },
    ("POST", "/v5/position/switch-mode"): {"category": "linear", "symbol": "SOLUSDT", "mode": 3},
    ("POST", "/v5/order/amend"): with_order(
        "walk-amend",
        {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "walk-amend", "qty": "0.002"},
    ),
    ("POST", "/v5/order/cancel"): with_order(
        "walk-cancel", {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "walk-cancel"}
    ),
    ("POST", "/v5/order/amend-batch"): with_order(
        "walk-batch",
        {
            "category": "linear",
            "request": [{"symbol": "BTCUSDT", "orderLinkId": "walk-batch", "qty": "0.002"}],
        },
    ),
}


def valid_params(ex: SimHandle, row: catalog.Endpoint) -> Params:
    """The documented example request, required gaps filled, or this exchange's own case."""
    own = VALID.get((row.http_method, row.path))
    if own is not None:
        return own(ex) if callable(own) else dict(own)
    sample = catalog.example(row.http_method, row.path) or {}
    params = {k: v for k, v in (sample.get("request") or {}).items() if v is not None}
    for param in row.params:
        if param.required:
            params.setdefault(param.name, placeholder(param))
    for name in row.required:
        params.setdefault(name, "BTCUSDT")
    if row.http_method == "GET":
        # pybit signs values unencoded; Bybit's docs ask for spaces sent as %20
        params = {k: v.replace(" ", "%20") if isinstance(v, str) else v for k, v in params.items()}
    return params


def api_args(row: catalog.Endpoint, params: Params) -> list[str]:
    pairs = [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in params.items()]
    return ["-o", "raw", "api", "--yes", row.http_method, row.path, *pairs]


def enforced_required() -> dict[tuple[str, str], set[str]]:
    """Required parameters per route: where several pybit methods share a route, only those
    all of them require (as the exchange validates)."""
    out: dict[tuple[str, str], set[str]] = {}
    for row in catalog.load():
        key = (row.http_method, row.path)
        out[key] = set(row.required) if key not in out else out[key] & set(row.required)
    return out


def test_every_catalogue_route_answers_through_the_cli(cli, walk_exchange):
    rows = {(r.http_method, r.path): r for r in catalog.load()}
    required = enforced_required()
    failures: list[Any] = []
    missing_checked = 0
    for key, row in rows.items():
        params = valid_params(walk_exchange, row)
        code, out, err = cli(*api_args(row, params))
        # A batch the route took answers retCode 0 even when its items are refused; the CLI
        # then exits 1 naming each item, which is the items' business, not the route's.
        items_refused = code == 1 and all(
            line.startswith("error: item ") for line in err.splitlines()
        )
        body = json.loads(out) if code == 0 or items_refused else None
        ret = body.get("retCode", body.get("ret_code")) if body else None  # P2P: older shape
        if not (code == 0 or items_refused) or ret != 0:
            failures.append((key, "valid", code, ret, err.strip()))
        for name in sorted(required[key]):
            code, out, err = cli(*api_args(row, {k: v for k, v in params.items() if k != name}))
            expected = f"error: params error: missing required parameter '{name}' (retCode 10001)"
            if code != 1 or expected not in err:
                failures.append((key, f"without {name}", code, err.strip() or out[:200]))
            missing_checked += 1
    assert failures == []
    assert missing_checked > 300, "the walk left out too few required parameters"
    answered = {(r["method"], r["path"]) for r in walk_exchange.received}
    assert set(rows) <= answered, "a route was never reached"


def test_the_installed_binary_agrees(walk_exchange, clean_env, tmp_path: Path):
    """A sample through the console script: a generated command, `api` with a parameter
    left out, and `call` by pybit method name."""
    binary = shutil.which("bybitctl", path=str(Path(sys.executable).parent))
    assert binary, "bybitctl is not installed in this venv"
    env = {
        **clean_env,
        "PATH": str(Path(sys.executable).parent),
        "BYBIT_BASE_URL": walk_exchange.base_url,
        "BYBIT_API_KEY": walk_exchange.api_key,
        "BYBIT_API_SECRET": walk_exchange.api_secret,
    }

    def bybitctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([binary, *args], capture_output=True, text=True, env=env, timeout=60)

    book = bybitctl(
        "-o", "raw", "market", "orderbook", "--category", "linear", "--symbol", "ETHUSDT"
    )
    assert book.returncode == 0, book.stderr
    assert json.loads(book.stdout)["result"]["s"] == "ETHUSDT"
    wallet = bybitctl("-o", "raw", "call", "get_wallet_balance", "accountType=UNIFIED")
    assert wallet.returncode == 0 and json.loads(wallet.stdout)["retCode"] == 0, wallet.stderr
    missing = bybitctl("api", "GET", "/v5/position/list")
    assert missing.returncode == 1
    assert "missing required parameter 'category' (retCode 10001)" in missing.stderr
    for run_ in (book, wallet, missing):
        assert walk_exchange.api_secret not in run_.stdout + run_.stderr
