"""The local exchange's network layer: REST, WebSockets, auth, rate limits and faults on aiohttp.

Every route of the endpoint catalogue answers. A request is checked the way Bybit checks it
(signature, timestamp window, permission, rate limit, then its parameters against their
catalogue types, `bybitctl.sim.api.params`), then handed to the synchronous core; routes the core
does not model answer with the documented example response. All core calls happen on this
server's one event-loop thread. Client input never reaches a traceback: what cannot be
parsed is refused with Bybit's code (or the HTTP status a gateway gives), and an exception
that still escapes answers 10016.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from bybitctl import catalog, parsing
from bybitctl.sim.api import params
from bybitctl.sim.core.clock import wall_ms
from bybitctl.sim.core.errors import ApiError, params_error
from bybitctl.sim.net import CLIENT_TIMEOUT_S, TRADE_LATENCY_MS
from bybitctl.sim.net.auth import MESSAGES, PERMISSION_DENIED, ApiKey, AuthError, Keyring
from bybitctl.sim.net.faults import Faults
from bybitctl.sim.net.ports import ExchangeCore
from bybitctl.sim.net.ratelimit import MESSAGE as RATE_LIMIT_MESSAGE
from bybitctl.sim.net.ratelimit import RATE_LIMITED, RateLimiter, Verdict
from bybitctl.sim.net.ws import PUBLIC_CHANNELS, STATUS_CHANNEL, WsHub

SYSTEM_STATUS = "/v5/system/status"
"""Answered from the fault state (maintenance windows), not by the core."""

log = logging.getLogger(__name__)

STEP_INTERVAL_S = 0.025
LINGER_S = 10.0
"""aiohttp's default for draining a body left unread, capped by the client timeout."""
MAX_BODY = 1 << 20
"""Largest request body (1 MiB, 413 beyond): Bybit's biggest request, a batch of 20 orders,
is a few kilobytes."""
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_JSON = "application/json"
_REDACTED = ("X-BAPI-API-KEY", "X-BAPI-SIGN")
_SERVER_ERROR = {"retCode": 10016, "retMsg": "Server error.", "result": {}, "retExtInfo": {}}


@dataclass(frozen=True, slots=True)
class Route:
    """What the server needs to know about one catalogue route, indexed once at start."""

    method: str
    path: str
    auth: bool
    binding: params.Binding
    example: dict[str, Any] | None


def build_routes() -> dict[tuple[str, str], Route]:
    """Index the catalogue by (verb, path) so a request costs one dict lookup."""
    auth: dict[tuple[str, str], bool] = {}
    for endpoint in catalog.load():
        key = (endpoint.http_method, endpoint.path)
        auth[key] = auth.get(key, False) or endpoint.auth
    routes: dict[tuple[str, str], Route] = {}
    for key, bound in params.bindings().items():
        example = catalog.example(*key)
        response = _success_example(example.get("response") if example else None)
        routes[key] = Route(key[0], key[1], auth[key], bound, response)
    return routes


def _success_example(response: Any) -> dict[str, Any] | None:
    """The documented response as a success envelope.

    Most examples are full `retCode` envelopes; P2P ones use the older `ret_code` shape (kept,
    as Bybit answers that way there); a few document only the result (wrapped here). An
    example showing an error code is turned into its success form.
    """
    if not isinstance(response, dict):
        return None
    if "retCode" in response:
        return {**response, "retCode": 0, "retMsg": response.get("retMsg") or "OK"}
    if "ret_code" in response:
        return {**response, "ret_code": 0}
    return {"retCode": 0, "retMsg": "OK", "result": response, "retExtInfo": {}, "time": 0}


def parse_query(raw: str) -> dict[str, str]:
    """The query's parameters (last value wins); skips the general parser when nothing in
    the string is percent- or plus-encoded, the usual case for pybit's requests."""
    if "%" in raw or "+" in raw:
        return dict(parse_qsl(raw, keep_blank_values=True))
    out: dict[str, str] = {}
    for part in raw.split("&"):
        if part:
            key, _, value = part.partition("=")
            out[key] = value
    return out


_PART_NAME = re.compile(rb'Content-Disposition: form-data; name="([^"]+)"(?:; filename="([^"]*)")?')


def multipart_fields(body: bytes) -> dict[str, str]:
    """The field names of a multipart upload (pybit's `upload_chat_file`), each mapped to its
    filename or "": enough to check required fields; the file itself is not kept."""
    return {
        m[1].decode(errors="replace"): (m[2] or b"").decode(errors="replace")
        for m in _PART_NAME.finditer(body)
    }


