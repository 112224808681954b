"""The one place order actions are performed: over the trade WebSocket (pybit
`WebSocketTrading`, batched per kind), with HTTP as the fallback while that socket is down.

`submit` returns as soon as every request is handed to the socket (the end of the
tick-to-quote measurement). WS requests use pybit's connection, auth and reply dispatch; the
request is built and sent here, its reply callback registered first (see `_send_ws`).
Answers come back later as `reply` events in the engine's inbox, normalised to one
`(action, retCode, retMsg)` per action whichever path carried it. A WS request unanswered
for `timeout_s` is answered with code -1 so the engine re-reads the truth over REST instead
of waiting forever.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from bybitctl import pybit_compat
from bybitctl.mm.actions import Action, Amend, Cancel, Place
from bybitctl.mm.feeds import DOWN, UP
from bybitctl.mm.inbox import Inbox
from bybitctl.mm.rest import BATCH

REPLY = "reply"

_OPS = {Place: "order.create", Amend: "order.amend", Cancel: "order.cancel"}
_BATCH_OPS = {Place: "order.create-batch", Amend: "order.amend-batch", Cancel: "order.cancel-batch"}
"""Trade-socket operations per action kind (pybit `WebSocketTrading`'s method names)."""

Result = tuple[Action, int, str]


class Executor:
    """Sends order actions for one symbol; the engine owns every order's state."""

    def __init__(
        self,
        settings: Any,
        category: str,
        symbol: str,
        http: Any,
        sink: Inbox,
        *,
        debug: bool = False,
        timeout_s: float = 5.0,
        use_ws: bool = True,
        req_prefix: str = "mm",
    ) -> None:
        self.settings = settings
        self.req_prefix = f"{req_prefix}-r"
        """Trade-socket reqIds: the run id and a counter (unique per run, unlike a clock)."""
        self.category = category
        self.symbol = symbol
        self.http = http
        self.sink = sink
        self.debug = debug
        self.timeout_s = timeout_s
        self.use_ws = use_ws
        self.ws: Any = None
        self.gen = 0
        self.ws_sends = 0
        self.http_sends = 0
        self._token = 0
        self._pending: dict[int, tuple[float, tuple[Action, ...]]] = {}
        self._lock = threading.Lock()
        self._retry_at: float | None = None
        self._connecting = False
        self._http_jobs: queue.SimpleQueue[
            tuple[Callable[..., Any], dict[str, Any], tuple[Action, ...]] | None
        ] = queue.SimpleQueue()
        self._http_thread = threading.Thread(target=self._http_worker, daemon=True, name="mm-http")
        self._http_thread.start()

    # -- trade WebSocket lifecycle --------------------------------------------------------

    def connect(self, *, wait: bool = False) -> None:
        """Open the trade socket on a helper thread (`wait`: on this one, so the first
        quotes can use it); an `up`/`down` event on the queue reports the outcome."""
        if not self.use_ws or self._connecting:
            return
        self._connecting = True
        self.gen += 1
        if wait:
            self._open(self.gen)
            return
        threading.Thread(target=self._open, args=(self.gen,), daemon=True, name="mm-trade").start()

    def _open(self, gen: int) -> None:
        from bybitctl.client import make_ws_trading

        try:
            ws = make_ws_trading(
                self.settings, debug=self.debug, **pybit_compat.no_reconnects(retries=2)
            )
            deadline = time.monotonic() + 5.0
            while not pybit_compat.trade_authenticated(ws) and time.monotonic() < deadline:
                time.sleep(0.005)
            if not pybit_compat.trade_authenticated(ws):
                ws.exit()
                raise ConnectionError("trade socket authentication timed out")
        except Exception as exc:  # pybit raises bare Exception types on connect failures
            self.sink.put((DOWN, "trade", gen, 0, f"trade socket: {exc}"))
        else:
            self.sink.put((UP, "trade", gen, 0, ws))

    def accept(self, kind: str, gen: int, payload: Any) -> bool:
        """Apply an `up`/`down` event of the trade socket; False for a stale one."""
        if gen != self.gen:
            if kind == UP:
                payload.exit()
            return False
        self._connecting = False
        if kind == UP:
            self.ws = payload
            self._retry_at = None
        else:
            self._drop()
        return True

    @property
    def ws_up(self) -> bool:
        ws = self.ws
        return ws is not None and ws.is_connected()

    def _drop(self) -> None:
        ws, self.ws = self.ws, None
        self.gen += 1
        if ws is not None:
            threading.Thread(target=_exit_quietly, args=(ws,), daemon=True).start()
        self._retry_at = time.monotonic() + 1.0

    def check(self) -> None:
        """Timer duty: reconnect a dead trade socket; time out unanswered requests."""
        if self.ws is not None and not self.ws.is_connected():
            self._drop()
        if (
            self.ws is None
            and not self._connecting
            and self._retry_at is not None
            and time.monotonic() >= self._retry_at
        ):
            self.connect()
        now = time.monotonic()
        with self._lock:
            late = [t for t, (at, _) in self._pending.items() if now - at > self.timeout_s]
            expired = [self._pending.pop(t)[1] for t in late]
        for actions in expired:
            self.sink.put(
                (REPLY, "timeout", 0, 0, [(a, -1, "no answer from the exchange") for a in actions])
            )

    # -- sending --------------------------------------------------------------------------

    def submit(self, actions: Sequence[Action]) -> bool:
        """Hand `actions` to the exchange (cancels, amends, places: one request per kind,
        batched). Returns True when they went over the WebSocket, False for HTTP."""
        cancels: list[Action] = []
        amends: list[Action] = []
        places: list[Action] = []
        group_of = {Cancel: cancels, Amend: amends, Place: places}
        for a in actions:
            group_of[type(a)].append(a)
        ws = self.ws if self.use_ws else None
        if ws is not None:
            try:
                for group in (cancels, amends, places):
                    for start in range(0, len(group), BATCH):
                        self._send_ws(ws, tuple(group[start : start + BATCH]))
                return True
            except Exception:  # socket died mid-send: the rest goes over HTTP
                self._drop()
                sent = self._sent_ids()
                cancels, amends, places = (
                    [a for a in g if id(a) not in sent] for g in (cancels, amends, places)
                )
        for group in (cancels, amends, places):
            for start in range(0, len(group), BATCH):
                self._send_http(tuple(group[start : start + BATCH]))
        return False

    def submit_ws(self, actions: Sequence[Action]) -> tuple[Action, ...]:
        """Send `actions` over the trade socket only, nothing queued for HTTP (the exit's
        cancels: REST has its own bounded path then); returns those that went out."""
        ws = self.ws if self.use_ws else None
        if ws is None or not ws.is_connected():
            return ()
        sent: list[Action] = []
        try:
            for start in range(0, len(actions), BATCH):
                chunk = tuple(actions[start : start + BATCH])
                self._send_ws(ws, chunk)
                sent.extend(chunk)
        except Exception:  # socket died mid-send: what went out is all there is
            self._drop()
        return tuple(sent)

    def _sent_ids(self) -> set[int]:
        with self._lock:
            return {id(a) for _, acts in self._pending.values() for a in acts}

    def _send_ws(self, ws: Any, actions: tuple[Action, ...]) -> None:
        with self._lock:
            self._token += 1
            token = self._token
            self._pending[token] = (time.monotonic(), actions)
        sink, pending, lock = self.sink, self._pending, self._lock

        def answer(message: dict[str, Any]) -> None:
            with lock:
                if pending.pop(token, None) is None:
                    return  # already timed out
            sink.put((REPLY, "ws", 0, time.perf_counter_ns(), _results(actions, message, "data")))

        req_id = f"{self.req_prefix}{token}"
        payload = self._payload(ws, actions, req_id)
        # pybit's own `_send_order_operation` registers the callback after sending, so a
        # quick reply finds no callback and is dropped (the request then times out); it
        # also spends ~40 µs of the tick on uuid4 and json.dumps. Same request, other order.
        pybit_compat.expect_reply(ws, req_id, answer, answer)
        try:
            pybit_compat.send_text(ws, payload)  # raises when the socket is closed
        except Exception:
            pybit_compat.forget_reply(ws, req_id)
            with lock:
                pending.pop(token, None)  # never sent: the caller resends it over HTTP
            raise
        self.ws_sends += 1

    def _payload(self, ws: Any, actions: tuple[Action, ...], req_id: str) -> bytes:
        """The trade-socket request (pybit `WebSocketTrading`'s message shape) as JSON."""
        if len(actions) == 1:
            op = _OPS[type(actions[0])]
            args = {"category": self.category, **self._request(actions[0])}
        else:
            op = _BATCH_OPS[type(actions[0])]
            args = {"category": self.category, "request": [self._request(a) for a in actions]}
        header = {"X-BAPI-TIMESTAMP": int(time.time() * 1000), **pybit_compat.trade_headers(ws)}
        return orjson.dumps({"reqId": req_id, "header": header, "op": op, "args": [args]})

    def _send_http(self, actions: tuple[Action, ...]) -> None:
        http = self.http
        kind = type(actions[0])
        if len(actions) == 1:
            method = {Place: http.place_order, Amend: http.amend_order, Cancel: http.cancel_order}[
                kind
            ]
            kwargs = {"category": self.category, **self._request(actions[0])}
        else:
            method = {
                Place: http.place_batch_order,
                Amend: http.amend_batch_order,
                Cancel: http.cancel_batch_order,
            }[kind]
            kwargs = {"category": self.category, "request": [self._request(a) for a in actions]}
        self.http_sends += 1
        self._http_jobs.put((method, kwargs, actions))

    def _http_worker(self) -> None:
        """HTTP requests one at a time, off the handling thread (they block for a round trip)."""
        while True:
            job = self._http_jobs.get()
            if job is None:
                return
            method, kwargs, actions = job
            try:
                message = method(**kwargs)
            except Exception as exc:  # pybit raises InvalidRequestError / requests errors
                code = int(getattr(exc, "status_code", -1) or -1)
                message = {"retCode": code, "retMsg": str(getattr(exc, "message", exc))}
            self.sink.put(
                (REPLY, "http", 0, time.perf_counter_ns(), _results(actions, message, "result"))
            )

    def _request(self, action: Action) -> dict[str, Any]:
        """The order fields of one action (category goes on the request itself)."""
        if isinstance(action, Place):
            req: dict[str, Any] = {
                "symbol": self.symbol,
                "side": action.side,
                "orderType": "Limit",
                "qty": str(action.qty),
                "price": str(action.price),
                "timeInForce": "PostOnly" if action.post_only else "GTC",
                "orderLinkId": action.link_id,
            }
            if action.position_idx:
                req["positionIdx"] = action.position_idx
            if self.category == "option":
                req["mmp"] = True  # under the exchange's MMP, armed at start
            return req
        if isinstance(action, Amend):
            return {
                "symbol": self.symbol,
                "orderLinkId": action.link_id,
                "price": str(action.price),
                "qty": str(action.qty),
            }
        return {"symbol": self.symbol, "orderLinkId": action.link_id}

    def close(self) -> list[Action]:
        """Send nothing more: close the trade socket (on a helper thread, so a hung peer
        cannot hold the caller) and drop the HTTP jobs not started yet; the one in progress,
        if any, finishes on its own (`sending` tells). Returns the dropped jobs' actions:
        never sent, so a dropped place never made an order."""
        self.gen += 1
        ws, self.ws = self.ws, None
        if ws is not None:
            threading.Thread(target=_exit_quietly, args=(ws,), daemon=True).start()
        dropped: list[Action] = []
        while True:
            try:
                job = self._http_jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                dropped.extend(job[2])
        self._http_jobs.put(None)
        return dropped

    @property
    def sending(self) -> bool:
        """Whether an HTTP request of ours may still be on its way (after `close`: the one
        that was in progress has not returned yet)."""
        return self._http_thread.is_alive()


def _results(actions: tuple[Action, ...], message: dict[str, Any], key: str) -> list[Result]:
    """One (action, code, msg) per action from a single or batch answer (WS: `data`,
    HTTP: `result`; batch codes in retExtInfo.list)."""
    code = int(message.get("retCode", -1))
    text = str(message.get("retMsg", ""))
    if code != 0 or len(actions) == 1:
        return [(a, code, text) for a in actions]
    codes = (message.get("retExtInfo") or {}).get("list") or []
    rows = (message.get(key) or {}).get("list") or []
    by_link = {
        row.get("orderLinkId"): (int(c.get("code", -1)), str(c.get("msg", "")))
        for row, c in zip(rows, codes, strict=False)
    }
    return [(a, *by_link.get(a.link_id, (-1, "missing from the batch answer"))) for a in actions]


def _exit_quietly(ws: Any) -> None:
    try:
        ws.exit()
    except Exception:  # closing a half-dead socket must not mask why we are closing
        return
