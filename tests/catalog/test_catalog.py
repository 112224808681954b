"""The catalogue against the installed pybit, the reference, and its own invariants.

pybit's verb, path and auth flag are read here independently of tools/gen_catalog.py
(regular expressions over the method source instead of its AST walk), so a bug in the
generator's introspection cannot hide itself.
"""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bybitctl import catalog
from bybitctl.naming import kebab

ROOT = Path(__file__).resolve().parents[2]
CATALOG_DIR = ROOT / "bybitctl" / "catalog"
REFERENCE = ROOT / "data" / "reference"
DOC_ONLY_ROWS = 87  # non-deprecated documented endpoints pybit 5.17 lacks


def pybit_routes() -> dict[str, tuple[str, str, bool]]:
    """{method: (verb, path, auth)} for every public method of pybit's HTTP, from its source."""
    from pybit.unified_trading import HTTP

    names = {n for base in HTTP.__bases__ for n in vars(base) if not n.startswith("_")}
    routes = {}
    for name in names:
        fn = getattr(HTTP, name)
        if not inspect.isfunction(fn):
            continue
        src = inspect.getsource(fn)
        enum_name, member = re.search(r"\{self\.endpoint\}\{\s*(\w+)\.\s*(\w+)\s*\}", src).groups()
        path = getattr(fn.__globals__[enum_name], member).value
        if "_submit_file_request(" in src:
            verb, auth = "POST", "auth=False" not in src
        else:
            verb = re.search(r'method="(GET|POST)"', src).group(1)
            auth = "auth=True" in src
        routes[name] = (verb, path, auth)
    return routes


@pytest.fixture(scope="module")
def routes() -> dict[str, tuple[str, str, bool]]:
    return pybit_routes()


def test_every_pybit_method_has_exactly_one_row_with_its_verb_path_and_auth(routes):
    rows = Counter(e.pybit_method for e in catalog.load() if e.pybit_method)
    assert len(routes) == 358
    for name, (verb, path, auth) in routes.items():
        assert rows[name] == 1, name
        row = catalog.by_pybit_method(name)
        assert (row.http_method, row.path, row.auth) == (verb, path, auth), name


def test_no_row_names_a_method_pybit_lacks(routes):
    from pybit.unified_trading import HTTP

    for row in catalog.load():
        if row.pybit_method is not None:
            assert row.pybit_method in routes
            owner = next(c for c in HTTP.__mro__ if row.pybit_method in vars(c))
            assert row.pybit_class == owner.__name__


def test_counts():
    rows = catalog.load()
    assert sum(1 for r in rows if r.pybit_method) == 358
    assert sum(1 for r in rows if r.pybit_method is None) == DOC_ONLY_ROWS
    assert len(rows) == 358 + DOC_ONLY_ROWS


def test_doc_only_rows_are_the_non_deprecated_endpoints_pybit_lacks():
    vs = json.loads((REFERENCE / "pybit_vs_docs.json").read_text())
    wanted = {
        (e["method"], e["path"]) for e in vs["doc_endpoints_not_in_pybit"] if not e["deprecated"]
    }
    have = {(r.http_method, r.path) for r in catalog.load() if r.pybit_method is None}
    assert have == wanted
    assert all(not r.deprecated for r in catalog.load() if r.pybit_method is None)


def test_required_names_are_params_and_flags_agree():
    for row in catalog.load():
        by_name = {p.name: p for p in row.params}
        assert len(by_name) == len(row.params), row.path
        for name in row.required:
            assert by_name[name].required, (row.path, name)
        assert {p.name for p in row.params if p.required} == set(row.required), row.path


def test_param_types_enums_and_option_names():
    types = {"string", "decimal", "integer", "number", "boolean", "array", "object"}
    for row in catalog.load():
        assert all(p.type in types for p in row.params), row.path
        assert all(p.enum is None or len(p.enum) >= 2 for p in row.params), row.path
        options = [kebab(p.name) for p in row.params]
        assert len(set(options)) == len(options), row.path


def test_command_names_are_kebab_and_unique_per_group():
    for group, rows in catalog.groups().items():
        names = [r.command for r in rows]
        assert len(set(names)) == len(names), group
        assert all(kebab(n) == n and n for n in names), group
        assert kebab(group) == group


