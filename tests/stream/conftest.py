"""Every stream test runs without the user's config or BYBIT_* variables."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated(clean_env: dict[str, str]) -> None:
    """Applies the shared `clean_env` fixture to every test here."""
