"""The installed binary end to end: call, api, formats, paging, profiles, exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bybitctl.sim import SimHandle

from .conftest import limit_buy

ORDER = limit_buy("0.01")


def test_call_by_pybit_name(bybitctl: Any, received: Any) -> None:
    result = bybitctl("call", "get_tickers", "category=linear", "symbol=BTCUSDT", "-o", "json")
    assert result.code == 0, result.stderr
    assert result.json()["list"][0]["symbol"] == "BTCUSDT"
    [got] = received()
    assert (got["method"], got["path"]) == ("GET", "/v5/market/tickers")
    assert got["query"] == {"category": "linear", "symbol": "BTCUSDT"}


def test_call_post_with_typed_and_json_values(bybitctl: Any, received: Any) -> None:
    result = bybitctl(
        "call",
        "place_order",
        "category=linear",
        "symbol=BTCUSDT",
        "side=Sell",
        "orderType=Limit",
        "qty=0.01",
        "price=90000",
        "positionIdx=0",
        "orderLinkId=e2e-call",
    )
    assert result.code == 0, result.stderr
    [got] = received()
    assert got["body"]["positionIdx"] == 0 and got["body"]["qty"] == "0.01"
    assert "X-BAPI-SIGN" in got["headers"]


def test_api_get_and_signed_post(bybitctl: Any, received: Any) -> None:
    result = bybitctl("api", "GET", "/v5/market/time", "-o", "raw")
    assert result.code == 0, result.stderr
    assert result.json()["retCode"] == 0
    result = bybitctl(
        "api",
        "POST",
        "/v5/order/create",
        "category=linear",
        "symbol=BTCUSDT",
        "side=Buy",
        "orderType=Limit",
        "qty=0.01",
        "price=1000",
        "positionIdx=0",
    )
    assert result.code == 0, result.stderr
    first, second = received()
    assert (first["method"], first["path"], first["query"]) == ("GET", "/v5/market/time", {})
    assert second["method"] == "POST" and second["body"]["positionIdx"] == 0
    assert "X-BAPI-SIGN" in second["headers"]


def test_api_unsigned_private_path_is_rejected_by_the_exchange(bybitctl: Any) -> None:
    result = bybitctl("api", "GET", "/v5/order/realtime", "category=linear", "--no-auth")
    assert result.code == 1 and "(retCode 1000" in result.stderr
    result = bybitctl("api", "GET", "/v5/order/realtime", "category=linear", "--no-auth",
                      "-o", "json")  # fmt: skip
    assert result.code == 1 and json.loads(result.stderr)["retCode"] in (10003, 10004, 10005)


def test_dry_run_sends_nothing(bybitctl: Any, received: Any, exchange: SimHandle) -> None:
    result = bybitctl(*ORDER, "--price", "1000", "--dry-run", "-o", "json")
    assert result.code == 0
    described = result.json()
    assert described["url"] == exchange.base_url + "/v5/order/create"
    assert described["headers"]["X-BAPI-API-KEY"] == "<redacted>"
    assert exchange.api_key not in result.stdout
    assert received() == []


def test_every_output_format(bybitctl: Any) -> None:
    args = ("market", "instruments-info", "--category", "linear")
    data = bybitctl(*args, "-o", "json").json()
    symbols = {row["symbol"] for row in data["list"]}
    assert symbols == {"BTCUSDT", "ETHUSDT"}
    raw = bybitctl(*args, "-o", "raw").json()
    assert raw["retCode"] == 0 and raw["result"]["list"] == data["list"]
    lines = bybitctl(*args, "-o", "jsonl").stdout.splitlines()
    assert [json.loads(line) for line in lines] == data["list"]
    rows = list(csv.DictReader(io.StringIO(bybitctl(*args, "-o", "csv").stdout)))
    assert [row["symbol"] for row in rows] == [row["symbol"] for row in data["list"]]
    # Exchange numbers keep their exact strings; objects spread into parent.child columns.
    first = data["list"][0]
    assert rows[0]["priceFilter.tickSize"] == first["priceFilter"]["tickSize"]
    assert rows[0]["fundingInterval"] == str(first["fundingInterval"])
    table = bybitctl(*args, "-o", "table").stdout
    assert "symbol" in table and "BTCUSDT" in table and "\x1b[" not in table
    assert table.splitlines()[0].split()[:2] == ["symbol", "status"]
    wide = bybitctl(*args, "-o", "wide").stdout
    assert "lotSizeFilter.postOnlyMaxOrderQty" in wide.splitlines()[0]
    text = bybitctl(*args, "-o", "text", "--fields", "symbol,priceFilter.tickSize").stdout
    assert text.splitlines()[0] == f"{first['symbol']}\t{first['priceFilter']['tickSize']}"
    # Piped without -o: json.
    assert bybitctl(*args).json() == data


def test_fields_and_query(bybitctl: Any) -> None:
    args = ("market", "tickers", "--category", "linear")
    rows = bybitctl("--fields", "symbol,lastPrice", *args, "-o", "jsonl").stdout.splitlines()
    assert all(set(json.loads(r)) == {"symbol", "lastPrice"} for r in rows)
    bad = bybitctl(*args, "--fields", "nope")
    assert bad.code == 2 and "valid: " in bad.stderr and "symbol" in bad.stderr
    result = bybitctl(*args, "--query", "list[?symbol=='ETHUSDT'].symbol", "-o", "json")
    assert result.json() == ["ETHUSDT"]
    assert bybitctl(*args, "--query", "list[").code == 2


def _place_orders(bybitctl: Any, count: int, tag: str) -> None:
    for i in range(count):
        result = bybitctl(*ORDER, "--price", str(1000 + i), "--order-link-id", f"{tag}-{i}")
        assert result.code == 0, result.stderr


def test_all_follows_the_cursor_over_three_pages(bybitctl: Any, received: Any) -> None:
    _place_orders(bybitctl, 4, "page")
    start = len(received())
    args = ("trade", "open-orders", "--category", "linear", "--symbol", "BTCUSDT", "--limit", "1")
    rows = bybitctl(*args, "--all", "-o", "json").json()["list"]
    pages = [r for r in received()[start:] if r["path"] == "/v5/order/realtime"]
    assert len(pages) >= 4  # one order per page
    assert "cursor" not in pages[0]["query"]
    assert all(p["query"]["cursor"] for p in pages[1:])
    assert len({r["orderId"] for r in rows}) == len(rows) >= 4
    # jsonl streams the same rows; --query applies to the combined list.
    lines = bybitctl(*args, "--all", "-o", "jsonl").stdout.splitlines()
    assert [json.loads(line)["orderId"] for line in lines] == [r["orderId"] for r in rows]
    ids = bybitctl(*args, "--all", "--query", "list[].orderId", "-o", "json").json()
    assert ids == [r["orderId"] for r in rows]
    # --max-pages bounds it.
    start = len(received())
    limited = bybitctl(*args, "--max-pages", "2", "-o", "json").json()["list"]
    assert len(limited) == 2
    assert len([r for r in received()[start:] if r["path"] == "/v5/order/realtime"]) == 2


def test_exit_3_without_credentials(bybitctl: Any, received: Any) -> None:
    result = bybitctl(
        "account",
        "wallet-balance",
        "--account-type",
        "UNIFIED",
        env_update={"BYBIT_API_KEY": None, "BYBIT_API_SECRET": None},
    )
    assert result.code == 3
    assert "no API credentials" in result.stderr
    assert received() == []


def test_exit_1_on_a_bad_signature(bybitctl: Any) -> None:
    result = bybitctl(
        "account",
        "wallet-balance",
        "--account-type",
        "UNIFIED",
        env_update={"BYBIT_API_SECRET": "wrong-secret"},
    )
    assert result.code == 1
    assert "(retCode 10004)" in result.stderr


def test_a_refusal_for_scripts(bybitctl: Any) -> None:
    """raw: the envelope on stdout; json/jsonl asked for: {"retCode", "retMsg", "hint"} on
    stderr; a person's table, or json only by default in a pipe: the error line. Exit 1."""
    cancel = ("trade", "cancel-order", "--category", "linear", "--symbol", "BTCUSDT",
              "--order-id", "no-such-order")  # fmt: skip
    raw = bybitctl(*cancel, "-o", "raw")
    assert raw.code == 1 and json.loads(raw.stdout)["retCode"] == 110001
    assert set(json.loads(raw.stdout)) == {"retCode", "retMsg", "result", "retExtInfo", "time"}
    assert raw.stderr.startswith("error: ") and "(retCode 110001)" in raw.stderr
    for fmt in ("json", "jsonl"):
        machine = bybitctl(*cancel, "-o", fmt)
        assert machine.code == 1 and machine.stdout == ""
        error = json.loads(machine.stderr)
        assert set(error) == {"retCode", "retMsg", "hint"} and error["retCode"] == 110001
    for person in (bybitctl(*cancel, "-o", "table"), bybitctl(*cancel)):
        assert person.code == 1 and person.stdout == ""
        assert person.stderr.startswith("error: Order does not exist (retCode 110001)")
    by_env = bybitctl(*cancel, env_update={"BYBITCTL_OUTPUT": "jsonl"})
    assert json.loads(by_env.stderr)["retCode"] == 110001


