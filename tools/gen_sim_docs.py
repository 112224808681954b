"""Regenerate the generated parts of docs/sim.md: which routes the local exchange models and
which answer with the documented example, and the rate-limit table it enforces.

    .venv/bin/python tools/gen_sim_docs.py           # rewrite docs/sim.md in place
    .venv/bin/python tools/gen_sim_docs.py --check   # exit 1 when docs/sim.md is stale

The list comes from the catalogue (every route the server answers), the exchange's route
table (`bybitctl.sim.api.exchange.ROUTES`: what it models) and the one route the server models
itself (the system status), so it cannot drift from the code; the rate limits come from
`bybitctl.sim.net.ratelimit.table()`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bybitctl import catalog  # noqa: E402
from bybitctl.sim.api.exchange import ROUTES  # noqa: E402
from bybitctl.sim.net.ratelimit import table  # noqa: E402
from bybitctl.sim.net.server import SYSTEM_STATUS  # noqa: E402

DOC = ROOT / "docs" / "sim.md"
BEGIN = "<!-- BEGIN GENERATED: tools/gen_sim_docs.py -->"
END = "<!-- END GENERATED -->"
LIMITS_BEGIN = "<!-- BEGIN GENERATED RATE LIMITS: tools/gen_sim_docs.py -->"
LIMITS_END = "<!-- END GENERATED RATE LIMITS -->"


def limits_section() -> str:
    """The generated markdown: one row per rate-limit rule."""
    lines = [LIMITS_BEGIN, "", "| route | requests per window | window |", "|---|---|---|"]
    lines += [f"| `{route}` | {limit} | {window} |" for route, limit, window in table()]
    lines += ["", LIMITS_END]
    return "\n".join(lines)


def endpoint_section() -> str:
    """The generated markdown: counts, then one table per catalogue group."""
    modelled = {*ROUTES, ("GET", SYSTEM_STATUS)}
    routes: dict[tuple[str, str], catalog.Endpoint] = {}
    for endpoint in catalog.load():
        routes.setdefault((endpoint.http_method, endpoint.path), endpoint)
    by_group: dict[str, list[tuple[str, str, bool, bool]]] = {}
    for (verb, path), endpoint in routes.items():
        by_group.setdefault(endpoint.group, []).append(
            (verb, path, endpoint.auth, (verb, path) in modelled)
        )
    count = sum(1 for key in routes if key in modelled)
    lines = [
        BEGIN,
        "",
        f"{len(routes)} routes answer; {count} are modelled by the exchange, "
        f"{len(routes) - count} answer with the documented example.",
        "",
    ]
    for group in sorted(by_group):
        lines += [f"### {group}", "", "| route | auth | answer |", "|---|---|---|"]
        for verb, path, auth, is_modelled in sorted(by_group[group], key=lambda r: (r[1], r[0])):
            answer = "**modelled**" if is_modelled else "example"
            lines.append(f"| `{verb} {path}` | {'signed' if auth else 'public'} | {answer} |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def _replace(text: str, begin: str, end: str, block: str) -> str:
    head, found, rest = text.partition(begin)
    if not found:
        raise SystemExit(f"docs/sim.md has no {begin!r} marker")
    _, _, tail = rest.partition(end)
    return head + block + tail


def render(text: str) -> str:
    """`text` with its generated blocks replaced."""
    text = _replace(text, LIMITS_BEGIN, LIMITS_END, limits_section())
    return _replace(text, BEGIN, END, endpoint_section())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail when docs/sim.md is stale")
    args = parser.parse_args()
    current = DOC.read_text(encoding="utf-8")
    fresh = render(current)
    if args.check:
        if fresh != current:
            print("docs/sim.md is stale: run tools/gen_sim_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
