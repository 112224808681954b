"""The market maker's configuration: one frozen, validated object built from `mm.toml` + flags.

Every field is declared once below with its unit, default and help text; `example_toml()`
(what `mm init` writes) and the field table in docs/mm.md come from those declarations, so
the file, the flags and the docs cannot drift apart. Checks that need nothing but the config
run in `MMConfig.__post_init__`; checks against the instrument (tick size, qty step, minimum
qty and notional) run in `validate`, before anything is sent. Every failure is a
`UsageError` (exit 2) that names the field.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bybitctl.errors import UsageError

CATEGORIES = ("linear", "spot")
REFERENCES = ("mid", "microprice", "last", "mark")
KILL_ACTIONS = ("pause", "cooldown", "stop")
LEFTOVERS = ("cancel", "adopt")
_PREFIX = re.compile(r"^[A-Za-z0-9]{1,12}$")


def _doc(unit: str, doc: str, *, section: str) -> dict[str, str]:
    """Field metadata: the unit and help text that docs and `mm init` print."""
    return {"unit": unit, "doc": doc, "section": section}


@dataclass(frozen=True, slots=True, kw_only=True)
class MMConfig:
    """What to quote, how wide, how big, and when to stop. Frozen: a running quoter's
    parameters never change under it; a new config means a new object, validated again."""

    symbol: str = field(metadata=_doc("", "Instrument to quote, e.g. BTCUSDT.", section="market"))
    category: str = field(
        default="linear", metadata=_doc("", "linear (USDT perpetual) or spot.", section="market")
    )
    reference: str = field(
        default="mid",
        metadata=_doc(
            "",
            "Price the quotes are centred on: mid, microprice (size-weighted top of book), "
            "last (last public trade) or mark (mark price, linear only).",
            section="quotes",
        ),
    )
    spread_bps: float = field(
        default=10.0,
        metadata=_doc(
            "bps",
            "Half-spread: distance of the first level from the reference.",
            section="quotes",
        ),
    )
    levels: int = field(default=1, metadata=_doc("", "Orders per side (1-20).", section="quotes"))
    level_spacing_bps: float = field(
        default=5.0,
        metadata=_doc(
            "bps", "Extra distance of each further level from the previous one.", section="quotes"
        ),
    )
    order_qty: Decimal | None = field(
        default=None,
        metadata=_doc(
            "base", "Base qty of a level-1 order (set this or order_notional).", section="size"
        ),
    )
    order_notional: Decimal | None = field(
        default=None,
        metadata=_doc(
            "quote",
            "Quote value of a level-1 order, converted at the quote price (set this or order_qty).",
            section="size",
        ),
    )
    level_multipliers: tuple[float, ...] = field(
        default=(),
        metadata=_doc(
            "",
            "Size multiplier per level, e.g. [1, 2, 3]; empty = 1 for every level.",
            section="size",
        ),
    )
    max_position: Decimal = field(
        metadata=_doc(
            "base",
            "Largest |position| a full fill of every open order may reach.",
            section="limits",
        )
    )
    max_notional: Decimal | None = field(
        default=None,
        metadata=_doc(
            "quote",
            "Optional cap on |position| x reference price, same worst-case rule.",
            section="limits",
        ),
    )
    inventory_skew: bool = field(
        default=True,
        metadata=_doc("", "Shift both quotes toward flattening the position.", section="quotes"),
    )
    skew_strength: float = field(
        default=0.5,
        metadata=_doc(
            "x half-spread",
            "Shift at |position| = max_position, as a fraction of the "
            "half-spread (0-1); linear in position.",
            section="quotes",
        ),
    )
    refresh_tolerance_bps: float = field(
        default=2.0,
        metadata=_doc(
            "bps",
            "Requote a resting order only when its price is further than this from "
            "the wanted price.",
            section="requote",
        ),
    )
    min_requote_interval_ms: int = field(
        default=200,
        metadata=_doc(
            "ms",
            "Least time between two requotes (cancels that reduce risk are exempt).",
            section="requote",
        ),
    )
    max_order_age_ms: int = field(
        default=60_000,
        metadata=_doc(
            "ms",
            "Replace an order older than this even when its price is fine; 0 = never.",
            section="requote",
        ),
    )
    post_only: bool = field(
        default=True,
        metadata=_doc("", "Send quotes as PostOnly: never take liquidity.", section="quotes"),
    )
    use_amend: bool = field(
        default=True,
        metadata=_doc(
            "",
            "Move a resting order with an amend (keeps its id); false = cancel + place.",
            section="requote",
        ),
    )
    fee_aware: bool = field(
        default=True,
        metadata=_doc(
            "", "Never quote a half-spread below maker_fee_bps + min_edge_bps.", section="fees"
        ),
    )
    maker_fee_bps: float | None = field(
        default=None,
        metadata=_doc(
            "bps",
            "Maker fee rate (negative = rebate); unset = read from the fee-rate endpoint at start.",
            section="fees",
        ),
    )
    min_edge_bps: float = field(
        default=1.0,
        metadata=_doc(
            "bps", "Edge per fill kept above the maker fee when fee_aware.", section="fees"
        ),
    )
    vol_scaling: bool = field(
        default=False,
        metadata=_doc(
            "",
            "Widen the half-spread to vol_multiplier x short-term volatility.",
            section="volatility",
        ),
    )
    vol_window_ms: int = field(
        default=10_000,
        metadata=_doc(
            "ms",
            "Window of the volatility estimate (mid moves within it).",
            section="volatility",
        ),
    )
    vol_multiplier: float = field(
        default=1.0,
        metadata=_doc(
            "",
            "Half-spread floor = vol_multiplier x volatility (bps) when vol_scaling.",
            section="volatility",
        ),
    )
    hedge_mode: bool = field(
        default=False,
        metadata=_doc(
            "",
            "Linear only: quotes close the open leg (asks on positionIdx 1 while long, bids "
            "on 2 while short), else open their own (bids 1, asks 2); max_position caps "
            "each leg and long + short.",
            section="market",
        ),
    )
    leverage: Decimal | None = field(
        default=None,
        metadata=_doc(
            "x",
            "Linear only: leverage set on the symbol at start; unset = leave as is.",
            section="market",
        ),
    )
    kill_max_loss: Decimal | None = field(
        default=None,
        metadata=_doc(
            "quote", "Kill switch: trip when PnL since start falls to -this.", section="kill"
        ),
    )
    kill_max_drawdown: Decimal | None = field(
        default=None,
        metadata=_doc(
            "quote", "Kill switch: trip when PnL falls this far below its peak.", section="kill"
        ),
    )
    kill_action: str = field(
        default="stop",
        metadata=_doc(
            "",
            "On trip: pause (stay flat until resumed), cooldown (resume after "
            "kill_cooldown_s) or stop (cancel all and exit).",
            section="kill",
        ),
    )
    kill_cooldown_s: int = field(
        default=300, metadata=_doc("s", "Pause length for kill_action = cooldown.", section="kill")
    )
    stale_book_ms: int = field(
        default=5_000,
        metadata=_doc(
            "ms", "Pull quotes when no book message arrived for this long.", section="guards"
        ),
    )
    fill_cooldown_ms: int = field(
        default=0,
        metadata=_doc(
            "ms",
            "After a fill on a side, place nothing new on that side for this long.",
            section="guards",
        ),
    )
    mmp_window_ms: int = field(
        default=1_000,
        metadata=_doc(
            "ms",
            "Market-maker protection: window the maker fill qty is summed over.",
            section="guards",
        ),
    )
    mmp_max_qty: Decimal | None = field(
        default=None,
        metadata=_doc(
            "base",
            "MMP: pull all quotes when maker fills in the window exceed this; unset = off.",
            section="guards",
        ),
    )
    mmp_freeze_s: float = field(
        default=10.0, metadata=_doc("s", "MMP: how long quotes stay pulled.", section="guards")
    )
    rate_limit: float = field(
        default=10.0,
        metadata=_doc(
            "actions/s",
            "Order actions (place, amend, cancel) per second; the rest wait, cancels first.",
            section="guards",
        ),
    )
    reject_limit: int = field(
        default=20,
        metadata=_doc(
            "",
            "Live runs: stop (reason rejects:<retCode>, exit 1) once this many order "
            "placements in a row are rejected with the same retCode; 0 = never.",
            section="guards",
        ),
    )
    reject_window_s: float = field(
        default=60.0,
        metadata=_doc(
            "s",
            "Reject breaker: only rejects within this long of the latest one count.",
            section="guards",
        ),
    )
    warm_interval_ms: int = field(
        default=5,
        metadata=_doc(
            "ms",
            "While no book message comes, rehearse a tick this often (no order is sent) so "
            "caches stay warm for the next one; 0 = off.",
            section="latency",
        ),
    )
    flatten_on_exit: bool = field(
        default=False,
        metadata=_doc(
            "",
            "On exit, close the position with a market order (the only market order ever sent).",
            section="exit",
        ),
    )
    link_prefix: str = field(
        default="mm",
        metadata=_doc(
            "",
            "Start of every orderLinkId (1-12 letters/digits); a run id follows.",
            section="exit",
        ),
    )
    leftovers: str = field(
        default="cancel",
        metadata=_doc(
            "",
            "Open orders of earlier runs (same link_prefix) at start: cancel them, or adopt "
            "them as this run's own quotes (kept, amended or cancelled like new ones).",
            section="exit",
        ),
    )

    def __post_init__(self) -> None:
        _check_intrinsic(self)

    @property
    def half_spread_floor_bps(self) -> float:
        """The fee-aware lower bound of the half-spread (0 when not fee_aware)."""
        if not self.fee_aware:
            return 0.0
        return (self.maker_fee_bps or 0.0) + self.min_edge_bps

    def multiplier(self, level: int) -> float:
        """Size multiplier of `level` (0-based)."""
        return self.level_multipliers[level] if self.level_multipliers else 1.0


def _bad(name: str, why: str) -> UsageError:
    return UsageError(f"mm config: {name}: {why}", hint="see docs/mm.md for every field")


def _check_intrinsic(c: MMConfig) -> None:
    """Rules that need no instrument; first failure wins so the message names one field."""
    if not c.symbol or not c.symbol.isalnum() or c.symbol.upper() != c.symbol:
        raise _bad("symbol", f"expected an upper-case symbol like BTCUSDT, got {c.symbol!r}")
    if c.category not in CATEGORIES:
        raise _bad("category", f"expected one of {', '.join(CATEGORIES)}, got {c.category!r}")
    if c.reference not in REFERENCES:
        raise _bad("reference", f"expected one of {', '.join(REFERENCES)}, got {c.reference!r}")
    if c.reference == "mark" and c.category == "spot":
        raise _bad("reference", "spot has no mark price")
    if not 0 < c.spread_bps <= 5000:
        raise _bad("spread_bps", f"must be in (0, 5000], got {c.spread_bps}")
    if not 1 <= c.levels <= 20:
        raise _bad("levels", f"must be 1-20, got {c.levels}")
    if c.level_spacing_bps < 0:
        raise _bad("level_spacing_bps", f"must be >= 0, got {c.level_spacing_bps}")
    if c.levels > 1 and c.level_spacing_bps == 0:
        raise _bad("level_spacing_bps", "must be > 0 with several levels, got 0")
    if (c.order_qty is None) == (c.order_notional is None):
        raise _bad("order_qty", "set exactly one of order_qty and order_notional")
    if c.order_qty is not None and c.order_qty <= 0:
        raise _bad("order_qty", f"must be positive, got {c.order_qty}")
    if c.order_notional is not None and c.order_notional <= 0:
        raise _bad("order_notional", f"must be positive, got {c.order_notional}")
    if c.level_multipliers and (
        len(c.level_multipliers) != c.levels or any(m <= 0 for m in c.level_multipliers)
    ):
        raise _bad(
            "level_multipliers",
            f"need {c.levels} positive numbers, got {list(c.level_multipliers)}",
        )
    if c.max_position <= 0:
        raise _bad("max_position", f"must be positive, got {c.max_position}")
    if c.max_notional is not None and c.max_notional <= 0:
        raise _bad("max_notional", f"must be positive, got {c.max_notional}")
    if not 0 <= c.skew_strength <= 1:
        raise _bad("skew_strength", f"must be in [0, 1], got {c.skew_strength}")
    if c.refresh_tolerance_bps < 0:
        raise _bad("refresh_tolerance_bps", f"must be >= 0, got {c.refresh_tolerance_bps}")
    for name in (
        "min_requote_interval_ms",
        "max_order_age_ms",
        "stale_book_ms",
        "fill_cooldown_ms",
        "kill_cooldown_s",
    ):
        if getattr(c, name) < 0:
            raise _bad(name, f"must be >= 0, got {getattr(c, name)}")
    if c.stale_book_ms == 0:
        raise _bad("stale_book_ms", "must be positive: a book is always stale after some time")
    if c.maker_fee_bps is not None and abs(c.maker_fee_bps) > 100:
        raise _bad("maker_fee_bps", f"must be within +-100 bps, got {c.maker_fee_bps}")
    if c.min_edge_bps < 0:
        raise _bad("min_edge_bps", f"must be >= 0, got {c.min_edge_bps}")
    if c.vol_window_ms <= 0:
        raise _bad("vol_window_ms", f"must be positive, got {c.vol_window_ms}")
    if c.vol_multiplier < 0:
        raise _bad("vol_multiplier", f"must be >= 0, got {c.vol_multiplier}")
    if c.hedge_mode and c.category == "spot":
        raise _bad("hedge_mode", "spot has no hedge mode")
    if c.leverage is not None and c.category == "spot":
        raise _bad("leverage", "linear only: spot has no leverage")
    if c.leverage is not None and c.leverage < 1:
        raise _bad("leverage", f"must be at least 1, got {c.leverage}")
    for name in ("kill_max_loss", "kill_max_drawdown", "mmp_max_qty"):
        value = getattr(c, name)
        if value is not None and value <= 0:
            raise _bad(name, f"must be positive, got {value}")
    if c.kill_action not in KILL_ACTIONS:
        raise _bad(
            "kill_action", f"expected one of {', '.join(KILL_ACTIONS)}, got {c.kill_action!r}"
        )
    if c.mmp_window_ms <= 0:
        raise _bad("mmp_window_ms", f"must be positive, got {c.mmp_window_ms}")
    if c.mmp_freeze_s < 0:
        raise _bad("mmp_freeze_s", f"must be >= 0, got {c.mmp_freeze_s}")
    if not 0 < c.rate_limit <= 1000:
        raise _bad("rate_limit", f"must be in (0, 1000], got {c.rate_limit}")
    if not 0 <= c.warm_interval_ms <= 50:
        raise _bad("warm_interval_ms", f"must be in [0, 50], got {c.warm_interval_ms}")
    if c.reject_limit < 0:
        raise _bad("reject_limit", f"must be >= 0, got {c.reject_limit}")
    if c.reject_window_s <= 0:
        raise _bad("reject_window_s", f"must be positive, got {c.reject_window_s}")
    if not _PREFIX.match(c.link_prefix):
        raise _bad("link_prefix", f"1-12 letters or digits, got {c.link_prefix!r}")
    if c.leftovers not in LEFTOVERS:
        raise _bad("leftovers", f"expected one of {', '.join(LEFTOVERS)}, got {c.leftovers!r}")


# -- loading ------------------------------------------------------------------------------

_FIELDS = {f.name: f for f in fields(MMConfig)}
_KIND_NAMES = {
    "Decimal": "a decimal number",
    "float": "a number",
    "int": "an integer",
    "bool": "true or false",
    "tuple[float, ...]": "a list of numbers",
    "str": "a string",
}


def _convert(name: str, value: Any) -> Any:
    """Turn a TOML value or a flag string into the field's type, naming the field on error."""
    kind = _FIELDS[name].type
    try:
        if kind in ("Decimal", "Decimal | None"):
            if value is None:
                return None
            if isinstance(value, bool):
                raise TypeError
            number = Decimal(str(value))
            if not number.is_finite():
                raise ValueError
            return number
        if kind in ("float", "float | None"):
            if value is None or isinstance(value, bool):
                if value is None and kind == "float | None":
                    return None
                raise TypeError
            return float(value)
        if kind == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)
        if kind == "bool":
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
                return value.lower() in ("true", "1")
            if not isinstance(value, bool):
                raise TypeError
            return value
        if kind == "tuple[float, ...]":
            items = value.split(",") if isinstance(value, str) else value
            if isinstance(items, (list, tuple)):
                return tuple(float(x) for x in items if str(x).strip())
            raise TypeError
        if not isinstance(value, str):
            raise TypeError
        return value
    except (TypeError, ValueError, InvalidOperation):
        wanted = _KIND_NAMES.get(kind.replace(" | None", ""), kind.replace(" | None", ""))
        raise _bad(name, f"expected {wanted}, got {value!r}") from None


