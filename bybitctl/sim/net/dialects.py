"""How each Bybit v5 WebSocket channel words its replies: one dialect per channel.

Bybit answers pings, subscriptions, logins and refusals in a different shape per channel
(spot, linear/inverse, option/spread, private, trade, misc/status), and clients such as
pybit key off those shapes. A connection picks its dialect once, from `DIALECTS`; the hub
then asks it for every reply and never which channel it is on.
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

from bybitctl.sim.net.auth import AuthError

Topics = Literal["public", "private", "status"]


class Dialect:
    """A stream channel's replies in the linear/inverse shape (misc/status speaks it too)."""

    orders = False
    """The channel takes order ops (the trade channel), not subscriptions."""
    private = False
    """The channel logs in (`auth`), and its topics need it."""

    def __init__(self, topics: Topics = "public") -> None:
        self.topics = topics
        """Where the channel's topics come from: the exchange's public feeds, the account's
        private streams, or the maintenance status."""

    def pong(self, conn_id: str, request: dict[str, Any], now: int) -> dict[str, Any]:
        return {
            "success": True,
            "ret_msg": "pong",
            "conn_id": conn_id,
            "req_id": request.get("req_id") or "",
            "op": "ping",
        }

    def ack(
        self,
        conn_id: str,
        request: dict[str, Any],
        op: str,
        ok: list[str],
        failed: list[str],
        error: str,
    ) -> dict[str, Any]:
        """The reply to a (un)subscription: `ok` and `failed` topics, `error` ("" if none)."""
        req_id = request.get("req_id")
        reply = {
            "success": not error,
            "ret_msg": error or self._ack_message(op),
            "conn_id": conn_id,
            "req_id": req_id or "",
            "op": op,
        }
        if req_id is not None:
            reply["req_id"] = req_id
        return reply

    def _ack_message(self, op: str) -> str:
        return ""

    def refusal(
        self, conn_id: str, request: dict[str, Any], error: str, now: int
    ) -> dict[str, Any]:
        """The reply to a request the channel cannot serve (`error` reads "error:...")."""
        op = request.get("op") if isinstance(request.get("op"), str) else ""
        return self.ack(conn_id, request, op, [], [], error)

    def invalid(self, conn_id: str, message: str, now: int) -> dict[str, Any]:
        """The reply to a request with an unusable field (`message` names it)."""
        return self.refusal(conn_id, {}, f"error:{message}", now)

    def auth_reply(
        self, conn_id: str, request: dict[str, Any], error: AuthError | None
    ) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "success": error is None,
            "ret_msg": "" if error is None else error.message,
            "op": "auth",
            "conn_id": conn_id,
        }
        if "req_id" in request:
            reply["req_id"] = request["req_id"]
        return reply


class SpotDialect(Dialect):
    """Spot: a pong without an empty `req_id`, and an ack that echoes its op."""

    def pong(self, conn_id: str, request: dict[str, Any], now: int) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "success": True,
            "ret_msg": "pong",
            "conn_id": conn_id,
            "op": "ping",
        }
        return _with_req_id(reply, request)

    def _ack_message(self, op: str) -> str:
        return op


class OptionDialect(Dialect):
    """Option and spread: a bare pong and `COMMAND_RESP` acks listing each topic."""

    def pong(self, conn_id: str, request: dict[str, Any], now: int) -> dict[str, Any]:
        return _with_req_id({"args": [str(now)], "op": "pong"}, request)

    def ack(
        self,
        conn_id: str,
        request: dict[str, Any],
        op: str,
        ok: list[str],
        failed: list[str],
        error: str,
    ) -> dict[str, Any]:
        reply = {
            "success": not failed and not error,
            "ret_msg": error,
            "conn_id": conn_id,
            "data": {"failTopics": failed, "successTopics": ok},
            "type": "COMMAND_RESP",
        }
        return _with_req_id(reply, request)


class PrivateDialect(Dialect):
    """Private: logs in, and answers pings and acks in the `op`-first shape."""

    private = True

    def __init__(self) -> None:
        super().__init__("private")

    def pong(self, conn_id: str, request: dict[str, Any], now: int) -> dict[str, Any]:
        return _with_req_id({"op": "pong", "args": [str(now)], "conn_id": conn_id}, request)

    def ack(
        self,
        conn_id: str,
        request: dict[str, Any],
        op: str,
        ok: list[str],
        failed: list[str],
        error: str,
    ) -> dict[str, Any]:
        reply = {"success": not error, "ret_msg": error, "op": op, "conn_id": conn_id}
        return _with_req_id(reply, request)


class TradeDialect(Dialect):
    """Order entry: every reply is a `retCode` envelope echoing `reqId`."""

    orders = True
    private = True

    def __init__(self) -> None:
        super().__init__("private")

    def pong(self, conn_id: str, request: dict[str, Any], now: int) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "retCode": 0,
            "retMsg": "OK",
            "op": "pong",
            "data": [str(now)],
            "connId": conn_id,
        }
        if "reqId" in request:
            reply["reqId"] = request["reqId"]
        return reply

    def refusal(
        self, conn_id: str, request: dict[str, Any], error: str, now: int
    ) -> dict[str, Any]:
        return self.reply(conn_id, request, 10404, error, now)

    def invalid(self, conn_id: str, message: str, now: int) -> dict[str, Any]:
        return self.reply(conn_id, {}, 10001, message, now)

    def auth_reply(
        self, conn_id: str, request: dict[str, Any], error: AuthError | None
    ) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "retCode": 0 if error is None else error.code,
            "retMsg": "OK" if error is None else error.message,
            "op": "auth",
            "connId": conn_id,
        }
        if "reqId" in request:
            reply["reqId"] = request["reqId"]
        return reply

    def reply(
        self,
        conn_id: str,
        request: dict[str, Any],
        code: int,
        message: str,
        now: int,
        data: Any = None,
        ext: Any = None,
        limit_headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The answer to an order op (or a refusal of one), with the rate-limit headers."""
        reply: dict[str, Any] = {}
        if "reqId" in request:
            reply["reqId"] = request["reqId"]
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
                    "Timenow": str(now),
                },
                "connId": conn_id,
            }
        )
        return reply


def _with_req_id(reply: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """Echo the request's `req_id`, last, when it sent one."""
    req_id = request.get("req_id")
    if req_id is not None:
        reply["req_id"] = req_id
    return reply


TRADE = TradeDialect()
DIALECTS: dict[str, Dialect] = {
    "spot": SpotDialect(),
    "linear": Dialect(),
    "inverse": Dialect(),
    "option": OptionDialect(),
    "spread": OptionDialect(),
    "private": PrivateDialect(),
    "trade": TRADE,
    "misc/status": Dialect("status"),
}
"""Each WebSocket channel's dialect, by the channel's path under /v5 (public ones without the
`public/` prefix)."""
