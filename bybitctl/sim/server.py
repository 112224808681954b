"""The local exchange's network layer: REST, WebSockets, auth, rate limits and faults on aiohttp.

Every route of the endpoint catalogue answers. A request is checked the way Bybit checks it
(signature, timestamp window, permission, rate limit, required parameters, in that order),
then handed to the synchronous core; routes the core does not model answer with the
documented example response. All core calls happen on this server's one event-loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from bybitctl import catalog
from bybitctl.sim import TRADE_LATENCY_MS
from bybitctl.sim.auth import MESSAGES, PERMISSION_DENIED, AuthError, Keyring
from bybitctl.sim.faults import Faults
from bybitctl.sim.protocol import ExchangeCore
from bybitctl.sim.ratelimit import MESSAGE as RATE_LIMIT_MESSAGE
from bybitctl.sim.ratelimit import RATE_LIMITED, RateLimiter
from bybitctl.sim.ws import PUBLIC_CHANNELS, STATUS_CHANNEL, WsHub, wall_ms

SYSTEM_STATUS = "/v5/system/status"
"""Answered from the fault state (maintenance windows), not by the core."""

log = logging.getLogger(__name__)

STEP_INTERVAL_S = 0.025
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
    required: tuple[str, ...]
    example: dict[str, Any] | None


def build_routes() -> dict[tuple[str, str], Route]:
    """Index the catalogue by (verb, path) so a request costs one dict lookup.

    Where several pybit methods share a route, a parameter is required only if every one of
    them requires it (the server cannot tell which method sent the request).
    """
    rows: dict[tuple[str, str], list[catalog.Endpoint]] = {}
    for endpoint in catalog.load():
        rows.setdefault((endpoint.http_method, endpoint.path), []).append(endpoint)
    routes: dict[tuple[str, str], Route] = {}
    for key, same in rows.items():
        required = [n for n in same[0].required if all(n in e.required for e in same[1:])]
        example = catalog.example(*key)
        response = _success_example(example.get("response") if example else None)
        auth = any(e.auth for e in same)
        routes[key] = Route(key[0], key[1], auth, tuple(required), response)
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
    params: dict[str, str] = {}
    for part in raw.split("&"):
        if part:
            key, _, value = part.partition("=")
            params[key] = value
    return params


_PART_NAME = re.compile(rb'Content-Disposition: form-data; name="([^"]+)"(?:; filename="([^"]*)")?')


def multipart_fields(body: bytes) -> dict[str, str]:
    """The field names of a multipart upload (pybit's `upload_chat_file`), each mapped to its
    filename or "": enough to check required fields; the file itself is not kept."""
    return {
        m[1].decode(errors="replace"): (m[2] or b"").decode(errors="replace")
        for m in _PART_NAME.finditer(body)
    }


def _decode_json(body: bytes) -> Any:
    """A JSON body's value: {} for no body, None when it is not JSON."""
    if not body:
        return {}
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _envelope(code: int, message: str, now_ms: int) -> dict[str, Any]:
    return {"retCode": code, "retMsg": message, "result": {}, "retExtInfo": {}, "time": now_ms}


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
    ) -> None:
        self.core = core
        self.keys = keys
        self.limiter = RateLimiter(rate_limits)
        self.faults = Faults(seed)
        self.routes = build_routes()
        self.record = record
        self.hub = WsHub(self, ws_idle_ms, trade_latency_ms)
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

    def call_core(self, call: Callable[[], Any]) -> Any:
        """Run a core call; a bug in the core answers 10016 instead of killing the request."""
        try:
            return call()
        except Exception:
            log.exception("core call failed")
            return dict(_SERVER_ERROR)

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 22)
        router = app.router
        for channel in (*PUBLIC_CHANNELS, STATUS_CHANNEL):
            router.add_get(f"/v5/public/{channel}", self._ws_handler(channel))
        router.add_get("/v5/private", self._ws_handler("private"))
        router.add_get("/v5/trade", self._ws_handler("trade"))
        router.add_route("*", "/_sim/faults", self._admin_faults)
        router.add_route("*", "/{tail:.*}", self._rest)
        return app

    def _ws_handler(self, channel: str) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self.hub.handle(request, channel)

        return handler

    # --- REST ---------------------------------------------------------------------------------

    def _reply(
        self, envelope: dict[str, Any], now_ms: int, headers: dict[str, str] | None = None
    ) -> web.Response:
        out = {"Timenow": str(now_ms)}
        if headers:
            out.update(headers)
        return web.Response(body=orjson.dumps(envelope), content_type=_JSON, headers=out)

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        """Answer one REST request as Bybit would."""
        if self._refuse_until:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)
        body = await request.read() if request.method == "POST" else b""
        raw_query = request.rel_url.raw_query_string
        # the recording path parses query and body for the log; the checks below reuse that
        query: dict[str, str] | None = None
        decoded: Any = None
        if self.record is not None:
            query, decoded = parse_query(raw_query), _decode_json(body)
            self._log(request, query, decoded if body and isinstance(decoded, dict) else None)
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
        params: Any
        if request.method == "GET":
            params = parse_query(raw_query) if query is None else query
        elif request.content_type == "multipart/form-data":
            params = multipart_fields(body)
        else:
            params = _decode_json(body) if self.record is None else decoded
        account: str | None = None
        limit_headers: dict[str, str] | None = None
        if route.auth:
            try:
                is_get = request.method == "GET"
                payload = raw_query.encode() if is_get else body
                api_key = self.keys.verify_rest(request.headers, payload, now, query=is_get)
            except AuthError as exc:
                return self._reply(_envelope(exc.code, exc.message, now), now)
            if api_key.readonly and route.method == "POST":
                denied = _envelope(PERMISSION_DENIED, MESSAGES[PERMISSION_DENIED], now)
                return self._reply(denied, now)
            account = api_key.account
            category = params.get("category") if isinstance(params, dict) else None
            verdict = self.limiter.check(account, route.path, category, now)
            limit_headers = verdict.headers()
            if not verdict.allowed:
                return self._reply(
                    _envelope(RATE_LIMITED, RATE_LIMIT_MESSAGE, now), now, limit_headers
                )
        if not isinstance(params, dict):
            return self._reply(
                _envelope(10001, "params error: the body must be a JSON object", now),
                now,
                limit_headers,
            )
        for name in route.required:
            if params.get(name) is None:
                return self._reply(
                    _envelope(10001, f"params error: missing required parameter '{name}'", now),
                    now,
                    limit_headers,
                )
        if route.path == SYSTEM_STATUS:
            return self._reply(self._system_status(params, now), now, limit_headers)
        envelope = self.call_core(
            lambda: self.core.handle(route.method, route.path, params, account)
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

    def _system_status(self, params: dict[str, Any], now: int) -> dict[str, Any]:
        """`GET /v5/system/status`: the maintenance windows the `maintenance` fault announced
        (the same records `system.status` pushes), filtered by `id` and `state`."""
        rows = [
            r
            for r in self.faults.maintenance(now)
            if params.get("id") in (None, r["id"]) and params.get("state") in (None, r["state"])
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

    async def _admin_faults(self, request: web.Request) -> web.Response:
        """GET: the active faults; POST/PUT: replace them with the body's SPEC; DELETE: clear.

        Loopback clients only, even when the exchange listens on other interfaces.
        """
        if request.remote not in LOOPBACK:
            return web.Response(status=403, text="the fault endpoint only answers loopback")
        if request.method in ("POST", "PUT", "DELETE"):
            spec = "" if request.method == "DELETE" else (await request.text()).strip()
            try:
                self.set_faults(spec)
            except ValueError as exc:
                return web.json_response({"error": str(exc)}, status=400, dumps=_dumps)
        elif request.method != "GET":
            return web.Response(status=405)
        return web.json_response(self.faults.describe(), dumps=_dumps)

    def set_faults(self, spec: str) -> None:
        """Replace the active faults (ValueError on a bad SPEC, leaving the old ones)."""
        self.faults.set(spec, wall_ms())
        self._apply_events(wall_ms())

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Bind and start serving, and start the market ticker."""
        self._runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=2.0
        )
        await self._runner.setup()
        await self._bind(host, port)
        self._ticker = asyncio.create_task(self._tick())

    async def _bind(self, host: str, port: int) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, host, port, reuse_address=True)
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
        """`http://host:port` of the REST API; a wildcard bind is reached through loopback."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

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
            except Exception:
                log.exception("exchange tick failed")
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
