"""Builds pybit's HTTP, WebSocket and WebSocketTrading clients for resolved Settings.

pybit stays unmodified: an explicit base URL reaches it through `bybitctl.pybit_compat`
(`set_base_url` for HTTP, the routed WebSocket classes for the derived local URL).
pybit is imported inside the functions so `bybitctl --help` never loads it or requests.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bybitctl import pybit_compat
from bybitctl.config import Settings, is_loopback, read_rsa_key
from bybitctl.errors import ConfigError

if TYPE_CHECKING:
    from pybit.unified_trading import HTTP, WebSocket, WebsocketSpreadTrading, WebSocketTrading


def _configure_logging(debug: bool) -> None:
    """pybit logs retries and reconnects at INFO/ERROR; users see them only with --debug."""
    logging.getLogger("pybit").setLevel(logging.DEBUG if debug else logging.CRITICAL)
    logging.getLogger("websocket").setLevel(logging.DEBUG if debug else logging.CRITICAL)


def _credentials(settings: Settings) -> dict[str, Any]:
    """pybit's key arguments; an RSA key file's PEM goes where the HMAC secret would."""
    if not settings.api_key:
        return {}
    if settings.rsa_key_file:
        pem = read_rsa_key(settings.rsa_key_file)
        _check_rsa_private_key(pem, settings.rsa_key_file)
        return {"api_key": settings.api_key, "api_secret": pem, "rsa_authentication": True}
    if settings.api_secret:
        return {"api_key": settings.api_key, "api_secret": settings.api_secret}
    return {}


def _check_rsa_private_key(pem: str, path: str) -> None:
    """Refuse (exit 3) a file pybit could not sign with, before any request.

    pybit would fail deep inside its signing code with a bare ValueError; the message here
    names the file, and never its content.
    """
    from Crypto.PublicKey import RSA  # pybit's own dependency for RSA signing

    try:
        key = RSA.import_key(pem)
    except (ValueError, IndexError, TypeError):
        raise ConfigError(
            f"RSA key file {path} is not an unencrypted RSA private key in PEM format"
        ) from None
    if not key.has_private():
        raise ConfigError(f"RSA key file {path} holds a public key; pass the private key")


def make_http(settings: Settings, *, auth: bool = False, debug: bool = False) -> HTTP:
    """pybit's HTTP for the target; `auth=True` fails early (exit 3) without credentials."""
    if auth:
        settings.require_credentials()
    _configure_logging(debug)
    from pybit.unified_trading import HTTP

    http = HTTP(
        testnet=settings.testnet,
        demo=settings.demo,
        tld=settings.tld,
        recv_window=settings.recv_window,
        timeout=settings.timeout,
        logging_level=logging.DEBUG if debug else logging.CRITICAL,
        **_credentials(settings),
    )
    if settings.base_url:
        pybit_compat.set_base_url(http, settings.base_url)
    return http


def ws_url(settings: Settings, channel: str) -> str:
    """The WebSocket URL for `channel` below /v5/ ("public/linear", "private", "trade").

    From a base URL: same host and path with http->ws, https->wss. Otherwise the host
    pybit itself connects to, including its quirk that public streams always use `.com`.
    """
    channel = channel.strip("/")
    if settings.base_url:
        parts = urlsplit(settings.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}/v5/{channel}"
    sub = "stream-testnet" if settings.testnet else "stream"
    if settings.demo:
        sub = "stream-demo-testnet" if settings.testnet else "stream-demo"
    tld = "com" if channel.startswith("public/") else settings.tld
    return f"wss://{sub}.bybit.{tld}/v5/{channel}"


def _channel_path(channel_type: str) -> str:
    """pybit's channel type ("linear", "private", "misc/status") as a path below /v5/."""
    return "private" if channel_type == "private" else f"public/{channel_type}"


def _ws_kwargs(settings: Settings, kw: dict[str, Any]) -> dict[str, Any]:
    return {
        "testnet": settings.testnet,
        "demo": settings.demo,
        "tld": settings.tld,
        **_credentials(settings),
        **kw,
    }


def make_ws(
    settings: Settings, channel_type: str, *, debug: bool = False, **kw: Any
) -> WebSocket | WebsocketSpreadTrading:
    """pybit's WebSocket for a channel type ("linear", "spot", "private", ...); connects now.

    "spread" gives pybit's separate WebsocketSpreadTrading, public and so without keys.
    `kw` passes through to pybit (callback_function, ping_interval, retries, ...).
    """
    if channel_type == "private":
        settings.require_credentials()
    _configure_logging(debug)
    url = ws_url(settings, _channel_path(channel_type)) if settings.base_url else None
    if channel_type == "spread":
        return pybit_compat.spread_websocket(
            url, testnet=settings.testnet, demo=settings.demo, tld=settings.tld, **kw
        )
    return pybit_compat.websocket(channel_type, url, **_ws_kwargs(settings, kw))


def make_ws_trading(settings: Settings, *, debug: bool = False, **kw: Any) -> WebSocketTrading:
    """pybit's WebSocketTrading (order entry over /v5/trade); always authenticated."""
    settings.require_credentials()
    _configure_logging(debug)
    url = ws_url(settings, "trade") if settings.base_url else None
    kw.setdefault("recv_window", settings.recv_window)
    return pybit_compat.websocket_trading(url, **_ws_kwargs(settings, kw))


def is_safe_target(settings: Settings) -> bool:
    """True where nothing real can move: testnet, demo, or a loopback base URL.

    An explicit base URL decides alone, because it replaces the testnet/demo host.
    """
    if settings.base_url:
        return is_loopback(urlsplit(settings.base_url).hostname)
    return settings.testnet or settings.demo
