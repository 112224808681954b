"""The market maker's configuration: one frozen, validated object built from `mm.toml` + flags.

Every field is declared once below with its unit, default, help text and range; the example
`mm init` writes (`bybitctl.mm.example`), the flags' help and the field table in docs/mm.md
show those declarations, so the file, the flags and the docs cannot drift apart. A value goes
through the one grammar of `bybitctl.parsing` whichever way it came: a flag's text as typed, a
TOML number (TOML's own `1e5`, `1_000` or `inf` already read by TOML) in plain notation, a
TOML string as the text it holds. Then every field must lie in its finite range, and the rules
between fields must hold (`MMConfig.__post_init__`); every problem is reported at once, one
line each. Checks against the instrument (tick size, qty step, minimum qty and notional) run
in `bybitctl.mm.rules.validate`, before anything is sent. Every failure is a `UsageError`
(exit 2) that names the field.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

from bybitctl import parsing
from bybitctl.errors import UsageError
from bybitctl.parsing import InvalidValue, NumberRule

CATEGORIES = ("linear", "spot", "option")
REFERENCES = ("mid", "microprice", "last", "mark")
KILL_ACTIONS = ("pause", "cooldown", "stop")
LEFTOVERS = ("cancel", "adopt")
_PREFIX = re.compile(r"[A-Za-z0-9]{1,12}")
_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}")
"""A symbol: `BTCUSDT`, or an option's `BTC-27DEC25-100000-C`."""

# Ranges shared by several fields. Every numeric field has a finite range: beyond these no
# value means anything a market maker could want, and each bound keeps the arithmetic on it
# (a timer's deadline, a qty divided by the step) finite and exact.
_DAY_S = 86_400
_AMOUNT = NumberRule(minimum=0, maximum=10**12, positive=True)
"""Quantities (base) and money (quote): positive, at most 10^12."""
_BPS = NumberRule(minimum=0, maximum=5000)
_BPS_POSITIVE = NumberRule(minimum=0, maximum=5000, positive=True)
_HOUR_MS = NumberRule(minimum=0, maximum=3_600_000)
_HOUR_MS_POSITIVE = NumberRule(minimum=0, maximum=3_600_000, positive=True)
_DAY = NumberRule(minimum=0, maximum=_DAY_S)
_DAY_POSITIVE = NumberRule(minimum=0, maximum=_DAY_S, positive=True)
_GRAMMAR = NumberRule(signed=True)
"""The shape alone (digits, sign, fraction): the range is each field's own, checked after, so
a message states the whole interval."""


def _doc(
    unit: str,
    doc: str,
    *,
    section: str,
    rule: NumberRule | None = None,
    choices: tuple[str, ...] = (),
    text: tuple[re.Pattern[str], str] | None = None,
) -> dict[str, Any]:
    """Field metadata: the unit, help text and section that docs and `mm init` print, and
    what the field accepts: a number `rule` (its range), `choices`, or a `text` pattern with
    its description."""
    return {
        "unit": unit,
        "doc": doc,
        "section": section,
        "rule": rule,
        "choices": choices,
        "text": text,
    }


def accepts(name: str) -> str:
    """What field `name` accepts, in words: its range, choices or text rule ("" for a
    boolean), for docs, `mm init` and the flags' help."""
    meta = _FIELDS[name].metadata
    if meta["rule"] is not None:
        return meta["rule"].interval()
    if meta["choices"]:
        return "one of " + ", ".join(meta["choices"])
    if meta["text"] is not None:
        return meta["text"][1]
    return ""


