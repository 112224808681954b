"""Instruments of the local exchange, shaped like `GET /v5/market/instruments-info` rows.

Matching works in integer ticks and lots so the hot path never touches Decimal; an
`Instrument` carries the scales that turn those integers back into Bybit's strings.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

LAUNCH_TIME = "1585526400000"
QUOTES = ("USDT", "USDC")
MAX_SYMBOL_LEN = 20
MAX_SYMBOLS = 20
"""Symbols one exchange lists: each brings linear, spot, inverse, option and spread books that
every market step moves."""
_SYMBOL = re.compile(rf"[A-Z0-9]{{1,{MAX_SYMBOL_LEN}}}")


@dataclass(frozen=True)
class Instrument:
    """One tradable symbol in one category; prices in ticks, quantities in lots."""

    category: str
    symbol: str
    base: str
    quote: str
    settle: str
    tick: Decimal
    step: Decimal
    min_qty: int
    max_qty: int
    max_mkt_qty: int
    min_notional: Decimal
    max_leverage: Decimal
    start_price: Decimal
    info: dict[str, Any] = field(compare=False, repr=False)
    price_dp: int = 0
    qty_dp: int = 0
    price_unit: int = 1
    qty_unit: int = 1
    strike: Decimal = Decimal(0)
    call: bool = True
    expiry: int = 0
    """Option strike, call/put and delivery time (ms); unused for other categories."""

    _px: dict[int, str] = field(default_factory=dict, compare=False, repr=False)
    _qty: dict[int, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def inverse(self) -> bool:
        return self.category == "inverse"

    @property
    def coins(self) -> tuple[str, ...]:
        """Coins a trade in this instrument moves: both for spot, the settle coin otherwise."""
        return (self.base, self.quote) if self.category == "spot" else (self.settle,)

    def price_str(self, ticks: int) -> str:
        """Format a price given in ticks with the symbol's fixed decimals (`"65000.10"`).

        Memoised: a 1,000-level book formats the same few thousand prices over and over.
        """
        s = self._px.get(ticks)
        if s is None:
            s = _remember(self._px, ticks, units_str(ticks * self.price_unit, self.price_dp))
        return s

    def qty_str(self, lots: int) -> str:
        s = self._qty.get(lots)
        if s is None:
            s = _remember(self._qty, lots, units_str(lots * self.qty_unit, self.qty_dp))
        return s

    def price_dec(self, ticks: int) -> Decimal:
        return ticks * self.tick

    def qty_dec(self, lots: int) -> Decimal:
        return lots * self.step

    @property
    def derivative(self) -> bool:
        """Linear and inverse perpetuals: traded into positions, not swapped."""
        return self.category in ("linear", "inverse")

    def value(self, ticks: int, lots: int) -> Decimal:
        """Value of `lots` at `ticks` in the settle coin: price x qty, or for an inverse
        contract (1 USD each) qty / price, rounded to Bybit's 8 decimals."""
        if self.category == "inverse":
            return (Decimal(lots) / (ticks * self.tick)).quantize(Decimal("0.00000001"))
        return ticks * self.tick * (lots * self.step)

    def value_at(self, price: Decimal, lots: int) -> Decimal:
        """`value` at an arbitrary price (a mark)."""
        if self.category == "inverse":
            return (Decimal(lots) / price).quantize(Decimal("0.00000001"))
        return price * (lots * self.step)

    def to_ticks(self, price: Decimal) -> int | None:
        """Ticks for `price`, or None when it is not a whole number of ticks."""
        q, r = divmod(price, self.tick)
        return int(q) if r == 0 else None

    def to_lots(self, qty: Decimal) -> int | None:
        q, r = divmod(qty, self.step)
        return int(q) if r == 0 else None


_MEMO_LIMIT = 200_000
"""Entries a formatting memo keeps before it starts afresh (a walk far off the usual range)."""


def _remember(memo: dict[int, str], key: int, text: str) -> str:
    """Store `text` under `key` in a bounded memo and return it."""
    if len(memo) > _MEMO_LIMIT:
        memo.clear()
    memo[key] = text
    return text


def units_str(units: int, dp: int) -> str:
    """`units` scaled by 10**-dp as a fixed-point string; cheap enough for 2,000-level books.

    >>> units_str(650001, 1), units_str(-5, 2), units_str(7, 0)
    ('65000.1', '-0.05', '7')
    """
    if dp == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    s = str(abs(units)).rjust(dp + 1, "0")
    return f"{sign}{s[:-dp]}.{s[-dp:]}"


