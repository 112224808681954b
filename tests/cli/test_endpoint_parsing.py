"""argv -> the exact request (via --dry-run, which sends nothing): names, types, checks."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from bybitctl.catalog import find

PLACE = ("trade", "place-order", "--category", "linear", "--symbol", "BTCUSDT", "--side", "Buy")


def query_of(described: dict[str, Any]) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(described["url"]).query, keep_blank_values=True))


def body_of(described: dict[str, Any]) -> dict[str, Any]:
    return json.loads(described["body"])


def test_get_request_is_pybit_query_string(dry: Any) -> None:
    described = dry(
        "market", "orderbook", "--category", "linear", "--symbol", "BTCUSDT", "--limit", "5"
    )
    assert described["method"] == "GET"
    # pybit sorts the query string; the URL is the default mainnet host.
    assert described["url"] == (
        "https://api.bybit.com/v5/market/orderbook?category=linear&limit=5&symbol=BTCUSDT"
    )
    assert described["body"] is None
    assert "X-BAPI-SIGN" not in described["headers"]


def test_dry_run_url_is_the_one_on_the_wire(dry: Any) -> None:
    """requests percent-encodes the query pybit built; the dry run shows the encoded URL."""
    described = dry(
        "spot-margin",
        "spot-margin-trade-get-historical-interest-rate",
        "--currency",
        "USDC",
        "--vip-level",
        "No VIP",
    )
    assert described["url"].endswith("?currency=USDC&vipLevel=No%20VIP")


def test_dry_run_of_a_file_upload_is_multipart(dry: Any) -> None:
    described = dry("p2p", "upload-chat-file", "--upload-file", "/tmp/receipt.png")
    assert described["headers"]["Content-Type"].startswith("multipart/form-data")
    assert "'receipt.png'" in described["body"]


@pytest.mark.parametrize("spelling", ["--order-type", "--orderType"])
def test_kebab_and_camel_case_are_the_same_option(dry: Any, spelling: str) -> None:
    described = dry(*PLACE, spelling, "Limit", "--qty", "0.01", "--price", "100")
    assert described["method"] == "POST"
    assert described["url"] == "https://api.bybit.com/v5/order/create"
    assert body_of(described) == {
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.01",
        "price": "100",
    }


def test_help_shows_one_spelling_and_the_alias_still_works(bybitctl: Any, dry: Any) -> None:
    result = bybitctl("trade", "place-order", "--help")
    assert "--symbol" in result.stdout and "--order-type" in result.stdout
    assert "--orderType" not in result.stdout and "--symbol, --symbol" not in result.stdout
    sent = dry(*PLACE, "--orderType", "Limit", "--qty", "0.010", "--price", "100")
    assert body_of(sent)["orderType"] == "Limit"


def test_json_types_follow_the_catalogue(dry: Any) -> None:
    body = body_of(
        dry(
            *PLACE,
            "--order-type",
            "Limit",
            "--qty",
            "0.010",
            "--position-idx",
            "1",
            "--reduce-only",
            "true",
            "--is-leverage",
            "0",
        )
    )
    # Strings stay exactly as typed; integers and booleans become JSON numbers and booleans.
    assert body["qty"] == "0.010"
    assert body["positionIdx"] == 1 and type(body["positionIdx"]) is int
    assert body["reduceOnly"] is True
    assert body["isLeverage"] == 0


def test_get_boolean_is_the_lowercase_word(dry: Any) -> None:
    described = dry("user", "affiliate-user-list", "--need-deposit", "yes", "--need30", "0")
    assert query_of(described)["needDeposit"] == "true"
    assert query_of(described)["need30"] == "false"


def test_number_type(dry: Any) -> None:
    described = dry("position", "move-position-history", "--start-time", "1700000000000")
    assert query_of(described)["startTime"] == "1700000000000"


def test_array_and_object_parameters_take_json(dry: Any) -> None:
    batch = [{"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "1"}]
    body = body_of(
        dry("trade", "place-batch-order", "--category", "option", "--request", json.dumps(batch))
    )
    assert body["request"] == batch
    perms = {"ContractTrade": ["Order", "Position"]}
    body = body_of(
        dry("user", "modify-master-api-key", "--permissions", json.dumps(perms), "--read-only", "0")
    )
    assert body["permissions"] == perms


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("market", "orderbook", "--category", "linear", "--symbol", "X", "--limit", "five"),
            "invalid value for --limit: expected an integer, got 'five'",
        ),
        (
            ("market", "orderbook", "--category", "futures", "--symbol", "X"),
            "'futures' is not one of spot, linear, inverse, option",
        ),
        (
            (*PLACE, "--order-type", "Limit", "--qty", "1", "--reduce-only", "maybe"),
            "invalid value for --reduce-only: expected true or false",
        ),
        (
            ("trade", "place-batch-order", "--category", "option", "--request", "{not json"),
            "invalid value for --request: expected a JSON array or object",
        ),
        (
            ("trade", "place-batch-order", "--category", "option", "--request", "7"),
            "invalid value for --request: expected a JSON array or object",
        ),
        (
            (*PLACE, "--order-type", "Limit", "--qty", "0.0l"),
            "invalid value for --qty: expected a decimal number, got '0.0l'",
        ),
        (
            (*PLACE, "--order-type", "Limit", "--qty", "1", "--price", "nan"),
            "invalid value for --price: expected a decimal number",
        ),
        (("market", "orderbook", "--symbol", "BTCUSDT"), "missing required option(s): --category"),
        ((*PLACE, "--qty", "1"), "missing required option(s): --order-type"),
        (
            ("market", "orderbook", "--category", "linear", "--symbol", "X", "--param", "limit"),
            "--param expects key=value, got 'limit'",
        ),
        (
            ("market", "orderbook", "--category", "linear", "--symbol", "X", "--param", "symbol=Y"),
            "--param symbol: parameter given twice",
        ),
        (
            ("market", "orderbook", "--category", "linear", "--symbol", "X", "--param", "limit=x"),
            "invalid value for --param limit: expected an integer, got 'x'",
        ),
    ],
)
def test_bad_input_exits_2_before_anything_is_sent(
    bybitctl: Any, args: tuple[str, ...], message: str
) -> None:
    # A dead base URL: had anything been sent, the exit code would be 4, not 2.
    result = bybitctl("--base-url", "http://127.0.0.1:9", *args)
    assert result.code == 2
    assert message in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


def test_param_adds_unknown_parameters_with_json_values(dry: Any) -> None:
    body = body_of(
        dry(
            *PLACE,
            "--order-type",
            "Market",
            "--qty",
            "1",
            "--param",
            "newThing=abc",
            "--param",
            "extra=[1,2]",
            "--param",
            "limit=10",
        )
    )
    assert body["newThing"] == "abc"
    assert body["extra"] == [1, 2]
    assert body["limit"] == "10"


def test_param_is_typed_when_the_catalogue_knows_the_key(dry: Any) -> None:
    described = dry(
        "market",
        "orderbook",
        "--param",
        "category=linear",
        "--param",
        "symbol=X",
        "--param",
        "limit=7",
    )
    assert query_of(described) == {"category": "linear", "symbol": "X", "limit": "7"}


def test_unknown_option_is_a_usage_error(bybitctl: Any) -> None:
    result = bybitctl("market", "orderbook", "--category", "linear", "--colour", "red")
    assert result.code == 2
    assert "No such option: --colour" in result.stderr


def test_unknown_command_suggests_close_names(bybitctl: Any) -> None:
    result = bybitctl("market", "orderbok")
    assert result.code == 2
    assert "Did you mean orderbook" in result.stderr
    result = bybitctl("markett")
    assert result.code == 2
    assert "Did you mean market" in result.stderr


def test_signed_dry_run_redacts_key_and_signature_and_needs_no_secret(bybitctl: Any) -> None:
    secret = "S3cr3t-never-printed"
    result = bybitctl(
        "--api-key",
        "KEY-visible-nowhere",
        "--api-secret-stdin",
        "-o",
        "json",
        "account",
        "wallet-balance",
        "--account-type",
        "UNIFIED",
        "--dry-run",
        input=secret + "\n",
    )
    assert result.code == 0, result.stderr
    described = result.json()
    assert described["headers"]["X-BAPI-API-KEY"] == "<redacted>"
    assert described["headers"]["X-BAPI-SIGN"] == "<redacted>"
    assert described["headers"]["X-BAPI-RECV-WINDOW"] == "5000"
    assert secret not in result.stdout + result.stderr
    assert "KEY-visible-nowhere" not in result.stdout + result.stderr
    # Without any credentials the dry run still works and says the key is missing.
    described = json.loads(
        bybitctl(
            "-o", "json", "account", "wallet-balance", "--account-type", "UNIFIED", "--dry-run"
        ).stdout
    )
    assert described["headers"]["X-BAPI-API-KEY"] == "<missing>"
    # A key without a secret is present (redacted); only the signature cannot be made.
    result = bybitctl(
        "--api-key",
        "KEY-visible-nowhere",
        "-o",
        "json",
        "account",
        "wallet-balance",
        "--account-type",
        "UNIFIED",
        "--dry-run",
    )
    assert result.code == 0, result.stderr
    headers = result.json()["headers"]
    assert headers["X-BAPI-API-KEY"] == "<redacted>"
    assert headers["X-BAPI-SIGN"] == "<missing>"
    assert "KEY-visible-nowhere" not in result.stdout + result.stderr


def test_dry_run_text_form_for_people(bybitctl: Any) -> None:
    result = bybitctl(
        "--base-url",
        "http://127.0.0.1:8",
        "--api-key",
        "K",
        "--api-secret-stdin",
        "-o",
        "table",
        *PLACE,
        "--order-type",
        "Market",
        "--qty",
        "1",
        "--dry-run",
        input="S\n",
    )
    assert result.code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "POST http://127.0.0.1:8/v5/order/create"
    assert "X-BAPI-SIGN: <redacted>" in lines
    assert json.loads(lines[-1])["orderType"] == "Market"


def test_dry_run_follows_base_url_testnet_and_recv_window(dry: Any) -> None:
    assert (
        dry("--testnet", "market", "server-time")["url"]
        == "https://api-testnet.bybit.com/v5/market/time"
    )
    assert (
        dry("--demo", "market", "server-time")["url"] == "https://api-demo.bybit.com/v5/market/time"
    )
    assert (
        dry("--tld", "nl", "market", "server-time")["url"] == "https://api.bybit.nl/v5/market/time"
    )
    described = dry(
        "--recv-window", "20000", "account", "wallet-balance", "--account-type", "UNIFIED"
    )
    assert described["headers"]["X-BAPI-RECV-WINDOW"] == "20000"


def test_paging_options_only_on_paged_rows(bybitctl: Any) -> None:
    paged = find("trade", "order-history")
    assert paged is not None and paged.pagination is not None
    help_text = bybitctl("trade", "order-history", "--help").stdout
    assert "--all" in help_text and "--max-pages" in help_text
    assert "--cursor" not in help_text  # hidden from help, still accepted
    assert "--all" not in bybitctl("market", "server-time", "--help").stdout
    assert bybitctl("market", "server-time", "--all").code == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--all", "--cursor", "abc"), "--all/--max-pages start at the first page: drop --cursor"),
        (("--max-pages", "0"), "--max-pages must be at least 1"),
        (("--max-pages", "x"), "Invalid value for '--max-pages'"),
    ],
)
def test_contradictory_paging_flags(bybitctl: Any, extra: tuple[str, ...], message: str) -> None:
    result = bybitctl(
        "--base-url", "http://127.0.0.1:9", "trade", "order-history", "--category", "linear", *extra
    )
    assert result.code == 2
    assert message in result.stderr


def test_hidden_cursor_is_still_accepted(dry: Any) -> None:
    described = dry("trade", "order-history", "--category", "linear", "--cursor", "page2")
    assert query_of(described)["cursor"] == "page2"


def test_json_may_span_lines_in_options_and_pairs(dry: Any) -> None:
    """Pretty-printed JSON (from a file) holds newlines; text values may not."""
    batch = [{"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "1"}]
    pretty = json.dumps(batch, indent=2)
    args = ("trade", "place-batch-order", "--category", "option")
    assert body_of(dry(*args, "--request", pretty))["request"] == batch
    assert (
        body_of(dry(*PLACE, "--order-type", "Market", "--qty", "1", "--param", f"x={pretty}"))["x"]
        == batch
    )


def test_a_loose_value_pybit_casts_is_typed_as_pybit_sends_it(bybitctl: Any, dry: Any) -> None:
    """pybit int()s positionIdx and str()s qty in every POST body, whatever the row."""
    body = body_of(dry("api", "POST", "/v5/new/thing", "positionIdx=1", "qty=[1, 2]", "--yes"))
    assert body == {"positionIdx": 1, "qty": "[1, 2]"}
    result = bybitctl("--base-url", "http://127.0.0.1:9", "api", "POST", "/v5/x", "positionIdx=٣")
    assert result.code == 2 and "only ASCII digits" in result.stderr
