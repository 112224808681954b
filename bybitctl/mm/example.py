"""The commented `mm.toml` that `bybitctl mm init` writes: every field of `MMConfig` with its
help, unit and range, grouped by the section its declaration names, loadable as is."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from bybitctl.mm.config import MMConfig, accepts

_SECTIONS = {
    "market": "What to quote",
    "quotes": "Where the quotes sit",
    "size": "How big the quotes are",
    "limits": "Exposure limits (in-flight and resting orders count at a full fill)",
    "requote": "When quotes move",
    "fees": "Fees",
    "volatility": "Volatility-scaled spread",
    "kill": "Kill switch (PnL in quote currency, fees included)",
    "guards": "Guards that pull or slow quotes",
    "exit": "Orders and exit",
}

_EXAMPLE = {
    "symbol": "BTCUSDT",
    "order_qty": "0.001",
    "max_position": "0.01",
    "kill_max_loss": "50",
    "kill_max_drawdown": "25",
}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def example_toml() -> str:
    """A commented `mm.toml` with every field (what `bybitctl mm init` writes).

    Optional fields without a default are written commented out; the result loads as is.
    """
    by_section: dict[str, list[str]] = {key: [] for key in _SECTIONS}
    for f in fields(MMConfig):
        meta = f.metadata
        unit = f" [{meta['unit']}]" if meta["unit"] else ""
        allowed = accepts(f.name)
        lines = by_section[meta["section"]]
        lines.append(f"# {meta['doc']}{unit}" + (f" Accepts: {allowed}." if allowed else ""))
        value = _EXAMPLE.get(f.name, f.default)
        if value is None:
            lines.append(f"# {f.name} = ")
        else:
            lines.append(f"{f.name} = {_toml_value(value)}")
    out = ["# bybitctl mm configuration; flags override these. See docs/mm.md.", ""]
    for key, title in _SECTIONS.items():
        out.append(f"# --- {title} ---")
        out.extend(by_section[key])
        out.append("")
    return "\n".join(out)
