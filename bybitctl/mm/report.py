"""The run report, computed from the journal alone, so `mm start` (at exit), `mm report`
(any time later) and `--report-json` always agree.

The `--report-json` keys are exactly `REPORT_KEYS` (shared with the backtest), all JSON
numbers; the printed report adds the PnL attribution, taker fills and run facts, among them
`reconciled`: whether the run's exit read the exchange's executions and booked any the
stream had missed (when it could not, the fills and position are those received), and
`rejects`: the exchange's refusals of our orders by retCode, each with Bybit's documented
meaning (from the catalogue) and the exchange's latest message; `mmp_freezes`: how often the
exchange's MMP froze option quotes (its 110066 refusals are that, not refusals).
"""

from __future__ import annotations

import json
import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from bybitctl.errors import UsageError
from bybitctl.mm.figures import REPORT_KEYS, report_figures
from bybitctl.mm.journal import Journal
from bybitctl.mm.orders import TIMEOUT
from bybitctl.output import render


def build_report(
    journal: Journal, run_ids: list[str], mark: Decimal | None = None
) -> dict[str, Any]:
    """The report of a chain of runs (one resumed accounting), marked at `mark` (default:
    the last journaled mid). Keys: REPORT_KEYS first, then the extras."""
    ledger = journal.ledger(run_ids)
    mark = mark if mark is not None else journal.last_mid(run_ids) or Decimal(0)
    counts = journal.order_counts(run_ids)
    runs = journal.runs(run_ids)
    elapsed = sum(r["elapsed_ms"] or 0 for r in runs)
    quoted = sum(r["quoted_ms"] or 0 for r in runs)
    latencies = journal.latencies(run_ids)
    last = runs[-1] if runs else {}
    unrealized = ledger.unrealized(mark) if ledger.position else Decimal(0)
    report = report_figures(
        placed=counts["place"],
        amended=counts["amend"],
        cancelled=counts["cancel"],
        ledger=ledger,
        unrealized=unrealized,
        open_orders=int(last.get("open_orders_at_exit") or 0),
        uptime_pct=round(100.0 * quoted / elapsed, 3) if elapsed else 0.0,
        latencies=latencies,
    )
    assert tuple(report) == REPORT_KEYS
    # flat, the inventory's gain or loss between the fills is still there (mark drops out)
    inventory = ledger.inventory_pnl(mark)
    report.update(
        {
            "taker_fills": ledger.taker_fills,
            "spread_capture": float(ledger.spread_capture),
            "inventory_pnl": float(inventory),
            "funding_settlements": ledger.funding_settlements,
            "mark": float(mark),
            "runs": len(runs),
            "run_id": last.get("run_id", ""),
            "symbol": last.get("symbol", ""),
            "exit_reason": last.get("exit_reason") or "",
            "reconciled": bool(last.get("reconciled")),
            "duration_s": round(elapsed / 1000.0, 3),
            "latency_samples": len(latencies),
            "mmp_freezes": journal.mmp_freezes(run_ids),
            "rejects": rejects(journal, run_ids),
        }
    )
    return report


def rejects(journal: Journal, run_ids: list[str]) -> list[dict[str, Any]]:
    """The exchange's refusals of our order actions by retCode, most frequent first: count,
    Bybit's documented meaning (None when undocumented) and the latest message it sent.
    Unanswered requests (timeouts) are not refusals."""
    from bybitctl.catalog import error_meaning

    out = []
    for status, count, message in journal.rejects(run_ids):
        try:
            code = int(status)
        except (TypeError, ValueError):
            continue
        if code != TIMEOUT:
            out.append(
                {"code": code, "count": count, "meaning": error_meaning(code), "message": message}
            )
    return sorted(out, key=lambda r: (-r["count"], r["code"]))


def reject_reason(code: int, message: str | None, meaning: str | None) -> str:
    """A refusal in words: the documented meaning, then the exchange's message when it says
    something else (Bybit's are often terse: "ab not enough for new order").

    >>> reject_reason(110007, "ab not enough for new order", "Available balance is insufficient")
    'Available balance is insufficient (ab not enough for new order)'
    >>> meaning = "Available balance is insufficient"
    >>> reject_reason(110007, meaning + ".", meaning)
    'Available balance is insufficient'
    >>> reject_reason(123, "", None)
    'retCode 123'
    """
    message = (message or "").strip()
    if not meaning:
        return message or f"retCode {code}"
    if not message or _words(message) == _words(meaning):
        return meaning
    return f"{meaning} ({message})"


def _words(text: str) -> str:
    return " ".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def run_list(journal: Journal, running: str | None = None) -> list[dict[str, Any]]:
    """Every run in the journal, newest first: id, start (ISO 8601, UTC), duration, fills,
    PnL and exit reason. A run's PnL is what its own fills made, fees and the funding it
    settled included, marked at its last mid: the chain's PnL after them minus before them,
    both at that mid, so the inventory it inherited does not count (for a run without
    predecessors it is the report's `total_pnl`). A run not ended is `running` when it is
    `running` (the run of the instance holding the journal's lock), else `crashed`."""
    from bybitctl.mm.accounting import Ledger

    ledgers: dict[str, Ledger] = {}  # by target: the accounting a run resumes
    out = []
    for run in journal.runs():
        run_id = run["run_id"]
        ledger = ledgers.setdefault(run["target"], Ledger())
        fills = list(journal.fills([run_id]))
        mark = journal.last_mid([run_id]) or (fills[-1].mid if fills else Decimal(0))
        before = ledger.total(mark)
        for fill in fills:
            ledger.apply(fill)
        for funding in journal.fundings([run_id]):
            ledger.settle(funding)
        if run["ended_ms"] is not None:
            reason = run["exit_reason"] or ""
        else:
            reason = "running" if run_id == running else "crashed"
        out.append(
            {
                "run_id": run_id,
                "started": _iso(run["started_ms"]),
                "duration_s": round((run["elapsed_ms"] or 0) / 1000.0, 3),
                "fills": len(fills),
                "pnl": float(ledger.total(mark) - before),
                "exit_reason": reason,
            }
        )
    return out[::-1]