def _envelope(code: int, message: str, now_ms: int) -> dict[str, Any]:
    return {"retCode": code, "retMsg": message, "result": {}, "retExtInfo": {}, "time": now_ms}


class _ClientErrorLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The log aiohttp's HTTP protocol writes to.

    aiohttp answers a request its parser refuses (a malformed request line, header, chunk or
    content encoding) with 400 and logs it as an exception with a traceback. Those are the
    client's errors, not the exchange's: one debug line each. Anything else it reports is
    the exchange's own failure (`SimServer.report_failure`).
    """

    def __init__(self, server: SimServer) -> None:
        super().__init__(logging.getLogger(f"{__name__}.http"), {})
        self.server = server

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        detail = f": {_one_line(exc)}" if isinstance(exc, BaseException) else ""
        self.logger.debug("%s%s", _formatted(msg, args), detail)

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if not isinstance(exc, BaseException):
            exc = sys.exc_info()[1]
        if isinstance(exc, HttpProcessingError | RequestPayloadError | ConnectionError):
            self.debug(msg, *args, exc_info=exc)
        elif exc is not None:
            self.server.report_failure(_formatted(msg, args), exc)


def _formatted(msg: object, args: tuple[object, ...]) -> str:
    """A log call's message with its arguments, never failing on a stray `%`."""
    try:
        return str(msg) % args if args else str(msg)
    except (TypeError, ValueError):
        return f"{msg} {args}"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


