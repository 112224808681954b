"""`call`, `api`, `catalog`, `completion`: argv -> Options (captured, no I/O) and rendering."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from typer.testing import CliRunner

from bybitctl.catalog import load
from bybitctl.commands import api, call, catalog
from bybitctl.context import AppContext


def capture(module: Any, *args: str) -> Any:
    """Run a hand-written command's builder with a capturing runner; return its Options."""
    seen: list[Any] = []
    result = CliRunner().invoke(module.build(runner=seen.append), list(args), obj=AppContext())
    assert result.exit_code == 0, result.output
    return seen[0]


def test_call_converts_known_keys_and_json_values() -> None:
    opts = capture(
        call,
        "place_batch_order",
        "category=option",
        'request=[{"symbol":"BTC-1JAN27-90000-C","side":"Buy","orderType":"Limit","qty":"1"}]',
    )
    assert opts.row.pybit_method == "place_batch_order"
    assert opts.request.http_method == "POST" and opts.request.auth
    assert opts.params["request"][0]["qty"] == "1"
    assert opts.request.dangerous


def test_call_accepts_kebab_case_and_keeps_strings() -> None:
    opts = capture(call, "get-tickers", "category=linear", "symbol=BTCUSDT", "-o", "csv")
    assert opts.row.pybit_method == "get_tickers"
    assert opts.params == {"category": "linear", "symbol": "BTCUSDT"}
    assert opts.presentation.fmt == "csv"


def test_call_integer_key_is_typed_in_a_post_body(dry: Any) -> None:
    body = json.loads(
        dry(
            "call",
            "set_leverage",
            "category=linear",
            "symbol=BTCUSDT",
            "buyLeverage=5",
            "sellLeverage=5",
        )["body"]
    )
    assert body == {
        "category": "linear",
        "symbol": "BTCUSDT",
        "buyLeverage": "5",
        "sellLeverage": "5",
    }


def test_call_unknown_method_lists_close_matches(bybitctl: Any) -> None:
    result = bybitctl("call", "get_orderbok")
    assert result.code == 2
    assert "pybit's HTTP has no method 'get_orderbok'" in result.stderr
    assert "get_orderbook" in result.stderr


def test_call_bad_pair(bybitctl: Any) -> None:
    result = bybitctl("call", "get_tickers", "category")
    assert result.code == 2
    assert "call expects key=value" in result.stderr
    # A typed key names the `key=value` the user wrote, not an option they never typed.
    result = bybitctl("call", "place_batch_order", "category=linear", "request=[{")
    assert result.code == 2
    assert "invalid value for call request: expected a JSON array or object" in result.stderr


def test_call_all_on_a_method_that_does_not_page(bybitctl: Any) -> None:
    result = bybitctl("call", "get_server_time", "--all")
    assert result.code == 2
    assert "does not page" in result.stderr


def test_api_verb_given_or_inferred() -> None:
    opts = capture(api, "GET", "/v5/market/tickers", "category=linear")
    assert (opts.request.http_method, opts.request.auth) == ("GET", False)
    # A known route: the catalogue's verb, even with parameters.
    opts = capture(api, "/v5/market/tickers", "category=linear")
    assert opts.request.http_method == "GET"
    # An unknown route: gh's rule, POST with parameters, GET without; signed by default.
    opts = capture(api, "/v5/new/thing", "a=1")
    assert (opts.request.http_method, opts.request.auth, opts.request.dangerous) == (
        "POST",
        True,
        True,
    )
    opts = capture(api, "/v5/new/thing", "--no-auth")
    assert (opts.request.http_method, opts.request.auth) == ("GET", False)


def test_api_types_parameters_of_known_routes() -> None:
    opts = capture(api, "post", "/v5/order/create", "category=linear", "positionIdx=1", "x=[1]")
    assert opts.request.params == {"category": "linear", "positionIdx": 1, "x": [1]}
    assert opts.request.pybit_method is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("POST", "/v5/order/realtime", "--all"), "--all/--max-pages only work with GET requests"),
        (("v5/market/time",), "PATH must start with '/'"),
        (("GET",), "missing PATH after the method"),
        (("GET", "/v5/market/time", "oops"), "api expects key=value"),
        (("DELETE", "/v5/order/cancel"), "Bybit v5 uses only GET and POST (got DELETE)"),
        (
            ("GET", "/v5/market/orderbook", "category=futures", "symbol=X"),
            "invalid value for api category: 'futures' is not one of spot",
        ),
    ],
)
def test_api_rejects_bad_input_up_front(bybitctl: Any, args: tuple[str, ...], message: str) -> None:
    result = bybitctl("--base-url", "http://127.0.0.1:9", "api", *args)
    assert result.code == 2
    assert message in result.stderr


