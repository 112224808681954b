"""Words of the catalogue written for bybitctl's users, read by `tools/gen_catalog.py`.

The v5 reference and pybit's docstrings describe few parameters, in words scraped from
several sources ("Product type Unified account: spot, linear, optionNormal account: ...");
the help of a command should read as one voice. `PARAM_HELP` is that voice for the
parameters people type every day: it replaces whatever the sources say for the name, on
every endpoint that takes it (allowed values, ranges and "JSON" are added by the help
itself from the row, so the text does not repeat them). `TRADING_HELP` does the same for
the order and position words, only on the trading routes (`TRADING_PATHS`): elsewhere
`side` or `orderType` mean other things (P2P, earn). `PARAM_HELP_AT` words one endpoint's
parameter where neither fits.
"""

from __future__ import annotations

PARAM_HELP: dict[str, str] = {
    # what and where
    "category": "Product type.",
    "symbol": "Symbol, upper case, e.g. BTCUSDT.",
    "baseCoin": "Base coin, upper case, e.g. BTC.",
    "settleCoin": "Settle coin, upper case, e.g. USDT.",
    "coin": "Coin, upper case, e.g. USDT.",
    "currency": "Coin, upper case, e.g. USDT.",
    "accountType": "Account type, e.g. UNIFIED or FUND.",
    "fromAccountType": "Account the funds leave, e.g. UNIFIED or FUND.",
    "toAccountType": "Account the funds go to, e.g. UNIFIED or FUND.",
    "expDate": "Option expiry date, e.g. 25DEC22.",
    # market data
    "interval": "Kline interval: minutes (1 3 5 15 30 60 120 240 360 720), D, W or M.",
    "intervalTime": "Period of each point: 5min, 15min, 30min, 1h, 4h or 1d.",
    # funds
    "transferId": "A UUID you generate, so that a retried transfer is made once.",
    "memberId": "UID of the sub-account (when a master key queries one).",
    "subMemberId": "UID of the sub-account.",
    "fromMemberId": "UID the funds leave.",
    "toMemberId": "UID the funds go to.",
    "chain": "Chain, e.g. ETH or TRX.",
    "chainType": "Chain, e.g. ETH or TRX.",
    "address": "Withdrawal address.",
    "tag": "Address tag or memo, where the address needs one.",
    "txID": "Transaction hash on the chain.",
    # paging
    "limit": "Rows per page.",
    "cursor": "Page cursor from the previous answer's nextPageCursor (--all follows it for you).",
    "page": "Page number.",
    "pageSize": "Rows per page.",
    "pageNo": "Page number.",
    "pageIndex": "Page number.",
}
"""Help text by API parameter name, for every endpoint that takes the name."""

TRADING_PATHS = (
    "/v5/order/",
    "/v5/position/",
    "/v5/execution/",
    "/v5/market/",
    "/v5/spread/",
    "/v5/pre-upgrade/",
)
"""Routes where the order and position words of `TRADING_HELP` mean what they say."""

