"""`sim serve --replay FILE`: a `stream --record` recording drives books and trades.

Frames are released at the pace they were received (`recv_ns`, real time from the first
step). An orderbook frame sets the anonymous liquidity of its book (a snapshot replaces every
level, a delta sets the levels it lists), so the exchange's own feeds publish the result with
their own `u` and `seq`, and user orders queue among the recorded levels. A publicTrade frame
prints its trades and fills the user orders each one reached. A book the recording touches is
no longer moved by the synthetic crowd, and its coin's fair price (marks, price bands, the
sibling books' crowd) follows the replayed mid. At the end of the file the replay stops: the
replayed books stay as the recording left them and keep matching user orders.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterator
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bybitctl.errors import UsageError
from bybitctl.recording import iter_recording, read_header
from bybitctl.sim.core.book import Book
from bybitctl.sim.core.instruments import Instrument, split_symbol

if TYPE_CHECKING:
    from bybitctl.sim.core.engine import Engine
    from bybitctl.sim.core.entry import Trading

log = logging.getLogger(__name__)

PUBLIC_PREFIX = "public/"
T = TypeVar("T")


def _frames(path: Path) -> Iterator[dict[str, Any]]:
    """A recording's frame lines, as `iter_recording` reads them, that are JSON objects; a
    file that cannot be read further (a damaged gzip stream) ends there, as a cut-short
    recording does, and so does a line of another shape after the first frame (logged:
    the exchange keeps serving what it replayed so far)."""
    lines = iter_recording(path)
    first = True
    while True:
        try:
            line = next(lines, None)
        except (OSError, EOFError, zlib.error):
            return
        except UsageError as exc:
            if first:
                raise
            log.warning("replay ends early: %s", exc.message)
            return
        first = False
        if line is None:
            return
        if isinstance(line, dict):
            yield line


def _checked(path: Path, read: Callable[[], T]) -> T:
    """`read()` of the recording at `path`, a file that is not a recording refused as
    `UsageError` (the shared reader expects a JSON object on the header line, and raises
    OSError for a directory)."""
    try:
        return read()
    except AttributeError:
        raise UsageError(f"{path} is not a bybitctl recording") from None
    except (OSError, EOFError, zlib.error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise UsageError(f"cannot read the recording {path}: {reason}") from None


class Replay:
    """Hands out a recording's public frames once the exchange clock reaches them."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lines: Iterator[dict[str, Any]] = _frames(self.path)
        # reading the first frame opens the file and checks its header; only a recording
        # without frames is read again, to tell an empty file (an error) from a bare header
        self._next: dict[str, Any] | None = _checked(self.path, lambda: next(self._lines, None))
        if self._next is None:
            _checked(self.path, lambda: read_header(self.path))
        self._origin: tuple[int, int] | None = None
        """(recv_ns of the first frame, exchange ms it was replayed at)."""

    @property
    def finished(self) -> bool:
        return self._next is None

    def due(self, now_ms: int) -> list[tuple[str, dict[str, Any]]]:
        """(category, frame) of every public frame recorded up to `now_ms` into the replay."""
        out: list[tuple[str, dict[str, Any]]] = []
        while self._next is not None:
            line = self._next
            recv = line.get("recv_ns")
            if isinstance(recv, int):
                if self._origin is None:
                    self._origin = (recv, now_ms)
                first_ns, start_ms = self._origin
                if (recv - first_ns) // 1_000_000 > now_ms - start_ms:
                    break
                channel, frame = line.get("channel"), line.get("frame")
                if (
                    isinstance(channel, str)
                    and channel.startswith(PUBLIC_PREFIX)
                    and isinstance(frame, dict)
                ):
                    out.append((channel[len(PUBLIC_PREFIX) :], frame))
            self._next = next(self._lines, None)
        return out

    def close(self) -> None:
        """Close the file (a replay stopped early)."""
        close = getattr(self._lines, "close", None)
        if close is not None:
            close()
        self._next = None


def recorded_symbols(path: str | Path) -> tuple[str, ...]:
    """The symbols a recording's header topics name (`orderbook.50.BTCUSDT`,
    `publicTrade.ETHUSDT`, ...) that the exchange can list, in order; a spread
    (`BTCUSDT_BTC/USDT`) names the symbol of its legs, whose listing brings it."""
    out: list[str] = []
    topics = _checked(Path(path), lambda: read_header(path)).get("topics")
    for topic in topics if isinstance(topics, list) else ():
        symbol = str(topic).rsplit(".", 1)[-1].split("_", 1)[0]
        try:
            split_symbol(symbol)
        except ValueError:
            continue
        if symbol not in out:
            out.append(symbol)
    return tuple(out)


