"""MMConfig: loading (file + flags), intrinsic checks and checks against the instrument."""

from __future__ import annotations

import re
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
from support.synthetic import LINEAR_INSTRUMENT

from bybitctl.errors import BAD_INPUT, UsageError
from bybitctl.mm.config import MMConfig, accepts, from_mapping, read_config_file, retired_notes
from bybitctl.mm.example import example_toml
from bybitctl.mm.figures import REPORT_KEYS
from bybitctl.mm.rules import validate

from .helpers import BASE, config

SPOT = {
    "symbol": "SIMUSDT",
    "priceFilter": {"tickSize": "0.01"},
    "lotSizeFilter": {
        "basePrecision": "0.0001",
        "quotePrecision": "0.01",
        "minOrderQty": "0.0005",
        "maxOrderQty": "100",
        "minOrderAmt": "5",
        "maxOrderAmt": "100000",
    },
}


def test_defaults_and_types() -> None:
    cfg = config()
    assert cfg.category == "linear" and cfg.reference == "mid"
    assert cfg.order_qty == Decimal("0.1") and isinstance(cfg.max_position, Decimal)
    assert cfg.levels == 1 and cfg.post_only is True


def test_file_then_flags_win(tmp_path: Path) -> None:
    path = tmp_path / "mm.toml"
    path.write_text(
        'symbol = "SIMUSDT"\norder_qty = 0.2\nmax_position = "2"\n'
        "spread_bps = 7.5\nlevels = 2\nlevel_multipliers = [1, 1.5]\n"
    )
    cfg = from_mapping({**read_config_file(path), "spread_bps": "12", "post-only": "false"})
    assert cfg.spread_bps == 12.0  # flag wins
    assert cfg.levels == 2  # from the file
    assert cfg.order_qty == Decimal("0.2")  # TOML float read exactly
    assert cfg.level_multipliers == (1.0, 1.5)
    assert cfg.post_only is False


def test_example_toml_loads_and_names_every_field(tmp_path: Path) -> None:
    text = example_toml()
    for name in MMConfig.__dataclass_fields__:
        assert f"{name} =" in text, name
    path = tmp_path / "mm.toml"
    path.write_text(text)
    assert tomllib.loads(text)["symbol"] == "BTCUSDT"
    cfg = from_mapping(read_config_file(path))
    assert cfg.kill_max_loss == Decimal(50)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"symbol": "btc usdt"}, "symbol"),
        ({"category": "inverse"}, "category"),
        ({"reference": "vwap"}, "reference"),
        ({"spread_bps": 0}, "spread_bps"),
        ({"spread_bps": "wide"}, "spread_bps"),
        ({"levels": 0}, "levels"),
        ({"levels": 2, "level_spacing_bps": 0}, "level_spacing_bps"),
        ({"order_qty": "-1"}, "order_qty"),
        ({"order_notional": "100"}, "order_qty"),  # both set
        ({"levels": 2, "level_spacing_bps": 1, "level_multipliers": [1]}, "level_multipliers"),
        ({"max_position": "0"}, "max_position"),
        ({"max_notional": "-5"}, "max_notional"),
        ({"skew_strength": 1.5}, "skew_strength"),
        ({"refresh_tolerance_bps": -1}, "refresh_tolerance_bps"),
        ({"min_requote_interval_ms": -1}, "min_requote_interval_ms"),
        ({"stale_book_ms": 0}, "stale_book_ms"),
        ({"vol_window_ms": 0}, "vol_window_ms"),
        ({"category": "spot", "hedge_mode": True}, "hedge_mode"),
        ({"category": "spot", "leverage": 2}, "leverage"),
        ({"category": "spot", "reference": "mark"}, "reference"),
        ({"kill_max_loss": 0}, "kill_max_loss"),
        ({"kill_action": "panic"}, "kill_action"),
        ({"mmp_max_qty": "-1"}, "mmp_max_qty"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"reject_limit": -1}, "reject_limit"),
        ({"reject_window_s": 0}, "reject_window_s"),
        ({"link_prefix": "has-dash"}, "link_prefix"),
        ({"post_only": "maybe"}, "post_only"),
        ({"no_such_field": 1}, "no_such_field"),
    ],
)
def test_bad_field_is_named_with_exit_2(override: dict, field: str) -> None:
    with pytest.raises(UsageError) as err:
        from_mapping({**BASE, **override})
    assert err.value.exit_code == BAD_INPUT == 2
    assert f"mm config: {field}:" in err.value.message


@pytest.mark.parametrize("missing", ["symbol", "max_position"])
def test_required_fields(missing: str) -> None:
    values = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(UsageError, match=f"{missing}: required"):
        from_mapping(values)


