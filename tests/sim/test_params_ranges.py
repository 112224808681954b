"""The exchange refuses a number outside the range the catalogue documents for it, from the
same rows the command line checks its options against; no route restates a range."""

from __future__ import annotations

import pytest

from bybitctl import catalog
from bybitctl.sim.api import params
from bybitctl.sim.api.exchange import ROUTES
from bybitctl.sim.core.errors import ApiError

RANGED = sorted(
    {(r.http_method, r.path, p.name, p.range) for r in catalog.load() for p in r.params if p.range}
)


@pytest.mark.parametrize(("verb", "path", "name", "bounds"), RANGED)
def test_a_number_outside_its_catalogue_range_is_10001(
    verb: str, path: str, name: str, bounds: tuple[int, int]
) -> None:
    bound = params.binding(verb, path)
    low, high = bounds
    for inside in (low, high, str(low), str(high), "", None, "many"):
        params.check_ranges(bound, {name: inside})  # a non-number is the type check's
    for outside in (low - 1, high + 1, str(low - 1), f"{high}.5"):
        with pytest.raises(ApiError) as refused:
            params.check_ranges(bound, {name: outside})
        assert refused.value.code == 10001
        assert f"{name} out of range [{low}, {high}]" in refused.value.msg


def test_the_modelled_routes_whose_rules_held_a_range_answer_by_the_catalogue() -> None:
    """The DCP window and page sizes the routes once checked themselves."""
    for verb, path, name, bounds in (
        ("POST", "/v5/order/disconnected-cancel-all", "timeWindow", (3, 300)),
        ("GET", "/v5/order/realtime", "limit", (1, 50)),
        ("GET", "/v5/market/account-ratio", "limit", (1, 500)),
        ("GET", "/v5/spread/orderbook", "limit", (1, 25)),
    ):
        assert (verb, path) in ROUTES
        assert params.binding(verb, path).ranges[name] == bounds
