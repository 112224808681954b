"""Every pybit internal bybitctl relies on, each named once here and guarded by a test.

pybit stays unmodified, but a few things bybitctl needs are not its documented API: private
methods (`_submit_request`, `_connect`, `_set_callback`), attributes its methods read or
set (`endpoint`, `timeout`, `auth`, `ws`), and behaviours (which keys its payload casts,
what its frame hook skips, that a socket closed by the server stays closed). Each function
here says what pybit does there and why bybitctl depends on it; `tests/test_pybit_compat.py`
exercises each against real pybit objects, over loopback against the local exchange where
behaviour matters, so a pybit release that changes one fails there by name rather than deep
inside a command. `pyproject.toml` pins pybit to the releases those tests passed on.

pybit is imported inside the functions: `bybitctl --help` never loads it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pybit.unified_trading import HTTP, WebSocket, WebsocketSpreadTrading, WebSocketTrading

# -- HTTP -----------------------------------------------------------------------------------


def set_base_url(http: HTTP, base_url: str) -> None:
    """Send every request of `http` to `base_url` (the local exchange, a proxy).

    pybit's HTTP builds each request URL as `self.endpoint + path`, `endpoint` being set once
    from testnet/demo/domain/tld in `__post_init__`; replacing it is the only way to point
    pybit elsewhere without subclassing every API mixin.
    """
    http.endpoint = base_url


def request_url(http: HTTP, path: str) -> str:
    """The URL pybit sends a request for `path` (`/v5/...`) to."""
    return str(http.endpoint) + path


class _EveryCode:
    """A set holding every retCode (see `return_refusals`)."""

    def __contains__(self, code: object) -> bool:
        return True


def return_refusals(http: HTTP) -> None:
    """Make `http` return a refusal's envelope instead of raising `InvalidRequestError`.

    pybit's `_submit_request` raises for a non-zero retCode unless `ret_code in
    self.ignore_codes` (a constructor field); a container holding every code turns each
    refusal into a plain answer, so the caller keeps the whole envelope. pybit still
    retries the codes it retries before that check.
    """
    http.ignore_codes = _EveryCode()


def submit(http: HTTP, method: str, path: str, query: dict[str, Any], *, auth: bool) -> Any:
    """Send one request through pybit's own machinery: cleaning, signing, retries, errors.

    `HTTP._submit_request(method, path, query, auth)` is what every pybit API method calls;
    bybitctl calls it for endpoints pybit has no method for (`bybitctl api`) and for methods
    that cannot carry the documented parameters, so those requests are signed and answered
    exactly like the others.
    """
    return http._submit_request(method=method, path=request_url(http, path), query=query, auth=auth)


def clean_query(http: HTTP, params: dict[str, Any]) -> dict[str, Any]:
    """What pybit makes of request parameters before sending: None values dropped, whole
    floats turned into ints (`_clean_query`). `--dry-run` shows that, not the input."""
    return dict(http._clean_query(dict(params)))


def encode_payload(http: HTTP, method: str, query: dict[str, Any]) -> str:
    """The string pybit signs and sends: a GET's `k=v&...` (sorted, None dropped), a POST's
    JSON with the keys of `PAYLOAD_STR_CASTS` and `PAYLOAD_INT_CASTS` cast (pybit's static
    `prepare_payload`). `--dry-run` shows it byte for byte."""
    return str(http.prepare_payload(method, dict(query)))


PAYLOAD_STR_CASTS = frozenset({"qty", "price", "triggerPrice", "takeProfit", "stopLoss"})
"""POST body keys pybit's `prepare_payload` turns into strings with `str()`, whatever the
endpoint: a value typed for them is parsed as what pybit will send."""
PAYLOAD_INT_CASTS = frozenset({"positionIdx"})
"""POST body keys pybit's `prepare_payload` turns into ints with `int()` (which reads '٣'
as 3)."""


def session_headers(http: HTTP) -> dict[str, str]:
    """The headers pybit's requests session sends with every request (`HTTP.client`, a
    `requests.Session`: Content-Type, Accept, Referer when a referral id is set)."""
    return dict(http.client.headers)


def holds_key(http: HTTP) -> bool:
    """Whether pybit holds an API key (`HTTP.api_key`)."""
    return bool(http.api_key)


def holds_secret(http: HTTP) -> bool:
    """Whether pybit holds a secret or RSA key to sign with (`HTTP.api_secret`)."""
    return bool(http.api_secret)


def recv_window(http: HTTP) -> int:
    """The recv_window pybit puts in the `X-BAPI-RECV-WINDOW` header (`HTTP.recv_window`)."""
    return int(http.recv_window)


def set_timeout(http: HTTP, seconds: float) -> None:
    """Bound the next requests of `http` to `seconds` each.

    pybit reads `HTTP.timeout` afresh for every request (`client.send(..., timeout=...)`),
    so the market maker's exit shrinks it as its deadline nears.
    """
    http.timeout = seconds


def is_missing_keys(exc: BaseException) -> bool:
    """Whether `exc` is pybit refusing a signed request for want of keys: its `_auth` raises
    `PermissionError("Authenticated endpoints require keys.")` before anything is sent."""
    return isinstance(exc, PermissionError) and "require keys" in str(exc)


def raised_by_pybit(exc: BaseException) -> bool:
    """Whether `exc` was raised by pybit's own code (its innermost frame is in the pybit
    package): pybit's local checks (`You must pass demo=True ...`) raise bare exceptions
    before sending, and the CLI reports those as refused input rather than as a crash."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and f"{os.sep}pybit{os.sep}" in tb.tb_frame.f_code.co_filename


# -- WebSocket --------------------------------------------------------------------------------


@functools.cache
def _routed() -> tuple[type[WebSocket], type[WebSocketTrading], type[WebsocketSpreadTrading]]:
    """Subclasses that differ from pybit's only in the URL `_connect` receives.

    pybit's sockets build their URL from testnet/demo/tld and call `self._connect(url)` from
    `__init__` (`_connect` formats it, opens the socket, authenticates, starts pings); there
    is no argument for another host, so `_connect` is overridden to take ours when given.
    """
    from pybit.unified_trading import WebSocket, WebsocketSpreadTrading, WebSocketTrading

    class RoutedWebSocket(WebSocket):
        def __init__(self, channel_type: str, url: str | None = None, **kwargs: Any) -> None:
            self._routed_url = url
            super().__init__(channel_type, **kwargs)

        def _connect(self, url: str) -> None:
            super()._connect(self._routed_url or url)

    class RoutedWebSocketTrading(WebSocketTrading):
        def __init__(self, url: str | None = None, **kwargs: Any) -> None:
            self._routed_url = url
            super().__init__(**kwargs)

        def _connect(self, url: str) -> None:
            super()._connect(self._routed_url or url)

    class RoutedSpreadWebSocket(WebsocketSpreadTrading):
        def __init__(self, url: str | None = None, **kwargs: Any) -> None:
            self._routed_url = url
            super().__init__(**kwargs)

        def _connect(self, url: str) -> None:
            super()._connect(self._routed_url or url)

    return RoutedWebSocket, RoutedWebSocketTrading, RoutedSpreadWebSocket


def websocket(channel_type: str, url: str | None, **kwargs: Any) -> WebSocket:
    """pybit's `WebSocket` for `channel_type`, connected now, to `url` when given."""
    return _routed()[0](channel_type, url, **kwargs)


def websocket_trading(url: str | None, **kwargs: Any) -> WebSocketTrading:
    """pybit's `WebSocketTrading`, connected now, to `url` when given."""
    return _routed()[1](url, **kwargs)


def spread_websocket(url: str | None, **kwargs: Any) -> WebsocketSpreadTrading:
    """pybit's `WebsocketSpreadTrading` (the public spread channel), connected now, to `url`
    when given."""
    return _routed()[2](url, **kwargs)


def no_reconnects(*, retries: int) -> dict[str, Any]:
    """Keyword arguments for a pybit socket whose reconnects are bybitctl's
    (`bybitctl.stream.supervisor`, the market maker's trade socket).

    `restart_on_error=False` stops pybit reconnecting by itself (it would, at once and
    without backoff, whenever websocket-client reports the socket's end as an error, as it
    does for a server's close frame): a dropped socket stays closed and `is_connected()`
    turns False. `retries` bounds the attempts of one connect, after which the constructor
    raises.
    """
    return {"restart_on_error": False, "retries": retries}


def raw_frames(callback: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Keyword arguments that hand every frame of a pybit `WebSocket` to `callback`.

    `callback_function` replaces pybit's whole frame handling: every decoded frame (but
    Bybit's `{"op": "pong"}`) goes to `callback` as it arrived, so pybit's own list order
    book, ticker merging and subscription bookkeeping never run, and subscribe answers reach
    us too.
    """
    return {"callback_function": callback}


def send_text(ws: Any, text: str | bytes) -> None:
    """Send one text frame on pybit's open socket (`ws.ws`, its websocket-client
    `WebSocketApp`), beside pybit's own requests: bybitctl's resubscribe, which pybit's
    `unsubscribe` cannot do safely (it finds the topic by substring and drops the callback
    when the answer arrives), and the market maker's order operations (see `expect_reply`).
    Raises when the socket is closed."""
    ws.ws.send(text)


def trade_authenticated(ws: WebSocketTrading) -> bool:
    """Whether the trade socket's login was accepted: pybit connects without waiting for the
    answer and sets `auth` when it comes; orders sent before that are refused."""
    return bool(ws.auth)


def trade_headers(ws: WebSocketTrading) -> dict[str, Any]:
    """The optional headers pybit's `_send_order_operation` puts on a trade-socket request,
    from its constructor's `recv_window` and `referral_id` (kept as attributes)."""
    header: dict[str, Any] = {}
    if ws.recv_window:
        header["X-BAPI-RECV-WINDOW"] = ws.recv_window
    if ws.referral_id:
        header["Referer"] = ws.referral_id
    return header


def expect_reply(
    ws: WebSocketTrading,
    req_id: str,
    callback: Callable[[dict[str, Any]], None],
    error_callback: Callable[[dict[str, Any]], None],
) -> None:
    """Have pybit hand the answer to request `req_id` to `callback` (retCode 0) or
    `error_callback` (any other).

    pybit dispatches trade-socket answers by `reqId` through `_set_callback`'s directory,
    but its own `_send_order_operation` registers after sending, so a quick answer finds no
    callback and is dropped; the market maker registers first, then sends its own frame.
    """
    ws._set_callback(req_id, callback, error_callback)


def forget_reply(ws: WebSocketTrading, req_id: str) -> None:
    """Undo `expect_reply` for a request that was never sent (`_pop_callback`)."""
    ws._pop_callback(req_id)
