"""pybit clients for a profile: endpoints, WebSocket URLs, safe targets, lazy imports."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bybitctl.client import is_safe_target, make_http, make_ws, make_ws_trading, ws_url
from bybitctl.config import Settings
from bybitctl.errors import ConfigError

SECRET = "ws-secret-0123456789"


@pytest.mark.parametrize(
    ("settings", "endpoint"),
    [
        (Settings(), "https://api.bybit.com"),
        (Settings(testnet=True), "https://api-testnet.bybit.com"),
        (Settings(demo=True), "https://api-demo.bybit.com"),
        (Settings(demo=True, testnet=True), "https://api-demo-testnet.bybit.com"),
        (Settings(tld="nl"), "https://api.bybit.nl"),
        (Settings(base_url="http://127.0.0.1:8123"), "http://127.0.0.1:8123"),
        (
            Settings(base_url="https://example.test/prefix", testnet=True),
            "https://example.test/prefix",
        ),
    ],
)
def test_make_http_endpoint(settings, endpoint):
    assert make_http(settings).endpoint == endpoint


def test_make_http_passes_keys_and_limits():
    http = make_http(
        Settings(api_key="K", api_secret=SECRET, recv_window=20000, timeout=2.5), auth=True
    )
    assert (http.api_key, http.api_secret, http.rsa_authentication) == ("K", SECRET, False)
    assert (http.recv_window, http.timeout) == (20000, 2.5)


@pytest.mark.parametrize("settings", [Settings(), Settings(api_key="K"), Settings(api_secret="S")])
def test_auth_without_credentials_is_a_config_error(settings):
    with pytest.raises(ConfigError) as info:
        make_http(settings, auth=True)
    assert info.value.exit_code == 3 and "BYBIT_API_SECRET" in info.value.message
    assert make_http(settings).api_key is None


def test_rsa_key_file_becomes_pybit_rsa_secret(tmp_path: Path):
    from Crypto.PublicKey import RSA

    pem = RSA.generate(1024).export_key().decode()
    key_file = tmp_path / "bybit.pem"
    key_file.write_text(pem)
    key_file.chmod(0o600)
    http = make_http(Settings(api_key="K", rsa_key_file=str(key_file)), auth=True)
    assert http.rsa_authentication is True and http.api_secret == pem
    key_file.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        make_http(Settings(api_key="K", rsa_key_file=str(key_file)))


def test_unusable_rsa_key_file_is_a_config_error_naming_the_file(tmp_path: Path):
    """pybit would fail inside its signer with a bare ValueError (an "internal error")."""
    from Crypto.PublicKey import RSA

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key: do-not-print-me\n")
    public = tmp_path / "public.pem"
    public.write_bytes(RSA.generate(1024).publickey().export_key())
    for path, reason in ((garbage, "not an unencrypted RSA private key"), (public, "public key")):
        path.chmod(0o600)
        with pytest.raises(ConfigError, match=reason) as caught:
            make_http(Settings(api_key="K", rsa_key_file=str(path)), auth=True)
        assert str(path) in caught.value.message
        assert "do-not-print-me" not in caught.value.show()


def test_pybit_is_quiet_unless_debug():
    make_http(Settings())
    assert logging.getLogger("pybit").getEffectiveLevel() == logging.CRITICAL
    make_http(Settings(), debug=True)
    assert logging.getLogger("pybit._http_manager").getEffectiveLevel() == logging.DEBUG
    make_http(Settings())


@pytest.mark.parametrize(
    ("settings", "channel", "url"),
    [
        (
            Settings(base_url="http://127.0.0.1:9000"),
            "public/linear",
            "ws://127.0.0.1:9000/v5/public/linear",
        ),
        (Settings(base_url="https://x.test/base/"), "private", "wss://x.test/base/v5/private"),
        (Settings(base_url="http://[::1]:7"), "trade", "ws://[::1]:7/v5/trade"),
        (Settings(), "public/spot", "wss://stream.bybit.com/v5/public/spot"),
        (Settings(), "private", "wss://stream.bybit.com/v5/private"),
        (Settings(testnet=True), "trade", "wss://stream-testnet.bybit.com/v5/trade"),
        (Settings(demo=True), "private", "wss://stream-demo.bybit.com/v5/private"),
        (
            Settings(demo=True, testnet=True),
            "private",
            "wss://stream-demo-testnet.bybit.com/v5/private",
        ),
        (Settings(tld="nl"), "private", "wss://stream.bybit.nl/v5/private"),
        (Settings(tld="nl"), "public/linear", "wss://stream.bybit.com/v5/public/linear"),
        (Settings(), "public/misc/status", "wss://stream.bybit.com/v5/public/misc/status"),
    ],
)
def test_ws_url(settings, channel, url):
    assert ws_url(settings, channel) == url


@pytest.mark.parametrize(
    ("settings", "safe"),
    [
        (Settings(), False),
        (Settings(tld="nl"), False),
        (Settings(testnet=True), True),
        (Settings(demo=True), True),
        (Settings(base_url="http://127.0.0.1:1"), True),
        (Settings(base_url="http://127.9.8.7:1"), True),
        (Settings(base_url="http://[::1]:1"), True),
        (Settings(base_url="http://localhost:1"), True),
        (Settings(base_url="http://10.0.0.1:1"), False),
        (Settings(base_url="https://api.bybit.com"), False),
        (Settings(base_url="https://api.bybit.com", testnet=True), False),
        (Settings(base_url="http://localhost.evil.test"), False),
    ],
)
def test_is_safe_target(settings, safe):
    assert is_safe_target(settings) is safe


def test_modules_import_neither_pybit_nor_requests_nor_rich():
    code = (
        "import sys, bybitctl.config, bybitctl.client, bybitctl.output, bybitctl.context;"
        "print(sorted(m for m in ('pybit','requests','rich','websocket') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- WebSockets against a loopback server ---------------------------------------------


@pytest.fixture
def ws_server() -> Iterator[tuple[str, list[dict]]]:
    """A WebSocket server on 127.0.0.1 that records each connection's path and messages."""
    from aiohttp import WSMsgType, web

    seen: list[dict] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        entry: dict = {"path": request.path, "messages": []}
        seen.append(entry)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                entry["messages"].append(json.loads(msg.data))
        return ws

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.SockSite(runner, sock).start())
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", seen
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_make_ws_public_connects_to_the_base_url(ws_server):
    base_url, seen = ws_server
    ws = make_ws(Settings(base_url=base_url, api_key="K", api_secret=SECRET), "linear")
    try:
        ws.orderbook_stream(50, "BTCUSDT", lambda message: None)
        wait_for(lambda: seen and seen[0]["messages"])
        assert seen[0]["path"] == "/v5/public/linear"
        first = seen[0]["messages"][0]
        assert (first["op"], first["args"]) == ("subscribe", ["orderbook.50.BTCUSDT"])
    finally:
        ws.exit()


def test_make_ws_private_authenticates_with_the_profile_keys(ws_server):
    base_url, seen = ws_server
    ws = make_ws(Settings(base_url=base_url, api_key="K", api_secret=SECRET), "private")
    try:
        wait_for(lambda: seen and seen[0]["messages"])
        assert seen[0]["path"] == "/v5/private"
        auth = seen[0]["messages"][0]
        key, expires, signature = auth["args"]
        expected = hmac.new(SECRET.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256)
        assert (auth["op"], key, signature) == ("auth", "K", expected.hexdigest())
    finally:
        ws.exit()


def test_make_ws_trading_connects_to_trade_path(ws_server):
    base_url, seen = ws_server
    ws = make_ws_trading(Settings(base_url=base_url, api_key="K", api_secret=SECRET))
    try:
        wait_for(lambda: seen and seen[0]["messages"])
        assert seen[0]["path"] == "/v5/trade"
        assert seen[0]["messages"][0]["op"] == "auth"
    finally:
        ws.exit()


@pytest.mark.parametrize("build", [lambda s: make_ws(s, "private"), make_ws_trading])
def test_private_sockets_need_credentials(build):
    with pytest.raises(ConfigError):
        build(Settings(base_url="http://127.0.0.1:9"))
