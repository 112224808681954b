"""Ledger: hand-computed cases and the attribution identity over random fill sequences."""

from __future__ import annotations

from decimal import Decimal, localcontext

from hypothesis import given, settings
from hypothesis import strategies as st
from support.examples import examples

from bybitctl.mm.accounting import Fill, Funding, Ledger, booked

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


def test_funding_is_pnl_outside_trading() -> None:
    led = Ledger()
    led.apply(fill("Buy", "100", "2", fee="0.02", mid="100.05"))
    led.settle(Funding(D("-0.02"), D("0.0001"), D(2), D(100)))  # the long pays
    led.settle(Funding(D("0.005"), D("-0.000025"), D(2), D(100)))  # and then receives
    assert led.funding == D("-0.015") and led.funding_settlements == 2
    # nothing of trading moved: position, cost, fees, realised, fills
    assert led.position == 2 and led.cost == D(200) and led.fees == D("0.02")
    assert led.realized == D("-0.02") and led.fills == 1
    mark = D(101)
    assert led.total(mark) == led.realized + led.unrealized(mark) + led.funding == D("1.965")
    assert led.spread_capture + led.inventory_pnl(mark) - led.fees + led.funding == led.total(mark)
    summary = led.summary(mark)
    assert summary["funding"] == D("-0.015") and summary["total_pnl"] == D("1.965")


def test_funding_from_bybit_execution_rows() -> None:
    row = {"execType": "Funding", "execFee": "0.65", "feeRate": "0.0001", "side": "Buy"}
    long = Funding.from_execution({**row, "execQty": "0.1", "execPrice": "65000"}, 7)
    assert long == Funding(D("-0.65"), D("0.0001"), D("0.1"), D(65000), 7)
    short = Funding.from_execution(
        {**row, "side": "Sell", "execFee": "-0.65", "feeRate": "-0.0001", "execQty": "0.1"}
        | {"execPrice": "65000", "execTime": "123"},
        7,
    )
    assert short == Funding(D("0.65"), D("-0.0001"), D("-0.1"), D(65000), 123)
    mine = lambda link: link.startswith("mm")  # noqa: E731
    assert booked(mine, {"execType": "Funding", "orderLinkId": ""})
    assert booked(mine, {"execType": "Trade", "orderLinkId": "mm1"})
    assert not booked(mine, {"execType": "Trade", "orderLinkId": "other"})


prices = st.integers(9_000, 11_000).map(lambda t: D(t) / 100)
qtys = st.integers(1, 5_000).map(lambda n: D(n) / 1000)
fees = st.integers(-50, 200).map(lambda n: D(n) / 10_000)


fundings = st.integers(-5_000, 5_000).map(lambda n: D(n) / 10_000)


@settings(max_examples=examples(300), deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Buy", "Sell"]),
            prices,
            qtys,
            fees,
            prices,
            st.booleans(),
            st.none() | fundings,
        ),
        max_size=40,
    ),
    prices,
)
def test_identity_spread_plus_inventory_minus_fees_plus_funding_is_the_total(
    fills: list[tuple], mark: Decimal
) -> None:
    led = Ledger()
    cash = D(0)
    position = D(0)
    received = D(0)
    for side, price, qty, fee, mid, maker, funding in fills:
        led.apply(Fill(side, price, qty, fee, mid, maker))
        signed = qty if side == "Buy" else -qty
        cash -= signed * price
        position += signed
        if funding is not None:  # a settlement on the position held now
            led.settle(Funding(funding, D("0.0001"), led.position, mid))
            received += funding
        assert led.max_abs_position >= abs(led.position)
    assert led.position == position
    with localcontext() as wide:  # the ledger's own width: sums of 1/3 shares are exact there
        wide.prec = 60
        _identities(led, mark, cash + position * mark - led.fees + received)
    assert led.funding == received
    assert led.funding_settlements == sum(f[6] is not None for f in fills)
    assert led.fills == len(fills) and led.maker_fills == sum(f[5] for f in fills)


def _identities(led: Ledger, mark: Decimal, cash_and_mark: Decimal) -> None:
    assert led.spread_capture + led.inventory_pnl(mark) - led.fees == led.realized + led.unrealized(
        mark
    )
    assert led.total(mark) == led.realized + led.unrealized(mark) + led.funding
    assert led.total(mark) == cash_and_mark
