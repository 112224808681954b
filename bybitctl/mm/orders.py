"""Our orders as the exchange last told us, and what we asked of it since: the one order
tracker of live runs, paper runs and the backtest.

The exchange's word is the authority; in between, the tracker holds the worst case, because
the strategy counts every order that might still fill against the limits:

- an action just sent makes its order in flight: a place `pending_new`, an amend
  `pending_amend` (at the larger of its old and new qty, since either may be what rests), a
  cancel `pending_cancel` (it may lose the race against a fill);
- an order update (`OrderUpdate`: the order stream, a REST listing, or the backtest's
  simulated exchange) of a live order makes it `open` at the exchange's price and qty, except
  while a cancel is in flight, or an amend whose terms the update does not show yet (an
  update from before the amend landed);
- a refusal undoes the optimistic state: a refused place goes, a refused amend or cancel
  leaves the order open as it was; a refusal saying the order no longer exists retires it
  at its whole qty (what filled is not known yet);
- a terminal update retires the order: it keeps counting for the qty whose executions have
  not arrived yet (`gone`), then goes;
- executions (`on_fill`) are the only thing that moves `filled`, and with it, in hedge mode,
  the legs (`legs`), so an order's filled qty and the position move together.

Nothing here reads a clock: the time is passed in. Journal, events and statistics are the
caller's; the tracker holds state only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, NamedTuple

from bybitctl.mm.actions import (
    BUY,
    OPEN,
    PENDING_AMEND,
    PENDING_CANCEL,
    PENDING_NEW,
    SELL,
    Action,
    Amend,
    Inventory,
    OpenOrder,
    Place,
    legs_after_fill,
)

LIVE_STATUSES = frozenset({"New", "PartiallyFilled", "Untriggered"})
"""Order statuses of an order that may still fill."""
GONE_CODES = frozenset({110001, 110008, 110010, 170213})
"""Cancel/amend answers meaning the order no longer exists (filled or cancelled already)."""
TIMEOUT = -1
"""The code of an action the exchange never answered: only a REST listing can tell."""

_ZERO = Decimal(0)


def run_token(now_ms: int) -> str:
    """Six base-36 characters from the time: distinct per run, short enough for orderLinkId.

    >>> run_token(1_700_000_000_000)
    'yw3v28'
    """
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    n = now_ms
    for _ in range(6):
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out


def owner(link_prefix: str) -> Callable[[str], bool]:
    """Whether an orderLinkId was made by this bot (any run): prefix, run token, -seq."""
    pattern = re.compile(rf"{re.escape(link_prefix)}[0-9a-z]{{6}}-\d+")
    return lambda link_id: pattern.fullmatch(link_id) is not None


class OrderUpdate(NamedTuple):
    """The exchange's word on one order: its status and terms as they stand (`cum` is the
    cumulative filled qty, Bybit's `cumExecQty`)."""

    link_id: str
    side: str
    status: str
    price: Decimal
    qty: Decimal
    cum: Decimal = _ZERO
    position_idx: int = 0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> OrderUpdate:
        """From a Bybit order row (order stream or REST listing)."""
        return cls(
            row.get("orderLinkId") or "",
            row.get("side") or BUY,
            row.get("orderStatus") or "",
            Decimal(row.get("price") or "0"),
            Decimal(row.get("qty") or "0"),
            Decimal(row.get("cumExecQty") or "0"),
            int(row.get("positionIdx") or 0),
        )

    @property
    def live(self) -> bool:
        """Whether the order may still fill."""
        return self.status in LIVE_STATUSES


@dataclass(slots=True)
class OrderMeta:
    """What the tracker knows of an order beyond the strategy's `OpenOrder`."""

    level: int = 0
    prev: tuple[Decimal, Decimal] | None = None
    """Price and qty before a pending amend (restored when it is refused)."""
    target: tuple[Decimal, Decimal] | None = None
    """Price and qty a pending amend asks for (an update showing them confirms it)."""
    gone: bool = False
    """Terminal at the exchange; executions still to arrive."""
    exchange_cum: Decimal = _ZERO
    """The filled qty the exchange last reported."""
    adopted_cum: Decimal = _ZERO
    """The filled qty when adopted from an earlier run: already in the position."""
    sent_ms: int = 0
    """When our last action on it was sent (0: none awaits the exchange's word)."""