def _scale(d: Decimal) -> tuple[int, int]:
    """(decimal places, units per step) of a tick or lot size: 0.5 -> (1, 5)."""
    dp = max(0, -d.as_tuple().exponent)  # type: ignore[operator]
    return dp, int(d.scaleb(dp))


# base coin -> (price, linear tick, linear step, linear max qty, max leverage, spot tick,
#               spot step, inverse tick)
_PROFILES: dict[str, tuple[str, str, str, str, str, str, str, str]] = {
    "BTC": ("65000", "0.1", "0.001", "1190", "100", "0.01", "0.000001", "0.5"),
    "ETH": ("3200", "0.01", "0.01", "7240", "100", "0.01", "0.00001", "0.05"),
    "SOL": ("150", "0.01", "0.1", "79770", "75", "0.01", "0.001", "0.01"),
    "XRP": ("0.6", "0.0001", "1", "6760000", "75", "0.0001", "0.01", "0.0001"),
}
_DEFAULT_PROFILE = ("10", "0.001", "0.1", "1000000", "50", "0.001", "0.01", "0.001")
OPTION_BASES = ("BTC", "ETH", "SOL")
"""The coins with an option chain, as on Bybit (whose option prices tick in 5 USD: a chain
on a coin worth a few dollars would have no price between zero and its first tick)."""


def split_symbol(symbol: str) -> tuple[str, str]:
    """("BTC", "USDT") for "BTCUSDT"; ValueError for anything else than a Bybit-shaped symbol:
    upper-case ASCII letters and digits, a base coin, then a known quote."""
    if not _SYMBOL.fullmatch(symbol):
        raise ValueError(
            f"symbol {symbol[:40]!r} is not a Bybit symbol "
            f"(upper-case letters and digits, at most {MAX_SYMBOL_LEN}, e.g. BTCUSDT)"
        )
    for q in QUOTES:
        if symbol.endswith(q) and len(symbol) > len(q):
            return symbol[: -len(q)], q
    raise ValueError(f"symbol {symbol!r} is not a base coin followed by {' or '.join(QUOTES)}")


def _make(
    category: str,
    symbol: str,
    base: str,
    quote: str,
    settle: str,
    tick: str,
    step: str,
    min_qty: str,
    max_qty: str,
    max_mkt: str,
    min_notional: str,
    lev: str,
    price: str,
    info: dict[str, Any],
) -> Instrument:
    t, s = Decimal(tick), Decimal(step)
    pdp, pu = _scale(t)
    qdp, qu = _scale(s)
    return Instrument(
        category=category,
        symbol=symbol,
        base=base,
        quote=quote,
        settle=settle,
        tick=t,
        step=s,
        min_qty=int(Decimal(min_qty) / s),
        max_qty=int(Decimal(max_qty) / s),
        max_mkt_qty=int(Decimal(max_mkt) / s),
        min_notional=Decimal(min_notional),
        max_leverage=Decimal(lev),
        start_price=Decimal(price),
        info=info,
        price_dp=pdp,
        qty_dp=qdp,
        price_unit=pu,
        qty_unit=qu,
    )


def _linear(symbol: str, base: str, quote: str, p: tuple[str, ...]) -> Instrument:
    price, tick, step, maxq, lev = p[0], p[1], p[2], p[3], p[4]
    maxm = str(Decimal(maxq) / 2)
    info = {
        "symbol": symbol,
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": base,
        "quoteCoin": quote,
        "launchTime": LAUNCH_TIME,
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": str(_scale(Decimal(tick))[0]),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": f"{lev}.00", "leverageStep": "0.01"},
        "priceFilter": {
            "minPrice": tick,
            "maxPrice": str(Decimal(price) * 30),
            "tickSize": tick,
        },
        "lotSizeFilter": {
            "maxOrderQty": maxq,
            "minOrderQty": step,
            "qtyStep": step,
            "postOnlyMaxOrderQty": maxq,
            "maxMktOrderQty": maxm,
            "minNotionalValue": "5",
        },
        "unifiedMarginTrade": True,
        "fundingInterval": 480,
        "settleCoin": quote,
        "copyTrading": "both",
        "upperFundingRate": "0.00375",
        "lowerFundingRate": "-0.00375",
        "isPreListing": False,
        "preListingInfo": None,
        "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.1"},
        "symbolType": "",
    }
    return _make(
        "linear", symbol, base, quote, quote, tick, step, step, maxq, maxm, "5", lev, price, info
    )