class SimServer:
    """One running exchange: the aiohttp app around a core, with keys, limits and faults."""

    def __init__(
        self,
        core: ExchangeCore,
        keys: Keyring,
        *,
        faults: str | None = None,
        seed: int | None = None,
        rate_limits: bool = True,
        record: list[dict[str, Any]] | None = None,
        ws_idle_ms: int | None = None,
        trade_latency_ms: int = TRADE_LATENCY_MS,
        client_timeout: float = CLIENT_TIMEOUT_S,
        debug: bool = False,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.core = core
        self.tls = tls
        """Serve HTTPS and WSS with this context (clients that insist on `wss://`)."""
        self.keys = keys
        self.limiter = RateLimiter(rate_limits)
        self.faults = Faults(seed)
        self.routes = build_routes()
        self.record = record
        self.hub = WsHub(self, self.faults, ws_idle_ms, trade_latency_ms)
        self.client_timeout = client_timeout
        self.debug = debug
        self.host = "127.0.0.1"
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._refuse_until = 0
        self._background: set[asyncio.Task[Any]] = set()
        core.set_listener(self.hub)
        for account in sorted(keys.accounts()):
            core.ensure_account(account)
        if faults:
            self.faults.set(faults, wall_ms())
        self.app = self._make_app()

    def now_ms(self) -> int:
        """The exchange's clock as clients see it: wall time plus any `skew` fault."""
        return wall_ms() + self.faults.skew_ms

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run `coro` in the background, keeping a reference until it finishes."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def report_failure(self, what: str, exc: BaseException) -> None:
        """Log an unexpected exception: one line, and its traceback under `debug` only (a
        user of `sim serve` sees a sentence; `bybitctl --debug` shows where it came from)."""
        if self.debug:
            log.error("%s", what, exc_info=exc)
        else:
            log.error("%s: %s (bybitctl --debug shows the traceback)", what, _one_line(exc))

    def call_core(self, call: Callable[[], Any]) -> Any:
        """Run a core call; a bug in the core answers 10016 instead of killing the request."""
        try:
            return call()
        except Exception as exc:
            self.report_failure("core call failed", exc)
            return dict(_SERVER_ERROR)

    # --- the WebSocket hub's port (`HubPort`) ------------------------------------------------

    def authenticate(self, args: Any) -> ApiKey:
        return self.keys.verify_ws(args, self.now_ms())

    def admit(self, account: str, path: str, category: Any) -> Verdict:
        return self.limiter.check(account, path, category, self.now_ms())

    def trade_op(self, op: str, args: list[dict[str, Any]], account: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call_core(lambda: self.core.trade_op(op, args, account))
        return result

    def subscribe_public(self, category: str, topic: str) -> list[dict[str, Any]]:
        return self.core.subscribe_public(category, topic)

    def unsubscribe_public(self, category: str, topic: str) -> None:
        self.core.unsubscribe_public(category, topic)

    def dcp_connected(self, account: str, product: str) -> None:
        self.core.dcp_connected(account, product)

    def dcp_disconnected(self, account: str, product: str, now_ms: int) -> None:
        self.core.dcp_disconnected(account, product, now_ms)

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        router = app.router
        for channel in (*PUBLIC_CHANNELS, STATUS_CHANNEL):
            router.add_get(f"/v5/public/{channel}", self._ws_handler(channel))
        router.add_get("/v5/private", self._ws_handler("private"))
        router.add_get("/v5/trade", self._ws_handler("trade"))
        router.add_route("*", "/_sim/faults", self._guarded(self._admin_faults))
        router.add_route("POST", "/_sim/clock", self._guarded(self._admin_clock))
        router.add_route("POST", "/_sim/price", self._guarded(self._admin_price))
        router.add_route("*", "/{tail:.*}", self._guarded(self._rest))
        return app

    def _ws_handler(self, channel: str) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self.hub.handle(request, channel)

        return handler

    def _guarded(
        self, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """The last line of defence: an exception escaping a handler is the exchange's bug,
        answered 10016 (`Server error.`) and reported, never a bare HTTP 500. Client input is
        refused earlier, with its own code."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except web.HTTPException:
                raise
            except ConnectionError as exc:  # the client went away mid-request
                log.debug("%s %s: %s", request.method, request.path, _one_line(exc))
                return web.Response(status=400)
            except Exception as exc:
                self.report_failure(f"{request.method} {request.path} failed", exc)
                now = self.now_ms()
                return self._reply({**_SERVER_ERROR, "time": now}, now)

        return guarded

    # --- REST ---------------------------------------------------------------------------------

    def _reply(
        self, envelope: dict[str, Any], now_ms: int, headers: dict[str, str] | None = None
    ) -> web.Response:
        out = {"Timenow": str(now_ms)}
        if headers:
            out.update(headers)
        return web.Response(body=orjson.dumps(envelope), content_type=_JSON, headers=out)

    async def _read_body(self, request: web.Request) -> bytes | web.Response:
        """The raw body, or the HTTP answer a gateway gives one it cannot take: 413 past
        `MAX_BODY` (raised by aiohttp), 400 for one it cannot decode (a broken chunk or
        content encoding), 408 when it does not arrive within the client timeout."""
        try:
            async with asyncio.timeout(self.client_timeout):
                return await request.read()
        except TimeoutError:
            response = web.Response(status=408, text="408 Request Timeout")
        except RequestPayloadError as exc:
            log.debug("%s %s: %s", request.method, request.path, _one_line(exc))
            response = web.Response(status=400, text="400 Bad Request")
        response.force_close()
        return response

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        """Answer one REST request as Bybit would."""
        if self._refuse_until:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)
        body = b""
        if request.method == "POST":
            read = await self._read_body(request)
            if isinstance(read, web.Response):
                return read
            body = read
        # the query string exactly as it arrived: what a GET signature covers
        raw_query = request.raw_path.partition("?")[2]
        multipart = request.content_type == "multipart/form-data"
        text_values = request.method == "GET" or multipart
        query = parse_query(raw_query) if request.method == "GET" or self.record is not None else {}
        unreadable: ApiError | None = None
        values: Any
        if request.method == "GET":
            values = query
        elif multipart:
            values = multipart_fields(body)
        else:
            try:
                values = params.decode_body(body)
            except ApiError as exc:
                values, unreadable = None, exc
        if self.record is not None:
            json_body = body and not multipart and isinstance(values, dict)
            self._log(request, query, values if json_body else None)
        route = self.routes.get((request.method, request.path))
        if route is None:
            return web.Response(status=404, text="404 page not found")
        action, delay = self.faults.rest(wall_ms(), route.auth)
        if delay:
            await asyncio.sleep(delay)
        now = self.now_ms()
        if action == "http5xx":
            return web.Response(status=503, text="503 Service Temporarily Unavailable")
        if action == "ratelimit":
            reset = {"X-Bapi-Limit-Reset-Timestamp": str(now + 1000)}
            return self._reply(_envelope(RATE_LIMITED, RATE_LIMIT_MESSAGE, now), now, reset)
        account: str | None = None
        limit_headers: dict[str, str] | None = None
        if route.auth:
            payload = raw_query.encode() if request.method == "GET" else body
            try:
                api_key = self.keys.verify_rest(request.headers, payload, now)
            except AuthError as exc:
                return self._reply(_envelope(exc.code, exc.message, now), now)
            if api_key.readonly and route.method == "POST":
                denied = _envelope(PERMISSION_DENIED, MESSAGES[PERMISSION_DENIED], now)
                return self._reply(denied, now)
            account = api_key.account
            category = values.get("category") if isinstance(values, dict) else None
            verdict = self.limiter.check(account, route.path, category, now)
            limit_headers = verdict.headers()
            if not verdict.allowed:
                return self._reply(
                    _envelope(RATE_LIMITED, RATE_LIMIT_MESSAGE, now), now, limit_headers
                )
        try:
            if unreadable is not None:
                raise unreadable
            if not isinstance(values, dict):
                raise params_error("the body must be a JSON object")
            params.check(route.binding, values, query=text_values)
        except ApiError as exc:
            return self._reply(_envelope(exc.code, exc.msg, now), now, limit_headers)
        if route.path == SYSTEM_STATUS:
            return self._reply(self._system_status(values, now), now, limit_headers)
        envelope = self.call_core(
            lambda: self.core.handle(route.method, route.path, values, account)
        )
        if envelope is None:
            envelope = dict(route.example) if route.example else _envelope(0, "OK", now)
            if "time_now" in envelope:
                envelope["time_now"] = f"{now / 1000:.6f}"
            else:
                envelope["time"] = now
        else:
            envelope["time"] = now
        return self._reply(envelope, now, limit_headers)

    def _system_status(self, values: dict[str, Any], now: int) -> dict[str, Any]:
        """`GET /v5/system/status`: the maintenance windows the `maintenance` fault announced
        (the same records `system.status` pushes), filtered by `id` and `state`."""
        rows = [
            r
            for r in self.faults.maintenance(now)
            if values.get("id") in (None, r["id"]) and values.get("state") in (None, r["state"])
        ]
        return {
            "retCode": 0,
            "retMsg": "OK",
            "result": {"list": rows},
            "retExtInfo": {},
            "time": now,
        }

    def _log(
        self, request: web.Request, query: dict[str, str], body: dict[str, Any] | None
    ) -> None:
        """Record a request as received; `query` and `body` are the very objects the request
        is then answered from (the core reads its parameters, never changes them)."""
        headers = {k: ("***" if k.upper() in _REDACTED else v) for k, v in request.headers.items()}
        assert self.record is not None
        self.record.append(
            {
                "method": request.method,
                "path": request.path,
                "query": query,
                "body": body,
                "headers": headers,
            }
        )

    # --- admin ----------------------------------------------------------------------------

    async def _admin_faults(self, request: web.Request) -> web.StreamResponse:
        """GET: the active faults; POST/PUT: replace them with the body's SPEC; DELETE: clear.

        Loopback clients only, even when the exchange listens on other interfaces. A SPEC that
        does not parse (or is not UTF-8 text) answers 400 and changes nothing.
        """
        if request.remote not in LOOPBACK:
            return web.Response(status=403, text="the fault endpoint only answers loopback")
        if request.method in ("POST", "PUT", "DELETE"):
            spec = ""
            if request.method != "DELETE":
                read = await self._read_body(request)
                if isinstance(read, web.Response):
                    return read
                try:
                    spec = read.decode().strip()
                except UnicodeDecodeError:
                    return _json_error("the SPEC is not UTF-8 text")
            try:
                self.set_faults(spec)
            except ValueError as exc:
                return _json_error(str(exc))
        elif request.method != "GET":
            return web.Response(status=405)
        return web.json_response(self.faults.describe(), dumps=_dumps)

    async def _admin_clock(self, request: web.Request) -> web.StreamResponse:
        """POST `{"advance_ms": N}`: move the exchange's time N ms ahead and run a market step,
        so what fell due (funding, expiries) has settled when the answer arrives. Loopback
        clients only; answers the exchange's new time."""
        if request.remote not in LOOPBACK:
            return web.Response(status=403, text="the clock endpoint only answers loopback")
        read = await self._read_body(request)
        if isinstance(read, web.Response):
            return read
        try:
            ms = orjson.loads(read).get("advance_ms")
        except (orjson.JSONDecodeError, AttributeError):
            ms = None
        if not isinstance(ms, int) or isinstance(ms, bool) or not 0 <= ms <= 10 * 365 * 86_400_000:
            return _json_error('send {"advance_ms": N}, N whole milliseconds 0 to 10 years')
        self.advance_clock(ms)
        self.step_now()
        return web.json_response({"advanced_ms": ms}, dumps=_dumps)

    async def _admin_price(self, request: web.Request) -> web.StreamResponse:
        """POST `{"coin": "BTC", "price": "60000"}`: move the coin's fair price there and run
        a market step (liquidations, triggers and TP/SL it sets off have happened when the
        answer arrives). Loopback clients only."""
        if request.remote not in LOOPBACK:
            return web.Response(status=403, text="the price endpoint only answers loopback")
        read = await self._read_body(request)
        if isinstance(read, web.Response):
            return read
        try:
            body = orjson.loads(read)
            coin, price = body["coin"], float(parsing.number(str(body["price"])))
            self.core.set_price(coin, price)
        except (orjson.JSONDecodeError, TypeError, KeyError, ValueError, parsing.InvalidValue):
            return _json_error('send {"coin": "BTC", "price": "60000"}: a listed coin, a price')
        self.step_now()
        return web.json_response({"coin": coin, "price": price}, dumps=_dumps)

    def advance_clock(self, ms: int) -> None:
        """Move the core's time `ms` ahead (signatures stay checked against wall time)."""
        self.core.advance_clock(ms)

    def step_now(self) -> None:
        """One market step at once (it settles what the clock has reached)."""
        self.call_core(lambda: self.core.step(wall_ms()))

    def set_faults(self, spec: str) -> None:
        """Replace the active faults (ValueError on a bad SPEC, leaving the old ones)."""
        self.faults.set(spec, wall_ms())
        self._apply_events(wall_ms())

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Bind and start serving, and start the market ticker."""
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=2.0,
            # aiohttp drops a connection that completes no request within this time (the
            # clock starts when it opens), which covers headers sent a byte at a time
            keepalive_timeout=self.client_timeout,
            # after answering early (408, 413), the unread rest of a body is drained this long
            lingering_time=min(LINGER_S, self.client_timeout),
            logger=_ClientErrorLog(self),
        )
        await self._runner.setup()
        await self._bind(host, port)
        self._ticker = asyncio.create_task(self._tick())

    async def _bind(self, host: str, port: int) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, host, port, reuse_address=True, ssl_context=self.tls)
        await self._site.start()
        self.host, self.port = host, self._runner.addresses[-1][1]

    async def stop(self) -> None:
        """Stop ticking, close every connection and the core."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for task in list(self._background):
            task.cancel()
        await self.hub.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
        self.core.close()

    @property
    def base_url(self) -> str:
        """`http://host:port` (`https` under TLS) of the REST API; a wildcard bind is reached
        through loopback."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        host = f"[{host}]" if ":" in host else host
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    async def _tick(self) -> None:
        """Drive the core's clock and the timed faults; runs for the server's lifetime, so a
        failure in one tick is logged and the next tick runs anyway."""
        last_idle_check = 0
        while True:
            now = wall_ms()
            try:
                self.call_core(lambda now=now: self.core.step(now))
                self._apply_events(now)
                if self._refuse_until and now >= self._refuse_until:
                    await self._bind(self.host, self.port)
                    self._refuse_until = 0
                if now - last_idle_check >= 1000:
                    last_idle_check = now
                    self.hub.close_idle(now)
            except Exception as exc:
                self.report_failure("exchange tick failed", exc)
            await asyncio.sleep(STEP_INTERVAL_S)

    def _apply_events(self, now_ms: int) -> None:
        self.hub.push_status(self.faults.maintenance(self.now_ms()))
        for fault in self.faults.poll(now_ms):
            if fault.name == "drop_ws":
                self.spawn(self.hub.close_all())
            elif fault.name in ("snapshot", "restart_u"):
                self.hub.push_snapshots(restart=fault.name == "restart_u")
            elif fault.name == "refuse":
                self._refuse_until = now_ms + (fault.duration_ms or 0)
                self.spawn(self._refuse())

    async def _refuse(self) -> None:
        """Stop listening and drop every open connection until the refusal ends."""
        if self._site is not None:
            await self._site.stop()
            self._site = None
        await self.hub.close_all()
        if self._runner is not None and self._runner.server is not None:
            for handler in list(self._runner.server.connections):
                handler.force_close()


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _json_error(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400, dumps=_dumps)
