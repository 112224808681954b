"""The exchange's network edge: the aiohttp server, the WebSocket hub, signatures, rate
limits and faults. It reaches the exchange only through `bybitctl.sim.net.ports`.

The timing defaults live here, light enough for `bybitctl.sim` to import eagerly.
"""

TRADE_LATENCY_MS = 5
"""Delay before an order op's reply goes out on the trade WebSocket. Bybit's acknowledgements
take milliseconds; one on loopback can beat pybit's `WebSocketTrading`, which registers its
reply callback only after sending, and the reply is then dropped."""
CLIENT_TIMEOUT_S = 60.0
"""A connection must deliver a whole request (headers, then body) within this many seconds,
and an idle keep-alive connection is closed after it, so slow clients (slowloris) cannot hold
sockets open; nginx's header and body timeouts default to the same minute."""
