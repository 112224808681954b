"""The exit's REST work, bounded in time: a slow or unreachable exchange cannot hold a
stopping market maker for more than `SHUTDOWN_S`.

`Engine._pull_and_confirm` runs the exit on the main thread (trade-socket cancels, the order
stream's answers, closing the executor); `ExitRest` is its REST side, two threads with a
pybit client each, whose every request times out by the exit's deadline:

- *cancel*: at once, a cancel by orderLinkId of every order the engine knows, in parallel
  with the trade socket's cancels (either may be the one that still gets through);
- *confirm*: once the engine says no request of ours can land any more (`quiet`), it lists
  the symbol's open orders, cancels any of ours and lists again until none is left; then
  closes the position when asked (`flatten`), and reads our executions since the sweep
  mark, so the report can reconcile the fills with what the exchange booked.

Nothing here touches the engine's state or journal: the results are collected under a lock
and the engine books them after `finish`, on its own thread. At the deadline the threads are
abandoned (daemon threads: they end with the process) and the result says what could not be
confirmed; the exchange's disconnect-cancel-all (DCP, which the engine arms) then removes
whatever is left once our connections are gone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bybitctl import pybit_compat
from bybitctl.mm.executor import BATCH, open_orders, paged

SHUTDOWN_S = 10.0
"""The exit's bound: from the moment the stop is handled to the run's end (report written
within a fraction of a second after). A signal is handled once the request in progress, if
any, has returned: each REST request is bounded by the HTTP timeout (10 s by default)."""
DRAIN_S = 1.5
"""How long the exit waits for the order stream to confirm the trade socket's cancels before
it closes the socket: they take milliseconds when the exchange is well."""
FINISH_S = 0.5
"""Kept at the end of `SHUTDOWN_S` for the engine's own bookkeeping (journal, feeds)."""
SETTLE_S = 0.3
"""After a flattening market order, the wait before the executions are read, so its fill is
among them."""


@dataclass
class ExitResult:
    """What the exit's REST work achieved by the time it finished or ran out of time."""

    cancelled: list[dict[str, Any]] = field(default_factory=list)
    """Orders whose REST cancel the exchange accepted."""
    confirmed: bool = False
    """A listing made once nothing of ours could land any more showed none of our orders."""
    listed: list[dict[str, Any]] | None = None
    """Our open orders in the last such listing (None: no listing succeeded then)."""
    executions: list[dict[str, Any]] | None = None
    """Our executions since the sweep mark, oldest first (None: they could not be read)."""
    events: list[dict[str, Any]] = field(default_factory=list)
    """Events for the engine to emit (the flattening's)."""
    error: str = ""
    """The last REST failure, for the report."""