class OrderTracker:
    """Our open, in-flight and gone-but-filling orders, and the hedge legs our fills moved.

    `orders` is what the strategy sees; `run_id` makes a live order of ours that we do not
    hold (its place timed out, then it showed up) one of ours again. `on_retire` hears every
    order that leaves the book (the live engine's queue-position estimate forgets it).
    """

    def __init__(
        self,
        run_id: str,
        *,
        hedge_mode: bool = False,
        on_retire: Callable[[str], None] | None = None,
    ) -> None:
        self.run_id = run_id
        self.hedge_mode = hedge_mode
        self.orders: dict[str, OpenOrder] = {}
        self.meta: dict[str, OrderMeta] = {}
        self.legs = (_ZERO, _ZERO)
        """Hedge mode: (long, short), both >= 0, as set at start and moved by our fills."""
        self.last_fill_ms: dict[str, int | None] = {BUY: None, SELL: None}
        self._mine = run_id + "-"
        self._on_retire = on_retire

    # -- what we sent, and the answers -----------------------------------------------------

    def sent(self, actions: Iterable[Action], now_ms: int) -> None:
        """Actions just handed to the exchange: their orders are in flight."""
        orders, metas = self.orders, self.meta
        for a in actions:
            link = a.link_id
            if isinstance(a, Place):
                orders[link] = OpenOrder(
                    link, a.side, a.price, a.qty, _ZERO, now_ms, PENDING_NEW, a.position_idx
                )
                metas[link] = OrderMeta(level=a.level, sent_ms=now_ms)
                continue
            old = orders[link]
            meta = metas.setdefault(link, OrderMeta())
            meta.sent_ms = now_ms
            if isinstance(a, Amend):
                meta.prev = (old.price, old.qty)
                meta.target = (a.price, a.qty)
                orders[link] = replace(
                    old, price=a.price, qty=max(old.qty, a.qty), status=PENDING_AMEND
                )
            else:
                orders[link] = replace(old, status=PENDING_CANCEL)

    def on_result(self, action: Action, code: int) -> None:
        """The exchange's answer to one action (0: accepted; the order update that follows
        is its word on the order). A refusal undoes the optimistic state; an unanswered
        action (`TIMEOUT`) leaves it for a REST listing to settle."""
        link = action.link_id
        order = self.orders.get(link)
        if code == 0 or code == TIMEOUT or order is None:
            return
        meta = self.meta.setdefault(link, OrderMeta())
        if isinstance(action, Place):
            if order.status == PENDING_NEW:
                self._drop(link)
        elif code in GONE_CODES:
            if not meta.gone:
                # gone, but its last executions may still be on their way (answers and the
                # private stream are separate channels): it counts whole until its terminal
                # update, or a REST listing, says what filled
                self.retire(link, order.qty)
        elif isinstance(action, Amend):
            if order.status == PENDING_AMEND:
                price, qty = meta.prev or (order.price, order.qty)
                self.orders[link] = replace(order, price=price, qty=qty, status=OPEN)
                meta.prev = meta.target = None
        elif order.status == PENDING_CANCEL and not meta.gone:
            self.orders[link] = replace(order, status=OPEN)

    def on_update(self, update: OrderUpdate, now_ms: int) -> bool:
        """The exchange's word on one of our orders. Returns whether what the strategy sees
        changed (an update that must wait for our action in flight changes nothing)."""
        link = update.link_id
        order = self.orders.get(link)
        if order is None:
            if not (update.live and link.startswith(self._mine)):
                return False
            # placed by a request whose answer timed out: ours again
            self.orders[link] = OpenOrder(
                link,
                update.side,
                update.price,
                update.qty,
                _ZERO,
                now_ms,
                OPEN,
                update.position_idx,
            )
            self.meta[link] = OrderMeta(exchange_cum=update.cum)
            return True
        meta = self.meta.setdefault(link, OrderMeta())
        meta.exchange_cum = update.cum
        if not update.live:
            self.retire(link, update.cum)
            return True
        if order.status == PENDING_CANCEL:
            return False
        if order.status == PENDING_AMEND and meta.target not in (None, (update.price, update.qty)):
            return False  # from before our amend landed
        meta.prev = meta.target = None
        self.orders[link] = replace(order, price=update.price, qty=update.qty, status=OPEN)
        return True

    def retire(self, link: str, cum: Decimal) -> None:
        """The order is terminal at the exchange with `cum` filled: it keeps counting for the
        qty whose executions have not reached us yet, then goes."""
        if self._on_retire is not None:
            self._on_retire(link)
        order = self.orders.get(link)
        if order is None:
            return
        if order.filled >= cum:
            self._drop(link)
            return
        self.orders[link] = replace(order, qty=cum, status=PENDING_CANCEL)
        self.meta.setdefault(link, OrderMeta()).gone = True

    # -- fills -----------------------------------------------------------------------------

    def on_fill(
        self,
        link: str,
        side: str,
        qty: Decimal,
        now_ms: int,
        *,
        position_idx: int = 0,
        cum_after: Decimal | None = None,
    ) -> None:
        """One execution of ours: the order's filled qty, and in hedge mode the leg it traded
        (its order's positionIdx; `position_idx` for an order we do not hold). `cum_after`,
        the order's filled qty after it, tells an execution an adopted order had before it
        was adopted (counted in `filled` already) from a new one."""
        order = self.orders.get(link)
        meta = self.meta.get(link)
        counted = (
            meta is not None
            and bool(meta.adopted_cum)
            and cum_after is not None
            and cum_after <= meta.adopted_cum
        )
        if order is not None and not counted:
            filled = order.filled + qty
            if meta is not None and meta.gone and filled >= order.qty:
                self._drop(link)
            else:
                self.orders[link] = replace(order, filled=filled)
        if self.hedge_mode:
            idx = order.position_idx if order is not None else position_idx
            self.legs = legs_after_fill(*self.legs, side, qty, idx)
        self.last_fill_ms[side] = now_ms

    def inventory(self, position: Decimal, avg_price: Decimal) -> Inventory:
        """The strategy's inventory at `position` (net, signed) with our legs and fill times."""
        long, short = self.legs
        return Inventory(
            position, avg_price, self.last_fill_ms[BUY], self.last_fill_ms[SELL], long, short
        )

    # -- start, resync and exit ------------------------------------------------------------

    def adopt(self, update: OrderUpdate, created_ms: int) -> None:
        """Make an earlier run's open order ours, as the exchange lists it: its fills so far
        are in the position already."""
        self.orders[update.link_id] = OpenOrder(
            update.link_id,
            update.side,
            update.price,
            update.qty,
            update.cum,
            created_ms,
            OPEN,
            update.position_idx,
        )
        self.meta[update.link_id] = OrderMeta(exchange_cum=update.cum, adopted_cum=update.cum)

    def overdue(self, horizon_ms: int) -> bool:
        """Whether an order still waits for the exchange's word on an action sent before
        `horizon_ms` (a lost order update: only REST can settle it)."""
        meta = self.meta
        return any(
            o.status != OPEN and 0 < meta[link].sent_ms < horizon_ms
            for link, o in self.orders.items()
            if link in meta
        )

    def resync(self, listed: Container[str], horizon_ms: int) -> None:
        """Settle against a REST listing of our open orders (`listed`: their orderLinkIds),
        before its rows are applied as updates. An order not listed is gone, unless its
        place is in flight and recent; an action answered before `horizon_ms` that the
        stream never confirmed is settled by the listing."""
        for link, order in list(self.orders.items()):
            meta = self.meta.setdefault(link, OrderMeta())
            overdue = 0 < meta.sent_ms < horizon_ms
            if overdue:
                meta.sent_ms = 0
            if link in listed:
                if overdue and order.status in (PENDING_AMEND, PENDING_CANCEL):
                    meta.prev = meta.target = None
                    self.orders[link] = replace(order, status=OPEN)
            elif order.status != PENDING_NEW or overdue:
                self.retire(link, max(meta.exchange_cum, order.filled))

    def forget(self, link: str) -> None:
        """An order known never to have existed (its place was dropped unsent)."""
        self._drop(link)
        if self._on_retire is not None:
            self._on_retire(link)

    # -- reading ---------------------------------------------------------------------------

    def open_orders(self) -> tuple[OpenOrder, ...]:
        """Every order that may still fill, as the strategy takes them."""
        return tuple(self.orders.values())

    def two_sided(self) -> bool:
        """Whether an order rests (or is being amended) on each side."""
        sides = {o.side for o in self.orders.values() if o.status in (OPEN, PENDING_AMEND)}
        return len(sides) == 2

    def level(self, link: str) -> int:
        """The level (0 nearest) the order was placed for."""
        meta = self.meta.get(link)
        return meta.level if meta is not None else 0

    def _drop(self, link: str) -> None:
        self.orders.pop(link, None)
        self.meta.pop(link, None)