def from_mapping(values: Mapping[str, Any]) -> MMConfig:
    """Build a config from field-name keys (TOML or flags); unknown keys are refused by name."""
    converted: dict[str, Any] = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in _FIELDS:
            raise _bad(key, "unknown field")
        converted[name] = _convert(name, value)
    for name, f in _FIELDS.items():
        if f.default is MISSING and name not in converted:
            raise _bad(name, "required")
    return MMConfig(**converted)


def load_config(path: str | Path | None, overrides: Mapping[str, Any] | None = None) -> MMConfig:
    """Read `mm.toml` (flat keys, as `example_toml` writes) and apply `overrides` on top.

    Overrides are the command-line flags already parsed; None values mean "flag not given"
    and are skipped, so a flag always wins over the file and the file over the default.
    """
    values: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                values = tomllib.load(fh)
        except FileNotFoundError:
            raise UsageError(f"mm config: no such file: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"mm config: {path}: {exc}") from None
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return from_mapping(values)


# -- instrument rules ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarketRules:
    """The instrument's trading filters the quotes must fit, as exact decimals."""

    tick_size: Decimal
    qty_step: Decimal
    min_qty: Decimal
    min_notional: Decimal
    max_qty: Decimal | None = None

    @classmethod
    def from_instrument(cls, category: str, instrument: Mapping[str, Any]) -> MarketRules:
        """Read an instruments-info row: linear uses qtyStep/minNotionalValue, spot uses
        basePrecision/minOrderAmt (spot has no qtyStep)."""
        try:
            price = instrument["priceFilter"]
            lot = instrument["lotSizeFilter"]
            if category == "spot":
                step, notional = lot["basePrecision"], lot.get("minOrderAmt", "0")
            else:
                step, notional = lot["qtyStep"], lot.get("minNotionalValue", "0")
            max_qty = lot.get("postOnlyMaxOrderQty") or lot.get("maxOrderQty")
            rules = cls(
                tick_size=Decimal(price["tickSize"]),
                qty_step=Decimal(step),
                min_qty=Decimal(lot["minOrderQty"]),
                min_notional=Decimal(notional or "0"),
                max_qty=Decimal(max_qty) if max_qty else None,
            )
        except (KeyError, TypeError, InvalidOperation) as exc:
            raise UsageError(
                f"instrument info for {category} lacks a trading filter: {exc}"
            ) from None
        if rules.tick_size <= 0 or rules.qty_step <= 0:
            raise UsageError("instrument info has a non-positive tickSize or qty step")
        return rules


def validate(
    config: MMConfig, instrument: Mapping[str, Any], price: Decimal | None = None
) -> MarketRules:
    """Check the config against the instrument and return its rules for the strategy.

    `price` (e.g. the ticker's last price) enables the min-notional check of qty-sized
    levels; notional-sized levels are checked without it. Quantities are never rounded up
    silently: a size that does not fit the step or the minimums is an error naming the field.
    """
    if instrument.get("symbol", config.symbol) != config.symbol:
        raise _bad("symbol", f"instrument info is for {instrument.get('symbol')}")
    rules = MarketRules.from_instrument(config.category, instrument)
    if config.order_qty is not None:
        if config.order_qty % rules.qty_step:
            raise _bad(
                "order_qty",
                f"{config.order_qty} is not a multiple of the qty step {rules.qty_step}",
            )
        for level in range(config.levels):
            qty = _round_down(config.order_qty * Decimal(str(config.multiplier(level))), rules)
            name = "order_qty" if level == 0 else "level_multipliers"
            if qty < rules.min_qty:
                raise _bad(
                    name,
                    f"level {level + 1} qty {qty} is below the minimum order qty {rules.min_qty}",
                )
            if rules.max_qty is not None and qty > rules.max_qty:
                raise _bad(
                    name,
                    f"level {level + 1} qty {qty} is above the maximum order qty {rules.max_qty}",
                )
            if price is not None and qty * price < rules.min_notional:
                raise _bad(
                    name,
                    f"level {level + 1} value {qty * price} is below the minimum "
                    f"order value {rules.min_notional}",
                )
    else:
        assert config.order_notional is not None
        smallest = min(config.multiplier(level) for level in range(config.levels))
        if config.order_notional * Decimal(str(smallest)) < rules.min_notional:
            raise _bad(
                "order_notional",
                f"a level would be worth less than the minimum order value {rules.min_notional}",
            )
    if config.max_position < rules.min_qty:
        raise _bad(
            "max_position",
            f"{config.max_position} is below the minimum order qty "
            f"{rules.min_qty}: nothing could be quoted",
        )
    if config.leverage is not None:
        lev = instrument.get("leverageFilter") or {}
        low, high = Decimal(lev.get("minLeverage", "1")), Decimal(lev.get("maxLeverage", "100"))
        if not low <= config.leverage <= high:
            raise _bad("leverage", f"{config.leverage} is outside {low}-{high}")
    return rules


def _round_down(qty: Decimal, rules: MarketRules) -> Decimal:
    return (qty // rules.qty_step) * rules.qty_step


# -- mm init ------------------------------------------------------------------------------

_SECTIONS = {
    "market": "What to quote",
    "quotes": "Where the quotes sit",
    "size": "How big the quotes are",
    "limits": "Exposure limits (in-flight and resting orders count at a full fill)",
    "requote": "When quotes move",
    "fees": "Fees",
    "volatility": "Volatility-scaled spread",
    "kill": "Kill switch (PnL in quote currency, fees included)",
    "guards": "Guards that pull or slow quotes",
    "latency": "Latency",
    "exit": "Orders and exit",
}

_EXAMPLE = {
    "symbol": "BTCUSDT",
    "order_qty": "0.001",
    "max_position": "0.01",
    "kill_max_loss": "50",
    "kill_max_drawdown": "25",
}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def example_toml() -> str:
    """A commented `mm.toml` with every field (what `bybitctl mm init` writes).

    Optional fields without a default are written commented out; the result loads as is.
    """
    by_section: dict[str, list[str]] = {key: [] for key in _SECTIONS}
    for f in fields(MMConfig):
        meta = f.metadata
        unit = f" [{meta['unit']}]" if meta["unit"] else ""
        lines = by_section[meta["section"]]
        lines.append(f"# {meta['doc']}{unit}")
        value = _EXAMPLE.get(f.name, f.default)
        if value is None:
            lines.append(f"# {f.name} = ")
        else:
            lines.append(f"{f.name} = {_toml_value(value)}")
    out = ["# bybitctl mm configuration; flags override these. See docs/mm.md.", ""]
    for key, title in _SECTIONS.items():
        out.append(f"# --- {title} ---")
        out.extend(by_section[key])
        out.append("")
    return "\n".join(out)
