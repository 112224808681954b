"""Making the engine's view of its orders, fills and position match the exchange's: before the
first quote (`prepare`) and after a gap in what it could hear (`resync_orders`).

Start-up: the config against the instrument (and the maker fee when unset), the journal's
earlier runs on this target resumed (their fills replayed into the ledger), leftovers of
earlier runs cancelled and the cancellation confirmed over REST, or with `leftovers = adopt`
taken over as this run's own orders, the symbol switched to hedge mode when configured, our
executions the journal lacks booked and the position read until a sweep right after the read
books nothing new, DCP armed, the leverage set. A stop asked meanwhile skips the requests
still to come: the run then only confirms its exit.

Everything goes through the engine's REST port (`bybitctl.mm.rest.Rest` live).
"""

from __future__ import annotations

import contextlib
from dataclasses import fields, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bybitctl.errors import BybitctlError, UsageError
from bybitctl.mm import exchange_mmp
from bybitctl.mm.accounting import booked
from bybitctl.mm.config import MMConfig
from bybitctl.mm.orders import LIVE_STATUSES, OrderUpdate
from bybitctl.mm.plan import QuoteParams
from bybitctl.mm.rest import SWEEP_WINDOW_MS, cancel_own
from bybitctl.mm.rules import validate

if TYPE_CHECKING:
    from bybitctl.mm.engine import Engine

DCP_WINDOW_S = 10
"""Bybit's disconnect-cancel-all window: our orders go this long after our connections."""
POSITION_READS = 5
"""At most this many position reads at start while fills keep arriving between them."""
UNCONFIRMED_MS = 3_000
"""An action the exchange answered but the order stream never confirmed within this long
(a private message lost) sends the engine to REST for the truth; an order left pending
would otherwise wait for its update forever and its side would never be quoted again."""


def prepare(engine: Engine) -> None:
    """Everything before the first quote: instrument checks, fees, journal and accounting
    resume, reconciliation with the exchange, DCP and leverage."""
    check_on_exchange(engine)
    c = engine.config
    journal = engine.journal
    previous = journal.previous_runs(engine.target)
    journal.start_run(
        engine.run_id, engine.target, c.symbol, c.category, c.link_prefix, config_dict(c)
    )
    engine.started_ms = engine.clock.now_ms()
    try:
        _reconcile(engine, previous)
    except BaseException as exc:
        journal.end_run(f"error: {exc}", 0, 0, 0)
        journal.heartbeat("stopped", {"reason": f"error: {exc}"})
        raise


def check_on_exchange(engine: Engine) -> None:
    """The config against the instrument (and the maker fee when unset)."""
    c = engine.config
    row = engine.rest.instrument()
    if row is None:
        raise UsageError(f"mm config: symbol: no {c.category} instrument {c.symbol}")
    if engine.stop_asked is not None:
        return
    engine.rules = validate(c, row, engine.rest.last_price())
    if c.category == "option":
        engine.mmp_coin = str(row.get("baseCoin") or c.symbol.split("-")[0])
    if c.fee_aware and c.maker_fee_bps is None and engine.stop_asked is None:
        rate = engine.rest.maker_fee_rate()
        if rate is not None:
            engine.config = c = replace(c, maker_fee_bps=float(rate * 10000))
    engine.params = QuoteParams.build(c, engine.rules)


def _reconcile(engine: Engine, previous: list[str]) -> None:
    """Resume the accounting, clear leftovers, and learn the position before quoting."""
    c = engine.config
    journal = engine.journal
    if previous:
        engine.ledger = journal.ledger(previous)
        last_fill = max((f.ts_ms for f in journal.fills(previous)), default=0)
        first = journal.runs(previous)[0]["started_ms"]
        engine.sweep_from_ms = (last_fill or first) - 1000
    else:
        engine.sweep_from_ms = engine.started_ms
    if engine.stop_asked is not None:
        return  # a signal during start-up: `run` goes straight to the REST-confirmed exit
    adopt = _adoptable(engine) if c.leftovers == "adopt" else {}
    leftovers = cancel_own(
        engine.rest,
        lambda link: engine.owns(link) and link not in adopt,
        pause=engine.clock.sleep,
        on_cancel=lambda row: _leftover_cancelled(engine, row),
    )
    if leftovers:
        raise BybitctlError(
            f"{len(leftovers)} order(s) of an earlier run could not be cancelled; "
            "not quoting on top of them"
        )
    if adopt:
        _adopt(engine, adopt)
    try:
        if c.hedge_mode:
            _switch_to_hedge_mode(engine)
        _book_and_read_position(engine)
    except BaseException:
        if adopt:  # no run will watch them: leave nothing behind, as any failed start
            cancel_own(engine.rest, engine.owns, pause=engine.clock.sleep)
        raise
    if engine.exchange_position is not None:
        engine.position_offset = engine.exchange_position - engine.ledger.position
    if c.hedge_mode:
        legs = engine.exchange_legs
        engine.tracker.legs = (
            max(legs.get(1, Decimal(0)), Decimal(0)),
            max(-legs.get(2, Decimal(0)), Decimal(0)),
        )
    engine.update_inventory()
    if engine.stop_asked is not None:
        return
    _arm_dcp(engine)
    if engine.mmp_coin:  # every option quote goes under it, so it is armed first
        exchange_mmp.arm(engine, engine.mmp_coin)
    if c.leverage is not None and c.category == "linear":
        with contextlib.suppress(Exception):  # 110043: leverage not modified
            engine.rest.set_leverage(c.leverage)
    engine.emit(
        {
            "event": "start",
            "run_id": engine.run_id,
            "symbol": c.symbol,
            "category": c.category,
            "target": engine.target,
            "resumed_runs": len(previous),
            "position": str(engine.inventory.position),
            "maker_fee_bps": c.maker_fee_bps,
        }
    )


