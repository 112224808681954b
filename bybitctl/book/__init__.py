"""An exact, fast L2 order book for Bybit v5 orderbook streams (see docs/book.md).

`OrderBook` keeps one topic's book under Bybit's sync rules; `BookSet` keeps many side by side.
"""

from bybitctl.book.bookset import BookSet
from bybitctl.book.orderbook import BookError, BookGap, BookStats, CrossedBook, Level, OrderBook

__all__ = ["BookError", "BookGap", "BookSet", "BookStats", "CrossedBook", "Level", "OrderBook"]
