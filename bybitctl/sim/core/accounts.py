"""UNIFIED accounts: wallet balances, positions, fees and the ledger that makes money add up.

All money is Decimal and every wallet change goes through `Account.book_change`, which also
writes the transaction-log row, so for each coin: final balance - initial balance == the sum
of the log's `change` column, exactly. For linear trading that change is realised PnL
(`cashFlow`) minus the execution fee; closed-PnL records carry the same amounts, with the
opening fees allocated to the closing orders so a flat position's records sum to its wallet
change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bybitctl.sim.core.instruments import Instrument
from bybitctl.sim.core.options import short_margins
from bybitctl.sim.core.orders import ZERO, Order, fmt
from bybitctl.sim.core.positions import MM_RATE, Position, gain, money

FEE_RATES: dict[str, tuple[Decimal, Decimal]] = {
    "linear": (Decimal("0.0002"), Decimal("0.00055")),
    "inverse": (Decimal("0.0002"), Decimal("0.00055")),
    "spot": (Decimal("0.001"), Decimal("0.001")),
    "option": (Decimal("0.0003"), Decimal("0.0003")),
}
"""category -> (maker, taker) fee rate."""

INITIAL_BALANCES = {
    "USDT": Decimal(100000),
    "USDC": Decimal(100000),
    "BTC": Decimal(1),
    "ETH": Decimal(10),
}
DEFAULT_LEVERAGE = Decimal(10)


@dataclass(slots=True)
class Fill:
    """What settling one execution did to the account, for the execution row and closed PnL."""

    fee: Decimal
    fee_rate: Decimal
    fee_coin: str
    pnl: Decimal
    closed_lots: int
    closed_cost: Decimal
    closing_fees: Decimal
    """Fees the closed part carries into closed PnL: its share of this execution's fee plus
    the opening fees allocated to the lots it closed."""


@dataclass(eq=False)
class Account:
    """One UNIFIED account (uid) and everything the exchange knows about it."""

    uid: str
    created: int
    wallet: dict[str, Decimal] = field(default_factory=lambda: dict(INITIAL_BALANCES))
    hedge: set[str] = field(default_factory=set)
    leverage: dict[str, Decimal] = field(default_factory=dict)
    positions: dict[tuple[str, int], Position] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    open_orders: dict[str, Order] = field(default_factory=dict)
    link_ids: dict[str, str] = field(default_factory=dict)
    executions: list[dict[str, Any]] = field(default_factory=list)
    closed_pnl: list[dict[str, Any]] = field(default_factory=list)
    tx_log: list[dict[str, Any]] = field(default_factory=list)
    transfers: list[dict[str, Any]] = field(default_factory=list)
    spread_executions: list[dict[str, Any]] = field(default_factory=list)
    """Spread fills with their legs (`/v5/spread/execution/list` rows)."""
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    """Option deliveries (`/v5/asset/delivery-record` rows)."""
    fund: dict[str, Decimal] = field(default_factory=dict)
    """FUND account balances: only inter-transfers touch them."""
    cum_realised: dict[str, Decimal] = field(default_factory=dict)
    dcp: dict[str, int] = field(default_factory=dict)
    mmp: dict[str, dict[str, str]] = field(default_factory=dict)
    dcp_gone: dict[str, int] = field(default_factory=dict)
    """Product -> when its last DCP-subscribed private connection closed (DCP's clock)."""
    margin_mode: str = "REGULAR_MARGIN"
    """REGULAR_MARGIN (cross), ISOLATED_MARGIN or PORTFOLIO_MARGIN (`bybitctl.sim.core.margin`)."""
    seq: int = 0

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def position(self, inst: Instrument, idx: int, now: int) -> Position:
        key = (inst.symbol, idx)
        pos = self.positions.get(key)
        if pos is None:
            lev = self.leverage.get(inst.symbol, DEFAULT_LEVERAGE)
            pos = self.positions[key] = Position(inst, idx, lev, created=now, updated=now)
        return pos

    def positions_of(self, inst: Instrument, now: int) -> list[Position]:
        """The symbol's position slots for the current mode (one-way: 0; hedge: 1 and 2)."""
        idxs = (1, 2) if inst.symbol in self.hedge else (0,)
        return [self.position(inst, i, now) for i in idxs]

    def book_change(
        self, coin: str, change: Decimal, now: int, row: dict[str, Any]
    ) -> dict[str, Any]:
        """Apply `change` to `coin` and log it; the single door money goes through."""
        bal = self.wallet.get(coin, ZERO) + change
        self.wallet[coin] = bal
        row.update(
            {
                "id": f"{self.uid}_{len(self.tx_log) + 1}",
                "currency": coin,
                "change": fmt(change),
                "cashBalance": fmt(bal),
                "transactionTime": str(now),
            }
        )
        self.tx_log.append(row)
        return row

    def settle_derivative(
        self,
        order: Order,
        pos: Position,
        price: int,
        lots: int,
        maker: bool,
        now: int,
        rate: Decimal | None = None,
        fee: Decimal | None = None,
    ) -> Fill:
        """Apply one perpetual or option execution to `pos` and the settle coin: open, add,
        reduce, flip. `rate` overrides the fee rate (a liquidation's bankruptcy close pays
        none); `fee` the fee itself (an option's is worked out on the index). A perpetual
        moves the wallet by what it realises; an option by its premium, paid or received."""
        inst = order.inst
        value = inst.value(price, lots)
        if rate is None:
            rate = FEE_RATES[inst.category][0 if maker else 1]
        if fee is None:
            fee = money(value * rate)
        signed = lots if order.side == "Buy" else -lots
        closing = 0
        if pos.size and (pos.size > 0) != (signed > 0):
            closing = min(lots, abs(pos.size))
        pnl = cost = alloc = ZERO
        close_fee = ZERO
        if closing:
            old = abs(pos.size)
            cost = pos.entry_value if closing == old else money(pos.entry_value * closing / old)
            alloc = pos.open_fee if closing == old else money(pos.open_fee * closing / old)
            pnl = gain(inst, pos.size > 0, cost, inst.value(price, closing))
            pos.entry_value -= cost
            pos.open_fee -= alloc
            pos.size += closing if pos.size < 0 else -closing
            close_fee = fee if closing == lots else money(fee * closing / lots)
        opening = lots - closing
        if opening:
            pos.entry_value += value if not closing else inst.value(price, opening)
            pos.open_fee += fee - close_fee
            pos.size += opening if signed > 0 else -opening
        if pos.size == 0:
            pos.entry_value = ZERO
        net = pnl - fee
        pos.cur_realised += net
        pos.cum_realised += net
        pos.updated = now
        pos.seq = self.next_seq()
        coin = inst.settle
        self.cum_realised[coin] = self.cum_realised.get(coin, ZERO) + net
        premium = inst.category == "option"
        cash = (-value if order.side == "Buy" else value) if premium else pnl
        self.book_change(
            coin,
            cash - fee,
            now,
            {
                "symbol": inst.symbol,
                "category": inst.category,
                "side": order.side,
                "type": "LIQUIDATION" if order.create_type == "CreateByLiq" else "TRADE",
                "transSubType": "",
                "qty": inst.qty_str(lots),
                "size": inst.qty_str(abs(pos.size)),
                "tradePrice": inst.price_str(price),
                "funding": "",
                "fee": fmt(fee),
                "feeRate": fmt(rate),
                "cashFlow": fmt(cash),
                "bonusChange": "",
                "orderId": order.order_id,
                "orderLinkId": order.link_id,
                "tradeId": "",
                "extraFees": "",
            },
        )
        return Fill(fee, rate, coin, pnl, closing, cost, alloc + close_fee)

    def settle_funding(self, pos: Position, fee: Decimal, row: dict[str, Any], now: int) -> None:
        """Pay (`fee` > 0) or receive one funding settlement of `pos`. It is realised PnL of
        the position and, like an opening fee, carried by the open lots into the closed PnL
        of the orders that close them."""
        pos.cur_realised -= fee
        pos.cum_realised -= fee
        pos.open_fee += fee
        pos.updated = now
        pos.seq = self.next_seq()
        coin = pos.inst.settle
        self.cum_realised[coin] = self.cum_realised.get(coin, ZERO) - fee
        self.book_change(coin, -fee, now, row)

    def settle_spot(self, order: Order, price: int, lots: int, maker: bool, now: int) -> Fill:
        """Swap coins for one spot execution; the fee comes out of the coin received."""
        inst = order.inst
        qty = inst.qty_dec(lots)
        value = inst.price_dec(price) * qty
        rate = FEE_RATES["spot"][0 if maker else 1]
        buy = order.side == "Buy"
        if buy:
            fee, fee_coin = money(qty * rate), inst.base
            base_change, quote_change = qty - fee, -value
        else:
            fee, fee_coin = money(value * rate), inst.quote
            base_change, quote_change = -qty, value - fee
        common = {
            "symbol": inst.symbol,
            "category": "spot",
            "side": order.side,
            "type": "TRADE",
            "transSubType": "",
            "qty": inst.qty_str(lots),
            "size": "",
            "tradePrice": inst.price_str(price),
            "funding": "",
            "feeRate": fmt(rate),
            "cashFlow": "",
            "bonusChange": "",
            "orderId": order.order_id,
            "orderLinkId": order.link_id,
            "tradeId": "",
            "extraFees": "",
        }
        self.book_change(inst.base, base_change, now, {**common, "fee": fmt(fee) if buy else "0"})
        self.book_change(inst.quote, quote_change, now, {**common, "fee": "0" if buy else fmt(fee)})
        return Fill(fee, rate, fee_coin, ZERO, 0, ZERO, ZERO)

    def coin_views(
        self, marks: dict[str, Decimal], coins: Iterable[str]
    ) -> dict[str, dict[str, Decimal]]:
        """Wallet, equity, margins and availability of each of `coins` (the figures `wallet`
        shows), in the order given, from one pass over the positions and one over the open
        orders however many coins are asked for.

        Open non-reduce-only derivative orders hold initial margin in their settle coin; open
        spot orders lock what they may still spend, so it cannot be spent twice. An
        untriggered conditional order holds nothing until it triggers.
        """
        upl = {c: ZERO for c in coins}
        pos_im, pos_mm, order_im, locked = dict(upl), dict(upl), dict(upl), dict(upl)
        opt_value, opt_upl = dict(upl), dict(upl)
        for pos in self.positions.values():
            inst = pos.inst
            coin = inst.settle
            if not pos.size or coin not in upl:
                continue
            mark = marks[inst.symbol]
            if inst.category == "option":
                # paid for up front: its value at the mark is equity, a short holds margin
                lots = abs(pos.size)
                value = inst.value_at(mark, lots)
                opt_value[coin] += value if pos.size > 0 else -value
                opt_upl[coin] += pos.unrealised(mark)
                if pos.size < 0:
                    im, mm = short_margins(inst, marks[f"{inst.base}USD"], mark)
                    pos_im[coin] += money(im * inst.qty_dec(lots))
                    pos_mm[coin] += money(mm * inst.qty_dec(lots))
                continue
            upl[coin] += pos.unrealised(mark)
            pos_im[coin] += pos.im() + pos.added_margin
            pos_mm[coin] += money(pos.entry_value * MM_RATE)
        for o in self.open_orders.values():
            inst = o.inst
            if o.status == "Untriggered":
                continue
            if inst.category == "spot":
                if o.price is None:
                    continue
                if o.side == "Buy" and inst.quote in locked:
                    locked[inst.quote] += inst.price_dec(o.price) * inst.qty_dec(o.leaves)
                elif o.side == "Sell" and inst.base in locked:
                    locked[inst.base] += inst.qty_dec(o.leaves)
            elif inst.derivative and inst.settle in order_im and not o.reduce_only and o.price:
                lev = self.leverage.get(inst.symbol, DEFAULT_LEVERAGE)
                order_im[inst.settle] += inst.value(o.price, o.leaves) / lev
            elif inst.category == "option" and inst.settle in order_im and not o.reduce_only:
                assert o.price is not None
                if o.side == "Buy":
                    order_im[inst.settle] += inst.value(o.price, o.leaves)
                else:
                    index = marks[f"{inst.base}USD"]
                    im, _ = short_margins(inst, index, inst.price_dec(o.price))
                    order_im[inst.settle] += im * inst.qty_dec(o.leaves)
        views: dict[str, dict[str, Decimal]] = {}
        for coin in upl:
            wallet = self.wallet.get(coin, ZERO)
            im = money(order_im[coin])
            equity = wallet + upl[coin] + opt_value[coin]
            views[coin] = {
                "wallet": wallet,
                "upl": upl[coin] + opt_upl[coin],
                "equity": equity,
                "pos_im": pos_im[coin],
                "pos_mm": pos_mm[coin],
                "order_im": im,
                "locked": locked[coin],
                "available": equity - pos_im[coin] - im - locked[coin],
            }
        return views

    def coin_view(self, coin: str, marks: dict[str, Decimal]) -> dict[str, Decimal]:
        """The figures of one coin (see `coin_views`)."""
        return self.coin_views(marks, (coin,))[coin]

    def available(self, coin: str, marks: dict[str, Decimal]) -> Decimal:
        return self.coin_view(coin, marks)["available"]

    def wallet_dict(
        self, marks: dict[str, Decimal], usd: dict[str, Decimal], coins: list[str] | None = None
    ) -> dict[str, Any]:
        """The UNIFIED account as `/v5/account/wallet-balance` and the `wallet` push show it.

        `marks` maps symbols to mark prices, `usd` maps coins to USD prices.
        """
        rows = []
        tot_eq = tot_wallet = tot_im = tot_mm = tot_upl = ZERO
        for coin, v in self.coin_views(marks, sorted(self.wallet)).items():
            price = usd.get(coin, Decimal(1))
            tot_eq += v["equity"] * price
            tot_wallet += v["wallet"] * price
            tot_im += (v["pos_im"] + v["order_im"]) * price
            tot_mm += v["pos_mm"] * price
            tot_upl += v["upl"] * price
            if coins and coin not in coins:
                continue
            rows.append(
                {
                    "coin": coin,
                    "equity": fmt(v["equity"]),
                    "usdValue": fmt(money(v["equity"] * price)),
                    "walletBalance": fmt(v["wallet"]),
                    "free": "",
                    "locked": fmt(v["locked"]),
                    "spotHedgingQty": "0",
                    "borrowAmount": "0",
                    "availableToBorrow": "",
                    "availableToWithdraw": fmt(max(ZERO, v["available"])),
                    "accruedInterest": "0",
                    "totalOrderIM": fmt(v["order_im"]),
                    "totalPositionIM": fmt(v["pos_im"]),
                    "totalPositionMM": fmt(v["pos_mm"]),
                    "unrealisedPnl": fmt(v["upl"]),
                    "cumRealisedPnl": fmt(self.cum_realised.get(coin, ZERO)),
                    "bonus": "0",
                    "collateralSwitch": True,
                    "marginCollateral": True,
                    "spotBorrow": "0",
                }
            )
        im_rate = money(tot_im / tot_eq) if tot_eq > 0 else ZERO
        mm_rate = money(tot_mm / tot_eq) if tot_eq > 0 else ZERO
        return {
            "accountType": "UNIFIED",
            "accountIMRate": fmt(im_rate),
            "accountIMRateByMp": fmt(im_rate),
            "accountMMRate": fmt(mm_rate),
            "accountMMRateByMp": fmt(mm_rate),
            "totalEquity": fmt(money(tot_eq)),
            "totalWalletBalance": fmt(money(tot_wallet)),
            "totalMarginBalance": fmt(money(tot_eq)),
            "totalAvailableBalance": fmt(money(tot_eq - tot_im)),
            "totalPerpUPL": fmt(money(tot_upl)),
            "totalInitialMargin": fmt(money(tot_im)),
            "totalInitialMarginByMp": fmt(money(tot_im)),
            "totalMaintenanceMargin": fmt(money(tot_mm)),
            "totalMaintenanceMarginByMp": fmt(money(tot_mm)),
            "accountLTV": "0",
            "coin": rows,
        }
