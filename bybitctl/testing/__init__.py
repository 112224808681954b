"""Test a Bybit bot offline: the local exchange as a pytest fixture or a context manager.

    def test_my_bot(local_bybit):
        session = local_bybit.pybit_http()
        ...

The pytest plugin (`bybitctl.testing.plugin`, registered through the `pytest11` entry point)
gives the `local_bybit` fixture; `start_local_bybit` does the same anywhere else. See
docs/sim.md, "Testing a bot against it".
"""

from bybitctl.testing.exchange import LocalBybit, LocalBybitError, start_local_bybit

__all__ = ["LocalBybit", "LocalBybitError", "start_local_bybit"]
