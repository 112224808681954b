"""The normaliser: decoded WebSocket frames in, stream events out. No I/O, no clock.

Events are plain dicts, written as JSONL on a pipe and drawn by the live views:

- ``{"event": "book", "topic", "symbol", "type", "u", "seq", "ts", "cts", "bids", "asks"}``
  after every message that changed a book; bids/asks are the top `levels` as the exchange's
  strings, best first (left out under the live view, which draws from the books themselves).
  Never emitted while the topic resyncs, so no wrong book is ever output.
- ``{"event": "resync", "topic", "symbol", "reason", "u"}`` when a book is thrown away
  (a gap, a crossed book, a malformed message, or a lost connection); the book's next event
  comes from a fresh snapshot.
- ``{"event": "message", "topic", "type", "ts", "data"}`` for every other data frame, with the
  frame's data as sent (ticker deltas stay deltas; private frames have type null and the
  frame's creationTime as ts).

Control frames (auth, subscribe and unsubscribe answers) produce no event; `control_error`
turns a refusal into the error that ends the stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bybitctl.book import BookError, BookGap, CrossedBook, OrderBook
from bybitctl.book.bookset import depth_of_topic
from bybitctl.errors import BybitctlError, ConfigError

Event = dict[str, Any]

LIVE = "LIVE"
WAITING = "WAITING"
RESYNCING = "RESYNCING"


@dataclass
class BookState:
    """One book topic: the book, whether its output can be trusted, and its resync history."""

    topic: str
    book: OrderBook
    status: str = WAITING
    resyncs: int = 0
    last_reason: str | None = None
    last_resync_ns: int | None = None


@dataclass
class Pipeline:
    """Routes frames: orderbook topics to one `OrderBook` each (with the resync state
    machine WAITING -> LIVE -> RESYNCING -> LIVE), everything else through unchanged."""

    levels: int = 25
    book_levels: bool = True
    """Whether book events carry the top `levels`; off for a consumer that reads `books`."""
    books: dict[str, BookState] = field(default_factory=dict)
    tickers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def feed(self, frame: dict[str, Any], now_ns: int = 0) -> list[Event]:
        """Turn one decoded frame into zero or more events."""
        topic = frame.get("topic")
        if not isinstance(topic, str) or "data" not in frame:
            return []
        if topic.startswith("orderbook."):
            return self._book(topic, frame, now_ns)
        if topic.startswith("tickers") and isinstance(frame["data"], dict):
            self._merge_ticker(topic, frame)
        return [
            {
                "event": "message",
                "topic": topic,
                "type": frame.get("type"),
                "ts": frame.get("ts", frame.get("creationTime")),
                "data": frame["data"],
            }
        ]

    def lose_books(self, reason: str, now_ns: int = 0) -> list[Event]:
        """The connection is gone: every book is stale until its topic's next snapshot."""
        events = []
        for state in self.books.values():
            events.extend(self._resync(state, reason, now_ns, force=True))
            state.book = OrderBook(state.book.symbol, depth=state.book.depth)
        return events

    def _book(self, topic: str, frame: dict[str, Any], now_ns: int) -> list[Event]:
        state = self.books.get(topic)
        if state is None:
            book = OrderBook(
                frame["data"].get("s", topic.rsplit(".", 1)[-1]), depth=depth_of_topic(topic)
            )
            state = self.books[topic] = BookState(topic, book)
        book = state.book
        try:
            changed = book.apply(frame)
        except BookGap as exc:
            return self._resync(state, f"gap: {exc}", now_ns)
        except CrossedBook as exc:
            return self._resync(state, f"crossed: {exc}", now_ns)
        except BookError as exc:
            return self._resync(state, f"malformed: {exc}", now_ns)
        if state.status != LIVE:
            if book.needs_resync or book.update_id is None:
                return []
            state.status = LIVE
        if not changed:
            return []
        event: Event = {
            "event": "book",
            "topic": topic,
            "symbol": book.symbol,
            "type": frame["type"],
            "u": book.update_id,
            "seq": book.seq,
            "ts": book.ts,
            "cts": book.cts,
        }
        if self.book_levels:
            event["bids"] = book.bids(self.levels)
            event["asks"] = book.asks(self.levels)
        return [event]

    def _resync(
        self, state: BookState, reason: str, now_ns: int, *, force: bool = False
    ) -> list[Event]:
        """Enter RESYNCING; a second failure while already waiting is not a new episode."""
        if state.status == RESYNCING and not force:
            return []
        last_u = state.book.update_id
        state.status = RESYNCING
        state.resyncs += 1
        state.last_reason = reason
        state.last_resync_ns = now_ns
        return [
            {
                "event": "resync",
                "topic": state.topic,
                "symbol": state.book.symbol,
                "reason": reason,
                "u": last_u,
            }
        ]

    def _merge_ticker(self, topic: str, frame: dict[str, Any]) -> None:
        """Keep the full ticker for the live panel: deltas carry changed fields only."""
        if frame.get("type") == "delta" and topic in self.tickers:
            self.tickers[topic].update(frame["data"])
        else:
            self.tickers[topic] = dict(frame["data"])


def control_error(frame: dict[str, Any]) -> BybitctlError | None:
    """The error a control frame means: a refused auth (exit 3) or subscription (exit 1).

    A refused unsubscribe is not one: it only happens during a resync, whose subscribe
    follows anyway.
    """
    op = frame.get("op")
    if frame.get("type") == "COMMAND_RESP":
        failed = (frame.get("data") or {}).get("failTopics") or []
        if frame.get("success") is False or failed:
            reason = frame.get("ret_msg") or ", ".join(failed)
            return BybitctlError(f"subscribe refused: {reason}")
        return None
    if frame.get("success") is not False:
        return None
    reason = frame.get("ret_msg") or str(frame)
    if op == "auth" or frame.get("type") == "AUTH_RESP":
        return ConfigError(f"auth refused: {reason}")
    if op == "subscribe":
        return BybitctlError(f"subscribe refused: {reason}")
    return None