def test_command_name_rule():
    assert catalog.find("market", "orderbook").pybit_method == "get_orderbook"
    assert catalog.find("trade", "place-order").pybit_method == "place_order"
    assert catalog.find("account", "wallet-balance").pybit_method == "get_wallet_balance"
    assert catalog.find("market", "full-orderbook").path == "/v5/market/full_orderbook"
    for row in catalog.load():
        if row.pybit_method:
            assert row.command in (kebab(row.pybit_method), kebab(row.pybit_method)[4:])


def test_pagination_names_real_fields():
    paged = [r for r in catalog.load() if r.pagination]
    assert len(paged) > 50
    for row in paged:
        assert row.pagination.cursor_param in {p.name for p in row.params}, row.path
        response = catalog.example(row.http_method, row.path)["response"]["result"]
        assert isinstance(response[row.pagination.list_field], list), row.path
        assert row.pagination.cursor_field in response, row.path
    assert catalog.find("trade", "open-orders").pagination == catalog.Pagination(
        "cursor", "nextPageCursor", "list"
    )


def test_dangerous_rows():
    assert catalog.find("trade", "place-order").dangerous
    assert catalog.find("asset", "withdraw").dangerous
    assert catalog.find("position", "set-leverage").dangerous
    assert not catalog.find("market", "orderbook").dangerous
    assert not catalog.find("trade", "pre-check-order").dangerous
    for row in catalog.load():
        if row.dangerous and row.http_method == "GET":
            assert "the docs say POST" in (row.decision or ""), row.path


def test_pybit_and_docs_disagreements_are_written_down():
    assert "the docs say POST" in catalog.by_pybit_method("adjust_collateral_amount").decision
    assert "row follows pybit" in catalog.by_pybit_method("get_fixed_term_product").decision
    cancel = catalog.by_pybit_method("cancel_order")
    assert cancel.required == ("category", "symbol")
    assert "pybit's docstring lists" in cancel.decision


def test_to_dict_gives_the_json_rows_back():
    raw = json.loads((CATALOG_DIR / "endpoints.json").read_text())
    assert [e.to_dict() for e in catalog.load()] == raw


def test_lookups():
    row = catalog.by_route("get", "/v5/market/orderbook")
    assert row is catalog.find("market", "orderbook")
    assert catalog.find("market", "no-such-command") is None
    assert catalog.by_pybit_method("no_such_method") is None
    assert catalog.by_route("POST", "/v5/market/orderbook") is None
    sample = catalog.example("GET", "/v5/market/orderbook")
    assert sample["request"]["symbol"] == "BTCUSDT"
    assert sample["response"]["retCode"] == 0
    sample["request"]["symbol"] = "changed"
    assert catalog.example("GET", "/v5/market/orderbook")["request"]["symbol"] == "BTCUSDT"
    assert catalog.error_meaning(10001) == "Request parameter error"
    assert catalog.error_meaning(123456789) is None
    assert list(catalog.groups())[:3] == ["account", "alpha", "asset"]


