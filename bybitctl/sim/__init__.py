"""The local Bybit v5 exchange, in-process: `running_exchange()` for tests and `--paper`.

The exchange runs on its own thread with its own event loop, so a synchronous caller (pybit,
a test, the CLI) can talk to it over real loopback sockets exactly as it would to Bybit.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bybitctl.sim.net import CLIENT_TIMEOUT_S, TRADE_LATENCY_MS
from bybitctl.sim.net.auth import ApiKey, Keyring, generate_key_pair

if TYPE_CHECKING:
    from bybitctl.sim.net.ports import ExchangeCore
    from bybitctl.sim.net.server import SimServer

__all__ = [
    "CLIENT_TIMEOUT_S",
    "DEFAULT_ACCOUNT",
    "TRADE_LATENCY_MS",
    "SimHandle",
    "make_core",
    "running_exchange",
]

DEFAULT_ACCOUNT = "100001"
DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT")


def make_core(
    symbols: Sequence[str],
    seed: int,
    state: str | os.PathLike[str] | None,
    replay: str | os.PathLike[str] | None = None,
    funding_interval_ms: int | None = None,
) -> ExchangeCore:
    """The real matching/market core (imported late: it is the heavy part)."""
    from bybitctl.sim.api.exchange import Exchange
    from bybitctl.sim.core.funding import DEFAULT_INTERVAL_MS

    path = os.fspath(state) if state is not None else None
    recording = os.fspath(replay) if replay is not None else None
    return Exchange(
        symbols=tuple(symbols),
        seed=seed,
        state_path=path,
        replay=recording,
        funding_interval_ms=funding_interval_ms or DEFAULT_INTERVAL_MS,
    )


@dataclass
class SimHandle:
    """A running exchange: where it listens, its keys, the requests it saw, and controls."""

    base_url: str
    ws_base: str
    api_key: str
    api_secret: str = field(repr=False)
    readonly_key: str
    readonly_secret: str = field(repr=False)
    received: list[dict[str, Any]]
    _server: SimServer = field(repr=False)
    _loop: asyncio.AbstractEventLoop = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def call(self, fn: Any) -> Any:
        """Run `fn()` on the exchange's thread (the core is not thread-safe) and return it."""

        async def run() -> Any:
            return fn()

        return self._run(run())

    def set_faults(self, spec: str) -> None:
        """Replace the active faults with `spec` ("" clears); ValueError on a bad spec."""
        self.call(lambda: self._server.set_faults(spec))

    def add_key(
        self,
        key: str,
        secret: str,
        *,
        account: str = DEFAULT_ACCOUNT,
        readonly: bool = False,
        rsa: bool = False,
    ) -> None:
        """Register another key (`rsa=True`: `secret` is the PEM public key)."""

        def add() -> None:
            self._server.keys.add(ApiKey(key, secret, account, readonly, rsa))
            self._server.core.ensure_account(account)

        self.call(add)

    def advance_clock(self, ms: int) -> None:
        """Move the exchange's time `ms` ahead (funding times, option expiries); what fell
        due settles at the next market step (within 25 ms). Signatures keep being checked
        against the real time, so clients need no change."""
        self.call(lambda: self._server.advance_clock(ms))

    def set_price(self, coin: str, price: float) -> None:
        """Move a coin's fair price (marks, index, books) to `price` and run a market step,
        so the liquidations, triggers and TP/SL it sets off have happened on return."""

        def move() -> None:
            self._server.core.set_price(coin, price)
            self._server.step_now()

        self.call(move)

    def step(self) -> None:
        """Run one market step now (settling whatever the clock has reached) and wait for it."""
        self.call(self._server.step_now)

    def stop(self) -> None:
        """Stop serving, close the core and end the thread (idempotent)."""
        if not self._thread.is_alive():
            return
        try:
            self._run(self._server.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)


def _finish_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel and await whatever still runs once the loop has stopped, as `asyncio.run` does.

    aiohttp cancels a request handler whose connection it force-closes at shutdown, but the
    cancellation only lands on the loop's next turn; closing the loop before that destroys the
    task mid-request ("Task was destroyed but it is pending!").
    """
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


@contextmanager
def running_exchange(
    symbols: Sequence[str] = DEFAULT_SYMBOLS,
    seed: int = 1,
    state: str | os.PathLike[str] | None = None,
    faults: str | None = None,
    *,
    replay: str | os.PathLike[str] | None = None,
    core: ExchangeCore | None = None,
    rate_limits: bool = True,
    ws_idle_ms: int | None = None,
    trade_latency_ms: int = TRADE_LATENCY_MS,
    client_timeout: float = CLIENT_TIMEOUT_S,
    debug: bool = False,
    funding_interval_ms: int | None = None,
    tls: ssl.SSLContext | None = None,
    record: bool = True,
) -> Iterator[SimHandle]:
    """Start an exchange on 127.0.0.1 (a free port) in a background thread; yield its handle.

    `replay` drives books and trades from a `stream --record` file (docs/sim.md);
    `core` replaces the real market/matching core (a test double implementing
    `bybitctl.sim.net.ports.ExchangeCore`); `ws_idle_ms` shortens Bybit's 10-minute idle
    disconnect for tests; `trade_latency_ms` is how long an order op's reply waits on
    the trade WebSocket (0 for none); `client_timeout` is how long a connection may take to
    send a whole request (and stay idle) before it is dropped; `debug` logs the traceback of
    an unexpected failure, not just its line; `funding_interval_ms` is how often perpetuals
    settle funding (Bybit's 8 hours by default); `tls` serves `https://` and `wss://` with
    that server context (for clients that accept nothing else); `record` keeps every request
    in `SimHandle.received` for tests to assert on (off for a long-running paper exchange,
    where the list would only grow).
    """
    from bybitctl.sim.net.server import SimServer

    keys = Keyring()
    api_key, api_secret = generate_key_pair()
    ro_key, ro_secret = generate_key_pair()
    keys.add(ApiKey(api_key, api_secret, DEFAULT_ACCOUNT))
    keys.add(ApiKey(ro_key, ro_secret, DEFAULT_ACCOUNT, readonly=True))
    received: list[dict[str, Any]] = []
    loop = asyncio.new_event_loop()
    ready: Future[SimServer] = Future()

    async def start() -> None:
        server = SimServer(
            core
            if core is not None
            else make_core(symbols, seed, state, replay, funding_interval_ms),
            keys,
            faults=faults,
            seed=seed,
            rate_limits=rate_limits,
            record=received if record else None,
            ws_idle_ms=ws_idle_ms,
            trade_latency_ms=trade_latency_ms,
            client_timeout=client_timeout,
            debug=debug,
            tls=tls,
        )
        await server.start("127.0.0.1", 0)
        ready.set_result(server)

    def run() -> None:
        asyncio.set_event_loop(loop)
        task = loop.create_task(start())
        task.add_done_callback(
            lambda t: (
                ready.set_exception(t.exception())
                if not t.cancelled() and t.exception() and not ready.done()
                else None
            )
        )
        loop.run_forever()
        _finish_tasks(loop)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=run, name="bybitctl-sim", daemon=True)
    thread.start()
    try:
        server = ready.result(timeout=60)
    except BaseException:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        raise
    handle = SimHandle(
        base_url=server.base_url,
        ws_base=server.base_url.replace("http", "ws", 1),
        api_key=api_key,
        api_secret=api_secret,
        readonly_key=ro_key,
        readonly_secret=ro_secret,
        received=received,
        _server=server,
        _loop=loop,
        _thread=thread,
    )
    try:
        yield handle
    finally:
        handle.stop()