def stream_depth(topic: str) -> tuple[int, str] | None:
    """(depth, symbol) of an `orderbook.{N}.{symbol}` topic; None for other topics (the
    three-column `orderbook.rpi` included)."""
    parts = topic.split(".")
    if len(parts) != 3 or parts[0] != "orderbook" or not parts[1].isdigit():
        return None
    return int(parts[1]), parts[2]


def _ticks(inst: Instrument, text: Any, up: bool) -> int | None:
    """A recorded price in ticks (bids round down, asks up when it is off the tick grid)."""
    try:
        price = Decimal(str(text))
    except InvalidOperation:
        return None
    if not price.is_finite() or price <= 0:
        return None
    ticks = int((price / inst.tick).to_integral_value(ROUND_CEILING if up else ROUND_FLOOR))
    return ticks if ticks > 0 else None


def _lots(inst: Instrument, text: Any) -> int | None:
    try:
        qty = Decimal(str(text))
    except InvalidOperation:
        return None
    if not qty.is_finite() or qty < 0:
        return None
    return int((qty / inst.step).to_integral_value(ROUND_FLOOR))


def _levels(inst: Instrument, rows: Any, up: bool) -> dict[int, int]:
    out: dict[int, int] = {}
    for row in rows if isinstance(rows, list) else ():
        if not isinstance(row, list) or len(row) < 2:
            continue
        ticks, lots = _ticks(inst, row[0], up), _lots(inst, row[1])
        if ticks is not None and lots is not None:
            out[ticks] = lots
    return out


def apply_book(
    eng: Engine, trading: Trading, data: dict[str, Any], snapshot: bool, now: int
) -> None:
    """Set the book's anonymous liquidity to a recorded snapshot or delta.

    Decreases go first, so the recorded levels never cross each other; a recorded level
    that crosses a resting user order trades with it first (as the newcomer it is) and rests
    with what is left.
    """
    inst, book = eng.inst, eng.book
    bids, asks = _levels(inst, data.get("b"), False), _levels(inst, data.get("a"), True)
    if snapshot:
        for side, target in ((book.bids, bids), (book.asks, asks)):
            for price, _ in side.top(len(side)):
                target.setdefault(price, 0)
    raises: list[tuple[str, int, int]] = []
    for name, side, target in (("Buy", book.bids, bids), ("Sell", book.asks, asks)):
        for price, lots in target.items():
            if lots < side.synthetic_at(price):
                side.set_synthetic(price, lots)
            elif lots > side.synthetic_at(price):
                raises.append((name, price, lots))
    for name, price, lots in raises:
        side, opposite = book.side(name), book.opposite(name)
        best = opposite.best()
        extra = lots - side.synthetic_at(price)
        if best is not None and (best <= price if name == "Buy" else best >= price):
            extra -= trading.synthetic_take(eng, name, extra, price, now)
            lots = side.synthetic_at(price) + extra
        side.set_synthetic(price, lots)


def recorded_mid(book: Book) -> int | None:
    """Twice the mid of the anonymous (recorded) liquidity in ticks, user orders ignored;
    None when a side has none."""
    tops = []
    for side in (book.bids, book.asks):
        sign = side.sign
        top = next((k * sign for k in side.keys if side.synthetic_at(k * sign)), None)
        if top is None:
            return None
        tops.append(top)
    return tops[0] + tops[1]


def apply_trades(
    engines: dict[tuple[str, str], Engine],
    trading: Trading,
    category: str,
    data: Any,
    now: int,
) -> set[tuple[str, str]]:
    """Print a publicTrade frame's trades; returns the books they were on."""
    touched: set[tuple[str, str]] = set()
    for t in data if isinstance(data, list) else ():
        if not isinstance(t, dict) or t.get("S") not in ("Buy", "Sell"):
            continue
        eng = engines.get((category, str(t.get("s"))))
        if eng is None:
            continue
        price, lots = _ticks(eng.inst, t.get("p"), False), _lots(eng.inst, t.get("v"))
        if price is None or not lots:
            continue
        trading.tape_trade(eng, t["S"], lots, price, now)
        touched.add((category, eng.inst.symbol))
    return touched