def test_exit_4_connection_refused_and_http_error(bybitctl: Any, exchange: SimHandle) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = bybitctl("--base-url", f"http://127.0.0.1:{port}", "market", "server-time")
    assert result.code == 4
    assert result.stderr == (
        f"error: cannot connect to http://127.0.0.1:{port} (connection refused)\n"
        f"is the local exchange running? start it with: bybitctl sim serve --port {port}\n"
    )
    exchange.set_faults("http5xx:1")
    try:
        result = bybitctl("market", "server-time")
    finally:
        exchange.set_faults("")
    assert result.code == 4
    assert result.stderr.startswith("error: HTTP 5") and "/v5/market/time" in result.stderr


def test_exit_130_on_sigint(
    env: dict[str, str],
    exchange: SimHandle,
    received: Any,
    binary_path: str,
    transcripts: list[str],
) -> None:
    exchange.set_faults("slow:20s")
    try:
        proc = subprocess.Popen(
            [binary_path, "market", "server-time"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not received() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert received(), "the request never reached the exchange"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
        transcripts.extend([stdout, stderr])
    finally:
        exchange.set_faults("")
    assert proc.returncode == 130
    assert "Traceback" not in stderr


def _write_config(env: dict[str, str], text: str, mode: int = 0o600) -> Path:
    path = Path(env["XDG_CONFIG_HOME"]) / "bybitctl" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_profile_precedence(bybitctl: Any, env: dict[str, str], exchange: SimHandle) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    _write_config(
        env,
        (
            'current = "paper"\n\n[profiles.paper]\n'
            f'base_url = "{exchange.base_url}"\napi_key = "{exchange.api_key}"\n'
            f'api_secret = "{exchange.api_secret}"\n\n[profiles.dead]\nbase_url = "{dead}"\n'
        ),
    )
    no_env = {"BYBIT_BASE_URL": None, "BYBIT_API_KEY": None, "BYBIT_API_SECRET": None}
    args = ("account", "wallet-balance", "--account-type", "UNIFIED")
    # profile (the current one) supplies URL and keys
    assert bybitctl(*args, env_update=no_env).code == 0
    # environment beats profile
    assert bybitctl(*args, env_update={**no_env, "BYBIT_BASE_URL": dead}).code == 4
    # flag beats environment
    assert (
        bybitctl(
            "--base-url", exchange.base_url, *args, env_update={**no_env, "BYBIT_BASE_URL": dead}
        ).code
        == 0
    )
    # --profile beats BYBIT_PROFILE beats the file's current profile
    assert (
        bybitctl("market", "server-time", env_update={**no_env, "BYBIT_PROFILE": "dead"}).code == 4
    )
    assert (
        bybitctl(
            "--profile",
            "paper",
            "market",
            "server-time",
            env_update={**no_env, "BYBIT_PROFILE": "dead"},
        ).code
        == 0
    )


def test_world_readable_config_with_a_secret_is_refused(
    bybitctl: Any, env: dict[str, str], exchange: SimHandle
) -> None:
    path = _write_config(
        env, f'[profiles.default]\napi_key = "k"\napi_secret = "{exchange.api_secret}"\n', 0o644
    )
    result = bybitctl("market", "server-time")
    assert result.code == 3
    assert f"chmod 600 {path}" in result.stderr


def test_an_answer_for_scripts_loads_no_table_library(env: dict[str, str]) -> None:
    """rich is imported only when a table is drawn: json in a pipe never pays for it."""
    probe = (
        "import sys, atexit\n"
        "atexit.register(lambda: sys.stderr.write(f'RICH={\"rich\" in sys.modules}\\n'))\n"
        "from bybitctl.cli import main\n"
        "main(['market', 'tickers', '--category', 'linear', '-o', 'json'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["list"] and "RICH=False\n" in result.stderr