def _spot(symbol: str, base: str, quote: str, p: tuple[str, ...]) -> Instrument:
    price, tick, step = p[0], p[5], p[6]
    min_qty = str(max(Decimal(step), (Decimal(1) / Decimal(price)).quantize(Decimal(step))))
    max_qty = str((Decimal(2000000) / Decimal(price)).quantize(Decimal(step)))
    info = {
        "symbol": symbol,
        "baseCoin": base,
        "quoteCoin": quote,
        "innovation": "0",
        "status": "Trading",
        "marginTrading": "utaOnly",
        "stTag": "0",
        "lotSizeFilter": {
            "basePrecision": step,
            "quotePrecision": "0.00000001",
            "minOrderQty": min_qty,
            "maxOrderQty": max_qty,
            "minOrderAmt": "1",
            "maxOrderAmt": "2000000",
        },
        "priceFilter": {"tickSize": tick},
        "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.1"},
        "symbolType": "",
    }
    return _make(
        "spot", symbol, base, quote, quote, tick, step, min_qty, max_qty, max_qty, "1", "10",
        price, info,
    )  # fmt: skip


def _inverse(base: str, p: tuple[str, ...]) -> Instrument:
    symbol, price, tick = f"{base}USD", p[0], p[7]
    info = {
        "symbol": symbol,
        "contractType": "InversePerpetual",
        "status": "Trading",
        "baseCoin": base,
        "quoteCoin": "USD",
        "launchTime": LAUNCH_TIME,
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": str(_scale(Decimal(tick))[0]),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": tick, "maxPrice": str(Decimal(price) * 30), "tickSize": tick},
        "lotSizeFilter": {
            "maxOrderQty": "10000000",
            "minOrderQty": "1",
            "qtyStep": "1",
            "postOnlyMaxOrderQty": "10000000",
            "maxMktOrderQty": "5000000",
            "minNotionalValue": "0",
        },
        "unifiedMarginTrade": True,
        "fundingInterval": 480,
        "settleCoin": base,
        "copyTrading": "none",
        "upperFundingRate": "0.00375",
        "lowerFundingRate": "-0.00375",
        "isPreListing": False,
        "preListingInfo": None,
        "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.1"},
        "symbolType": "",
    }
    return _make(
        "inverse", symbol, base, "USD", base, tick, "1", "1", "10000000", "5000000", "0", "100",
        price, info,
    )  # fmt: skip


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def option_expiry(now_ms: int) -> int:
    """08:00 UTC on the last Friday of the third month after `now_ms`'s (a quarterly)."""
    d = datetime.fromtimestamp(now_ms / 1000, UTC)
    y, m = divmod(d.month - 1 + 3, 12)
    year, month = d.year + y, m + 1
    last = calendar.monthrange(year, month)[1]
    day = max(x for x in range(last - 6, last + 1) if calendar.weekday(year, month, x) == 4)
    return calendar.timegm((year, month, day, 8, 0, 0)) * 1000


DAY_MS = 86_400_000


def option_expiries(now_ms: int) -> list[int]:
    """A daily, a weekly (Friday) and a quarterly expiry, each at 08:00 UTC, as Bybit lists
    them: the first daily is at least an hour away.

    >>> [datetime.fromtimestamp(t / 1000, UTC).strftime("%a %d %b %H:%M")
    ...  for t in option_expiries(1_760_000_000_000)]  # Thu 9 Oct 2025, 08:53 UTC
    ['Fri 10 Oct 08:00', 'Fri 17 Oct 08:00', 'Fri 30 Jan 08:00']
    """
    eight = 8 * 3_600_000
    daily = now_ms - (now_ms - eight) % DAY_MS + DAY_MS
    if daily - now_ms < 3_600_000:
        daily += DAY_MS
    weekly = daily + DAY_MS
    while datetime.fromtimestamp(weekly / 1000, UTC).weekday() != 4:
        weekly += DAY_MS
    return sorted({daily, weekly, option_expiry(now_ms)})


