"""The trading desk's shared state: engines, accounts, marks, ids and the open bookkeeping.

Trading is one object built in layers, each its own module and each using only the ones
below it: settlement (fills into accounts), matching (price-time), triggers (conditional
orders and TP/SL) and order entry (validation and the user's requests). This base holds what
they all read and the few helpers they share.
"""

from __future__ import annotations

import hashlib
import uuid
from decimal import Decimal
from typing import Any

from bybitctl.sim.core.accounts import Account
from bybitctl.sim.core.engine import Engine
from bybitctl.sim.core.instruments import Catalogue, Instrument
from bybitctl.sim.core.orders import Order
from bybitctl.sim.core.outbox import Outbox

PRICE_BAND = Decimal("0.05")
"""Buy orders above fair*(1+band) and sells below fair*(1-band) are out of range (110003)."""


class Ids:
    """UUID-shaped ids hashed from (seed, counter): a seed reproduces a session, and a
    persisted counter keeps ids unique across restarts on the same state file."""

    def __init__(self, seed: int, counter: int = 0) -> None:
        self.seed = seed
        self.counter = counter

    def new(self) -> str:
        self.counter += 1
        digest = hashlib.blake2b(f"{self.seed}:{self.counter}".encode(), digest_size=16).digest()
        return str(uuid.UUID(bytes=digest, version=4))


class Desk:
    """What settlement, matching, triggers and order entry share."""

    def __init__(
        self,
        catalogue: Catalogue,
        engines: dict[tuple[str, str], Engine],
        accounts: dict[str, Account],
        marks: dict[str, Decimal],
        ids: Ids,
    ) -> None:
        self.catalogue = catalogue
        self.engines = engines
        self.accounts = accounts
        self.marks = marks
        self.ids = ids
        self.out = Outbox()
        self.order_seq = 0
        self.exec_seq = 0
        self.tpsl: set[tuple[str, str, int]] = set()
        """(uid, symbol, positionIdx) of positions with a take-profit or stop-loss set."""
        self.moved: set[tuple[str, Instrument, int]] = set()
        """Positions changed by the sweep being settled."""
        self.closing: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        """orderId -> (running sums, closed-PnL row) while a closing order is still filling."""
        self.conditional: dict[str, Order] = {}
        """orderId -> untriggered conditional orders, checked against their trigger each step."""
        self.expired: set[str] = set()
        """Option symbols delivered: no longer traded."""

    def new_order(
        self,
        acct: Account,
        inst: Instrument,
        now: int,
        *,
        side: str,
        order_type: str,
        tif: str,
        price: int | None,
        qty: int,
        position_idx: int,
        link_id: str = "",
        **fields: Any,
    ) -> Order:
        """A new order of `acct` (the user's, a liquidation's or a triggered close's): the
        next id and sequence number, all of it left to fill, kept among the account's orders
        and by its link id."""
        self.order_seq += 1
        order = Order(
            inst=inst,
            order_id=self.ids.new(),
            link_id=link_id,
            uid=acct.uid,
            side=side,
            order_type=order_type,
            tif=tif,
            price=price,
            qty=qty,
            position_idx=position_idx,
            created=now,
            seq=self.order_seq,
            leaves=qty,
            updated=now,
            **fields,
        )
        acct.orders[order.order_id] = order
        if link_id:
            acct.link_ids[link_id] = order.order_id
        return order

    def _check_mmp(self, acct: Account, inst: Instrument, now: int) -> None:
        """Refuse a new MMP order while the account's MMP for the coin is frozen (the option
        desk's; a desk without options has nothing to refuse)."""

    def _on_option_fill(self, order: Order, lots: int, maker: bool, now: int) -> None:
        """An option order was filled (greeks change; MMP counts maker fills)."""

    def index(self, base: str) -> Decimal:
        """The coin's index price: its fair price, as every mark of the coin is (read off its
        inverse perpetual, which every listed coin has)."""
        return self.marks[f"{base}USD"]

    def _fair_ticks(self, inst: Instrument) -> int:
        return max(1, round(self.engines[(inst.category, inst.symbol)].market.fair_ticks()))

    def _market_price(self, inst: Instrument, side: str, fair: int) -> int:
        """The limit a market order sweeps to: the price band's edge beyond `fair` on its side."""
        band = int(fair * PRICE_BAND)
        return fair + band if side == "Buy" else max(1, fair - band)

    def _reducible(self, acct: Account, inst: Instrument, idx: int, side: str, now: int) -> int:
        """Lots an order of `side` on slot `idx` can close."""
        pos = acct.position(inst, idx, now)
        if side == "Sell" and pos.size > 0:
            return pos.size
        if side == "Buy" and pos.size < 0:
            return -pos.size
        return 0
