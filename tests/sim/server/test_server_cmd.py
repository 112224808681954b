"""`sim serve` as a real process: base URL first, a registered `paper` profile, 0600 keys,
loopback-only binding, and state that survives `kill -9`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from bybitctl.commands.sim import app
from bybitctl.errors import UsageError

from .conftest import http

pytestmark = pytest.mark.e2e

SERVE = "import sys; from bybitctl.commands.sim import app; app(['serve', *sys.argv[1:]])"


class Served:
    """A `sim serve` subprocess; `.base_url` is its first stdout line. `command` replaces the
    in-process `serve` invocation (e.g. with the installed binary and global options)."""

    def __init__(self, env: dict[str, str], *args: str, command: list[str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [*(command or [sys.executable, "-c", SERVE]), *args],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()

    def stop(self, sig: int = signal.SIGTERM) -> tuple[str, str]:
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=20)
        return out, err


class Keys:
    """The handle shape `http()` expects, from the saved keys file."""

    def __init__(self, base_url: str, keys: dict[str, str]) -> None:
        self.base_url = base_url
        self.api_key = keys["api_key"]
        self.api_secret = keys["api_secret"]


def test_serve_prints_url_registers_paper_profile_and_keeps_secret(clean_env, tmp_path):
    env = {**clean_env, "XDG_DATA_HOME": str(tmp_path / "data")}
    served = Served(env, "--port", "0", "--symbols", "BTCUSDT", "--seed", "3")
    try:
        assert served.base_url.startswith("http://127.0.0.1:")
        keys_file = tmp_path / "data" / "bybitctl" / "sim-keys.json"
        assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
        keys = json.loads(keys_file.read_text())
        config = tomllib.loads(
            (Path(clean_env["XDG_CONFIG_HOME"]) / "bybitctl/config.toml").read_text()
        )
        paper = config["profiles"]["paper"]
        assert paper["base_url"] == served.base_url
        assert paper["api_key"] == keys["api_key"]
        session = http(Keys(served.base_url, keys))
        assert session.get_wallet_balance(accountType="UNIFIED")["retCode"] == 0
    finally:
        out, err = served.stop()
    assert served.proc.returncode == 0
    assert keys["api_secret"] not in out + err
    assert keys["readonly_secret"] not in out + err


def test_state_survives_kill_9(clean_env, tmp_path):
    env = {**clean_env, "XDG_DATA_HOME": str(tmp_path / "data")}
    state = str(tmp_path / "state.sqlite")
    first = Served(env, "--state", state, "--no-profile")
    try:
        keys = json.loads((tmp_path / "data/bybitctl/sim-keys.json").read_text())
        session = http(Keys(first.base_url, keys))
        book = session.get_orderbook(category="linear", symbol="BTCUSDT")["result"]
        price = str(round(float(book["b"][0][0]) * 0.8, 1))
        placed = session.place_order(
            category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit",
            qty="0.001", price=price, orderLinkId="survivor",
        )  # fmt: skip
        assert placed["retCode"] == 0
        balance = session.get_wallet_balance(accountType="UNIFIED")["result"]
        # every account's balances and orders: created readable by the owner only
        for made in Path(state).parent.glob(Path(state).name + "*"):
            assert stat.S_IMODE(made.stat().st_mode) == 0o600, made
    finally:
        first.stop(signal.SIGKILL)
    second = Served(env, "--state", state, "--no-profile")
    try:
        again = http(Keys(second.base_url, keys))
        orders = again.get_open_orders(category="linear", symbol="BTCUSDT")["result"]["list"]
        assert [o["orderLinkId"] for o in orders] == ["survivor"]
        after = again.get_wallet_balance(accountType="UNIFIED")["result"]
        coins = {c["coin"]: c["walletBalance"] for c in after["list"][0]["coin"]}
        assert coins == {c["coin"]: c["walletBalance"] for c in balance["list"][0]["coin"]}
    finally:
        second.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "not a loopback address"),
        (["--replay", "/nonexistent/rec.jsonl"], "no such recording"),
        (["--faults", "bogus"], "unknown fault"),
        (["--api-key", "abc"], "go together"),
    ],
)
def test_serve_refuses_bad_options(clean_env, args, message):
    result = CliRunner().invoke(app, ["serve", *args])
    assert isinstance(result.exception, UsageError)
    assert message in result.exception.message


def _non_loopback_address() -> str | None:
    """This machine's address on its default route, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_remote_bind_keeps_the_fault_endpoint_loopback_only(clean_env, tmp_path):
    address = _non_loopback_address()
    if address is None:
        pytest.skip("no non-loopback interface")
    env = {**clean_env, "XDG_DATA_HOME": str(tmp_path / "data")}
    served = Served(env, "--host", "0.0.0.0", "--allow-remote", "--no-profile")
    try:
        assert served.base_url.startswith("http://127.0.0.1:")
        port = served.base_url.rsplit(":", 1)[1]
        remote = requests.post(f"http://{address}:{port}/_sim/faults", data="http5xx", timeout=5)
        assert remote.status_code == 403
        assert requests.get(f"http://{address}:{port}/v5/market/time", timeout=5).ok
        assert requests.get(f"{served.base_url}/_sim/faults", timeout=5).json()["spec"] == ""
    finally:
        served.stop()