TRADING_HELP: dict[str, str] = {
    # orders
    "side": "Buy or Sell.",
    "orderType": "Market or Limit.",
    "qty": "Order quantity, sent exactly as typed (base coin; a spot market buy counts "
    "in the quote coin unless --market-unit baseCoin).",
    "price": "Limit price, sent exactly as typed; leave it out for a market order.",
    "timeInForce": "How long a limit order lives: GTC until cancelled, IOC and FOK fill at "
    "once or cancel, PostOnly only ever makes.",
    "orderId": "Order ID the exchange gave the order.",
    "orderLinkId": "Your own ID for the order (at most 36 characters), unique among yours.",
    "orderFilter": "Kind of order: Order (normal), tpslOrder (TP/SL), StopOrder "
    "(conditional), OcoOrder, BidirectionalTpslOrder or OpenOrder.",
    "isLeverage": "Spot only: 1 borrows on margin, 0 (default) trades what you hold.",
    "marketUnit": "Spot market orders: the unit of --qty, baseCoin or quoteCoin.",
    "positionIdx": "Position to act on: 0 one-way mode, 1 the Buy side and 2 the Sell side "
    "in hedge mode.",
    "reduceOnly": "If true, the order may only reduce a position.",
    "closeOnTrigger": "If true, the triggered order closes the position, cancelling other "
    "orders to free margin if needed.",
    "triggerPrice": "Price at which a conditional order is placed.",
    "triggerDirection": "Conditional orders: 1 triggers when the price rises to "
    "--trigger-price, 2 when it falls to it.",
    "triggerBy": "Price a conditional order watches: LastPrice, IndexPrice or MarkPrice.",
    "takeProfit": "Take-profit price.",
    "stopLoss": "Stop-loss price.",
    "tpTriggerBy": "Price the take-profit watches: LastPrice, IndexPrice or MarkPrice.",
    "slTriggerBy": "Price the stop-loss watches: LastPrice, IndexPrice or MarkPrice.",
    "tpslMode": "Full: TP/SL for the whole position; Partial: for part of it.",
    "tpLimitPrice": "Limit price of the take-profit order (with --tp-order-type Limit).",
    "slLimitPrice": "Limit price of the stop-loss order (with --sl-order-type Limit).",
    "tpOrderType": "Order type of the take-profit: Market or Limit.",
    "slOrderType": "Order type of the stop-loss: Market or Limit.",
    "smpType": "Self-match prevention: None, CancelMaker, CancelTaker or CancelBoth.",
    "mmp": "Options: true puts the order under market maker protection.",
    "orderIv": "Options: implied volatility to quote; it takes precedence over --price.",
    "bboSideType": "BBO order: Queue (your side's best price) or Counterparty (the other side's).",
    "bboLevel": "BBO order: which level of the book, 1 to 5.",
    "slippageToleranceType": "Market orders: TickSize or Percent, the unit of "
    "--slippage-tolerance.",
    "slippageTolerance": "Market orders: the worst price accepted, in --slippage-tolerance-type "
    "units away from the best price.",
    "rpiTakerAccess": "If true, the order may take retail price improvement (RPI) quotes.",
    "openOnly": "0 (default): open orders only; 1 and 2 include recently closed ones "
    "(see the Bybit docs).",
    "orderStatus": "Order status, e.g. New, PartiallyFilled, Filled or Cancelled.",
    "execType": "Kind of execution, e.g. Trade, Funding, AdlTrade or BustTrade.",
    # positions
    "leverage": "Leverage, e.g. 10.",
    "buyLeverage": "Leverage of the Buy side, e.g. 10 (the same as --sell-leverage in "
    "one-way mode).",
    "sellLeverage": "Leverage of the Sell side, e.g. 10 (the same as --buy-leverage in "
    "one-way mode).",
    "tradeMode": "0: cross margin; 1: isolated margin.",
    "margin": "Margin to add (positive) or take out (negative), e.g. 10 or -10.",
    "autoAddMargin": "1 turns automatic margin top-up on, 0 off.",
    "riskId": "Risk limit ID, from `market risk-limit`.",
    "trailingStop": "Trailing stop distance, in price.",
    "activePrice": "Price at which the trailing stop starts to trail.",
    "tpSize": "Quantity the take-profit closes (Partial mode).",
    "slSize": "Quantity the stop-loss closes (Partial mode).",
    "mode": "Position mode: 0 one-way, 3 hedge (both sides).",
}
"""Help text of the order and position words, on `TRADING_PATHS` only."""

TIME_EDGES = {
    "startTime": "Start",
    "endTime": "End",
    "start": "Start",
    "end": "End",
    "beginTime": "Start",
    "createBeginTime": "Start",
    "createEndTime": "End",
    "createTimeFrom": "Start",
    "createTimeTo": "End",
    "timeStart": "Start",
    "timeEnd": "End",
}
"""Time parameters by name -> which edge of the range they are (a time's help says so)."""

