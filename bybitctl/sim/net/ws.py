"""The local exchange's WebSocket hub: every connection, who listens to what, and the fan-out.

Each connection speaks its channel's dialect (`bybitctl.sim.net.dialects`), chosen once when
it opens. The hub reaches the rest of the exchange only through `HubPort` (clock, key checks,
rate limits, topics, order ops) and the fault state. Pushes from the exchange are serialised
once with orjson and queued to every subscriber (`bybitctl.sim.net.conn`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from bybitctl.sim.api import params
from bybitctl.sim.api.params import shown
from bybitctl.sim.api.routes_trade import WS_OPS
from bybitctl.sim.core.clock import wall_ms
from bybitctl.sim.core.errors import ApiError
from bybitctl.sim.net import TRADE_LATENCY_MS
from bybitctl.sim.net.auth import (
    DEFAULT_RECV_WINDOW,
    MESSAGES,
    PERMISSION_DENIED,
    AuthError,
    check_window,
)
from bybitctl.sim.net.conn import Conn
from bybitctl.sim.net.dialects import DIALECTS, TRADE
from bybitctl.sim.net.faults import Faults
from bybitctl.sim.net.ports import HubPort
from bybitctl.sim.net.ratelimit import MESSAGE as RATE_LIMIT_MESSAGE
from bybitctl.sim.net.ratelimit import RATE_LIMITED

PUBLIC_CHANNELS = ("spot", "linear", "inverse", "option", "spread")
STATUS_CHANNEL = "misc/status"
STATUS_TOPIC = "system.status"
DEFAULT_IDLE_MS = 600_000
CLOSE_GRACE_MS = 10_000
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


class _ClientSubprotocols(logging.Filter):
    """aiohttp warns when a client asks for WebSocket subprotocols the server does not speak.
    Bybit speaks none and goes on without one, as aiohttp does; a client's header is no
    warning of the exchange's, so the record is passed on at debug level."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and "server-known" in str(record.msg):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


