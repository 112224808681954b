"""Injected faults: the failures a client of Bybit must survive, on demand and reproducibly.

A SPEC is a comma-separated list of faults (grammar and table in docs/sim.md):

    SPEC  := FAULT ("," FAULT)*
    FAULT := NAME [":" ARG] ["@" DELAY]
    ARG   := "once" | INT (a count) | DECIMAL (a probability, has a ".") | DURATION
    DURATION := ["+"|"-"] INT ("ms"|"s"|"m")

`@DELAY` holds a fault back until DELAY after the spec was set. The server asks this module
what to do before answering a REST request (`rest`), for each orderbook delta it is about to
fan out (`book`), for each private order message (`lose_order`), on every tick (`poll`, for
timed events), and for the system status (`maintenance`: announced windows, shown by
`system.status` and `GET /v5/system/status`).
"""

from __future__ import annotations

import hashlib
import random
import re
import uuid
from dataclasses import dataclass
from typing import Any

# fault name -> the argument kinds it accepts ("none" = may be given without an argument)
_ACCEPTS: dict[str, frozenset[str]] = {
    "drop_ws": frozenset({"none", "duration"}),
    "skip_u": frozenset({"none", "count"}),
    "dup_delta": frozenset({"none", "count"}),
    "reorder": frozenset({"none", "count"}),
    "snapshot": frozenset({"none"}),
    "restart_u": frozenset({"none"}),
    "lose_order": frozenset({"none", "count"}),
    "ratelimit": frozenset({"none", "count", "probability", "duration"}),
    "http5xx": frozenset({"none", "count", "probability", "duration"}),
    "skew": frozenset({"duration"}),
    "slow": frozenset({"duration"}),
    "refuse": frozenset({"duration"}),
    "maintenance": frozenset({"duration"}),
}
NAMES = tuple(_ACCEPTS)
_EVENTS = frozenset({"drop_ws", "snapshot", "restart_u", "refuse"})
_BOOK = {"skip_u": "skip", "dup_delta": "dup", "reorder": "reorder"}
_ONCE = {*_BOOK, "lose_order"}
"""Faults counted per message: without a count they apply to one."""
_FAULT_RE = re.compile(r"(?P<name>[a-z0-9_]+)(?::(?P<arg>[^@]+))?(?:@(?P<delay>[^@]+))?")
_DURATION_RE = re.compile(r"(?P<sign>[+-]?)(?P<n>[0-9]{1,12})(?P<unit>ms|s|m)")
_COUNT_RE = re.compile(r"[0-9]{1,9}")
_PROBABILITY_RE = re.compile(r"[0-9]{1,3}\.[0-9]{1,9}")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000}
MAX_FAULTS = 64
"""Faults in one SPEC: every REST request and book delta looks through them."""
MAX_DURATION_MS = 7 * 86_400_000
"""Longest duration or delay a fault takes (a week): past that a drill means nothing, and a
huge `slow` or `skew` would only wedge the exchange."""


@dataclass
class Fault:
    """One parsed fault; exactly one of count / probability / duration_ms may be set."""

    name: str
    text: str
    count: int | None = None
    probability: float | None = None
    duration_ms: int | None = None
    delay_ms: int = 0


def parse_duration(text: str) -> int:
    """`500ms`, `2s`, `-3s`, `1m` -> milliseconds (ASCII digits, at most a week); ValueError
    otherwise."""
    match = _DURATION_RE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 500ms, 2s, 1m)")
    ms = int(match["n"]) * _UNIT_MS[match["unit"]]
    if ms > MAX_DURATION_MS:
        raise ValueError(f"duration {text!r} is longer than a week")
    return -ms if match["sign"] == "-" else ms


def _parse_one(text: str) -> Fault:
    match = _FAULT_RE.fullmatch(text)
    if not match:
        raise ValueError(f"bad fault {text!r}: expected NAME[:ARG][@DELAY]")
    name, arg, delay = match["name"], match["arg"], match["delay"]
    if name not in _ACCEPTS:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(NAMES)}")
    fault = Fault(name, text)
    if delay is not None:
        fault.delay_ms = parse_duration(delay)
        if fault.delay_ms < 0:
            raise ValueError(f"bad fault {text!r}: the delay cannot be negative")
    if arg is None:
        kind = "none"
    elif arg == "once":
        kind, fault.count = "count", 1
    elif _COUNT_RE.fullmatch(arg):
        kind, fault.count = "count", int(arg)
    elif _DURATION_RE.fullmatch(arg):
        kind, fault.duration_ms = "duration", parse_duration(arg)
    elif _PROBABILITY_RE.fullmatch(arg):
        fault.probability = float(arg)
        if not 0.0 <= fault.probability <= 1.0:
            raise ValueError(f"bad probability {arg!r} in {text!r}: use a decimal in [0, 1]")
        kind = "probability"
    else:
        raise ValueError(f"bad argument {arg!r} in fault {text!r}")
    if kind not in _ACCEPTS[name]:
        allowed = ", ".join(sorted(_ACCEPTS[name] - {"none"})) or "no argument"
        raise ValueError(f"fault {name!r} takes {allowed}, not {arg!r}")
    if name in ("slow", "refuse", "maintenance") and (fault.duration_ms or 0) <= 0:
        raise ValueError(f"fault {name!r} needs a positive duration")
    return fault


