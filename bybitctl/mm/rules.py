"""The instrument's trading filters and the check of a config against them, made before
anything is sent: tick size, qty step, minimum and maximum qty, minimum order value, leverage.

Nothing is rounded up silently: a size that does not fit the step or the minimums is a
`ConfigProblems` error naming the field (exit 2), like every other config problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

from bybitctl import parsing
from bybitctl.errors import UsageError
from bybitctl.mm.config import ConfigProblems, MMConfig, number_text
from bybitctl.parsing import InvalidValue


def problem(name: str, why: str) -> ConfigProblems:
    """The one-line error of field `name`."""
    return ConfigProblems([f"{name}: {why}"])


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
        basePrecision/minOrderAmt (spot has no qtyStep). Each filter is read by the one
        grammar (a hand-written `--instrument` file is typed input too): a decimal, positive
        where zero would mean nothing (a tick, a step), otherwise >= 0."""
        price, lot = instrument.get("priceFilter"), instrument.get("lotSizeFilter")
        if not isinstance(price, Mapping) or not isinstance(lot, Mapping):
            raise UsageError(f"instrument info for {category} lacks a trading filter")
        step_key = "basePrecision" if category == "spot" else "qtyStep"
        notional_key = "minOrderAmt" if category == "spot" else "minNotionalValue"
        max_key = "postOnlyMaxOrderQty" if lot.get("postOnlyMaxOrderQty") else "maxOrderQty"
        return cls(
            tick_size=_filter(price, "priceFilter", "tickSize", positive=True),
            qty_step=_filter(lot, "lotSizeFilter", step_key, positive=True),
            min_qty=_filter(lot, "lotSizeFilter", "minOrderQty"),
            min_notional=_filter(lot, "lotSizeFilter", notional_key, default="0"),
            max_qty=_filter(lot, "lotSizeFilter", max_key, positive=True, default=None),
        )


_REQUIRED: Any = object()


def _filter(
    row: Mapping[str, Any],
    where: str,
    key: str,
    *,
    positive: bool = False,
    default: Any = _REQUIRED,
) -> Any:
    """One instrument filter as an exact decimal; missing (or empty) gives `default`."""
    value = row.get(key)
    if value is None or value == "":
        if default is _REQUIRED:
            raise UsageError(f"instrument info lacks the trading filter {where}.{key}")
        return None if default is None else Decimal(default)
    rule = parsing.POSITIVE if positive else parsing.UNSIGNED
    try:
        return Decimal(parsing.decimal_text(number_text(value, "Decimal"), rule))
    except InvalidValue as exc:
        raise UsageError(f"instrument info: {where}.{key}: {exc}") from None


def validate(
    config: MMConfig, instrument: Mapping[str, Any], price: Decimal | None = None
) -> MarketRules:
    """Check the config against the instrument and return its rules for the strategy.

    `price` (e.g. the ticker's last price) enables the min-notional check of qty-sized
    levels; notional-sized levels are checked without it. Quantities are never rounded up
    silently: a size that does not fit the step or the minimums is an error naming the field.
    """
    if instrument.get("symbol", config.symbol) != config.symbol:
        raise problem("symbol", f"instrument info is for {instrument.get('symbol')}")
    rules = MarketRules.from_instrument(config.category, instrument)
    with localcontext(prec=_EXACT_DIGITS):
        return _fit(config, instrument, price, rules)


_EXACT_DIGITS = 80
"""Decimal precision of the checks: every bounded field and filter has at most 18 digits on
each side of the point, so their quotients and products stay exact (28 digits would not)."""


def _fit(
    config: MMConfig, instrument: Mapping[str, Any], price: Decimal | None, rules: MarketRules
) -> MarketRules:
    if config.order_qty is not None:
        if config.order_qty % rules.qty_step:
            raise problem(
                "order_qty",
                f"{config.order_qty} is not a multiple of the qty step {rules.qty_step}",
            )
        for level in range(config.levels):
            qty = _round_down(config.order_qty * Decimal(str(config.multiplier(level))), rules)
            name = "order_qty" if level == 0 else "level_multipliers"
            if qty < rules.min_qty:
                raise problem(
                    name,
                    f"level {level + 1} qty {qty} is below the minimum order qty {rules.min_qty}",
                )
            if rules.max_qty is not None and qty > rules.max_qty:
                raise problem(
                    name,
                    f"level {level + 1} qty {qty} is above the maximum order qty {rules.max_qty}",
                )
            if price is not None and qty * price < rules.min_notional:
                raise problem(
                    name,
                    f"level {level + 1} value {qty * price} is below the minimum "
                    f"order value {rules.min_notional}",
                )
    else:
        assert config.order_notional is not None
        smallest = min(config.multiplier(level) for level in range(config.levels))
        if config.order_notional * Decimal(str(smallest)) < rules.min_notional:
            raise problem(
                "order_notional",
                f"a level would be worth less than the minimum order value {rules.min_notional}",
            )
    if config.max_position < rules.min_qty:
        raise problem(
            "max_position",
            f"{config.max_position} is below the minimum order qty "
            f"{rules.min_qty}: nothing could be quoted",
        )
    if config.leverage is not None:
        lev = instrument.get("leverageFilter")
        lev = lev if isinstance(lev, Mapping) else {}
        low = _filter(lev, "leverageFilter", "minLeverage", positive=True, default="1")
        high = _filter(lev, "leverageFilter", "maxLeverage", positive=True, default="100")
        if not low <= config.leverage <= high:
            raise problem("leverage", f"{config.leverage} is outside {low}-{high}")
    return rules


def _round_down(qty: Decimal, rules: MarketRules) -> Decimal:
    return (qty // rules.qty_step) * rules.qty_step
