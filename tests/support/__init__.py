"""Test data shared by the tests and the benchmarks (importable as `support` from `tests/`,
which pytest puts on the path for `tests/conftest.py` and the benchmarks add themselves)."""
