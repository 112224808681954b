"""Market data around the core: the synthetic market, candle history, tickers, public book
feeds and replayed recordings. It reads the core's books and engines; the core never
imports it."""
