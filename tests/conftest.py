"""Fixtures shared by every test directory; keep this file small."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("dev", max_examples=settings.get_profile("default").max_examples // 10)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
"""`HYPOTHESIS_PROFILE=dev`: a tenth of the examples, for the inner loop (tests that set
their own count or list cases scale them with `support.examples`)."""

E2E_DIRS = tuple(Path(__file__).parent / name for name in ("e2e", "mm/e2e", "terminal", "clients"))
"""Folders whose every test starts the local exchange, the installed binary, a
pseudo-terminal or a real client; tests elsewhere that do so carry `pytest.mark.e2e`."""

BYBIT_ENV = (
    "BYBIT_API_KEY",
    "BYBIT_API_SECRET",
    "BYBIT_RSA_KEY_FILE",
    "BYBIT_BASE_URL",
    "BYBIT_PROFILE",
    "BYBITCTL_OUTPUT",
    "BYBITCTL_DEBUG",
)


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """No BYBIT_* variables and private XDG/HOME dirs, so no real config is ever read.

    Returns the variables set, for tests that build a subprocess environment.
    """
    for name in BYBIT_ENV:
        monkeypatch.delenv(name, raising=False)
    values = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under `E2E_DIRS` as `e2e`, so `-m "not e2e"` is the fast inner loop."""
    for item in items:
        if any(item.path.is_relative_to(folder) for folder in E2E_DIRS):
            item.add_marker(pytest.mark.e2e)