def _plain(value: Any) -> str:
    """A number as typed: no exponent, no trailing ".0"."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value) if isinstance(value, int) else repr(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class MMConfig:
    """What to quote, how wide, how big, and when to stop. Frozen: a running quoter's
    parameters never change under it; a new config means a new object, validated again."""

    symbol: str = field(
        metadata=_doc(
            "",
            "Instrument to quote, e.g. BTCUSDT (an option: BTC-27DEC25-100000-C).",
            section="market",
            text=(_SYMBOL, "1-32 upper-case letters, digits or '-', not starting with '-'"),
        )
    )
    category: str = field(
        default="linear",
        metadata=_doc(
            "",
            "linear (USDT perpetual), spot, or option (quoted under the exchange's MMP).",
            section="market",
            choices=CATEGORIES,
        ),
    )
    reference: str = field(
        default="mid",
        metadata=_doc(
            "",
            "Price the quotes are centred on: mid, microprice (size-weighted top of book), "
            "last (last public trade) or mark (mark price; linear and option).",
            section="quotes",
            choices=REFERENCES,
        ),
    )
    spread_bps: float = field(
        default=10.0,
        metadata=_doc(
            "bps",
            "Half-spread: distance of the first level from the reference.",
            section="quotes",
            rule=_BPS_POSITIVE,
        ),
    )
    levels: int = field(
        default=1,
        metadata=_doc(
            "", "Orders per side (1-20).", section="quotes", rule=NumberRule(minimum=1, maximum=20)
        ),
    )
    level_spacing_bps: float = field(
        default=5.0,
        metadata=_doc(
            "bps",
            "Extra distance of each further level from the previous one.",
            section="quotes",
            rule=_BPS,
        ),
    )
    order_qty: Decimal | None = field(
        default=None,
        metadata=_doc(
            "base",
            "Base qty of a level-1 order (set this or order_notional).",
            section="size",
            rule=_AMOUNT,
        ),
    )
    order_notional: Decimal | None = field(
        default=None,
        metadata=_doc(
            "quote",
            "Quote value of a level-1 order, converted at the quote price (set this or order_qty).",
            section="size",
            rule=_AMOUNT,
        ),
    )
    level_multipliers: tuple[float, ...] = field(
        default=(),
        metadata=_doc(
            "",
            "Size multiplier per level (flag: 1,2,3; mm.toml: [1, 2, 3]); empty = 1 each.",
            section="size",
            rule=NumberRule(minimum=0, maximum=1000, positive=True),
        ),
    )
    max_position: Decimal = field(
        metadata=_doc(
            "base",
            "Largest |position| a full fill of every open order may reach.",
            section="limits",
            rule=_AMOUNT,
        )
    )
    max_notional: Decimal | None = field(
        default=None,
        metadata=_doc(
            "quote",
            "Optional cap on |position| x reference price, same worst-case rule.",
            section="limits",
            rule=_AMOUNT,
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
            rule=NumberRule(minimum=0, maximum=1),
        ),
    )
    refresh_tolerance_bps: float = field(
        default=2.0,
        metadata=_doc(
            "bps",
            "Requote a resting order only when its price is further than this from "
            "the wanted price.",
            section="requote",
            rule=_BPS,
        ),
    )
    min_requote_interval_ms: int = field(
        default=200,
        metadata=_doc(
            "ms",
            "Least time between two requotes (cancels that reduce risk are exempt).",
            section="requote",
            rule=_HOUR_MS,
        ),
    )
    max_order_age_ms: int = field(
        default=60_000,
        metadata=_doc(
            "ms",
            "Replace an order older than this even when its price is fine; 0 = never.",
            section="requote",
            rule=NumberRule(minimum=0, maximum=_DAY_S * 1000),
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
            rule=NumberRule(signed=True, minimum=-100, maximum=100),
        ),
    )
    min_edge_bps: float = field(
        default=1.0,
        metadata=_doc(
            "bps",
            "Edge per fill kept above the maker fee when fee_aware.",
            section="fees",
            rule=NumberRule(minimum=0, maximum=1000),
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
            rule=_HOUR_MS_POSITIVE,
        ),
    )
    vol_multiplier: float = field(
        default=1.0,
        metadata=_doc(
            "",
            "Half-spread floor = vol_multiplier x volatility (bps) when vol_scaling.",
            section="volatility",
            rule=NumberRule(minimum=0, maximum=100),
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
            rule=NumberRule(minimum=1, maximum=200),
        ),
    )
    kill_max_loss: Decimal | None = field(
        default=None,
        metadata=_doc(
            "quote",
            "Kill switch: trip when PnL since start falls to -this.",
            section="kill",
            rule=_AMOUNT,
        ),
    )
    kill_max_drawdown: Decimal | None = field(
        default=None,
        metadata=_doc(
            "quote",
            "Kill switch: trip when PnL falls this far below its peak.",
            section="kill",
            rule=_AMOUNT,
        ),
    )
    kill_action: str = field(
        default="stop",
        metadata=_doc(
            "",
            "On trip: pause (stay flat until resumed), cooldown (resume after "
            "kill_cooldown_s) or stop (cancel all and exit).",
            section="kill",
            choices=KILL_ACTIONS,
        ),
    )
    kill_cooldown_s: int = field(
        default=300,
        metadata=_doc("s", "Pause length for kill_action = cooldown.", section="kill", rule=_DAY),
    )
    stale_book_ms: int = field(
        default=5_000,
        metadata=_doc(
            "ms",
            "Pull quotes when no book message arrived for this long.",
            section="guards",
            rule=_HOUR_MS_POSITIVE,
        ),
    )
    fill_cooldown_ms: int = field(
        default=0,
        metadata=_doc(
            "ms",
            "After a fill on a side, place nothing new on that side for this long.",
            section="guards",
            rule=_HOUR_MS,
        ),
    )
    mmp_window_ms: int = field(
        default=1_000,
        metadata=_doc(
            "ms",
            "Market-maker protection: window the maker fill qty is summed over (option: the "
            "exchange's MMP window).",
            section="guards",
            rule=_HOUR_MS_POSITIVE,
        ),
    )
    mmp_max_qty: Decimal | None = field(
        default=None,
        metadata=_doc(
            "base",
            "MMP: pull all quotes when maker fills in the window exceed this; unset = off "
            "(required for option: the exchange's qty limit).",
            section="guards",
            rule=_AMOUNT,
        ),
    )
    mmp_freeze_s: float = field(
        default=10.0,
        metadata=_doc(
            "s",
            "MMP: how long quotes stay pulled (option: the exchange's frozen period, > 0).",
            section="guards",
            rule=_DAY,
        ),
    )
    mmp_max_delta: Decimal | None = field(
        default=None,
        metadata=_doc(
            "delta",
            "Option only: the exchange's MMP delta limit (|sum of maker fill qty x delta| in "
            "the window); unset = mmp_max_qty, which a delta of at most 1 never exceeds first.",
            section="guards",
            rule=_AMOUNT,
        ),
    )
    rate_limit: float = field(
        default=10.0,
        metadata=_doc(
            "actions/s",
            "Order actions (place, amend, cancel) per second; the rest wait, cancels first.",
            section="guards",
            rule=NumberRule(minimum=0, maximum=1000, positive=True),
        ),
    )
    reject_limit: int = field(
        default=20,
        metadata=_doc(
            "",
            "Live runs: stop (reason rejects:<retCode>, exit 1) once this many order "
            "placements in a row are rejected with the same retCode; 0 = never.",
            section="guards",
            rule=NumberRule(minimum=0, maximum=10_000),
        ),
    )
    reject_window_s: float = field(
        default=60.0,
        metadata=_doc(
            "s",
            "Reject breaker: only rejects within this long of the latest one count.",
            section="guards",
            rule=_DAY_POSITIVE,
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
            text=(_PREFIX, "1-12 letters or digits"),
        ),
    )
    leftovers: str = field(
        default="cancel",
        metadata=_doc(
            "",
            "Open orders of earlier runs (same link_prefix) at start: cancel them, or adopt "
            "them as this run's own quotes (kept, amended or cancelled like new ones).",
            section="exit",
            choices=LEFTOVERS,
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


class ConfigProblems(UsageError):
    """Every problem of one mm config, each on its own `error:` line naming its field, so
    one run of the command shows all there is to fix."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "\n".join(f"mm config: {p}" for p in problems), hint="see docs/mm.md for every field"
        )

    def show(self) -> str:
        lines = [f"error: mm config: {p}" for p in self.problems]
        return "\n".join([*lines, self.hint] if self.hint else lines)


