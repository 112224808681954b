"""The local exchange's WebSocket endpoints, speaking each Bybit v5 channel's dialect.

Bybit answers pings and subscriptions in a different shape per channel (spot, linear/inverse,
option/spread, private, trade); clients such as pybit key
off those shapes, so each is reproduced. Pushes from the core are serialised once with orjson
and queued to every subscriber; one writer task per connection drains its queue, so a slow
reader never stalls the core or the other subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import secrets
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSMsgType, web

from bybitctl.sim.api import params
from bybitctl.sim.api.params import shown
from bybitctl.sim.api.routes_trade import WS_OPS
from bybitctl.sim.core.errors import ApiError
from bybitctl.sim.net import TRADE_LATENCY_MS
from bybitctl.sim.net.auth import (
    DEFAULT_RECV_WINDOW,
    MESSAGES,
    PERMISSION_DENIED,
    ApiKey,
    AuthError,
    check_window,
)
from bybitctl.sim.net.ratelimit import MESSAGE as RATE_LIMIT_MESSAGE
from bybitctl.sim.net.ratelimit import RATE_LIMITED

if TYPE_CHECKING:
    from bybitctl.sim.net.server import SimServer

PUBLIC_CHANNELS = ("spot", "linear", "inverse", "option", "spread")
STATUS_CHANNEL = "misc/status"
STATUS_TOPIC = "system.status"
DEFAULT_IDLE_MS = 600_000
CLOSE_GRACE_MS = 10_000
MAX_QUEUED_FRAMES = 20_000
_ACTIVE_TIME_RE = re.compile(r"^(\d+)([sm])$")
_CATEGORISED = {
    "order": ("spot", "linear", "inverse", "option"),
    "execution": ("spot", "linear", "inverse", "option"),
    "execution.fast": ("spot", "linear", "inverse", "option"),
    "position": ("linear", "inverse", "option"),
    "dcp": ("future", "spot", "option"),
}
PRIVATE_TOPICS = frozenset(
    {"order", "execution", "execution.fast", "position", "wallet", "greeks"}
    | {"spread.order", "spread.execution"}
    | {f"{base}.{cat}" for base, cats in _CATEGORISED.items() for cat in cats}
)
DCP_PRODUCTS = {"dcp.future": "DERIVATIVES", "dcp.spot": "SPOT", "dcp.option": "OPTIONS"}
"""DCP topics and the product whose orders they protect: only connections subscribed to one
count for DCP, as on Bybit."""
_conn_seq = itertools.count(1)


class _ClientSubprotocols(logging.Filter):
    """aiohttp warns when a client asks for WebSocket subprotocols the server does not speak.
    Bybit speaks none and goes on without one, as aiohttp does; a client's header is no
    warning of the exchange's, so the record is passed on at debug level."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and "server-known" in str(record.msg):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


logging.getLogger("aiohttp.websocket").addFilter(_ClientSubprotocols())


def wall_ms() -> int:
    """True wall-clock milliseconds: the core's and the faults' clock (never skewed)."""
    return time.time_ns() // 1_000_000


class Conn:
    """One WebSocket client: its channel, subscriptions, identity and outgoing queue."""

    __slots__ = (
        "_queue",
        "_transport",
        "_wake",
        "account",
        "api_key",
        "channel",
        "conn_id",
        "idle_ms",
        "last_rx_ms",
        "req_ids",
        "topics",
        "ws",
    )

    def __init__(
        self, ws: web.WebSocketResponse, transport: Any, channel: str, idle_ms: int
    ) -> None:
        self.ws = ws
        self._transport = transport
        self.channel = channel
        self.conn_id = f"sim{next(_conn_seq):08x}-{int(time.time()):x}"
        self.topics: set[str] = set()
        self.account: str | None = None
        self.api_key: ApiKey | None = None
        self.idle_ms = idle_ms
        self.last_rx_ms = wall_ms()
        self.req_ids: set[str] = set()
        self._queue: deque[bytes] = deque()
        self._wake = asyncio.Event()

    def push(self, frame: bytes) -> None:
        """Queue an already-serialised text frame.

        A client that lets `MAX_QUEUED_FRAMES` pile up is cut off, as Bybit drops readers that
        cannot keep up, rather than growing memory without bound.
        """
        if len(self._queue) >= MAX_QUEUED_FRAMES:
            self._queue.clear()
            if self._transport is not None:
                self._transport.abort()
            return
        self._queue.append(frame)
        self._wake.set()

    def send(self, message: dict[str, Any]) -> None:
        """Queue a message (serialised here)."""
        self.push(orjson.dumps(message))

    def wake(self) -> None:
        """Let the writer notice that the socket closed."""
        self._wake.set()

    async def drain(self) -> None:
        """Write queued frames in order until the socket closes."""
        ws, queue = self.ws, self._queue
        with contextlib.suppress(ConnectionError):
            while not ws.closed:
                await self._wake.wait()
                self._wake.clear()
                while queue and not ws.closed:
                    await ws.send_frame(queue.popleft(), WSMsgType.TEXT)