PARAM_HELP_AT: dict[tuple[str, str], str] = {
    ("/v5/market/orderbook", "limit"): "Levels per side.",
    ("/v5/market/rpi_orderbook", "limit"): "Levels per side.",
    ("/v5/spread/orderbook", "limit"): "Levels per side.",
    ("/v5/position/set-tpsl-mode", "tpSlMode"): "Full: TP/SL for the whole position; Partial: "
    "for part of it.",
}
"""Help text for one endpoint's parameter, keyed by (path, API name); wins over PARAM_HELP."""

SUMMARIES: dict[str, str] = {
    "get_allowed_deposit_coin_info": "Get Allowed Deposit Coin Info",
    "spot_margin_trade_normal_borrow": "Borrow (normal account)",
    "spot_margin_trade_normal_get_borrow_order_detail": "Get Borrow Order Detail (normal account)",
    "spot_margin_trade_normal_get_borrowable_coin_info": "Get Borrowable Coin Info "
    "(normal account)",
    "spot_margin_trade_normal_get_interest_quota": "Get Interest & Quota (normal account)",
    "spot_margin_trade_normal_get_loan_account_info": "Get Loan Account Info (normal account)",
    "spot_margin_trade_normal_get_margin_coin_info": "Get Margin Coin Info (normal account)",
    "spot_margin_trade_normal_get_repayment_order_detail": "Get Repayment Order Detail "
    "(normal account)",
    "spot_margin_trade_normal_get_vip_margin_data": "Get VIP Margin Data (normal account)",
    "spot_margin_trade_normal_repay": "Repay (normal account)",
    "spot_margin_trade_normal_toggle_margin_trade": "Turn Spot Margin Trade On or Off "
    "(normal account)",
}
"""Titles for pybit methods the v5 docs no longer have, whose docstring's first line is no
title ("Normal (non-UTA) account only", "Returns:")."""

GENERIC_HELP: dict[str, str] = {
    "orderId": "Order ID.",
    "orderLinkId": "Your own ID for the order.",
    "side": "Side.",
    "orderType": "Order type.",
    "qty": "Quantity, sent exactly as typed.",
    "amount": "Amount, sent exactly as typed.",
    "leverage": "Leverage, e.g. 10.",
    "positionIdx": "Position index.",
    "orderStatus": "Order status to filter by.",
    "status": "Status to filter by.",
    "type": "Type to filter by.",
    "startTime": "Start of the time range.",
    "endTime": "End of the time range.",
    "end": "End of the range.",
    "quoteCoin": "Quote coin, upper case, e.g. USDT.",
    "fromCoin": "Coin to convert from.",
    "toCoin": "Coin to convert to.",
    "loanCurrency": "Coin to borrow, upper case, e.g. USDT.",
    "collateralCurrency": "Coin pledged as collateral, upper case, e.g. BTC.",
    "orderCurrency": "Coin of the order, upper case.",
    "productId": "Product ID.",
    "planId": "Plan ID.",
    "positionId": "Position ID.",
    "tokenId": "Token ID.",
    "rfqId": "RFQ ID.",
    "rfqLinkId": "Your own ID for the RFQ.",
    "quoteId": "Quote ID.",
    "quoteLinkId": "Your own ID for the quote.",
    "quoteTxId": "Quote transaction ID.",
    "fundId": "Fund ID.",
    "loanId": "Loan ID.",
    "eventId": "Event ID.",
    "bot_id": "Bot ID.",
    "id": "ID.",
    "uid": "UID.",
    "size": "Rows per page.",
    "term": "Term, in days.",
    "vipLevel": "VIP level, e.g. No VIP or VIP1.",
    "chainCode": "Chain code.",
    "entry_price": "Price at which the bot starts.",
    "init_margin": "Margin the bot starts with.",
    "ltCoin": "Leveraged token, e.g. BTC3L.",
    "strategyType": "Strategy type to filter by.",
    "traderType": "Your role in the trade: quote or request.",
}
"""Words for a parameter whose sources say nothing, wherever it appears (after every other
source: a route's own words are more precise)."""
