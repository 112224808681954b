"""Test data shared by the tests and the benchmarks (importable as `support` from `tests/`,
which pytest puts on the path for `tests/conftest.py`, and `benchmarks/mm_tests_path.py` for
the benchmarks)."""