def _options(base: str, price: Decimal, expiry: int) -> list[Instrument]:
    """One expiry's chain: five strikes around the price, calls and puts."""
    unit = Decimal(10) ** max(0, len(str(int(price))) - 2)
    atm = (price / unit).to_integral_value() * unit
    d = datetime.fromtimestamp(expiry / 1000, UTC)
    tag = f"{d.day}{_MONTHS[d.month - 1]}{d.year % 100:02d}"
    out = []
    for k in (-2, -1, 0, 1, 2):
        strike = atm + k * unit
        for kind, letter in (("Call", "C"), ("Put", "P")):
            symbol = f"{base}-{tag}-{strike}-{letter}"
            info = {
                "symbol": symbol,
                "optionsType": kind,
                "status": "Trading",
                "baseCoin": base,
                "quoteCoin": "USD",
                "settleCoin": "USDC",
                "launchTime": LAUNCH_TIME,
                "deliveryTime": str(expiry),
                "deliveryFeeRate": "0.00015",
                "priceFilter": {"minPrice": "5", "maxPrice": "10000000", "tickSize": "5"},
                "lotSizeFilter": {"maxOrderQty": "500", "minOrderQty": "0.01", "qtyStep": "0.01"},
                "displayName": "",
            }
            inst = _make(
                "option", symbol, base, "USD", "USDC", "5", "0.01", "0.01", "500", "500", "0",
                "1", str(price), info,
            )  # fmt: skip
            out.append(replace(inst, strike=strike, call=letter == "C", expiry=expiry))
    return out


def _spread(base: str, quote: str, p: tuple[str, ...]) -> dict[str, Any]:
    return {
        "symbol": f"{base}{quote}_{base}/{quote}",
        "contractType": "FundingRateArb",
        "status": "Trading",
        "baseCoin": base,
        "quoteCoin": quote,
        "settleCoin": quote,
        "tickSize": p[1],
        "minPrice": "-1999.9998",
        "maxPrice": "1999.9998",
        "lotSize": p[2],
        "minSize": p[2],
        "maxSize": p[3],
        "launchTime": LAUNCH_TIME,
        "deliveryTime": "0",
        "legs": [
            {"symbol": f"{base}{quote}", "contractType": "LinearPerpetual"},
            {"symbol": f"{base}{quote}", "contractType": "Spot"},
        ],
    }


SPREAD_BASIS = Decimal("0.001")
"""Starting basis (perp minus spot) of a spread book, as a share of the coin's price."""


def _spread_book(row: dict[str, Any], p: tuple[str, ...]) -> Instrument:
    """The book of a spread (category "spread"): its price is the basis, its size in coins."""
    tick, step, maxq = row["tickSize"], row["lotSize"], row["maxSize"]
    basis = str((Decimal(p[0]) * SPREAD_BASIS).quantize(Decimal(tick)))
    return _make(
        "spread", row["symbol"], row["baseCoin"], row["quoteCoin"], row["settleCoin"], tick,
        step, step, maxq, maxq, "0", "1", basis, row,
    )  # fmt: skip


@dataclass(frozen=True)
class Catalogue:
    """Every instrument of the exchange: books of every category plus the spreads (listed
    in `spreads`, and with their own books under category "spread" in `books`)."""

    books: dict[tuple[str, str], Instrument]
    spreads: list[dict[str, Any]]

    def get(self, category: str, symbol: str) -> Instrument | None:
        return self.books.get((category, symbol))

    def rows(self, category: str) -> list[dict[str, Any]]:
        """instruments-info rows for a category, in a stable order."""
        return [i.info for (c, _), i in self.books.items() if c == category]


def build_catalogue(
    symbols: tuple[str, ...], now_ms: int, funding_interval_ms: int = 8 * 3_600_000
) -> Catalogue:
    """Linear perps for `symbols`, spot pairs of the same name, inverse perps of their bases,
    and an option chain per base of OPTION_BASES (`option_expiries` after `now_ms`)."""
    if not symbols or len(symbols) > MAX_SYMBOLS:
        raise ValueError(f"list 1 to {MAX_SYMBOLS} symbols, not {len(symbols)}")
    books: dict[tuple[str, str], Instrument] = {}
    spreads: list[dict[str, Any]] = []
    expiries = option_expiries(now_ms)
    for sym in symbols:
        base, quote = split_symbol(sym)
        p = _PROFILES.get(base, _DEFAULT_PROFILE)
        books[("linear", sym)] = _linear(sym, base, quote, p)
        books[("spot", sym)] = _spot(sym, base, quote, p)
        inv = _inverse(base, p)
        for perp in (books[("linear", sym)], inv):
            perp.info["fundingInterval"] = max(1, funding_interval_ms // 60_000)
        if ("inverse", inv.symbol) not in books:
            books[("inverse", inv.symbol)] = inv
            for expiry in expiries if base in OPTION_BASES else ():
                for opt in _options(base, Decimal(p[0]), expiry):
                    books[("option", opt.symbol)] = opt
            row = _spread(base, quote, p)
            spreads.append(row)
            books[("spread", row["symbol"])] = _spread_book(row, p)
    return Catalogue(books, spreads)