def test_loader_stays_light():
    """Importing and loading the catalogue pulls in no HTTP or UI stack and no examples."""
    code = (
        "import sys; from bybitctl import catalog as c; c.load(); c.groups();"
        " c.find('market', 'orderbook');"
        " print(sorted(m for m in ('pybit', 'requests', 'rich') if m in sys.modules),"
        " c._examples.cache_info().currsize)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "0"]


def test_one_group_builds_only_its_own_rows():
    """A command needs its own group only; the whole-catalogue views agree with it."""
    code = (
        "from bybitctl import catalog as c; rows = c.group('market');"
        " print(len(rows) > 0, c.group.cache_info().currsize, c.load.cache_info().currsize)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "1", "0"]
    assert catalog.group_names() == tuple(catalog.groups())
    assert all(catalog.group(name) is catalog.groups()[name] for name in catalog.group_names())
    assert catalog.group("no-such-group") == ()
    assert catalog.find("market", "server-time") in catalog.group("market")


def test_generator_reproduces_the_committed_files(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_catalog.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in ("endpoints.json", "examples.json", "error_codes.json"):
        assert (tmp_path / name).read_bytes() == (CATALOG_DIR / name).read_bytes(), name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("get_orderbook", "get-orderbook"),
        ("orderType", "order-type"),
        ("place_order", "place-order"),
        ("sellerCancelOrderApply", "seller-cancel-order-apply"),
        ("full_orderbook", "full-orderbook"),
        ("adlAlert", "adl-alert"),
        ("baseURL", "base-url"),
        ("categoryV2", "category-v2"),
        ("need30", "need30"),
        ("add_position_percent", "add-position-percent"),
        ("USDT", "usdt"),
        ("tpslMode", "tpsl-mode"),
        ("tpSlMode", "tp-sl-mode"),
        ("already-kebab", "already-kebab"),
    ],
)
def test_kebab(name, expected):
    assert kebab(name) == expected


def test_number_facts_come_from_the_docs():
    """Signed and ranged parameters: by rule from the docs' values, plus the override table."""
    margin = {p.name: p for p in catalog.find("position", "add-or-reduce-margin").params}["margin"]
    assert margin.signed and margin.range is None
    spread_price = {p.name: p for p in catalog.find("spread", "spread-place-order").params}
    assert spread_price["price"].signed and not spread_price["qty"].signed
    window = {p.name: p for p in catalog.find("trade", "set-dcp").params}["timeWindow"]
    assert window.range == (3, 300) and not window.signed
    limit = {p.name: p for p in catalog.find("trade", "open-orders").params}["limit"]
    assert limit.range == (1, 50)
    signed = {(r.path, p.name) for r in catalog.load() for p in r.params if p.signed}
    assert signed == {
        ("/v5/position/add-margin", "margin"),
        ("/v5/spread/order/create", "price"),
        ("/v5/spread/order/amend", "price"),
    }
    for row in catalog.load():
        for p in row.params:
            if p.signed or p.range:
                assert p.type in ("decimal", "number", "integer"), (row.path, p.name)
            if p.range:
                assert 0 <= p.range[0] < p.range[1], (row.path, p.name)


def test_quantities_prices_amounts_and_leverages_are_positive():
    """Zero of them does nothing, so the catalogue says they are above 0; a spread's signed
    price and the take-profit a 0 removes are not."""
    order = {p.name: p for p in catalog.find("trade", "place-order").params}
    assert order["qty"].positive and order["price"].positive and order["triggerPrice"].positive
    assert not order["takeProfit"].positive and not order["stopLoss"].positive
    spread = {p.name: p for p in catalog.find("spread", "spread-place-order").params}
    assert spread["qty"].positive and not spread["price"].positive
    withdraw = {p.name: p for p in catalog.find("asset", "withdraw").params}
    assert withdraw["amount"].positive
    leverage = {p.name: p for p in catalog.find("position", "set-leverage").params}
    assert leverage["buyLeverage"].positive and leverage["sellLeverage"].positive
    for row in catalog.load():
        for p in row.params:
            if p.positive:
                assert p.type in ("decimal", "number", "integer") and not p.signed


def test_every_default_column_is_a_field_of_the_documented_answer():
    """A view names fields the answer has (a typo would leave a column empty forever);
    kline and book shapes name their own columns."""
    from bybitctl.output.frame import KLINE, LADDER, documented_fields

    checked = 0
    for row in catalog.load():
        view = row.view
        if view.shape == "kline":
            assert view.columns == KLINE[: len(view.columns)], row.path
            continue
        if view.shape == "orderbook":
            assert view.columns == LADDER, row.path
            continue
        found = catalog.example(row.http_method, row.path)
        result = ((found or {}).get("response") or {}).get("result")
        names = documented_fields(lambda result=result: result)()
        if not names:
            continue
        missing = [c for c in view.columns if c not in names]
        # The sim's answers carry a few fields newer than the documented example.
        assert len(missing) <= 2, (row.path, missing)
        checked += 1
    assert checked > 300


def test_time_parameters_and_their_units():
    params = {(r.path, p.name): p for r in catalog.load() for p in r.params}
    assert params[("/v5/market/kline", "start")].time == "ms"
    assert params[("/v5/order/history", "startTime")].time == "ms"
    assert params[("/v5/asset/fundinghistory", "createTimeFrom")].time == "s"  # "(seconds)"
    assert params[("/v5/market/account-ratio", "startTime")].time == "ms"  # a string one
    assert params[("/v5/order/history", "limit")].time is None
    assert all(p.time in (None, "ms", "s") for p in params.values())