def _iso(ms: int) -> str:
    """Milliseconds since the epoch as ISO 8601 UTC to the second.

    >>> _iso(1_700_000_000_999)
    '2023-11-14T22:13:20Z'
    """
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def report_json(report: dict[str, Any]) -> dict[str, Any]:
    """Only REPORT_KEYS, for `--report-json`."""
    return {key: report[key] for key in REPORT_KEYS}


def write_report_json(path: Path, report: dict[str, Any]) -> None:
    """Write atomically (temp file, mode 0600, + rename), so a reader never sees half a
    report and others cannot read a trading record."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(report_json(report), indent=2) + "\n")
    tmp.replace(path)


def plain(value: Any) -> str:
    """A figure as a person reads it: numbers in plain notation to 8 decimals (never
    `1e-05`), booleans as true/false, nothing as ""; the same in the report, `mm status`,
    `mm runs` and the dashboard.

    >>> plain(1e-05), plain(0.0123456789), plain(-0.0), plain(65000.1), plain(True), plain(None)
    ('0.00001', '0.01234568', '0', '65000.1', 'true', '')
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = f"{value:.8f}".rstrip("0").rstrip(".")
        return "0" if text in ("", "-0") else text
    return str(value)


def as_text(report: dict[str, Any]) -> dict[str, str]:
    """Every figure as a person reads it (`plain`), a nested figure (the latency
    percentiles) on one line, and one line per rejected retCode (`rejects.<code>`: count
    and reason)."""
    text: dict[str, str] = {}
    for key, value in report.items():
        if key == "rejects" and isinstance(value, list):
            for r in value:
                reason = reject_reason(r["code"], r["message"], r["meaning"])
                text[f"rejects.{r['code']}"] = f"{r['count']}  {reason}"
            if not value:
                text[key] = "0"
        elif isinstance(value, dict):
            text[key] = "  ".join(f"{k} {plain(v)}" for k, v in value.items())
        else:
            text[key] = plain(value)
    return text


def print_report(report: dict[str, Any], fmt: str) -> None:
    """The report on stdout: one JSON line for `json`, else the key/value table every other
    command prints an object as; flushed. Never paged: a run's report stays on the screen
    when the run ends, and a pager would hold the exiting process."""
    if fmt == "json":
        sys.stdout.write(json.dumps(report) + "\n")
        sys.stdout.flush()
        return
    render({"result": as_text(report)}, "table", pager=False)


def plot(journal: Journal, run_ids: list[str], path: Path) -> None:
    """Mid, our quotes, fills and inventory over time, to a PNG (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(
            "--plot needs matplotlib", hint="install it with: pip install 'bybitctl[plot]'"
        ) from None
    data = journal.series(run_ids)
    t0 = min((rows[0][0] for rows in data.values() if rows), default=0)
    t_end = max((rows[-1][0] for rows in data.values() if rows), default=t0)
    fig, (ax, inv) = plt.subplots(2, 1, sharex=True, figsize=(11, 7), height_ratios=(3, 1))
    mids = sorted(
        [(t, (b + a) / 2) for t, b, a, _ in data["decisions"] if b and a]
        + [(t, float(m)) for t, m, *_ in data["pnl"] if m and float(m)]
    )
    ax.plot(
        [(t - t0) / 1000 for t, _ in mids], [m for _, m in mids], color="black", lw=0.8, label="mid"
    )
    for side, color in (("Buy", "tab:green"), ("Sell", "tab:red")):
        xs, ys = [], []  # the best level we wanted, held until the next decision
        for t, _, _, quotes in data["decisions"]:
            wanted = [
                float(p)
                for q_side, level, p, qty in json.loads(quotes or "[]")
                if q_side == side and level == 0 and float(qty) > 0
            ]
            xs.append((t - t0) / 1000)
            ys.append(wanted[0] if wanted else float("nan"))
        if xs:
            xs.append((t_end - t0) / 1000)
            ys.append(ys[-1])
        ax.step(xs, ys, where="post", color=color, lw=1, label=f"our {side.lower()} quote")
        fills = [(t, p) for t, s, p, _ in data["fills"] if s == side]
        ax.scatter(
            [(t - t0) / 1000 for t, _ in fills],
            [float(p) for _, p in fills],
            marker="^" if side == "Buy" else "v",
            s=40,
            color=color,
            edgecolor="black",
            label=f"{side.lower()} fills",
        )
    ax.set_ylabel("price")
    # above the axes, in one row: inside, it would hide the first seconds of the quotes
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=5, fontsize=8, frameon=False)
    position, steps = 0.0, [(t0, 0.0)]
    for t, side, _, qty in data["fills"]:
        position += float(qty) if side == "Buy" else -float(qty)
        steps.append((t, position))
    steps.append((t_end, position))
    inv.step(
        [(t - t0) / 1000 for t, _ in steps], [p for _, p in steps], where="post", color="tab:blue"
    )
    inv.set_ylabel("inventory")
    inv.set_xlabel("seconds since start")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
