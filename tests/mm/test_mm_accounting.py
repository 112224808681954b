"""Ledger: hand-computed cases and the attribution identity over random fill sequences."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from support.examples import examples

from bybitctl.mm.accounting import Fill, Ledger

D = Decimal


def fill(
    side: str, price: str, qty: str, fee: str = "0", mid: str | None = None, maker: bool = True
) -> Fill:
    return Fill(side, D(price), D(qty), D(fee), D(mid or price), maker)


def test_round_trip_with_fees_and_rebate() -> None:
    led = Ledger()
    led.apply(fill("Buy", "99.9", "2", fee="0.04", mid="100"))
    led.apply(fill("Sell", "100.1", "2", fee="-0.02", mid="100"))
    assert led.position == 0 and led.cost == 0
    assert led.realized_gross == D("0.4")
    assert led.fees == D("0.02")
    assert led.realized == D("0.38")  # net of the fee paid and the rebate received
    assert led.spread_capture == D("0.4") and led.inventory_pnl(D(123)) == 0
    assert led.volume_base == 4 and led.volume_quote == D("400.0")
    assert led.fills == 2 and led.maker_fills == 2 and led.max_abs_position == 2


def test_average_entry_partial_close_and_flip() -> None:
    led = Ledger()
    led.apply(fill("Buy", "100", "1"))
    led.apply(fill("Buy", "103", "2"))
    assert led.avg_price == D(102) and led.position == 3
    assert led.unrealized(D(104)) == D(6)
    led.apply(fill("Sell", "105", "1"))  # closes 1 at 105 vs 102 avg
    assert led.realized == D(3) and led.position == 2 and led.avg_price == D(102)
    led.apply(fill("Sell", "101", "5", maker=False))  # closes 2 at -1 each, opens 3 short
    assert led.realized == D(1)
    assert led.position == -3 and led.avg_price == D(101)
    assert led.unrealized(D(100)) == D(3)
    assert led.taker_fills == 1 and led.max_abs_position == 3


def test_attribution_hand_case() -> None:
    led = Ledger()
    led.apply(fill("Buy", "99", "1", fee="0.01", mid="100"))  # 1 of spread captured
    led.apply(fill("Sell", "98", "1", fee="0.01", mid="97"))  # sold 1 above the mid
    mark = D(96)
    assert led.spread_capture == D(2)
    assert led.inventory_pnl(mark) == D(-3)  # bought at mid 100, sold at mid 97
    assert led.realized == D("-1.02") and led.unrealized(mark) == 0
    assert led.spread_capture + led.inventory_pnl(mark) - led.fees == led.total(mark)


def test_thirds_stay_exact() -> None:
    led = Ledger()
    led.apply(fill("Buy", "100", "3"))
    led.apply(fill("Buy", "101", "3"))
    for _ in range(3):
        led.apply(fill("Sell", "102", "1"))
    mark = D("100.37")
    total = led.realized + led.unrealized(mark)
    assert total == D(3 * 102) + 3 * mark - D(603)  # cash + position at mark, exactly


prices = st.integers(9_000, 11_000).map(lambda t: D(t) / 100)
qtys = st.integers(1, 5_000).map(lambda n: D(n) / 1000)
fees = st.integers(-50, 200).map(lambda n: D(n) / 10_000)


@settings(max_examples=examples(300), deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["Buy", "Sell"]), prices, qtys, fees, prices, st.booleans()),
        max_size=40,
    ),
    prices,
)
def test_identity_spread_plus_inventory_minus_fees_is_realized_plus_unrealized(
    fills: list[tuple], mark: Decimal
) -> None:
    led = Ledger()
    cash = D(0)
    position = D(0)
    for side, price, qty, fee, mid, maker in fills:
        led.apply(Fill(side, price, qty, fee, mid, maker))
        signed = qty if side == "Buy" else -qty
        cash -= signed * price
        position += signed
        assert led.max_abs_position >= abs(led.position)
    assert led.position == position
    assert led.spread_capture + led.inventory_pnl(mark) - led.fees == led.realized + led.unrealized(
        mark
    )
    assert led.realized + led.unrealized(mark) == cash + position * mark - led.fees
    assert led.fills == len(fills) and led.maker_fills == sum(f[5] for f in fills)