def _mixes_categorised(topics: list[str]) -> bool:
    """Whether a private request names a topic and one of its categorised forms (Bybit
    refuses `["order", "order.linear"]` in one request)."""
    named = set(topics)
    for topic in named:
        base, _, category = topic.rpartition(".")
        if base in named and category in _CATEGORISED.get(base, ()):
            return True
    return False


def _max_active_ms(request: web.Request) -> int:
    """Private/trade `?max_active_time=30s..10m`; public and absent mean Bybit's 10 minutes."""
    value = request.query.get("max_active_time")
    match = _ACTIVE_TIME_RE.match(value or "")
    if not match:
        return DEFAULT_IDLE_MS
    ms = int(match[1]) * (1000 if match[2] == "s" else 60_000)
    return min(max(ms, 30_000), DEFAULT_IDLE_MS)


class WsHub:
    """Every open WebSocket, who listens to what, and the core's Listener."""

    def __init__(
        self,
        server: SimServer,
        idle_ms: int | None = None,
        trade_latency_ms: int = TRADE_LATENCY_MS,
    ) -> None:
        self.server = server
        self.idle_ms = idle_ms
        self.trade_latency_s = trade_latency_ms / 1000
        self.conns: set[Conn] = set()
        self.public: dict[tuple[str, str], set[Conn]] = {}
        self.private: dict[str, set[Conn]] = {}
        self.dcp: dict[tuple[str, str], set[Conn]] = {}
        """(account, product) -> live connections subscribed to that product's DCP topic."""
        self._status: dict[str, str] = {}
        """Maintenance record id -> the state last pushed on `system.status`."""
        self._u_offset: dict[tuple[str, str], int] = {}
        self._held: dict[tuple[str, str], dict[str, Any]] = {}

    # --- Listener (called by the core from the event-loop thread) ---------------------------

    def on_public(self, category: str, topic: str, message: dict[str, Any]) -> None:
        """Fan a public message out to the topic's subscribers, applying book faults."""
        subs = self.public.get((category, topic))
        if not subs:
            return
        key = (category, topic)
        if key in self._u_offset:
            message = self._renumber(key, message)
        if topic.startswith("orderbook.") and message.get("type") == "delta":
            faults = self.server.faults
            if faults.book_active or key in self._held:
                action = faults.book(wall_ms()) if faults.book_active else None
                if action == "skip":
                    return
                held = self._held.pop(key, None)
                if action == "reorder":
                    self._held[key] = message
                    return
                frame = orjson.dumps(message)
                for conn in subs:
                    conn.push(frame)
                    if action == "dup":
                        conn.push(frame)
                if held is not None:
                    self._send_all(subs, held)
                return
        self._send_all(subs, message)

    def on_private(self, account: str, topic: str, message: dict[str, Any]) -> None:
        """Send a private message to the account's connections subscribed to it (or to a
        categorised form of it, with the data filtered to that category)."""
        conns = self.private.get(account)
        if not conns or (topic == "order" and self.server.faults.lose_order(wall_ms())):
            return
        frames: dict[str, bytes | None] = {}
        for conn in conns:
            for sub in conn.topics:
                if sub != topic and not sub.startswith(topic + "."):
                    continue
                frame = frames.get(sub, b"")
                if frame == b"":
                    frame = frames[sub] = self._private_frame(topic, sub, message)
                if frame is not None:
                    conn.push(frame)

    @staticmethod
    def _private_frame(topic: str, sub: str, message: dict[str, Any]) -> bytes | None:
        if sub == topic:
            return orjson.dumps(message)
        category = sub[len(topic) + 1 :]
        if "." in category:
            return None
        data = [d for d in message.get("data", ()) if d.get("category") == category]
        if not data:
            return None
        return orjson.dumps({**message, "topic": sub, "data": data})

    @staticmethod
    def _send_all(subs: set[Conn], message: dict[str, Any]) -> None:
        frame = orjson.dumps(message)
        for conn in subs:
            conn.push(frame)

    def _renumber(self, key: tuple[str, str], message: dict[str, Any]) -> dict[str, Any]:
        """After a `restart_u` fault, the stream's update ids count again from 1."""
        data = message.get("data")
        if not isinstance(data, dict) or "u" not in data:
            return message
        return {**message, "data": {**data, "u": data["u"] - self._u_offset[key]}}

    # --- fault events ------------------------------------------------------------------------

    def push_snapshots(self, restart: bool) -> None:
        """Send every orderbook subscriber a fresh snapshot (restart=True: numbered u=1)."""
        for (category, topic), subs in list(self.public.items()):
            if not topic.startswith("orderbook.") or not subs:
                continue
            key = (category, topic)
            self._held.pop(key, None)
            for message in self.server.core.subscribe_public(category, topic):
                if message.get("type") != "snapshot":
                    continue
                if restart:
                    self._u_offset[key] = message["data"]["u"] - 1
                if key in self._u_offset:
                    message = self._renumber(key, message)
                self._send_all(subs, message)

    def push_status(self, records: list[dict[str, Any]]) -> None:
        """Push each maintenance record whose state changed to the `system.status`
        subscribers (a record is pushed when announced and at each state change)."""
        changed = [r for r in records if self._status.get(r["id"]) != r["state"]]
        self._status = {r["id"]: r["state"] for r in records}
        if not changed:
            return
        subs = {c for c in self.conns if c.channel == STATUS_CHANNEL and STATUS_TOPIC in c.topics}
        if subs:
            message = {"topic": STATUS_TOPIC, "ts": self.server.now_ms(), "data": changed}
            self._send_all(subs, message)

    async def close_all(self) -> None:
        """Drop every WebSocket connection (fault `drop_ws`, `refuse`, shutdown)."""
        await asyncio.gather(
            *(c.ws.close(code=1001, message=b"dropped") for c in list(self.conns)),
            return_exceptions=True,
        )

    def close_idle(self, now_ms: int) -> None:
        """Close connections that sent nothing for their idle window, as Bybit does (in the
        background: a close handshake must not hold up the market ticker)."""
        for conn in list(self.conns):
            if now_ms - conn.last_rx_ms > conn.idle_ms:
                conn.last_rx_ms = now_ms + CLOSE_GRACE_MS
                self.server.spawn(conn.ws.close(code=1000, message=b"idle"))

    # --- connection lifecycle -------------------------------------------------------------

    async def handle(self, request: web.Request, channel: str) -> web.WebSocketResponse:
        """Serve one WebSocket connection on `channel` until it closes."""
        ws = web.WebSocketResponse(timeout=2.0, compress=False, autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        idle = self.idle_ms if self.idle_ms is not None else _max_active_ms(request)
        conn = Conn(ws, request.transport, channel, idle)
        self.conns.add(conn)
        writer = asyncio.create_task(conn.drain())
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                conn.last_rx_ms = wall_ms()
                try:
                    self._dispatch(conn, msg.data)
                except Exception as exc:
                    self.server.report_failure(f"WebSocket request failed: {msg.data:.200}", exc)
                    self._reply_error(conn, {}, "error:internal error")
        finally:
            self._forget(conn)
            conn.wake()
            await writer
        return ws

    def _forget(self, conn: Conn) -> None:
        self.conns.discard(conn)
        for topic in conn.topics:
            self._unsubscribe_public(conn, conn.channel, topic)
            self._dcp_leave(conn, topic, closed=True)
        if conn.account is not None:
            conns = self.private.get(conn.account)
            if conns is not None:
                conns.discard(conn)
                if not conns:
                    del self.private[conn.account]

    def _dispatch(self, conn: Conn, text: str) -> None:
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            request = None
        if not isinstance(request, dict):
            self._reply_error(conn, {}, "error:request not json")
            return
        for name in ("req_id", "reqId"):
            if isinstance(request.get(name), list | dict):
                # echoed in every reply and kept to spot duplicates: a scalar only
                error = f"{name} must be a string"
                if conn.channel == "trade":
                    conn.send(self._trade_reply(conn, {}, 10001, error))
                else:
                    self._reply_error(conn, {}, f"error:{error}")
                return
        if conn.channel == "trade":
            self._trade(conn, request)
            return
        op = request.get("op")
        if op == "ping":
            conn.send(self._pong(conn, request))
        elif op == "auth" and conn.channel == "private":
            self._auth(conn, request)
        elif op in ("subscribe", "unsubscribe") and self.trade_latency_s:
            # pybit records a subscription's req_id and callback only after sending it (the
            # same race as on the trade socket): answer after the same short latency, and
            # register the topics only then, so no push can overtake the snapshot.
            asyncio.get_running_loop().call_later(
                self.trade_latency_s, self._subscription, conn, request, op
            )
        elif op in ("subscribe", "unsubscribe"):
            self._subscription(conn, request, op)
        else:
            self._reply_error(conn, request, f"error:unsupported op {shown(op)}")

    # --- shapes ----------------------------------------------------------------------------

    def _pong(self, conn: Conn, request: dict[str, Any]) -> dict[str, Any]:
        req_id = request.get("req_id")
        now = str(self.server.now_ms())
        if conn.channel in ("option", "spread"):
            reply: dict[str, Any] = {"args": [now], "op": "pong"}
        elif conn.channel == "private":
            reply = {"op": "pong", "args": [now], "conn_id": conn.conn_id}
        elif conn.channel == "spot":
            reply = {"success": True, "ret_msg": "pong", "conn_id": conn.conn_id, "op": "ping"}
        else:
            reply = {
                "success": True,
                "ret_msg": "pong",
                "conn_id": conn.conn_id,
                "req_id": req_id or "",
                "op": "ping",
            }
        if req_id is not None and "req_id" not in reply:
            reply["req_id"] = req_id
        return reply

    def _ack(
        self,
        conn: Conn,
        request: dict[str, Any],
        op: str,
        ok: list[str],
        failed: list[str],
        error: str,
    ) -> dict[str, Any]:
        req_id = request.get("req_id")
        if conn.channel in ("option", "spread"):
            reply: dict[str, Any] = {
                "success": not failed and not error,
                "ret_msg": error,
                "conn_id": conn.conn_id,
                "data": {"failTopics": failed, "successTopics": ok},
                "type": "COMMAND_RESP",
            }
        elif conn.channel == "private":
            reply = {"success": not error, "ret_msg": error, "op": op, "conn_id": conn.conn_id}
        else:
            ret_msg = error or (op if conn.channel == "spot" else "")
            reply = {
                "success": not error,
                "ret_msg": ret_msg,
                "conn_id": conn.conn_id,
                "req_id": req_id or "",
                "op": op,
            }
        if req_id is not None:
            reply["req_id"] = req_id
        return reply

    def _reply_error(self, conn: Conn, request: dict[str, Any], error: str) -> None:
        if conn.channel == "trade":
            conn.send(self._trade_reply(conn, request, 10404, error))
            return
        op = request.get("op") if isinstance(request.get("op"), str) else ""
        conn.send(self._ack(conn, request, op, [], [], error))

    # --- auth ----------------------------------------------------------------------------

    def _authenticate(self, conn: Conn, request: dict[str, Any]) -> AuthError | None:
        if conn.api_key is not None:
            return AuthError(20001, "Repeat auth")
        try:
            api_key = self.server.keys.verify_ws(request.get("args"), self.server.now_ms())
        except AuthError as exc:
            return exc
        conn.api_key = api_key
        conn.account = api_key.account
        self.private.setdefault(api_key.account, set()).add(conn)
        return None

    def _auth(self, conn: Conn, request: dict[str, Any]) -> None:
        error = self._authenticate(conn, request)
        reply: dict[str, Any] = {
            "success": error is None,
            "ret_msg": "" if error is None else error.message,
            "op": "auth",
            "conn_id": conn.conn_id,
        }
        if "req_id" in request:
            reply["req_id"] = request["req_id"]
        conn.send(reply)

    # --- subscriptions ---------------------------------------------------------------------

    def _subscription(self, conn: Conn, request: dict[str, Any], op: str) -> None:
        if conn not in self.conns:
            return  # closed while the request waited: nothing to register or answer
        args = request.get("args")
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args) or not args:
            conn.send(self._ack(conn, request, op, [], [], "error:args must be a list of topics"))
            return
        if conn.channel == "private" and conn.account is None:
            conn.send(self._ack(conn, request, op, [], list(args), "Request not authorized"))
            return
        if conn.channel == "private" and _mixes_categorised(args):
            error = "error:all-in-one and categorised topics cannot be mixed in one request"
            conn.send(self._ack(conn, request, op, [], list(args), error))
            return
        ok: list[str] = []
        failed: list[str] = []
        errors: list[str] = []
        initial: list[dict[str, Any]] = []
        category = conn.channel
        for topic in args:
            if op == "unsubscribe":
                if topic in conn.topics:
                    conn.topics.discard(topic)
                    self._unsubscribe_public(conn, category, topic)
                    self._dcp_leave(conn, topic, closed=False)
                    ok.append(topic)
                else:
                    failed.append(topic)
                    errors.append(f"error:not subscribed,topic:{topic}")
                continue
            if topic in conn.topics:
                failed.append(topic)
                errors.append(f"error:already subscribed,topic:{topic}")
                continue
            messages = self._subscribe(conn, category, topic)
            if messages is None:
                failed.append(topic)
                errors.append(f"error:handler not found,topic:{topic}")
                continue
            conn.topics.add(topic)
            ok.append(topic)
            initial.extend(messages)
        conn.send(self._ack(conn, request, op, ok, failed, ";".join(errors)))
        for message in initial:
            conn.send(message)

    def _subscribe(self, conn: Conn, category: str, topic: str) -> list[dict[str, Any]] | None:
        """Register `topic` for `conn`; its initial messages, or None for an unknown topic."""
        if conn.channel == "private":
            if topic not in PRIVATE_TOPICS:
                return None
            product = DCP_PRODUCTS.get(topic)
            if product is not None and conn.account is not None:
                live = self.dcp.setdefault((conn.account, product), set())
                if not live:
                    self.server.core.dcp_connected(conn.account, product)
                live.add(conn)
            return []
        if conn.channel == STATUS_CHANNEL:
            if topic != STATUS_TOPIC:
                return None
            # the maintenance windows announced so far (the `maintenance` fault), often none
            now = self.server.now_ms()
            return [{"topic": STATUS_TOPIC, "ts": now, "data": self.server.faults.maintenance(now)}]
        try:
            initial = self.server.core.subscribe_public(category, topic)
        except KeyError:
            return None
        key = (category, topic)
        self.public.setdefault(key, set()).add(conn)
        if key in self._u_offset:
            initial = [self._renumber(key, m) for m in initial]
        return initial

    def _dcp_leave(self, conn: Conn, topic: str, *, closed: bool) -> None:
        """`conn` stops holding a DCP topic; when it was the last one and its socket closed,
        the product's DCP clock starts (an unsubscribe disarms it instead)."""
        product = DCP_PRODUCTS.get(topic)
        if product is None or conn.account is None:
            return
        key = (conn.account, product)
        live = self.dcp.get(key)
        if live is None:
            return
        live.discard(conn)
        if not live:
            del self.dcp[key]
            if closed:
                self.server.core.dcp_disconnected(conn.account, product, wall_ms())

    def _unsubscribe_public(self, conn: Conn, category: str, topic: str) -> None:
        key = (category, topic)
        subs = self.public.get(key)
        if subs is None:
            return
        subs.discard(conn)
        if not subs:
            del self.public[key]
            self._held.pop(key, None)
            self._u_offset.pop(key, None)
            self.server.core.unsubscribe_public(category, topic)

    # --- trade (order entry) -----------------------------------------------------------------

    def _trade_reply(
        self,
        conn: Conn,
        request: dict[str, Any],
        code: int,
        message: str,
        data: Any = None,
        ext: Any = None,
        limit_headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        reply: dict[str, Any] = {}
        if "reqId" in request:
            reply["reqId"] = request["reqId"]
        now = str(self.server.now_ms())
        op = request.get("op")
        reply.update(
            {
                "retCode": code,
                "retMsg": message,
                "op": op if isinstance(op, str) else "",
                "data": data if data is not None else {},
                "retExtInfo": ext if ext is not None else {},
                "header": {
                    **(limit_headers or {}),
                    "Traceid": secrets.token_hex(16),
                    "Timenow": now,
                },
                "connId": conn.conn_id,
            }
        )
        return reply

    def _trade(self, conn: Conn, request: dict[str, Any]) -> None:
        """One order-entry request: auth, ping, or an order op run by the core."""
        op = request.get("op")
        if op == "auth":
            error = self._authenticate(conn, request)
            reply: dict[str, Any] = {
                "retCode": 0 if error is None else error.code,
                "retMsg": "OK" if error is None else error.message,
                "op": "auth",
                "connId": conn.conn_id,
            }
            if "reqId" in request:
                reply["reqId"] = request["reqId"]
            conn.send(reply)
            return
        if op == "ping":
            reply = {
                "retCode": 0,
                "retMsg": "OK",
                "op": "pong",
                "data": [str(self.server.now_ms())],
                "connId": conn.conn_id,
            }
            if "reqId" in request:
                reply["reqId"] = request["reqId"]
            conn.send(reply)
            return
        reply = self._trade_op(conn, request, op)
        if self.trade_latency_s:
            asyncio.get_running_loop().call_later(self.trade_latency_s, conn.send, reply)
        else:
            conn.send(reply)

    def _trade_op(self, conn: Conn, request: dict[str, Any], op: Any) -> dict[str, Any]:
        path = WS_OPS.get(op) if isinstance(op, str) else None
        if path is None:
            return self._trade_reply(conn, request, 10404, f"unsupported op: {shown(op)}")
        if conn.api_key is None:
            return self._trade_reply(conn, request, 10007, "User authentication failed.")
        req_id = request.get("reqId")
        if req_id is not None:
            if req_id in conn.req_ids:
                return self._trade_reply(conn, request, 20006, "Duplicate reqId")
            conn.req_ids.add(req_id)
        header = request.get("header")
        if not isinstance(header, dict) or "X-BAPI-TIMESTAMP" not in header:
            return self._trade_reply(conn, request, 10001, "header X-BAPI-TIMESTAMP is required")
        try:
            check_window(
                header["X-BAPI-TIMESTAMP"],
                header.get("X-BAPI-RECV-WINDOW") or DEFAULT_RECV_WINDOW,
                self.server.now_ms(),
            )
        except AuthError as exc:
            return self._trade_reply(conn, request, exc.code, exc.message)
        if conn.api_key.readonly:
            return self._trade_reply(conn, request, PERMISSION_DENIED, MESSAGES[PERMISSION_DENIED])
        args = request.get("args")
        if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
            return self._trade_reply(conn, request, 10001, "args must be a list of objects")
        try:
            params.check(params.binding("POST", path), args[0], query=False)
        except ApiError as exc:
            return self._trade_reply(conn, request, exc.code, exc.msg)
        verdict = self.server.limiter.check(
            conn.api_key.account, path, args[0].get("category"), self.server.now_ms()
        )
        headers = verdict.headers()
        if not verdict.allowed:
            return self._trade_reply(
                conn, request, RATE_LIMITED, RATE_LIMIT_MESSAGE, limit_headers=headers
            )
        account = conn.api_key.account
        result = self.server.call_core(lambda: self.server.core.trade_op(op, args, account))
        return self._trade_reply(
            conn,
            request,
            result.get("retCode", 0),
            result.get("retMsg", "OK"),
            result.get("data"),
            result.get("retExtInfo"),
            headers,
        )
