"""What Bybit's wire requests mean to the exchange: parameter binding from the endpoint
catalogue, the REST routes and trade-WebSocket ops, each a call into the core."""
