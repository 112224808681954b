"""docs/sim.md's endpoint list is generated; it must match the catalogue and the core."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_sim_docs_endpoint_list_is_current():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_sim_docs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_every_modelled_route_is_a_catalogue_route():
    """A core route the catalogue lacks can never be reached (the server answers 404)."""
    from bybitctl import catalog
    from bybitctl.sim.api.exchange import ROUTES

    assert [route for route in ROUTES if catalog.by_route(*route) is None] == []