def _check_intrinsic(c: MMConfig) -> None:
    """Every field in its range (or among its choices), then the rules between fields."""
    problems = _field_problems({f.name: getattr(c, f.name) for f in fields(c)})
    if not problems:
        problems = _cross_problems(c)
    if problems:
        raise ConfigProblems(problems)


def _field_problems(values: Mapping[str, Any]) -> list[str]:
    """What is wrong with each value on its own: out of its range, not among its choices,
    not of its text shape (None = unset, always fine)."""
    problems = []
    for name, value in values.items():
        meta = _FIELDS[name].metadata
        if value is None:
            continue
        rule, choices, text = meta["rule"], meta["choices"], meta["text"]
        if rule is not None:
            for item in value if isinstance(value, tuple) else (value,):
                if not rule.contains(item):
                    problems.append(f"{name}: must be in {rule.interval()}, got {_plain(item)}")
                    break
        elif choices and value not in choices:
            problems.append(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
        elif text is not None and not text[0].fullmatch(value):
            problems.append(f"{name}: expected {text[1]}, got {value!r}")
    return problems


def _cross_problems(c: MMConfig) -> list[str]:
    """The rules between fields (each field is in its range already)."""
    problems = []
    if c.reference == "mark" and c.category == "spot":
        problems.append("reference: spot has no mark price")
    if c.category == "option":
        problems += _option_problems(c)
    elif c.mmp_max_delta is not None:
        problems.append("mmp_max_delta: option only (the exchange's MMP is for options)")
    if c.levels > 1 and c.level_spacing_bps == 0:
        problems.append("level_spacing_bps: must be > 0 with several levels, got 0")
    if (c.order_qty is None) == (c.order_notional is None):
        problems.append("order_qty: set exactly one of order_qty and order_notional")
    if c.level_multipliers and len(c.level_multipliers) != c.levels:
        problems.append(
            f"level_multipliers: need {c.levels} positive numbers (one per level), "
            f"got {len(c.level_multipliers)}"
        )
    if c.hedge_mode and c.category == "spot":
        problems.append("hedge_mode: spot has no hedge mode")
    if c.leverage is not None and c.category == "spot":
        problems.append("leverage: linear only: spot has no leverage")
    return problems


def _option_problems(c: MMConfig) -> list[str]:
    """What an option config cannot have: no leverage, no hedge mode, and the exchange's MMP
    needs its limits and a frozen period it ends by itself."""
    problems = []
    if c.leverage is not None:
        problems.append("leverage: linear only: options have no leverage")
    if c.hedge_mode:
        problems.append("hedge_mode: linear only: options have no hedge mode")
    if c.mmp_max_qty is None:
        problems.append("mmp_max_qty: required for option (the exchange's MMP qty limit)")
    if c.mmp_freeze_s * 1000 < 1:
        problems.append(
            "mmp_freeze_s: must be at least 0.001 for option (0 freezes the exchange's MMP "
            "until a reset)"
        )
    return problems


# -- loading ------------------------------------------------------------------------------

_FIELDS = {f.name: f for f in fields(MMConfig)}
_KINDS = {
    "Decimal": "a decimal number",
    "float": "a number",
    "int": "an integer",
    "bool": "true or false",
    "tuple[float, ...]": "a list of numbers",
    "str": "a string",
}


def _convert(name: str, value: Any) -> Any:
    """A flag's text or a TOML value as the field's type, through the one grammar; the
    range is checked afterwards. InvalidValue says what is wrong with the value."""
    declared = _FIELDS[name].type
    kind = declared.removesuffix(" | None")
    if value is None:
        return None if declared != kind else _wrong(kind, value)
    if kind == "bool":
        return parsing.boolean(value) if isinstance(value, str | bool) else _wrong(kind, value)
    if kind == "str":
        return parsing.text(value, required=True)
    if kind == "tuple[float, ...]":
        if isinstance(value, str):
            items: Any = value.split(",") if value else []
        elif isinstance(value, list | tuple):
            items = value
        else:
            return _wrong(kind, value)
        return tuple(float(parsing.number(number_text(x, "float"), _GRAMMAR)) for x in items)
    text = number_text(value, kind)
    if kind == "Decimal":
        return Decimal(parsing.decimal_text(text, _GRAMMAR))
    if kind == "float":
        return float(parsing.number(text, _GRAMMAR))
    return parsing.integer(text, _GRAMMAR)


def number_text(value: Any, kind: str) -> str:
    """A number as the text the grammar reads: a flag's or a TOML string's text as is; a
    TOML (or Python) number in plain notation (TOML's `1e5` is `100000`, its `inf` is
    `Infinity` and refused as such); a whole TOML float is a whole number for an integer."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return _wrong(kind, value)
    if isinstance(value, int):
        return str(value)
    number = value if isinstance(value, Decimal) else Decimal(repr(value))
    if kind == "int" and number.is_finite() and number == number.to_integral_value():
        return str(int(number))
    return format(number, "f")


def _wrong(kind: str, value: Any) -> Any:
    raise InvalidValue(f"expected {_KINDS[kind]}, got {value!r}")


RETIRED = {
    "warm_interval_ms": "the idle-time tick rehearsal it paced is gone",
}
"""Fields of earlier versions, with why they went. An `mm.toml` that still sets one loads as
before and the value is ignored (it never changed what was quoted); `retired_notes` gives the
warning the commands print."""


def retired_notes(values: Mapping[str, Any]) -> list[str]:
    """One `warning:` line per retired field set in `values` (an `mm.toml`'s keys)."""
    names = {key.replace("-", "_") for key in values}
    return [
        f"warning: mm config: {name} is no longer used and is ignored ({why}); "
        "delete it from the file"
        for name, why in RETIRED.items()
        if name in names
    ]


def from_mapping(values: Mapping[str, Any]) -> MMConfig:
    """Build a config from field-name keys (TOML or flags). Every problem is collected and
    reported at once: unknown keys, values the grammar refuses, values out of range,
    required fields missing, then (once each field is right) the rules between fields.
    A `RETIRED` field is skipped."""
    converted: dict[str, Any] = {}
    problems: list[str] = []
    given = set()
    for key, value in values.items():
        name = key.replace("-", "_")
        if name in RETIRED:
            continue
        if name not in _FIELDS:
            problems.append(f"{key}: unknown field")
            continue
        given.add(name)
        try:
            converted[name] = _convert(name, value)
        except InvalidValue as exc:
            problems.append(f"{name}: {exc}")
    problems += _field_problems(converted)
    for name, f in _FIELDS.items():
        if f.default is MISSING and name not in given:
            problems.append(f"{name}: required")
    if problems:
        order = {name: n for n, name in enumerate(_FIELDS)}  # unknown keys first
        raise ConfigProblems(sorted(problems, key=lambda p: order.get(p.split(":")[0], -1)))
    return MMConfig(**converted)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The values of an `mm.toml`, its floats as exact Decimals (`order_qty = 0.1` is 0.1,
    not the nearest binary float); a file that cannot be read as TOML is a UsageError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"mm config: no such file: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"mm config: {path} is a directory, not a TOML file") from None
    except OSError as exc:
        raise UsageError(f"mm config: cannot read {path}: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(data.decode("utf-8"), parse_float=Decimal)
    except UnicodeDecodeError:
        raise UsageError(f"mm config: {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"mm config: {path}: {exc}") from None
