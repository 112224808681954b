"""Many order books side by side, one per orderbook topic, fed from one message stream."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from bybitctl.book.orderbook import OrderBook


def depth_of_topic(topic: str) -> int | None:
    """The level count a topic publishes: ``orderbook.50.X`` -> 50, ``orderbook.rpi.X`` -> 50.

    >>> depth_of_topic("orderbook.200.BTCUSDT"), depth_of_topic("orderbook.rpi.BTCUSDT")
    (200, 50)
    >>> depth_of_topic("orderbook.full.BTCUSDT") is None
    True
    """
    parts = topic.split(".", 2)
    if len(parts) < 3 or parts[0] != "orderbook":
        return None
    if parts[1] == "rpi":
        return 50
    return int(parts[1]) if parts[1].isdigit() else None


class BookSet:
    """Routes each orderbook message to the `OrderBook` for its topic, creating it on first
    sight with the topic's depth, so one connection can carry many symbols and depths.

    Keyed by topic, not symbol: ``orderbook.1.BTCUSDT`` and ``orderbook.50.BTCUSDT`` are
    different books with their own update ids.

    >>> books = BookSet()
    >>> books.apply({"topic": "orderbook.1.ETHUSDT", "type": "snapshot", "ts": 1,
    ...     "data": {"s": "ETHUSDT", "b": [["3000.01", "5"]], "a": [["3000.02", "1"]],
    ...     "u": 4, "seq": 9}})
    True
    >>> books["orderbook.1.ETHUSDT"].depth, books["orderbook.1.ETHUSDT"].best_ask()
    (1, ('3000.02', '1'))
    """

    def __init__(self) -> None:
        self._books: dict[str, OrderBook] = {}

    def apply(self, message: Mapping[str, Any]) -> bool:
        """Apply `message` to its topic's book (see `OrderBook.apply`); O(1) routing."""
        topic = message["topic"]
        book = self._books.get(topic)
        if book is None:
            book = OrderBook(message["data"]["s"], depth=depth_of_topic(topic))
            self._books[topic] = book
        return book.apply(message)

    def __getitem__(self, topic: str) -> OrderBook:
        return self._books[topic]

    def get(self, topic: str) -> OrderBook | None:
        """The book for `topic`, or None before its first message."""
        return self._books.get(topic)

    def __contains__(self, topic: object) -> bool:
        return topic in self._books

    def __iter__(self) -> Iterator[str]:
        return iter(self._books)

    def __len__(self) -> int:
        return len(self._books)

    def resyncing(self) -> list[str]:
        """Topics whose book waits for a snapshot (after a gap or a crossed book)."""
        return [topic for topic, book in self._books.items() if book.needs_resync]
