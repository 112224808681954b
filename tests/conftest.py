"""Fixtures shared by every test directory; keep this file small."""

from __future__ import annotations

from pathlib import Path

import pytest

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
