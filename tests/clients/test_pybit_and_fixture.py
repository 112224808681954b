"""The pytest plugin's `local_bybit` fixture, driven by unmodified pybit, plain HTTP and
WebSockets, in-process and as a `bybitctl sim serve` process."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
import websocket

from bybitctl.testing import LocalBybit, LocalBybitError, start_local_bybit


def test_fixture_gives_a_funded_account_pybit_trades_on(local_bybit: LocalBybit) -> None:
    http = local_bybit.pybit_http()
    wallet = http.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]
    assert Decimal(wallet["totalEquity"]) > 100_000
    placed = http.place_order(category="linear", symbol="BTCUSDT", side="Buy",
                              orderType="Market", qty="0.01")  # fmt: skip
    row = http.get_order_history(category="linear", orderId=placed["result"]["orderId"])
    assert row["result"]["list"][0]["orderStatus"] == "Filled"


@pytest.mark.local_bybit(symbols=["SOLUSDT"], balances={"USDT": "250"}, funding_interval=60)
def test_marker_sets_symbols_balances_and_funding(local_bybit: LocalBybit) -> None:
    wallet = local_bybit.request("GET", "/v5/account/wallet-balance", {"accountType": "UNIFIED"})
    coins = {c["coin"]: c["walletBalance"] for c in wallet["list"][0]["coin"]}
    assert coins["USDT"] == "250" and all(v == "0" for c, v in coins.items() if c != "USDT")
    rows = local_bybit.request("GET", "/v5/market/instruments-info", {"category": "linear"})
    assert [r["symbol"] for r in rows["list"]] == ["SOLUSDT"]
    assert rows["list"][0]["fundingInterval"] == 1


def test_pybit_websockets_and_a_raw_socket(local_bybit: LocalBybit) -> None:
    books: queue.Queue[dict] = queue.Queue()
    orders: queue.Queue[dict] = queue.Queue()
    public = local_bybit.pybit_ws("linear")
    private = local_bybit.pybit_ws("private")
    trading = local_bybit.pybit_ws_trading()
    try:
        public.orderbook_stream(1, "BTCUSDT", books.put)
        private.order_stream(orders.put)
        private.wait_subscribed(1)
        assert books.get(timeout=10)["topic"] == "orderbook.1.BTCUSDT"
        acks: queue.Queue[dict] = queue.Queue()
        trading.place_order(acks.put, category="linear", symbol="BTCUSDT", side="Buy",
                            orderType="Market", qty="0.01")  # fmt: skip
        oid = acks.get(timeout=10)["data"]["orderId"]
        while True:
            row = orders.get(timeout=10)["data"][0]
            if row["orderId"] == oid and row["orderStatus"] == "Filled":
                break
    finally:
        for ws in (public, private, trading):
            ws.exit()
    raw = websocket.create_connection(local_bybit.ws_public("spot"), timeout=5)
    try:
        raw.send(json.dumps({"op": "subscribe", "args": ["tickers.BTCUSDT"]}))
        assert json.loads(raw.recv())["success"] is True
        assert json.loads(raw.recv())["data"]["symbol"] == "BTCUSDT"
    finally:
        raw.close()


def test_request_errors_name_the_code(local_bybit: LocalBybit) -> None:
    with pytest.raises(LocalBybitError, match="10001"):
        local_bybit.request("POST", "/v5/order/create", {"category": "linear"})


def test_as_a_process_with_tls() -> None:
    with start_local_bybit(process=True, tls=True, balances={"USDC": 5}) as ex:
        assert ex.base_url.startswith("https://127.0.0.1:") and ex.sim is None
        wallet = ex.request("GET", "/v5/account/wallet-balance", {"accountType": "UNIFIED"})
        assert {c["coin"]: c["walletBalance"] for c in wallet["list"][0]["coin"]}["USDC"] == "5"
        http = ex.pybit_http()
        assert http.get_server_time()["retCode"] == 0
        before = int(ex.request("GET", "/v5/market/time")["timeSecond"])
        ex.advance(3_600_000)
        assert int(ex.request("GET", "/v5/market/time")["timeSecond"]) >= before + 3600


def test_the_plugin_in_another_project(tmp_path: Path) -> None:
    """A project with nothing but a test file gets the fixture from the installed package,
    and `--local-bybit-process` runs the exchange as a process."""
    (tmp_path / "test_bot.py").write_text(
        textwrap.dedent("""
        def test_bot(local_bybit):
            assert local_bybit.sim is None
            assert local_bybit.pybit_http().get_tickers(category="spot")["retCode"] == 0
    """)
    )
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--local-bybit-process", str(tmp_path / "test_bot.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "1 passed" in out.stdout


def test_a_process_that_cannot_start_says_why() -> None:
    with (
        pytest.raises(RuntimeError, match="--symbols"),
        start_local_bybit(process=True, symbols=["btcusdt"]),
    ):
        pass