def test_serve_reports_a_port_in_use(clean_env, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--port", str(port), "--no-profile"])
    assert isinstance(result.exception, UsageError)
    assert f"cannot listen on 127.0.0.1:{port}" in result.exception.message


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, str]:
    """Paths that are no state file and no recording: a directory, text, bytes, JSON lines,
    another program's SQLite database."""
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    noise = tmp_path / "noise.bin"
    noise.write_bytes(bytes(range(256)) * 4)
    lines = tmp_path / "lines.jsonl"
    lines.write_text("[1, 2]\n5\n")
    other_db = tmp_path / "other.sqlite"
    with sqlite3.connect(other_db) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    return {
        "dir": str(tmp_path),
        "text": str(text),
        "noise": str(noise),
        "lines": str(lines),
        "other_db": str(other_db),
        "missing": str(tmp_path / "missing" / "file"),
    }


@pytest.mark.parametrize(
    "args",
    [
        ["--port", "99999"],
        ["--port", "-1"],
        ["--port", "http"],
        ["--port", "\u0663"],
        ["--port", "80.5"],
        ["--seed", "abc"],
        ["--seed", "\u0663"],
        ["--seed", "1e3"],
        ["--seed", "9" * 30],
        ["--symbols", "NOPE"],
        ["--symbols", ""],
        ["--symbols", ","],
        ["--symbols", "btcusdt"],
        ["--symbols", "BTC-USDT"],
        ["--symbols", "USDT"],
        ["--symbols", ",".join(f"C{i}USDT" for i in range(21))],
        ["--state", "{dir}"],
        ["--state", "{text}"],
        ["--state", "{noise}"],
        ["--state", "{other_db}"],
        ["--state", "{missing}"],
        ["--replay", "{missing}"],
        ["--replay", "{dir}"],
        ["--replay", "{noise}"],
        ["--replay", "{lines}"],
        ["--faults", "bogus"],
        ["--faults", "slow:\u0663s"],
        ["--faults", "http5xx:1e-1"],
        ["--client-timeout", "0"],
        ["--client-timeout", "nan"],
        ["--client-timeout", "7200"],
        ["--funding-interval", "59"],
        ["--funding-interval", "86401"],
        ["--funding-interval", "8h"],
        ["--funding-interval", "\u0663"],
        ["--tls-cert", "{text}"],
        ["--tls-cert", "{text}", "--tls-key", "{text}"],
        ["--tls-cert", "{missing}", "--tls-key", "{missing}"],
        ["--api-key", "k\u00e9y", "--api-secret", "s"],
        ["--allow-remote", "--host", "a" * 300],
        ["--allow-remote", "--host", "no such host"],
    ],
)
def test_bad_serve_arguments_exit_2_with_one_line(clean_env, tmp_path, monkeypatch, capsys,
                                                  bad_files, args):  # fmt: skip
    """Every bad argument or path of `sim serve` is refused before anything starts: exit 2
    and one `error:` line, never a traceback."""
    from bybitctl.cli import run

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    argv = ["sim", "serve", "--no-profile", *(a.format(**bad_files) for a in args)]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ") and "Traceback" not in err


def test_a_debug_serve_logs_nothing_for_bad_clients(clean_env, tmp_path):
    """`bybitctl --debug sim serve`, which would print any traceback: malformed requests, a bad
    fault spec and a slow client leave its log clean, and it keeps serving."""
    binary = shutil.which("bybitctl", path=str(Path(sys.executable).parent))
    assert binary, "bybitctl is not installed in this venv"
    env = {**clean_env, "XDG_DATA_HOME": str(tmp_path / "data")}
    served = Served(env, "--client-timeout", "0.3", "--no-profile",
                    command=[binary, "--debug", "sim", "serve"])  # fmt: skip
    try:
        url = served.base_url
        host, port = url.removeprefix("http://").rsplit(":", 1)
        key = json.loads((tmp_path / "data/bybitctl/sim-keys.json").read_text())["api_key"]
        with socket.create_connection((host, int(port)), timeout=30) as raw:
            raw.sendall(
                b"GET /v5/account/wallet-balance?accountType=UNIFIED HTTP/1.1\r\n"
                b"Host: sim\r\nConnection: close\r\nX-BAPI-API-KEY: "
                + key.encode()
                + b"\r\nX-BAPI-TIMESTAMP: \xd9\xa1\r\nX-BAPI-SIGN: \xc3\xa9\r\n\r\n"
            )
            answer = b""
            while chunk := raw.recv(4096):
                answer += chunk
        assert b'"retCode":10002' in answer
        create = f"{url}/v5/order/create"
        assert requests.post(create, data="{", timeout=10).json()["retCode"] == 10003
        assert requests.post(f"{url}/_sim/faults", data="slow", timeout=10).status_code == 400
        query = f"{url}/v5/market/orderbook?category=linear&symbol=BTCUSDT&limit=%D9%A3"
        assert requests.get(query, timeout=10).json()["retCode"] == 10001
        with socket.create_connection((host, int(port)), timeout=30) as slow:
            slow.sendall(b"GET /v5/market/time HTTP/1.1\r\nHost: sim\r\n")
            assert slow.recv(1024) == b""
        with socket.create_connection((host, int(port)), timeout=30) as junk:
            junk.sendall(b"\x16\x03\x01 not HTTP\r\n\r\n")
            assert junk.recv(1024).startswith(b"HTTP/1.0 400")
        assert requests.get(f"{url}/v5/market/time", timeout=10).json()["retCode"] == 0
    finally:
        _, err = served.stop()
    assert served.proc.returncode == 0
    assert "Traceback" not in err and "error" not in err.lower(), err