logging.getLogger("aiohttp.websocket").addFilter(_ClientSubprotocols())


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
    """Every open WebSocket, who listens to what, and the exchange's Listener."""

    def __init__(
        self,
        port: HubPort,
        faults: Faults,
        idle_ms: int | None = None,
        trade_latency_ms: int = TRADE_LATENCY_MS,
    ) -> None:
        self.port = port
        self.faults = faults
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
        self._topic_sources: dict[str, Callable[[Conn, str], list[dict[str, Any]] | None]] = {
            "public": self._subscribe_public,
            "private": self._subscribe_private,
            "status": self._subscribe_status,
        }
        """A dialect's `topics` -> how its connections subscribe."""

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
            faults = self.faults
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
        if not conns or (topic == "order" and self.faults.lose_order(wall_ms())):
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
            for message in self.port.subscribe_public(category, topic):
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
            message = {"topic": STATUS_TOPIC, "ts": self.port.now_ms(), "data": changed}
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
                self.port.spawn(conn.ws.close(code=1000, message=b"idle"))

    # --- connection lifecycle -------------------------------------------------------------

    async def handle(self, request: web.Request, channel: str) -> web.WebSocketResponse:
        """Serve one WebSocket connection on `channel` until it closes."""
        ws = web.WebSocketResponse(timeout=2.0, compress=False, autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        idle = self.idle_ms if self.idle_ms is not None else _max_active_ms(request)
        dialect = DIALECTS[channel]
        conn = Conn(ws, request.transport, channel, dialect, idle)
        dispatch = self._trade if dialect.orders else self._stream
        self.conns.add(conn)
        writer = asyncio.create_task(conn.drain())
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                conn.last_rx_ms = wall_ms()
                try:
                    parsed = self._parse(conn, msg.data)
                    if parsed is not None:
                        dispatch(conn, parsed)
                except Exception as exc:
                    self.port.report_failure(f"WebSocket request failed: {msg.data:.200}", exc)
                    self._refuse(conn, {}, "error:internal error")
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

    def _parse(self, conn: Conn, text: str) -> dict[str, Any] | None:
        """The request a text frame holds, or None once it has been refused."""
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            request = None
        if not isinstance(request, dict):
            self._refuse(conn, {}, "error:request not json")
            return None
        for name in ("req_id", "reqId"):
            if isinstance(request.get(name), list | dict):
                # echoed in every reply and kept to spot duplicates: a scalar only
                conn.send(
                    conn.dialect.invalid(
                        conn.conn_id, f"{name} must be a string", self.port.now_ms()
                    )
                )
                return None
        return request

    def _refuse(self, conn: Conn, request: dict[str, Any], error: str) -> None:
        conn.send(conn.dialect.refusal(conn.conn_id, request, error, self.port.now_ms()))

    def _stream(self, conn: Conn, request: dict[str, Any]) -> None:
        """One request on a public, private or status channel."""
        op = request.get("op")
        if op == "ping":
            conn.send(conn.dialect.pong(conn.conn_id, request, self.port.now_ms()))
        elif op == "auth" and conn.dialect.private:
            error = self._authenticate(conn, request)
            conn.send(conn.dialect.auth_reply(conn.conn_id, request, error))
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
            self._refuse(conn, request, f"error:unsupported op {shown(op)}")

    def _authenticate(self, conn: Conn, request: dict[str, Any]) -> AuthError | None:
        if conn.api_key is not None:
            return AuthError(20001, "Repeat auth")
        try:
            api_key = self.port.authenticate(request.get("args"))
        except AuthError as exc:
            return exc
        conn.api_key = api_key
        conn.account = api_key.account
        self.private.setdefault(api_key.account, set()).add(conn)
        return None

    # --- subscriptions ---------------------------------------------------------------------

    def _subscription(self, conn: Conn, request: dict[str, Any], op: str) -> None:
        if conn not in self.conns:
            return  # closed while the request waited: nothing to register or answer
        dialect, conn_id = conn.dialect, conn.conn_id
        args = request.get("args")
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args) or not args:
            error = "error:args must be a list of topics"
            conn.send(dialect.ack(conn_id, request, op, [], [], error))
            return
        if dialect.private and conn.account is None:
            conn.send(dialect.ack(conn_id, request, op, [], list(args), "Request not authorized"))
            return
        if dialect.private and _mixes_categorised(args):
            error = "error:all-in-one and categorised topics cannot be mixed in one request"
            conn.send(dialect.ack(conn_id, request, op, [], list(args), error))
            return
        subscribe = self._topic_sources[dialect.topics]
        ok: list[str] = []
        failed: list[str] = []
        errors: list[str] = []
        initial: list[dict[str, Any]] = []
        for topic in args:
            if op == "unsubscribe":
                if topic in conn.topics:
                    conn.topics.discard(topic)
                    self._unsubscribe_public(conn, conn.channel, topic)
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
            messages = subscribe(conn, topic)
            if messages is None:
                failed.append(topic)
                errors.append(f"error:handler not found,topic:{topic}")
                continue
            conn.topics.add(topic)
            ok.append(topic)
            initial.extend(messages)
        conn.send(dialect.ack(conn_id, request, op, ok, failed, ";".join(errors)))
        for message in initial:
            conn.send(message)

    def _subscribe_private(self, conn: Conn, topic: str) -> list[dict[str, Any]] | None:
        """Register a private topic; a DCP one stops its product's DCP clock."""
        if topic not in PRIVATE_TOPICS:
            return None
        product = DCP_PRODUCTS.get(topic)
        if product is not None and conn.account is not None:
            live = self.dcp.setdefault((conn.account, product), set())
            if not live:
                self.port.dcp_connected(conn.account, product)
            live.add(conn)
        return []

    def _subscribe_status(self, conn: Conn, topic: str) -> list[dict[str, Any]] | None:
        """`system.status`: the maintenance windows announced so far (the `maintenance`
        fault), often none."""
        if topic != STATUS_TOPIC:
            return None
        now = self.port.now_ms()
        return [{"topic": STATUS_TOPIC, "ts": now, "data": self.faults.maintenance(now)}]

    def _subscribe_public(self, conn: Conn, topic: str) -> list[dict[str, Any]] | None:
        """Register a public topic of the connection's category; its initial messages, or
        None for a topic the exchange lacks."""
        category = conn.channel
        try:
            initial = self.port.subscribe_public(category, topic)
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
                self.port.dcp_disconnected(conn.account, product, wall_ms())

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
            self.port.unsubscribe_public(category, topic)

    # --- trade (order entry) -----------------------------------------------------------------

    def _trade(self, conn: Conn, request: dict[str, Any]) -> None:
        """One order-entry request: auth, ping, or an order op run by the exchange."""
        op = request.get("op")
        if op == "auth":
            error = self._authenticate(conn, request)
            conn.send(TRADE.auth_reply(conn.conn_id, request, error))
            return
        if op == "ping":
            conn.send(TRADE.pong(conn.conn_id, request, self.port.now_ms()))
            return
        reply = self._trade_op(conn, request, op)
        if self.trade_latency_s:
            asyncio.get_running_loop().call_later(self.trade_latency_s, conn.send, reply)
        else:
            conn.send(reply)

    def _trade_op(self, conn: Conn, request: dict[str, Any], op: Any) -> dict[str, Any]:
        port, conn_id = self.port, conn.conn_id

        def reply(code: int, message: str, **extra: Any) -> dict[str, Any]:
            return TRADE.reply(conn_id, request, code, message, port.now_ms(), **extra)

        path = WS_OPS.get(op) if isinstance(op, str) else None
        if path is None:
            return reply(10404, f"unsupported op: {shown(op)}")
        if conn.api_key is None:
            return reply(10007, "User authentication failed.")
        req_id = request.get("reqId")
        if req_id is not None:
            if req_id in conn.req_ids:
                return reply(20006, "Duplicate reqId")
            conn.req_ids.add(req_id)
        header = request.get("header")
        if not isinstance(header, dict) or "X-BAPI-TIMESTAMP" not in header:
            return reply(10001, "header X-BAPI-TIMESTAMP is required")
        try:
            check_window(
                header["X-BAPI-TIMESTAMP"],
                header.get("X-BAPI-RECV-WINDOW") or DEFAULT_RECV_WINDOW,
                port.now_ms(),
            )
        except AuthError as exc:
            return reply(exc.code, exc.message)
        if conn.api_key.readonly:
            return reply(PERMISSION_DENIED, MESSAGES[PERMISSION_DENIED])
        args = request.get("args")
        if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
            return reply(10001, "args must be a list of objects")
        try:
            params.check(params.binding("POST", path), args[0], query=False)
        except ApiError as exc:
            return reply(exc.code, exc.msg)
        account = conn.api_key.account
        verdict = port.admit(account, path, args[0].get("category"))
        headers = verdict.headers()
        if not verdict.allowed:
            return reply(RATE_LIMITED, RATE_LIMIT_MESSAGE, limit_headers=headers)
        result = port.trade_op(op, args, account)
        return reply(
            result.get("retCode", 0),
            result.get("retMsg", "OK"),
            data=result.get("data"),
            ext=result.get("retExtInfo"),
            limit_headers=headers,
        )
