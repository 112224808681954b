"""Option pricing: a simple volatility surface, Black-Scholes, and Bybit's option margins.

One surface prices everything about an option: its book's fair price (the synthetic crowd
quotes around it), its mark, the greeks the tickers, positions and the `greeks` stream show,
and the delta MMP counts. Settlement is in USDC against the index (the coin's fair price).
"""

from __future__ import annotations

import math
from decimal import Decimal

from bybitctl.sim.core.instruments import Instrument

YEAR_MS = 365 * 86_400_000
ATM_VOL = 0.5
"""Long-dated at-the-money implied volatility."""
SHORT_BUMP = 0.3
"""Extra at-the-money volatility of the shortest expiries, fading over about a month."""
SMILE, SKEW = 0.6, 0.25
"""Curvature and put skew of the smile in log-moneyness per root-year."""
DELIVERY_FEE = Decimal("0.00015")
"""Share of the index value a delivery costs (capped at 12.5 % of the option's value)."""
FEE_CAP = Decimal("0.125")
SHORT_IM, SHORT_IM_FLOOR, SHORT_MM = Decimal("0.1"), Decimal("0.07"), Decimal("0.03")
"""A short option's margins as shares of the index: IM max(10 % - OTM, 7 %) + mark, MM 3 %
+ mark (Bybit's formulas)."""


def years(expiry_ms: int, now_ms: int) -> float:
    return max(expiry_ms - now_ms, 0) / YEAR_MS


def implied_vol(spot: float, strike: float, t: float) -> float:
    """The surface: at-the-money volatility falling with maturity, a smile around it and
    puts (low strikes) dearer than calls.

    >>> round(implied_vol(100, 100, 1.0), 4), implied_vol(100, 80, 0.1) > implied_vol(100, 120, 0.1)
    (0.5, True)
    """
    t = max(t, 1 / 365 / 24)
    atm = ATM_VOL + SHORT_BUMP * math.exp(-t * 12)
    m = max(-1.0, min(1.0, math.log(strike / spot) / math.sqrt(t)))
    return atm * (1 + SMILE * m * m - SKEW * m)


def black_scholes(s: float, k: float, t: float, vol: float, call: bool) -> dict[str, float]:
    """Price and greeks per unit of underlying (vega per vol point, theta per day). At or
    after expiry: the intrinsic value, delta 0 or ±1."""
    if t <= 0:
        itm = s > k if call else s < k
        return {
            "price": max(s - k, 0.0) if call else max(k - s, 0.0),
            "delta": (1.0 if call else -1.0) if itm else 0.0,
            "gamma": 0.0,
            "vega": 0.0,
            "theta": 0.0,
        }
    sq = vol * math.sqrt(t)
    d1 = (math.log(s / k) + 0.5 * vol * vol * t) / sq
    d2 = d1 - sq
    n1, n2 = _cdf(d1), _cdf(d2)
    pdf = math.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi)
    price = s * n1 - k * n2 if call else k * (1 - n2) - s * (1 - n1)
    return {
        "price": price,
        "delta": n1 if call else n1 - 1,
        "gamma": pdf / (s * sq),
        "vega": s * pdf * math.sqrt(t) / 100,
        "theta": -s * pdf * vol / (2 * math.sqrt(t)) / 365,
    }


def _cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def option_greeks(inst: Instrument, spot: float, now_ms: int) -> dict[str, float]:
    """Price, greeks and implied volatility of `inst` with the underlying at `spot`."""
    t = years(inst.expiry, now_ms)
    vol = implied_vol(spot, float(inst.strike), t)
    g = black_scholes(spot, float(inst.strike), t, vol, inst.call)
    g["iv"] = vol
    return g


def option_mark(inst: Instrument, spot: Decimal, now_ms: int) -> Decimal:
    """The mark price (USDC per contract, 8 decimals)."""
    price = option_greeks(inst, float(spot), now_ms)["price"]
    return Decimal(repr(max(price, 0.0))).quantize(Decimal("0.00000001"))


def payoff(inst: Instrument, index: Decimal) -> Decimal:
    """What one contract is worth at delivery against `index`."""
    zero = Decimal(0)
    return max(index - inst.strike, zero) if inst.call else max(inst.strike - index, zero)


def delivery_fee(index: Decimal, contracts: Decimal, value: Decimal) -> Decimal:
    """Bybit's delivery fee: 0.015 % of the index value, at most 12.5 % of what is paid out."""
    return min(DELIVERY_FEE * index * contracts, FEE_CAP * value)


def short_margins(inst: Instrument, index: Decimal, mark: Decimal) -> tuple[Decimal, Decimal]:
    """(initial, maintenance) margin of one short contract."""
    zero = Decimal(0)
    otm = max(inst.strike - index, zero) if inst.call else max(index - inst.strike, zero)
    im = max(SHORT_IM * index - otm, SHORT_IM_FLOOR * index) + mark
    return im, SHORT_MM * index + mark
