"""The values the market maker's decision trades in: our orders and inventory as the engine
knows them (`OpenOrder`, `Inventory`), the actions it asks for (`Place`, `Amend`, `Cancel`),
the quotes it wants, the state it carries and the `Decision` it returns; and the hedge-mode
leg rules the order tracker and the fill model share.

Shared by the strategy, the order tracker, the executor, risk and the backtest's exchange, so
none of them needs the strategy itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

BUY = "Buy"
SELL = "Sell"

PENDING_NEW = "pending_new"
OPEN = "open"
PENDING_AMEND = "pending_amend"
PENDING_CANCEL = "pending_cancel"
STATUSES = (PENDING_NEW, OPEN, PENDING_AMEND, PENDING_CANCEL)


@dataclass(frozen=True, slots=True)
class Inventory:
    """Net position (signed base qty; hedge mode nets long - short), the last fill times
    that drive `fill_cooldown_ms` and, in hedge mode, the two legs' sizes (both >= 0:
    positionIdx 1 long, positionIdx 2 short), which the exposure rule counts separately."""

    position: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    last_buy_fill_ms: int | None = None
    last_sell_fill_ms: int | None = None
    long: Decimal = Decimal(0)
    short: Decimal = Decimal(0)
    position_f: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the float every decision reads, taken once per fill rather than per decision
        object.__setattr__(self, "position_f", float(self.position))


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """One of our orders as the engine knows it. `qty` is the total order qty (Bybit
    semantics) and `filled` its cumulative fill; for a pending amend `qty`/`price` are the
    worst case (the larger qty) until the exchange answers. `position_idx` is the leg it
    trades in hedge mode (0 in one-way mode). Float copies of price and remaining qty are
    taken once here, not on every decision."""

    link_id: str
    side: str
    price: Decimal
    qty: Decimal
    filled: Decimal = Decimal(0)
    created_ms: int = 0
    status: str = OPEN
    position_idx: int = 0
    price_f: float = field(init=False, repr=False, compare=False)
    remaining_f: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "price_f", float(self.price))
        object.__setattr__(self, "remaining_f", float(self.qty - self.filled))

    @property
    def remaining(self) -> Decimal:
        """Qty that may still fill."""
        return self.qty - self.filled


@dataclass(frozen=True, slots=True)
class Place:
    """Send a new limit order."""

    link_id: str
    side: str
    price: Decimal
    qty: Decimal
    post_only: bool
    position_idx: int
    level: int


@dataclass(frozen=True, slots=True)
class Amend:
    """Move a resting order in place; `qty` is the new total order qty (filled included),
    as Bybit's amend expects."""

    link_id: str
    price: Decimal
    qty: Decimal
    level: int


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel one order; `reason` says why (guard:<name>, requote, age, limit, dropped,
    surplus, leg: hedge mode, the order is on the other leg than its side now trades)."""

    link_id: str
    reason: str


Action = Place | Amend | Cancel


class Quote(NamedTuple):
    """A price/qty the strategy wants on the book (the decision summary for journal and
    dashboard); qty 0 means the level is wanted but has no room under the limits. A
    NamedTuple: one is built per level and side on every decision."""

    side: str
    level: int
    price: Decimal
    qty: Decimal


@dataclass(frozen=True, slots=True)
class StrategyState:
    """What the strategy carries between decisions: the orderLinkId prefix and counter (ids
    derive from inputs, never from randomness) and the time of the last requote."""

    prefix: str
    seq: int = 0
    last_requote_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The actions to perform, the wanted quotes, why quotes were pulled ('' when not),
    and the state to pass to the next call."""

    actions: tuple[Action, ...]
    quotes: tuple[Quote, ...]
    reason: str
    state: StrategyState


def leg_index(side: str, *, closing: bool) -> int:
    """The hedge-mode positionIdx an order of `side` trades in: a buy opens the long leg (1)
    and closes the short one (2); a sell opens the short leg (2) and closes the long one (1).

    >>> leg_index("Buy", closing=False), leg_index("Sell", closing=True)
    (1, 1)
    """
    return 2 if (side == BUY) == closing else 1


def legs_after_fill(
    long: Decimal, short: Decimal, side: str, qty: Decimal, position_idx: int
) -> tuple[Decimal, Decimal]:
    """Hedge legs (long, short) after one fill of an order on `position_idx`: a buy on 1
    grows the long leg and a sell on 1 shrinks it; a sell on 2 grows the short leg and a
    buy on 2 shrinks it."""
    if position_idx == 2:
        return long, short - qty if side == BUY else short + qty
    return (long + qty if side == BUY else long - qty), short