class ExitRest:
    """The exit's REST side for one symbol (see the module docstring)."""

    def __init__(
        self,
        make_http: Callable[[], Any],
        category: str,
        symbol: str,
        owns: Callable[[str], bool],
        known: list[str],
        deadline: float,
        *,
        timeout_s: float,
        sweep_since_ms: int,
        flatten: Callable[[Any], list[dict[str, Any]]] | None = None,
    ) -> None:
        self._make_http = make_http
        self._category = category
        self._symbol = symbol
        self._owns = owns
        self._known = known
        self._deadline = deadline
        self._timeout_s = timeout_s
        self._sweep_since_ms = sweep_since_ms
        self._flatten = flatten
        self._result = ExitResult()
        self._lock = threading.Lock()
        self._quiet = threading.Event()
        self._over = threading.Event()
        self._threads = [
            threading.Thread(target=self._guarded, args=(work,), daemon=True, name=f"mm-exit-{n}")
            for n, work in (("cancel", self._cancel_known), ("confirm", self._confirm))
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def quiet(self) -> None:
        """No request of ours can land any more: listings from now on can confirm."""
        self._quiet.set()

    @property
    def done(self) -> bool:
        return not any(thread.is_alive() for thread in self._threads)

    def finish(self) -> ExitResult:
        """Stop waiting: the result so far (threads still running are abandoned)."""
        self._over.set()
        silent = "" if self.done else "no answer from the exchange in time"
        with self._lock:
            result = self._result
            return ExitResult(
                list(result.cancelled),
                result.confirmed,
                None if result.listed is None else list(result.listed),
                None if result.executions is None else list(result.executions),
                list(result.events),
                result.error or silent,
            )

    # -- the threads ----------------------------------------------------------------------

    def _guarded(self, work: Callable[[_Bounded], None]) -> None:
        try:
            work(_Bounded(self._make_http(), self._deadline, self._timeout_s))
        except Exception as exc:  # out of time, or unreachable: the result says so
            self._failed(exc)

    def _cancel_known(self, http: _Bounded) -> None:
        if self._known:
            self._cancel(http, [{"orderLinkId": link} for link in self._known])

    def _confirm(self, http: _Bounded) -> None:
        self._quiet.wait(max(0.0, self._deadline - time.monotonic()))
        attempt = 0
        while not self._quiet_listing(http):
            attempt += 1
            if self._over.wait(min(0.2 * attempt, 1.0)) or time.monotonic() >= self._deadline:
                return
        if self._flatten is not None:
            events = self._flatten(http)
            with self._lock:
                self._result.events.extend(events)
            if events:
                self._over.wait(SETTLE_S)
        rows = [
            row
            for page in paged(
                http.get_executions,
                category=self._category,
                symbol=self._symbol,
                startTime=self._sweep_since_ms,
                limit=100,
            )
            for row in page
            if self._owns(row.get("orderLinkId") or "")
        ]
        with self._lock:
            self._result.executions = rows[::-1]  # the exchange lists newest first

    def _quiet_listing(self, http: _Bounded) -> bool:
        """One round: list (once quiet), cancel ours; True when the listing showed none."""
        if not self._quiet.is_set():
            return False
        try:
            own = [
                row
                for row in open_orders(http, self._category, self._symbol)
                if self._owns(row.get("orderLinkId") or "")
            ]
        except Exception as exc:  # unreachable or slow: try again while time remains
            self._failed(exc)
            return False
        with self._lock:
            self._result.listed = own
            self._result.confirmed = not own
        if own:
            self._cancel(http, own)
        return not own

    def _cancel(self, http: _Bounded, rows: list[dict[str, Any]]) -> None:
        """Cancel `rows` by orderLinkId (batches, else one by one); records those accepted."""
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            request = [{"symbol": self._symbol, "orderLinkId": r["orderLinkId"]} for r in chunk]
            try:
                answer = http.cancel_batch_order(category=self._category, request=request)
                codes = (answer.get("retExtInfo") or {}).get("list") or []
                accepted = [r for r, c in zip(chunk, codes, strict=False) if not c.get("code")]
            except Exception as exc:  # e.g. the batch refused as a whole: one by one
                self._failed(exc)
                accepted = []
                for row in chunk:
                    try:
                        http.cancel_order(
                            category=self._category,
                            symbol=self._symbol,
                            orderLinkId=row["orderLinkId"],
                        )
                    except Exception as one:  # gone already, or unreachable
                        self._failed(one)
                        continue
                    accepted.append(row)
            with self._lock:
                self._result.cancelled.extend(accepted)

    def _failed(self, exc: BaseException) -> None:
        """Keep why the exchange could not be reached (its refusals, e.g. of a cancel for an
        order gone already, say it was reached)."""
        text = _unreached(exc)
        if text:
            with self._lock:
                self._result.error = text


class _Bounded:
    """A pybit HTTP client whose every request times out by `deadline` (at most `cap` s);
    past the deadline a request is not even sent."""

    def __init__(self, http: Any, deadline: float, cap: float) -> None:
        self._http = http
        self._deadline = deadline
        self._cap = cap

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._http, name)

        def call(**kwargs: Any) -> Any:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the exit's time ran out")
            pybit_compat.set_timeout(self._http, min(self._cap, left))
            return method(**kwargs)

        return call


def _unreached(exc: BaseException) -> str:
    """One line for a request that did not get an answer from the exchange ("" when the
    exchange answered, refusing it): pybit's and requests' errors as the CLI says them."""
    from bybitctl.cli import translate
    from bybitctl.errors import ExchangeError

    error = translate(exc) if isinstance(exc, Exception) else None
    if isinstance(error, ExchangeError):
        return ""
    if error is not None:
        return error.message
    return f"{type(exc).__name__}: {exc}".splitlines()[0]
