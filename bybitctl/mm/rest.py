"""The market maker's REST side, on one symbol: the engine's port for everything it asks the
exchange outside the order path (instrument, fees, open orders, executions, positions,
cancels of its own orders, hedge mode, DCP, leverage, the exit's market orders).

`Rest` wraps a pybit `HTTP` client and hands back plain rows; pybit's errors propagate (its
`InvalidRequestError` carries the retCode as `status_code`). The engine takes any object with
these methods, so its tests drive it with a scripted exchange. `cancel_own` is the start-up
safety net: cancel every order of ours and confirm over REST that none remains.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from bybitctl.request import follow_cursor

BATCH = 10
"""Actions per batch request (Bybit allows 10 on spot and 20 on linear)."""
SWEEP_WINDOW_MS = 7 * 86_400_000 - 60_000
"""Bybit answers execution queries for at most 7 days back."""


def paged(call: Callable[..., dict[str, Any]], **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
    """Each page's rows of a cursor-paginated pybit call, until the rows run out or the cursor
    runs out or repeats (the CLI's cursor loop, so both stop on the same answers)."""
    envelopes = follow_cursor(
        lambda cursor: call(**kwargs, **({"cursor": cursor} if cursor else {})), "nextPageCursor"
    )
    for envelope in envelopes:
        rows = envelope["result"].get("list") or []
        yield rows
        if not rows:
            return


class Rest:
    """REST calls for one symbol over a pybit `HTTP` client (see the module docstring)."""

    def __init__(self, http: Any, category: str, symbol: str) -> None:
        self.http = http
        self.category = category
        self.symbol = symbol

    def instrument(self) -> dict[str, Any] | None:
        """The symbol's instruments-info row; None when the exchange lists none."""
        result = self.http.get_instruments_info(category=self.category, symbol=self.symbol)
        rows = result["result"].get("list") or []
        return rows[0] if rows else None

    def last_price(self) -> Decimal | None:
        """The ticker's last price, if any."""
        rows = self.http.get_tickers(category=self.category, symbol=self.symbol)["result"]["list"]
        return Decimal(rows[0]["lastPrice"]) if rows else None

    def maker_fee_rate(self) -> Decimal | None:
        """Our maker fee rate on the symbol (a fraction; negative = rebate), if listed."""
        fees = self.http.get_fee_rates(category=self.category, symbol=self.symbol)["result"]
        rate = (fees.get("list") or [{}])[0].get("makerFeeRate")
        return None if rate is None else Decimal(rate)

    def open_orders(self) -> list[dict[str, Any]]:
        """Every open order on the symbol (all pages)."""
        pages = paged(
            self.http.get_open_orders, category=self.category, symbol=self.symbol, limit=50
        )
        return [row for rows in pages for row in rows]

    def executions(self, since_ms: int) -> Iterator[list[dict[str, Any]]]:
        """Our executions on the symbol since `since_ms`, page by page, newest first."""
        return paged(
            self.http.get_executions,
            category=self.category,
            symbol=self.symbol,
            startTime=since_ms,
            limit=100,
        )

    def positions(self) -> list[dict[str, Any]]:
        """The symbol's position rows (one per positionIdx)."""
        rows = self.http.get_positions(category=self.category, symbol=self.symbol)["result"]
        return rows.get("list") or []

    def cancel_batch(self, links: list[str]) -> list[str]:
        """Cancel up to `BATCH` orders by orderLinkId in one request; returns those the
        exchange accepted. Raises when the request as a whole failed."""
        request = [{"symbol": self.symbol, "orderLinkId": link} for link in links]
        answer = self.http.cancel_batch_order(category=self.category, request=request)
        codes = (answer.get("retExtInfo") or {}).get("list") or []
        return [link for link, c in zip(links, codes, strict=False) if not c.get("code")]

    def cancel_one(self, link: str) -> None:
        """Cancel one order by orderLinkId (raises when refused or unreachable)."""
        self.http.cancel_order(category=self.category, symbol=self.symbol, orderLinkId=link)

    def switch_to_hedge_mode(self) -> None:
        """Switch the symbol to hedge mode (positionIdx 1 long, 2 short)."""
        self.http.switch_position_mode(category="linear", symbol=self.symbol, mode=3)

    def set_dcp(self, window_s: int) -> None:
        """Arm Bybit's disconnect-cancel-all for this category's product."""
        product = {"spot": "SPOT", "option": "OPTIONS"}.get(self.category, "DERIVATIVES")
        self.http.set_dcp(timeWindow=window_s, product=product)

    def set_mmp(
        self, base_coin: str, window_ms: int, frozen_ms: int, qty: Decimal, delta: Decimal
    ) -> None:
        """Arm the exchange's market maker protection for `base_coin`'s options."""
        self.http.set_mmp(
            baseCoin=base_coin,
            window=str(window_ms),
            frozenPeriod=str(frozen_ms),
            qtyLimit=str(qty),
            deltaLimit=str(delta),
        )

    def mmp_state(self, base_coin: str) -> dict[str, Any] | None:
        """The exchange's MMP row for `base_coin` (`mmpFrozen`, `mmpFrozenUntil`), if armed."""
        rows = self.http.get_mmp_state(baseCoin=base_coin)["result"].get("result") or []
        return rows[0] if rows else None

    def set_leverage(self, leverage: Decimal) -> None:
        """Set both sides' leverage on the symbol."""
        self.http.set_leverage(
            category=self.category,
            symbol=self.symbol,
            buyLeverage=str(leverage),
            sellLeverage=str(leverage),
        )

    def place_market(self, side: str, qty: Decimal, link: str, position_idx: int) -> None:
        """A market order that only reduces the position (linear, option), on
        `position_idx`."""
        kwargs: dict[str, Any] = {
            "category": self.category,
            "symbol": self.symbol,
            "side": side,
            "orderType": "Market",
            "qty": str(qty),
            "orderLinkId": link,
        }
        if self.category != "spot":
            kwargs["reduceOnly"] = True
        if position_idx:
            kwargs["positionIdx"] = position_idx
        self.http.place_order(**kwargs)


def cancel_links(
    rest: Any, links: list[str], on_error: Callable[[Exception], None] | None = None
) -> list[str]:
    """Cancel `links` in batches, one by one where a batch fails as a whole (e.g. one order
    of it already gone); returns those whose cancel the exchange accepted. `on_error` sees
    each failure (gone, or unreachable: a later listing decides)."""
    accepted: list[str] = []
    for start in range(0, len(links), BATCH):
        chunk = links[start : start + BATCH]
        try:
            accepted.extend(rest.cancel_batch(chunk))
            continue
        except Exception as exc:  # pybit's InvalidRequestError, requests' errors
            if on_error is not None:
                on_error(exc)
        for link in chunk:
            try:
                rest.cancel_one(link)
            except Exception as exc:  # gone already, or unreachable
                if on_error is not None:
                    on_error(exc)
                continue
            accepted.append(link)
    return accepted


def cancel_own(
    rest: Any,
    owns: Callable[[str], bool],
    *,
    attempts: int = 5,
    pause: Callable[[float], None] = time.sleep,
    pause_s: float = 0.2,
    on_cancel: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Cancel every open order whose orderLinkId we own, then confirm over REST that none
    remains. Returns what still remains after `attempts` rounds (empty = confirmed clean).
    A failing request counts as "not confirmed" and is retried, never ignored.
    `on_cancel` sees each order a cancel request was sent for (for the journal)."""
    remaining: list[dict[str, Any]] = []
    for attempt in range(attempts):
        try:
            remaining = [o for o in rest.open_orders() if owns(o.get("orderLinkId") or "")]
            if not remaining:
                return []
            for o in remaining:
                if on_cancel is not None:
                    on_cancel(o)
            cancel_links(rest, [o["orderLinkId"] for o in remaining])
        except Exception:  # unreachable: try again after the pause
            pass
        if attempt + 1 < attempts:
            pause(pause_s * (attempt + 1))
    try:
        return [o for o in rest.open_orders() if owns(o.get("orderLinkId") or "")]
    except Exception:  # cannot confirm: report the last listing as still open
        return remaining or [{"orderLinkId": "?", "reason": "unconfirmed"}]
