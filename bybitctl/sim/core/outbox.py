"""What one core call changed for private subscribers, gathered and pushed once at its end."""

from __future__ import annotations

from typing import Any

from bybitctl.sim.core.orders import Order


class Outbox:
    """Private changes gathered during one core call, turned into pushes once at its end."""

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Order]] = {}
        self.execs: dict[str, list[dict[str, Any]]] = {}
        self.positions: dict[str, set[tuple[str, int]]] = {}
        self.wallets: dict[str, set[str]] = {}
        """uid -> coins whose rows the wallet push carries (empty: every coin)."""
        self.closed: dict[str, dict[str, dict[str, Any]]] = {}
        self.touched: set[str] = set()
        """Accounts whose settings changed: persisted, nothing pushed."""

    def order(self, o: Order) -> None:
        self.orders.setdefault(o.uid, {})[o.order_id] = o

    def wallet(self, uid: str, coins: tuple[str, ...] = ()) -> None:
        cur = self.wallets.get(uid)
        if cur is None:
            self.wallets[uid] = set(coins)
        elif cur:
            if coins:
                cur.update(coins)
            else:
                cur.clear()

    def position(self, uid: str, symbol: str, idx: int) -> None:
        self.positions.setdefault(uid, set()).add((symbol, idx))

    def empty(self) -> bool:
        return not (self.orders or self.execs or self.positions or self.wallets or self.touched)
