"""Per-account API rate limits of the local exchange, with Bybit's headers and retCode 10006.

Limits follow Bybit's "API rate limit table" (https://bybit-exchange.github.io/docs/v5/rate-limit,
unified account, default tier; transcribed from that page, as `data/reference` lacks it): per
UID and endpoint.
Bybit counts a rolling one-second window; this counts fixed windows, which admits at most
twice the limit across a window boundary. Trade endpoints count spot separately
from derivatives, as Bybit does. Private endpoints the table does not list get the
conservative per-group default below. Public endpoints are only under Bybit's IP limit, which
the exchange does not model (faults can still answer 10006 storms).

Headers: `X-Bapi-Limit` (the window's allowance), `X-Bapi-Limit-Status` (what is left) and
`X-Bapi-Limit-Reset-Timestamp` (ms; the current time unless the limit was hit, then when the
window ends — the value pybit sleeps until before retrying).
"""

from __future__ import annotations

from dataclasses import dataclass

RATE_LIMITED = 10006
MESSAGE = "Too many visits. Exceeded the API Rate Limit."

SECOND = 1000
MINUTE = 60_000

# path -> (derivatives limit, spot limit) per second
_TRADE = {
    "/v5/order/create": (10, 20),
    "/v5/order/amend": (10, 20),
    "/v5/order/cancel": (10, 20),
    "/v5/order/cancel-all": (10, 20),
    "/v5/order/create-batch": (10, 20),
    "/v5/order/amend-batch": (10, 20),
    "/v5/order/cancel-batch": (10, 20),
    "/v5/order/realtime": (50, 50),
    "/v5/order/history": (50, 50),
    "/v5/execution/list": (50, 50),
    "/v5/order/spot-borrow-check": (50, 50),
    "/v5/order/disconnected-cancel-all": (5, 5),
}
_PER_SECOND = {
    "/v5/position/list": 50,
    "/v5/position/closed-pnl": 50,
    "/v5/position/set-leverage": 10,
    "/v5/position/switch-isolated": 10,
    "/v5/position/switch-mode": 10,
    "/v5/position/trading-stop": 10,
    "/v5/position/set-auto-add-margin": 10,
    "/v5/position/add-margin": 10,
    "/v5/account/wallet-balance": 50,
    "/v5/account/borrow-history": 50,
    "/v5/account/collateral-info": 50,
    "/v5/asset/coin-greeks": 50,
    "/v5/account/info": 50,
    "/v5/account/transaction-log": 30,
    "/v5/account/fee-rate": 10,
    "/v5/account/set-margin-mode": 5,
    "/v5/asset/transfer/query-account-coins-balance": 5,
    "/v5/asset/transfer/query-account-coin-balance": 5,
    "/v5/asset/transfer/query-transfer-coin-list": 5,
    "/v5/asset/transfer/universal-transfer": 5,
    "/v5/asset/transfer/query-universal-transfer-list": 5,
    "/v5/asset/coin/query-info": 5,
    "/v5/asset/withdraw/withdrawable-amount": 5,
    "/v5/asset/withdraw/create": 5,
    "/v5/asset/withdraw/cancel": 5,
}
_PER_MINUTE = {
    "/v5/asset/transfer/query-asset-info": 60,
    "/v5/asset/transfer/inter-transfer": 60,
    "/v5/asset/transfer/query-inter-transfer-list": 60,
    "/v5/asset/transfer/query-sub-member-list": 60,
    "/v5/asset/deposit/query-record": 100,
    "/v5/asset/deposit/query-sub-member-record": 300,
    "/v5/asset/deposit/query-address": 300,
    "/v5/asset/deposit/query-sub-member-address": 300,
    "/v5/asset/withdraw/query-record": 300,
    "/v5/asset/exchange/order-record": 600,
}
_GROUP_DEFAULT = (("/v5/asset/", 5), ("/v5/user/", 5))
DEFAULT_PER_SECOND = 10


def table() -> list[tuple[str, str, str]]:
    """Every listed rule as (route, limit, window) rows, for the table in docs/sim.md."""
    rows = [(path, f"{deriv} (spot {spot})", "1 s") for path, (deriv, spot) in _TRADE.items()]
    rows += [(path, str(limit), "1 s") for path, limit in _PER_SECOND.items()]
    rows += [(path, str(limit), "1 min") for path, limit in _PER_MINUTE.items()]
    rows += [(f"{prefix}* (others)", str(limit), "1 s") for prefix, limit in _GROUP_DEFAULT]
    rows.append(("any other signed route", str(DEFAULT_PER_SECOND), "1 s"))
    return rows


@dataclass(frozen=True)
class Rule:
    """How many requests a window allows, and how long the window is."""

    limit: int
    window_ms: int


def rule_for(path: str, category: object = None) -> Rule:
    """The documented rule for a private endpoint (spot trade endpoints count separately)."""
    if path in _TRADE:
        deriv, spot = _TRADE[path]
        return Rule(spot if category == "spot" else deriv, SECOND)
    if path in _PER_SECOND:
        return Rule(_PER_SECOND[path], SECOND)
    if path in _PER_MINUTE:
        return Rule(_PER_MINUTE[path], MINUTE)
    for prefix, limit in _GROUP_DEFAULT:
        if path.startswith(prefix):
            return Rule(limit, SECOND)
    return Rule(DEFAULT_PER_SECOND, SECOND)


@dataclass
class Verdict:
    """The outcome of one request: allowed or not, and the three headers to send."""

    allowed: bool
    limit: int
    remaining: int
    reset_ms: int

    def headers(self) -> dict[str, str]:
        """Bybit's rate-limit headers."""
        return {
            "X-Bapi-Limit": str(self.limit),
            "X-Bapi-Limit-Status": str(self.remaining),
            "X-Bapi-Limit-Reset-Timestamp": str(self.reset_ms),
        }


class RateLimiter:
    """Fixed-window counters per (account, path, spot-or-derivatives)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._windows: dict[tuple[str, str, bool], list[int]] = {}
        self._rules: dict[tuple[str, bool], Rule] = {}

    def check(self, account: str, path: str, category: object, now_ms: int) -> Verdict:
        """Count one request and say whether it is within the limit."""
        spot = category == "spot"
        rule = self._rules.get((path, spot))
        if rule is None:
            rule = self._rules[(path, spot)] = rule_for(path, category)
        if not self.enabled:
            return Verdict(True, rule.limit, rule.limit, now_ms)
        key = (account, path, spot)
        window = self._windows.get(key)
        if window is None or now_ms >= window[0] + rule.window_ms:
            window = self._windows[key] = [now_ms, 0]
        if window[1] >= rule.limit:
            return Verdict(False, rule.limit, 0, window[0] + rule.window_ms)
        window[1] += 1
        return Verdict(True, rule.limit, rule.limit - window[1], now_ms)