def parse_spec(spec: str) -> list[Fault]:
    """Parse a whole SPEC; an empty string means no faults."""
    parts = [part.strip() for part in spec.split(",") if part.strip()]
    if len(parts) > MAX_FAULTS:
        raise ValueError(f"{len(parts)} faults in one SPEC; at most {MAX_FAULTS}")
    return [_parse_one(part) for part in parts]


@dataclass
class _Active:
    fault: Fault
    start_ms: int
    remaining: int | None
    fired: bool = False
    next_ms: int | None = None


class Faults:
    """The live fault state of one exchange; touched only from the event-loop thread."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._active: list[_Active] = []
        self.spec = ""
        self.skew_ms = 0
        self.book_active = False

    def set(self, spec: str, now_ms: int) -> None:
        """Replace every fault with `spec` (ValueError leaves the old ones in place)."""
        faults = parse_spec(spec)
        self._active = [
            _Active(f, now_ms + f.delay_ms, 1 if f.count is None and f.name in _ONCE else f.count)
            for f in faults
        ]
        self.spec = ",".join(f.text for f in faults)
        self.skew_ms = 0
        self.book_active = any(f.name in _BOOK for f in faults)

    def describe(self) -> dict[str, object]:
        """What the admin endpoint reports."""
        return {
            "spec": self.spec,
            "faults": [
                {
                    "fault": a.fault.text,
                    "startsAt": a.start_ms,
                    "remaining": a.remaining,
                    "fired": a.fired,
                }
                for a in self._active
            ],
            "names": list(NAMES),
        }

    def _live(self, active: _Active, now_ms: int) -> bool:
        """Started, not used up, and (for a duration-limited fault) not yet over."""
        if now_ms < active.start_ms or active.remaining == 0:
            return False
        fault = active.fault
        if fault.duration_ms is not None and fault.name in ("ratelimit", "http5xx"):
            return now_ms < active.start_ms + fault.duration_ms
        return True

    def poll(self, now_ms: int) -> list[Fault]:
        """Timed events now due (drop_ws, snapshot, restart_u, refuse); updates the clock skew."""
        due: list[Fault] = []
        skew = 0
        for active in self._active:
            fault = active.fault
            if now_ms < active.start_ms:
                continue
            if fault.name == "skew":
                skew += fault.duration_ms or 0
            elif fault.name in _EVENTS:
                if fault.name == "drop_ws" and fault.duration_ms:
                    if active.next_ms is None or now_ms >= active.next_ms:
                        active.next_ms = now_ms + fault.duration_ms
                        due.append(fault)
                elif not active.fired:
                    active.fired = True
                    due.append(fault)
        self.skew_ms = skew
        return due

    def _take(self, name: str, now_ms: int) -> bool:
        """Whether fault `name` applies to this request, consuming a count if it has one."""
        for active in self._active:
            if active.fault.name != name or not self._live(active, now_ms):
                continue
            probability = active.fault.probability
            if probability is not None and self._rng.random() >= probability:
                continue
            if active.remaining is not None:
                active.remaining -= 1
            active.fired = True
            return True
        return False

    def rest(self, now_ms: int, authenticated: bool) -> tuple[str | None, float]:
        """For one REST request: ("http5xx" | "ratelimit" | None, seconds to delay)."""
        if not self._active:
            return None, 0.0
        delay = sum(
            (a.fault.duration_ms or 0) / 1000
            for a in self._active
            if a.fault.name == "slow" and now_ms >= a.start_ms
        )
        if self._take("http5xx", now_ms):
            return "http5xx", delay
        if authenticated and self._take("ratelimit", now_ms):
            return "ratelimit", delay
        return None, delay

    def maintenance(self, now_ms: int) -> list[dict[str, Any]]:
        """The announced maintenance windows as Bybit's system-status records: scheduled
        from the moment the SPEC is set, ongoing from its DELAY for its DURATION, then
        completed. Announcing is all a window does; `refuse` or `http5xx` drill the outage."""
        out = []
        for n, active in enumerate(self._active):
            fault = active.fault
            if fault.name != "maintenance":
                continue
            begin = active.start_ms
            end = begin + (fault.duration_ms or 0)
            state = "scheduled" if now_ms < begin else "ongoing" if now_ms < end else "completed"
            digest = hashlib.blake2b(f"{begin}:{n}:{fault.text}".encode(), digest_size=16)
            out.append(
                {
                    "id": str(uuid.UUID(bytes=digest.digest(), version=1)),
                    "title": "bybitctl sim maintenance",
                    "state": state,
                    "begin": str(begin),
                    "end": str(end),
                    "href": "",
                    "serviceTypes": [1, 2, 3, 4, 5],
                    "product": [1, 2, 3, 4],
                    "uidSuffix": [],
                    "maintainType": 1,
                    "env": 1,
                }
            )
        return out

    def lose_order(self, now_ms: int) -> bool:
        """For one private `order` message about to go out: whether it is lost."""
        return bool(self._active) and self._take("lose_order", now_ms)

    def book(self, now_ms: int) -> str | None:
        """For one orderbook delta about to go out: "skip", "dup", "reorder" or None."""
        for name, action in _BOOK.items():
            if self._take(name, now_ms):
                return action
        if not any(a.fault.name in _BOOK and a.remaining != 0 for a in self._active):
            self.book_active = False
        return None