def test_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        read_config_file(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("symbol = \n")
    with pytest.raises(UsageError):
        read_config_file(bad)


def test_validate_returns_instrument_rules() -> None:
    rules = validate(config(), LINEAR_INSTRUMENT)
    assert rules.tick_size == Decimal("0.01") and rules.qty_step == Decimal("0.001")
    assert rules.min_qty == Decimal("0.001") and rules.min_notional == Decimal("0.1")


@pytest.mark.parametrize(
    ("override", "price", "field", "text"),
    [
        ({"order_qty": "0.0015"}, None, "order_qty", "multiple of the qty step"),
        (
            {
                "order_qty": "0.001",
                "levels": 2,
                "level_spacing_bps": 1,
                "level_multipliers": [1, 0.5],
            },
            None,
            "level_multipliers",
            "below the minimum",
        ),
        ({"order_qty": "2000"}, None, "order_qty", "above the maximum"),
        ({"order_qty": "0.001"}, Decimal(50), "order_qty", "minimum order value"),
        ({"order_qty": None, "order_notional": "0.05"}, None, "order_notional", "minimum"),
        ({"max_position": "0.0001"}, None, "max_position", "below the minimum"),
        ({"leverage": 75}, None, "leverage", "outside"),
    ],
)
def test_validate_against_instrument_names_field(
    override: dict, price: Decimal | None, field: str, text: str
) -> None:
    values = {**BASE, **override}
    cfg = from_mapping({k: v for k, v in values.items() if v is not None})
    with pytest.raises(UsageError, match=text) as err:
        validate(cfg, LINEAR_INSTRUMENT, price)
    assert err.value.message.startswith(f"mm config: {field}:")
    assert err.value.exit_code == 2


def test_validate_spot_uses_base_precision_and_min_amount() -> None:
    ok = from_mapping({**BASE, "category": "spot", "order_qty": "0.0505"})
    assert validate(ok, SPOT).qty_step == Decimal("0.0001")
    small = from_mapping({**BASE, "category": "spot", "order_qty": "0.01"})
    with pytest.raises(UsageError, match=r"order_qty: .*minimum order value 5"):
        validate(small, SPOT, Decimal(100))


def test_validate_refuses_other_symbol_and_bad_instrument() -> None:
    with pytest.raises(UsageError, match="symbol"):
        validate(config(symbol="ETHUSDT"), LINEAR_INSTRUMENT)
    with pytest.raises(UsageError, match="trading filter"):
        validate(config(), {"symbol": "SIMUSDT", "priceFilter": {}})


def test_docs_explain_every_field_and_report_key() -> None:
    text = (Path(__file__).parents[2] / "docs" / "mm.md").read_text()
    for name in MMConfig.__dataclass_fields__:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        checks = row.rstrip(" |").rsplit("|", 1)[1].lower()
        assert accepts(name).lower() in checks, (name, checks)  # the declared range
    for key in REPORT_KEYS:
        assert f"`{key}`" in text, key


OPTION = {"category": "option", "mmp_max_qty": "0.5"}


def test_an_option_config_arms_the_exchange_mmp_from_the_one_set_of_mmp_fields() -> None:
    c = from_mapping({**BASE, **OPTION, "symbol": "BTC-27DEC25-100000-C", "reference": "mark"})
    assert c.category == "option" and c.mmp_max_qty == Decimal("0.5")
    assert c.mmp_max_delta is None  # the qty limit stands for it


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ({"level_spacing_bps": -1}, "level_spacing_bps: must be in [0, 5000], got -1"),
        ({"levels": 2, "level_spacing_bps": 0}, "must be > 0 with several levels"),
        ({"category": "spot", "leverage": 2}, "leverage: linear only: spot has no leverage"),
        ({"leverage": 0}, "leverage: must be in [1, 200], got 0"),
        ({"order_qty": "abc"}, "order_qty: expected a decimal number, got 'abc'"),
        ({"levels": "two"}, "levels: expected an integer, got 'two'"),
        ({"leftovers": "keep"}, "leftovers: expected one of cancel, adopt, got 'keep'"),
        ({"mmp_max_delta": "1"}, "mmp_max_delta: option only"),
        ({"category": "option"}, "mmp_max_qty: required for option"),
        (OPTION | {"leverage": 2}, "leverage: linear only: options have no leverage"),
        (OPTION | {"hedge_mode": True}, "hedge_mode: linear only: options have no hedge mode"),
        (OPTION | {"mmp_freeze_s": 0}, "mmp_freeze_s: must be at least 0.001 for option"),
        ({"symbol": "-BTC"}, "symbol: expected 1-32 upper-case letters, digits or '-'"),
    ],
)
def test_bad_field_message_says_what_is_wrong(override: dict, says: str) -> None:
    with pytest.raises(UsageError, match=re.escape(says)):
        from_mapping({**BASE, **override})


def test_a_retired_field_in_an_old_file_is_ignored_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "mm.toml"
    path.write_text('symbol = "SIMUSDT"\norder_qty = 0.1\nmax_position = 1\nwarm_interval_ms = 5\n')
    values = read_config_file(path)
    assert from_mapping(values) == from_mapping(
        {k: v for k, v in values.items() if "warm" not in k}
    )
    (note,) = retired_notes(values)
    assert note.startswith("warning: mm config: warm_interval_ms is no longer used and is ignored")
    assert retired_notes(BASE) == []
    # a retired name is no field: it has no flag, and the docs do not list it
    assert "warm_interval_ms" not in MMConfig.__dataclass_fields__