def _adoptable(engine: Engine) -> dict[str, dict[str, Any]]:
    """`leftovers = adopt`: the open orders of earlier runs this run takes over, by
    orderLinkId. One on a position index this run's mode cannot trade (one-way 0,
    hedge 1/2) is left out, so it is cancelled like any other leftover."""
    hedge = engine.config.hedge_mode
    return {
        row["orderLinkId"]: row
        for row in engine.rest.open_orders()
        if engine.owns(row.get("orderLinkId") or "")
        and row.get("orderStatus") in LIVE_STATUSES
        and (int(row.get("positionIdx") or 0) in (1, 2)) == hedge
    }


def _adopt(engine: Engine, rows: dict[str, dict[str, Any]]) -> None:
    """Make leftovers this run's own, as the exchange listed them: open, at their price,
    qty and filled qty, so the first decision counts them against the limits and then
    keeps, amends or cancels them like its own quotes. Fills up to that filled qty are
    part of the position read next; later ones count like any fill."""
    now = engine.clock.now_ms()
    for link, row in rows.items():
        update = OrderUpdate.from_row(row)
        engine.tracker.adopt(update, int(row.get("createdTime") or 0) or now)
        engine.journal.order_event(
            link, "adopt", update.side, update.price, update.qty, update.status
        )
        engine.emit({"event": "reconcile", "adopted": link})
    if rows:
        engine.adopted_hold_ms = now + engine.config.stale_book_ms


def _book_and_read_position(engine: Engine) -> None:
    """Book our executions the journal lacks, then read the position, until a sweep
    right after the read books nothing new. Orders may fill meanwhile (adopted ones
    rest through start-up), and a fill booked on the wrong side of the read would be
    counted twice or never (the position offset is fixed from this read)."""
    sweep_executions(engine)
    for _ in range(POSITION_READS):
        if engine.stop_asked is not None:
            return
        booked = engine.ledger.fills
        engine.exchange_position = _read_position(engine)
        sweep_executions(engine)
        if engine.ledger.fills == booked:
            return


def _leftover_cancelled(engine: Engine, row: dict[str, Any]) -> None:
    engine.journal.order_event(
        row.get("orderLinkId") or "",
        "leftover_cancel",
        row.get("side"),
        row.get("price"),
        row.get("qty"),
    )
    engine.emit({"event": "reconcile", "cancelled": row.get("orderLinkId")})


def _switch_to_hedge_mode(engine: Engine) -> None:
    """Quotes on positionIdx 1/2 are refused in one-way mode (every place would be
    rejected), so the symbol is switched first; one that cannot switch (a position or
    other orders on it) is refused before anything is quoted."""
    symbol = engine.config.symbol
    try:
        engine.rest.switch_to_hedge_mode()
    except Exception as exc:  # pybit raises InvalidRequestError with the retCode
        if getattr(exc, "status_code", None) == 110025:
            return  # already in hedge mode
        message = getattr(exc, "message", None) or str(exc)
        raise UsageError(
            f"mm config: hedge_mode: cannot switch {symbol} to hedge mode: {message}"
        ) from None
    engine.emit({"event": "warning", "message": f"switched {symbol} to hedge mode"})


def _arm_dcp(engine: Engine) -> None:
    """Bybit's disconnect-cancel-all: if our private connection dies and stays dead
    for the window, the exchange cancels our orders itself. Not every account may."""
    try:
        engine.rest.set_dcp(DCP_WINDOW_S)
    except Exception as exc:  # unsupported on this account: the other guards remain
        engine.emit({"event": "warning", "message": f"DCP not enabled: {exc}"})
    else:
        engine.dcp_armed = True


def _read_position(engine: Engine) -> Decimal | None:
    if engine.config.category == "spot":
        return None
    engine.exchange_legs = {}  # the position stream then updates one leg at a time
    for row in engine.rest.positions():
        size = Decimal(row.get("size") or "0")
        engine.exchange_legs[int(row.get("positionIdx") or 0)] = (
            -size if row.get("side") == "Sell" else size
        )
    return sum(engine.exchange_legs.values(), Decimal(0))


# -- after a gap ---------------------------------------------------------------------------


def resync_orders(engine: Engine) -> None:
    """After a private-stream gap or an unanswered request: read the open orders and our
    executions over REST and make the local state match."""
    try:
        rows = engine.rest.open_orders()
        if engine.stop_asked is not None:
            return  # stopping: the exit settles every order within its bound
        sweep_executions(engine)
    except Exception as exc:  # REST unreachable: try again on the next timer
        engine.resync_due = True
        engine.emit({"event": "warning", "message": f"order resync failed: {exc}"})
        return
    live = {r["orderLinkId"]: r for r in rows if engine.owns(r.get("orderLinkId") or "")}
    engine.tracker.resync(live, engine.clock.now_ms() - UNCONFIRMED_MS)
    for row in live.values():
        engine.on_order(row)


def sweep_executions(engine: Engine) -> None:
    """Book every execution of ours and funding settlement of the symbol since the sweep
    mark that the journal lacks."""
    since = max(engine.sweep_from_ms, engine.clock.now_ms() - SWEEP_WINDOW_MS)
    for rows in engine.rest.executions(since):
        if engine.stop_asked is not None:
            return  # the exit sweeps again, within its bound
        for row in reversed(rows):  # oldest first, as the ledger expects
            if booked(engine.owns, row) and not engine.journal.has_fill(row["execId"]):
                engine.on_execution(row)


def config_dict(config: MMConfig) -> dict[str, Any]:
    """The config as plain data, for the journal's run row."""
    return {f.name: getattr(config, f.name) for f in fields(config)}
