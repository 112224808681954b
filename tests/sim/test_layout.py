"""The local exchange's layers import downward only, and its modules stay small.

core < market, store < api < net, with `bybitctl.sim` itself (`running_exchange`) above
them all: a module imports its own layer and the layers below, never one above, and market
and store never import each other. Every import counts, lazy and typing-only ones too.
Circles are checked for the whole package in tests/test_imports.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import bybitctl.sim

SIM = Path(bybitctl.sim.__file__).parent
RANKS = {"core": 0, "market": 1, "store": 1, "api": 2, "net": 3}
MAX_LINES = 700


def sim_imports(path: Path) -> set[str]:
    """Every `bybitctl.sim` module or package the file names in an import."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("bybitctl.sim"))
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            base = node.module or ""
            if base == "bybitctl.sim" or base.startswith("bybitctl.sim."):
                found.update(
                    f"{base}.{a.name}" if base != "bybitctl.sim" else base for a in node.names
                )
    return found


def layer_of(module: str) -> str | None:
    """The layer a dotted `bybitctl.sim...` name belongs to; None for the package itself."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 else None


def modules() -> list[Path]:
    return sorted(SIM.rglob("*.py"))


def test_every_module_lives_in_a_layer():
    stray = [
        p
        for p in modules()
        if p != SIM / "__init__.py" and p.relative_to(SIM).parts[0] not in RANKS
    ]
    assert not stray


def test_layers_import_downward_only():
    upward = []
    for path in modules():
        rel = path.relative_to(SIM)
        if len(rel.parts) == 1:
            continue  # bybitctl/sim/__init__.py assembles the layers
        own = rel.parts[0]
        for target in sim_imports(path):
            other = layer_of(target)
            if other is None or (other != own and RANKS[other] >= RANKS[own]):
                upward.append(f"{rel} imports {target}")
    assert not upward, "\n".join(upward)


def test_the_check_sees_an_upward_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from bybitctl.sim.api import routes_trade\n")
    assert sim_imports(module) == {"bybitctl.sim.api.routes_trade"}
    assert layer_of("bybitctl.sim.api.routes_trade") == "api" and layer_of("bybitctl.sim") is None


def test_no_module_is_over_the_size_limit():
    long = {
        str(p.relative_to(SIM)): n
        for p in modules()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long