def test_api_dry_run(dry: Any) -> None:
    described = dry(
        "--base-url",
        "http://127.0.0.1:5",
        "api",
        "GET",
        "/v5/market/kline",
        "category=linear",
        "symbol=BTCUSDT",
        "interval=1",
    )
    assert described["url"] == (
        "http://127.0.0.1:5/v5/market/kline?category=linear&interval=1&symbol=BTCUSDT"
    )


def test_catalog_json_lists_every_row_with_the_documented_keys(bybitctl: Any) -> None:
    rows = bybitctl("catalog", "-o", "json").json()
    assert len(rows) == len(load())
    keys = {"group", "command", "pybit_method", "http_method", "path", "auth", "required", "params"}
    assert all(keys <= set(row) for row in rows)
    assert {(r["http_method"], r["path"], r["pybit_method"]) for r in rows} == {
        (e.http_method, e.path, e.pybit_method) for e in load()
    }


def test_catalog_formats(bybitctl: Any) -> None:
    table = bybitctl("-o", "table", "catalog", "market").stdout.splitlines()
    assert table[0].split() == ["group", "command", "http_method", "path", "auth"]
    assert any(line.split()[:2] == ["market", "orderbook"] for line in table)
    text = bybitctl("catalog", "rate-limit", "-o", "csv", "--fields", "command,path").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and set(rows[0]) == {"command", "path"}
    lines = bybitctl("catalog", "lt", "-o", "jsonl").stdout.splitlines()
    assert [json.loads(line)["group"] for line in lines] == ["lt"] * len(lines) and lines
    raw = bybitctl("catalog", "misc", "-o", "raw").json()
    assert raw["retCode"] == 0 and len(raw["result"]) == 3


def test_catalog_query_and_fields(bybitctl: Any) -> None:
    result = bybitctl("--query", "[?auth].command", "catalog", "market", "-o", "json")
    assert result.json() == []
    result = bybitctl("catalog", "trade", "--fields", "nope")
    assert result.code == 2 and "valid: group, command" in result.stderr
    result = bybitctl("catalog", "nosuchgroup")
    assert result.code == 2 and "no group 'nosuchgroup'" in result.stderr


def test_output_option_after_the_subcommand_wins(bybitctl: Any) -> None:
    text = bybitctl("-o", "json", "catalog", "misc", "-o", "csv").stdout
    assert text.startswith("group,command,")
    assert bybitctl("catalog", "-o", "yaml").code == 2
    assert bybitctl("-o", "yaml", "catalog").code == 2


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_call_back_into_bybitctl(bybitctl: Any, shell: str) -> None:
    result = bybitctl("completion", shell)
    assert result.code == 0
    assert "_BYBITCTL_COMPLETE=complete_" + shell in result.stdout


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("bybitctl mar", ["market"]),
        ("bybitctl market order", ["orderbook"]),
        ("bybitctl trade place-order --order-t", ["--order-type"]),
        ("bybitctl market orderbook --category ", ["spot", "linear", "inverse", "option"]),
        ("bybitctl trade place-order --orderType L", ["Limit"]),
        ("bybitctl trade place-order --orderT", []),  # the alias works, but is not offered
        ("bybitctl market tickers --fields symbol,lastP", ["symbol,lastPrice"]),
        ("bybitctl market kline --fields start,c", ["start,close"]),
    ],
)
def test_completion_answers_commands_options_and_allowed_values(
    words: str, expected: list[str]
) -> None:
    """What the bash script gets back when it calls `bybitctl` with `_BYBITCTL_COMPLETE` set."""
    env = {
        **os.environ,
        "_BYBITCTL_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
    }
    result = subprocess.run(
        [sys.executable, "-c", "from bybitctl.cli import main; main()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected


def test_completion_unknown_shell(bybitctl: Any) -> None:
    assert bybitctl("completion", "tcsh").code == 2


def test_catalog_builder_captures_options() -> None:
    opts = capture(catalog, "market", "--fields", "path")
    assert opts.group == "market" and opts.presentation.fields == ["path"]
