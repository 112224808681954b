"""Risk state machines around the strategy: kill switch, client-side MMP, order rate budget,
stale-book guard, reject breaker. Each takes the time as an argument (no clock inside), so
live, paper and backtest runs drive them identically and tests step them exactly.

Their output reaches the strategy as data: `Risk.halt(now_ms)` becomes `BookView.halt`, and
`RateBudget.admit` decides which of a decision's actions go out now; the reject breaker's trip
ends a live run.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from decimal import Decimal

from bybitctl.mm.actions import Action, Amend, Cancel
from bybitctl.mm.config import MMConfig

ARMED = "armed"
PAUSED = "paused"
COOLING = "cooling"
STOPPED = "stopped"


class KillSwitch:
    """Trips on PnL (quote currency, fees included, realised + unrealised) falling to
    `-max_loss` since the start, or `max_drawdown` below its running peak.

    Trailing drawdown catches the case a since-start limit misses: a run that made 100 and
    gave back 90 is still "up" but has lost most of its gains. On a trip the action decides:
    `pause` halts until `resume`, `cooldown` halts for `cooldown_ms` then re-arms, `stop` is
    final (the engine cancels everything and exits). Re-arming resets the peak to the
    current PnL; the since-start limit never resets, so a cooldown cannot multiply the
    budgeted loss (it trips again at once while PnL stays below it).
    """

    def __init__(
        self,
        max_loss: Decimal | None,
        max_drawdown: Decimal | None,
        action: str = "stop",
        cooldown_ms: int = 0,
    ) -> None:
        self.max_loss = max_loss
        self.max_drawdown = max_drawdown
        self.action = action
        self.cooldown_ms = cooldown_ms
        self.state = ARMED
        self.reason = ""
        self.peak = Decimal(0)
        self.trips = 0
        self.resumes = 0
        self._until = 0

    def update(self, pnl: Decimal, now_ms: int) -> str:
        """Feed the current PnL; returns the state after it (armed/paused/cooling/stopped)."""
        if self.state == COOLING and now_ms >= self._until:
            self._arm(pnl)
        if self.state != ARMED:
            return self.state
        if pnl > self.peak:
            self.peak = pnl
        if self.max_loss is not None and pnl <= -self.max_loss:
            self._trip("max_loss", now_ms)
        elif self.max_drawdown is not None and self.peak - pnl >= self.max_drawdown:
            self._trip("drawdown", now_ms)
        return self.state

    def resume(self, pnl: Decimal) -> None:
        """Operator resume after `pause` (a stopped switch stays stopped)."""
        if self.state in (PAUSED, COOLING):
            self.resumes += 1
            self._arm(pnl)

    @property
    def halted(self) -> bool:
        """True while quotes must stay pulled."""
        return self.state != ARMED

    def _arm(self, pnl: Decimal) -> None:
        self.state = ARMED
        self.reason = ""
        self.peak = pnl

    def _trip(self, reason: str, now_ms: int) -> None:
        self.trips += 1
        self.reason = reason
        if self.action == "pause":
            self.state = PAUSED
        elif self.action == "cooldown":
            self.state = COOLING
            self._until = now_ms + self.cooldown_ms
        else:
            self.state = STOPPED


class MarketMakerProtection:
    """Client-side MMP, modelled on Bybit's options MMP: when maker fills within the last
    `window_ms` exceed `max_qty`, quotes are pulled for `freeze_ms` and the window restarts.

    It catches a burst of fills (a fast move, a toxic taker sweeping every level) before the
    inventory limit does, which only caps the damage after it happened.
    """

    def __init__(self, window_ms: int, max_qty: Decimal | None, freeze_ms: int) -> None:
        self.window_ms = window_ms
        self.max_qty = max_qty
        self.freeze_ms = freeze_ms
        self.frozen_until: int | None = None
        self.trips = 0
        self._fills: deque[tuple[int, Decimal]] = deque()
        self._sum = Decimal(0)

    def on_fill(self, qty: Decimal, now_ms: int, is_maker: bool = True) -> bool:
        """Count a fill; returns True when this fill trips the protection."""
        if self.max_qty is None or not is_maker:
            return False
        self._expire(now_ms)
        self._fills.append((now_ms, qty))
        self._sum += qty
        if self._sum > self.max_qty:
            self.trips += 1
            self.frozen_until = now_ms + self.freeze_ms
            self._fills.clear()
            self._sum = Decimal(0)
            return True
        return False

    def freeze(self, until_ms: int, now_ms: int) -> None:
        """The exchange's MMP froze our quotes until `until_ms` (options): hold them pulled
        as for a trip of our own; a later word of the exchange replaces the time."""
        if not self.active(now_ms):
            self.trips += 1
        self.frozen_until = until_ms

    def window_qty(self, now_ms: int) -> Decimal:
        """Maker fill qty within the window ending at `now_ms`."""
        self._expire(now_ms)
        return self._sum

    def active(self, now_ms: int) -> bool:
        """True while quotes must stay pulled."""
        return self.frozen_until is not None and now_ms < self.frozen_until

    def _expire(self, now_ms: int) -> None:
        fills = self._fills
        horizon = now_ms - self.window_ms
        while fills and fills[0][0] <= horizon:
            self._sum -= fills.popleft()[1]


TRANSIENT_CODES = frozenset({10000, 10006, 10016, 10018, 10429, 170007, 170146})
"""Rate limits and server-side timeouts/errors: they clear by themselves, so the reject
breaker neither counts them nor restarts its count on them."""
RATE_CODES = frozenset({10006, 10018, 10429})
"""Refusals for a rate limit (per UID, per IP, system-wide): the rate budget backs off."""
TIMEOUT = -1
"""The code of an action the exchange never answered (the executor's timeout)."""

_PRIORITY = {Cancel: 0, Amend: 1}


def _priority(action: Action) -> int:
    return _PRIORITY.get(type(action), 2)


class RateBudget:
    """Token bucket of order actions per second (burst = one second's worth).

    Actions beyond the budget are deferred, cancels first in line: when the budget is short,
    taking risk off the book matters more than putting new quotes on it. When the exchange
    refuses an action for its own rate limit anyway (`throttle`), the bucket empties and the
    refill rate halves (down to 1 action/s), then climbs back by a tenth of the configured
    rate per second: retrying at the configured rate would only collect more refusals.
    """

    def __init__(self, per_second: float) -> None:
        self.configured = per_second / 1000.0
        self.rate = self.configured
        self.capacity = max(1.0, per_second)
        self.tokens = self.capacity
        self.deferred = 0
        self.throttles = 0
        self._last: int | None = None

    def admit(
        self, actions: Sequence[Action], now_ms: int
    ) -> tuple[tuple[Action, ...], tuple[Action, ...]]:
        """Split `actions` into (send now, deferred); sent ones are in priority order
        (cancels, amends, places; stable within each)."""
        self._refill(now_ms)
        ordered = sorted(actions, key=_priority)
        n = min(len(ordered), int(self.tokens + 1e-9))
        self.tokens -= n
        self.deferred += len(ordered) - n
        return tuple(ordered[:n]), tuple(ordered[n:])

    def throttle(self, now_ms: int) -> None:
        """The exchange refused an action for its rate limit: slow down (see the class)."""
        self._refill(now_ms)
        self.tokens = 0.0
        self.rate = max(self.rate / 2, min(self.configured, 0.001))
        self.throttles += 1

    def _refill(self, now_ms: int) -> None:
        last = self._last
        if last is not None and now_ms > last:
            elapsed = now_ms - last
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
            if self.rate < self.configured:
                self.rate = min(self.configured, self.rate + elapsed * self.configured / 10_000)
        if last is None or now_ms > last:
            self._last = now_ms


class StaleBookGuard:
    """Tracks whether the book can be trusted: fresh, stale (no message for `stale_ms`) or
    resyncing (a gap or crossed book until the next snapshot). Supplies `BookView.ts_ms` and
    `resyncing`, and counts episodes so the report can say how often quotes were pulled."""

    def __init__(self, stale_ms: int) -> None:
        self.stale_ms = stale_ms
        self.ts_ms = 0
        self.resyncing = False
        self.resyncs = 0
        self.stale_episodes = 0
        self._was_stale = False

    def on_message(self, now_ms: int) -> None:
        """Any book message arrived (a heartbeat-like level-1 repeat counts too)."""
        self.ts_ms = now_ms
        self._was_stale = False

    def on_gap(self) -> None:
        """The book raised BookGap/CrossedBook: untrusted until a snapshot."""
        if not self.resyncing:
            self.resyncs += 1
        self.resyncing = True

    def on_snapshot(self, now_ms: int) -> None:
        """A snapshot rebuilt the book."""
        self.resyncing = False
        self.on_message(now_ms)

    def stale(self, now_ms: int) -> bool:
        """True when the last message is older than `stale_ms` (counted once per episode)."""
        is_stale = now_ms - self.ts_ms > self.stale_ms
        if is_stale and not self._was_stale:
            self.stale_episodes += 1
        self._was_stale = is_stale
        return is_stale


class RejectBreaker:
    """Trips when `limit` order placements in a row were rejected with one retCode, all within
    `window_ms` of the latest: a condition the bot cannot fix by waiting (no margin, a price
    band, a closed market), where retrying at the rate budget would go on for ever.

    An accepted placement or a reject with another code starts the count again; timeouts and
    `TRANSIENT_CODES` neither count nor restart it, since they clear by themselves. `limit`
    0 is off. Answers to amends and cancels are not placements and never reach it.
    """

    def __init__(self, limit: int, window_ms: int) -> None:
        self.limit = limit
        self.window_ms = window_ms
        self.code = 0
        self._times: list[int] = []

    @property
    def count(self) -> int:
        """Rejects in the current streak (with `code`)."""
        return len(self._times)

    def on_place(self, code: int, now_ms: int) -> bool:
        """Count the answer to one placement; True while the streak is at the limit."""
        if not self.limit or code == TIMEOUT or code in TRANSIENT_CODES:
            return False
        if code != self.code or code == 0:
            self._times = []
            self.code = code
            if code == 0:
                return False
        horizon = now_ms - self.window_ms
        self._times = [t for t in self._times if t > horizon]
        self._times.append(now_ms)
        return len(self._times) >= self.limit


class Risk:
    """The guards one run needs, built from its config; `halt` is what `BookView.halt`
    carries (kill switch first: it outlives an MMP freeze)."""

    def __init__(self, config: MMConfig) -> None:
        self.kill = KillSwitch(
            config.kill_max_loss,
            config.kill_max_drawdown,
            config.kill_action,
            config.kill_cooldown_s * 1000,
        )
        # options: the exchange counts the fills (armed with these settings) and `freeze`
        # holds what it reports, so the client-side count would only trip twice
        own_qty = None if config.category == "option" else config.mmp_max_qty
        self.mmp = MarketMakerProtection(
            config.mmp_window_ms, own_qty, int(config.mmp_freeze_s * 1000)
        )
        self.budget = RateBudget(config.rate_limit)
        self.rejects = RejectBreaker(config.reject_limit, int(config.reject_window_s * 1000))

    def halt(self, now_ms: int) -> str:
        """'' when quoting may go on, else the reason (kill:<why>, mmp)."""
        if self.kill.halted:
            return f"kill:{self.kill.reason}"
        if self.mmp.active(now_ms):
            return "mmp"
        return ""
