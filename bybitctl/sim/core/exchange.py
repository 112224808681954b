"""The exchange's trading core: books, accounts, order entry and the private pushes.

`Core` holds every book's engine, every account and the trading desk, and turns what one
call changed into private pushes (one message per topic and category). It is handed its
engines and its clock; it knows nothing of where prices come from (`bybitctl.sim.market`),
how its state is kept (`bybitctl.sim.store`) or how requests arrive (`bybitctl.sim.api`).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bybitctl.sim.core.accounts import INITIAL_BALANCES, Account
from bybitctl.sim.core.desk import Ids
from bybitctl.sim.core.engine import Engine
from bybitctl.sim.core.funding import (
    DEFAULT_INTERVAL_MS,
    MAX_CATCH_UP,
    funding_rate,
    next_settlement,
)
from bybitctl.sim.core.instruments import Catalogue
from bybitctl.sim.core.margin import Risk, position_row
from bybitctl.sim.core.outbox import Outbox
from bybitctl.sim.core.ports import Listener
from bybitctl.sim.core.spread_desk import SpreadDesk, spread_row


class _NullListener:
    def on_public(self, category: str, topic: str, message: dict[str, Any]) -> None:
        return None

    def on_private(self, account: str, topic: str, message: dict[str, Any]) -> None:
        return None


class Core:
    """Engines, accounts and the trading desk: same seed, same clock readings, same answers."""

    def __init__(
        self,
        catalogue: Catalogue,
        engines: dict[tuple[str, str], Engine],
        seed: int,
        clock: Callable[[], int],
        funding_interval_ms: int = DEFAULT_INTERVAL_MS,
    ) -> None:
        self.clock = clock
        self.seed = seed
        self.funding_interval = funding_interval_ms
        self.next_funding = next_settlement(clock(), funding_interval_ms)
        """When the next funding settlement is due (ms, on the interval's epoch grid)."""
        self.catalogue = catalogue
        self.engines = engines
        self.listener: Listener = _NullListener()
        self.marks: dict[str, Decimal] = {}
        self.usd: dict[str, Decimal] = {"USDT": Decimal(1), "USDC": Decimal(1)}
        self.accounts: dict[str, Account] = {}
        self.private_seq = 0
        self.trading = SpreadDesk(catalogue, engines, self.accounts, self.marks, Ids(seed))
        self.trading.usd = self.usd

    def set_listener(self, listener: Listener) -> None:
        self.listener = listener

    def ensure_account(self, account: str) -> None:
        if account not in self.accounts:
            self.new_account(account, self.clock())
            self._flush(self.clock())

    def new_account(self, uid: str, now: int) -> Account:
        """A UNIFIED account funded by logged deposits, so the ledger sums from zero."""
        acct = self.accounts[uid] = Account(uid, now, wallet={})
        for coin, amount in INITIAL_BALANCES.items():
            acct.book_change(coin, amount, now, {"type": "TRANSFER_IN", "category": ""})
        self.trading.out.wallet(uid)
        return acct

    def settle(self, now: int) -> None:
        """What the clock alone brings about, pushed at once: funding settlements reached
        by `now`, option marks and deliveries, then liquidations."""
        self.check_funding(now)
        self.trading.refresh_option_marks(now)
        self.trading.check_expiries(now)
        self.trading.check_liquidations(now)
        self._flush(now)

    def funding_rate(self, symbol: str, settle_ms: int) -> Decimal:
        """The synthetic funding rate of `symbol` settled at `settle_ms`."""
        return funding_rate(self.seed, symbol, settle_ms)

    def check_funding(self, now: int) -> None:
        """Settle every funding time reached since the last one (the clock may have jumped:
        at most `MAX_CATCH_UP` of them), each at the marks of now."""
        if now < self.next_funding:
            return
        interval = self.funding_interval
        due = range(self.next_funding, now + 1, interval)
        self.next_funding = due[-1] + interval
        for t in due[-MAX_CATCH_UP:]:
            for acct in self.accounts.values():
                for pos in list(acct.positions.values()):
                    inst = pos.inst
                    if pos.size and inst.derivative:
                        rate = self.funding_rate(inst.symbol, t)
                        self.trading.settle_funding(acct, pos, rate, self.marks[inst.symbol], t)

    def dcp_connected(self, account: str, product: str) -> None:
        acct = self.accounts.get(account)
        if acct is not None:
            acct.dcp_gone.pop(product, None)

    def dcp_disconnected(self, account: str, product: str, now_ms: int) -> None:
        acct = self.accounts.get(account)
        if acct is not None:
            acct.dcp_gone[product] = now_ms

    def check_dcp(self, now: int) -> None:
        """DCP, as on Bybit: once every private connection subscribed to a product's DCP
        topic has been gone longer than the window set for it, cancel that product's orders
        (once per disconnection)."""
        for acct in self.accounts.values():
            for product, since in list(acct.dcp_gone.items()):
                window = acct.dcp.get(product)
                if window is not None and now - since > window * 1000:
                    self.trading.cancel_products(acct, product, now)
                    del acct.dcp_gone[product]

    def _flush(self, now: int) -> Outbox | None:
        """Turn the outbox into private pushes; the outbox it pushed, None when empty."""
        out = self.trading.out
        if out.empty():
            return None
        self.trading.out = Outbox()
        on_private = self.listener.on_private
        for uid, orders in out.orders.items():
            spreads = [spread_row(o) for o in orders.values() if o.inst.category == "spread"]
            if spreads:
                on_private(uid, "spread.order", self._private("spread.order", spreads, now))
            plain = (o for o in orders.values() if o.inst.category != "spread")
            for items in _by_category((o.inst.category, o.to_dict()) for o in plain):
                on_private(uid, "order", self._private("order", items, now))
        spread_execs, self.trading.spread_execs = self.trading.spread_execs, {}
        for uid, items in spread_execs.items():
            on_private(uid, "spread.execution", self._private("spread.execution", items, now))
        for uid, execs in out.execs.items():
            for items in _by_category((e["category"], e) for e in execs):
                on_private(uid, "execution", self._private("execution", items, now))
                fast = [{k: e[k] for k in _FAST} for e in items]
                on_private(uid, "execution.fast", self._private("execution.fast", fast, now))
        for uid, keys in out.positions.items():
            acct = self.accounts[uid]
            held = any(p.size for p in acct.positions.values())
            risk = Risk(acct, self.marks, self.usd) if held else None
            items = [
                self.trading.option_row(acct, pos, now)
                if pos.inst.category == "option"
                else position_row(acct, pos, self.marks, self.usd, risk)
                for k in sorted(keys)
                if k[0] in self.marks  # an option never held has no mark
                for pos in (acct.positions.get(k),)
                if pos is not None
            ]
            if items:
                on_private(uid, "position", self._private("position", items, now))
        greeks, self.trading.greeks_due = self.trading.greeks_due, set()
        for uid in sorted({u for u, _ in greeks}):
            acct = self.accounts[uid]
            for base in sorted(b for u, b in greeks if u == uid):
                rows = self.trading.coin_greeks(acct, base, now)
                on_private(uid, "greeks", self._private("greeks", rows, now))
        for uid, coins in out.wallets.items():
            acct = self.accounts[uid]
            w = acct.wallet_dict(self.marks, self.usd, sorted(coins) or None)
            on_private(uid, "wallet", self._private("wallet", [w], now))
        return out

    def _private(self, topic: str, data: list[dict[str, Any]], now: int) -> dict[str, Any]:
        self.private_seq += 1
        return {
            "id": f"{self.seed}-{self.private_seq}",
            "topic": topic,
            "creationTime": now,
            "data": data,
        }


_FAST = ("category", "symbol", "execId", "execPrice", "execQty", "orderId", "isMaker",
         "orderLinkId", "side", "execTime", "seq")  # fmt: skip
"""The fields of an `execution.fast` item."""


def _by_category(items: Any) -> list[list[dict[str, Any]]]:
    """Group push items so each message holds one category (the server can route
    `order.linear` subscribers without splitting messages)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for cat, item in items:
        groups.setdefault(cat, []).append(item)
    return list(groups.values())
