"""Test a Bybit bot offline: the local exchange as a pytest fixture or a context manager.

    def test_my_bot(local_bybit):
        session = local_bybit.pybit_http()
        ...

The pytest plugin (`bybitctl.testing.plugin`, registered through the `pytest11` entry point)
gives the `local_bybit` fixture; `start_local_bybit` does the same anywhere else. See
docs/sim.md, "Testing a bot against it".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bybitctl.testing.exchange import LocalBybit, LocalBybitError, start_local_bybit

__all__ = ["LocalBybit", "LocalBybitError", "start_local_bybit"]


def __getattr__(name: str) -> Any:
    """Imported on first use: pytest loads the plugin in every run of a project that has
    bybitctl installed, most of which never start an exchange."""
    if name in __all__:
        from bybitctl.testing import exchange

        return getattr(exchange, name)
    raise AttributeError(name)
