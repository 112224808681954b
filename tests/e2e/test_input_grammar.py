"""Arbitrary text for every catalogue parameter type, through the real command parser, against
the local exchange: each value either exits 2 with nothing sent, or reaches the exchange as
typed (a decimal, a string or a query-string number byte for byte; an integer, a boolean or
JSON as the value it spells).

What is accepted is decided by the rules written out in `grammar_spec`, independently of
`bybitctl.parsing`, and what arrived is read from the exchange's record of every request.
In-process (`bybitctl.cli.run`) against one exchange for the module, with rate limits off
so hundreds of orders in a second are answered rather than throttled.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cli.test_time_values import spec as spec_time
from grammar_spec import (
    input_class,
    plain_decimals,
    plain_integers,
    spec_boolean,
    spec_decimal,
    spec_integer,
    spec_json,
    spec_symbol,
    spec_text,
    tricky_text,
)
from hypothesis import event, given, settings
from hypothesis import strategies as st
from support.examples import examples

from bybitctl.catalog import Param, find
from bybitctl.cli import run
from bybitctl.commands.arguments import number_rule
from bybitctl.naming import kebab
from bybitctl.sim import SimHandle, running_exchange

EXAMPLES = settings(
    max_examples=int(os.environ.get("BYBITCTL_FUZZ_EXAMPLES", examples(40))), deadline=None
)
"""Modest by default so the suite stays fast; BYBITCTL_FUZZ_EXAMPLES=1000 for a long run."""


@dataclass(frozen=True)
class Case:
    """One parameter under test: the command line around it and where it lands."""

    group: str
    command: str
    name: str
    before: tuple[str, ...]

    @property
    def row(self) -> Any:
        row = find(self.group, self.command)
        assert row is not None
        return row

    @property
    def param(self) -> Param:
        return {p.name: p for p in self.row.params}[self.name]

    @property
    def option(self) -> str:
        return f"--{kebab(self.name)}"


LINEAR = ("--category", "linear", "--symbol", "BTCUSDT")
ORDER = (*LINEAR, "--side", "Buy", "--order-type", "Limit")
CASES = [
    # string: a required one in a query string, an optional one in a body
    Case("market", "orderbook", "symbol", ("--category", "linear")),
    Case("trade", "place-order", "orderLinkId", (*ORDER, "--qty", "0.001", "--price", "1000")),
    # integer: ranged, in a query string and in a body
    Case("market", "orderbook", "limit", LINEAR),
    Case("trade", "set-dcp", "timeWindow", ()),
    # time: a number parameter in a query string, an integer one in a query string
    Case("position", "move-position-history", "startTime", ()),
    Case(
        "market",
        "kline",
        "start",
        ("--category", "linear", "--symbol", "BTCUSDT", "--interval", "60"),
    ),
    # decimal unsigned and signed (body), decimal in a query string
    Case("trade", "place-order", "qty", (*ORDER, "--price", "1000")),
    Case("position", "add-or-reduce-margin", "margin", LINEAR),
    Case("spread", "max-qty", "orderPrice", ("--symbol", "BTCUSDT_BTC/USDT", "--side", "1")),
    # boolean: in a body and in a query string
    Case("trade", "place-order", "reduceOnly", (*ORDER, "--qty", "0.001", "--price", "1000")),
    Case("user", "affiliate-user-list", "needDeposit", ()),
    # array and object (bodies)
    Case("trade", "place-batch-order", "request", ("--category", "linear")),
    Case("user", "modify-master-api-key", "permissions", ()),
]

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63) + 1, 2**63 - 1)
    | st.text(max_size=6)
    | st.sampled_from([0.5, 1.25, -2.5])
)
json_containers = st.recursive(
    st.lists(json_leaves, max_size=3) | st.dictionaries(st.text(max_size=5), json_leaves),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
json_texts = json_containers.map(json.dumps) | st.sampled_from(
    [
        '[{"qty": NaN}]',
        '{"a": 1, "a": 1}',
        "[1e3]",
        "[" * 40 + "]" * 40,
        '{"a": 1',
        "[Infinity]",
        "7",
        '"x"',
    ]
)
time_texts = st.sampled_from(
    ["2024-05-01", "2024-05-01T12:30Z", "2024-13-01", "-1h", "-7d", "now", "1h", "-1y",
     "2024-05-01T25:00", "1700000000000", "2024-05-01T12:30+02:00", "yesterday"]
)  # fmt: skip
TEXTS: dict[str, st.SearchStrategy[str]] = {
    "time": tricky_text | plain_integers | time_texts,
    "string": tricky_text | st.text(max_size=20),
    "integer": tricky_text | plain_integers,
    "number": tricky_text | plain_decimals,
    "decimal": tricky_text | plain_decimals,
    "boolean": tricky_text | st.sampled_from(["true", "FALSE", "Yes", "off", "1", "0"]),
    "array": tricky_text | json_texts,
    "object": tricky_text | json_texts,
}


@dataclass(frozen=True)
class Outcome:
    code: int
    stderr: str
    sent: list[dict[str, Any]]


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Outcome]]:
    """`cli(*args)` -> Outcome: the exit code, stderr and the requests the exchange got."""
    home = tmp_path_factory.mktemp("grammar")
    with (
        running_exchange(symbols=("BTCUSDT", "ETHUSDT"), seed=5, rate_limits=False) as ex,
        pytest.MonkeyPatch.context() as mp,
    ):
        for name in [n for n in os.environ if n.startswith(("BYBIT", "_BYBITCTL"))]:
            mp.delenv(name)
        mp.setenv("XDG_CONFIG_HOME", str(home / "xdg"))
        mp.setenv("HOME", str(home))
        mp.setenv("BYBIT_BASE_URL", ex.base_url)
        mp.setenv("BYBIT_API_KEY", ex.api_key)
        mp.setenv("BYBIT_API_SECRET", ex.api_secret)
        yield _invoker(ex)


def _invoker(ex: SimHandle) -> Callable[..., Outcome]:
    def invoke(*args: str) -> Outcome:
        start = len(ex.received)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(["-o", "json", *args])
        assert ex.api_secret not in out.getvalue() + err.getvalue()
        return Outcome(code, err.getvalue(), ex.received[start:])

    return invoke


def expected(param: Param, raw: str, *, query: bool) -> tuple[bool, Any]:
    """(accepted, what the exchange receives) by the written-out rules; a time that is not
    digits arrives as the epoch number it means (`spec_time`, `APPROX` for relative ones)."""
    rule = number_rule(param)
    if param.time:
        value = spec_time(raw, time.time(), param.time)
        if value is None:
            return False, None
        sent = raw if raw.isascii() and raw.isdigit() else str(value)
        return True, (APPROX(sent) if raw == "now" or raw.startswith("-") else sent)
    if param.type == "string" and param.name == "symbol":
        return spec_symbol(raw), raw
    if param.type == "string":
        return spec_text(raw, required=param.required), raw
    if param.type in ("decimal", "number"):
        return spec_decimal(raw, rule), raw
    if param.type == "integer":
        if not spec_integer(raw, rule):
            return False, None
        return True, str(int(raw)) if query else int(raw)
    if param.type == "boolean":
        value = spec_boolean(raw)
        return value is not None, (json.dumps(value) if query else value)
    return spec_json(raw)


class APPROX(str):
    """An epoch number in milliseconds sent for a relative time: equal within two seconds."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other.isdigit() and abs(int(other) - int(self)) < 2000

    __hash__ = str.__hash__


def _kind(param: Param) -> str:
    return "time" if param.time else param.type


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.command}-{c.name}-{_kind(c.param)}")
@EXAMPLES
@given(data=st.data())
def test_a_value_exits_2_or_arrives_as_typed(cli: Callable[..., Outcome], case: Case, data):
    param = case.param
    raw = data.draw(TEXTS[_kind(param)], label=case.option)
    event(input_class(raw))
    outcome = cli(case.group, case.command, *case.before, f"{case.option}={raw}")
    assert "Traceback" not in outcome.stderr and "internal error" not in outcome.stderr
    query = case.row.http_method == "GET"
    accepted, value = expected(param, raw, query=query)
    if outcome.code == 2:
        assert outcome.sent == [], "refused, yet something was sent"
        assert case.option in outcome.stderr
        assert not accepted, f"{raw!r} follows the grammar but was refused: {outcome.stderr}"
        return
    assert accepted, f"{raw!r} breaks the grammar but was sent"
    assert outcome.code in (0, 1), outcome.stderr
    [request] = outcome.sent
    assert (request["method"], request["path"]) == (case.row.http_method, case.row.path)
    got = (request["query"] if query else request["body"])[param.name]
    assert value == got, (raw, got)
    assert type(got) is (str if isinstance(value, APPROX) else type(value)), (raw, got)


VALID = {
    "time": "1700000000000",
    "string": "BTCUSDT",
    "integer": "5",
    "number": "1700000000000",
    "decimal": "0.001",
    "boolean": "true",
    "array": "[]",
    "object": "{}",
}


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.command}-{c.name}")
def test_every_case_reaches_the_exchange_with_a_valid_value(
    cli: Callable[..., Outcome], case: Case
) -> None:
    """So a refusal in the property above is the value's doing, not the command line's."""
    outcome = cli(case.group, case.command, *case.before, case.option, VALID[_kind(case.param)])
    assert outcome.code in (0, 1), outcome.stderr
    assert [r["path"] for r in outcome.sent] == [case.row.path]


def test_standard_json_is_always_accepted(cli: Callable[..., Outcome]) -> None:
    """The other direction for JSON: what json.dumps writes (no floats) is never refused."""
    batch = [{"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001"}]
    for text in (json.dumps(batch), json.dumps(batch, indent=2), '[{"a": [[["deep"]]]}]'):
        outcome = cli("trade", "place-batch-order", "--category", "linear", "--request", text)
        assert outcome.code in (0, 1), outcome.stderr
        assert outcome.sent[0]["body"]["request"] == json.loads(text)


def test_the_three_money_losing_inputs(cli: Callable[..., Outcome]) -> None:
    """`--qty ٣` read as 3 BTC, `--order-type Limit ... --orderType Market` sent Market,
    `--qty 0.01 --qty 2` sent 2: each now exits 2 and sends nothing."""
    order = ("trade", "place-order", *ORDER, "--price", "1000")
    for args, message in [
        ((*order, "--qty", "٣"), "invalid value for --qty: expected a decimal number, got '٣'"),
        (
            (*order, "--orderType", "Market", "--qty", "0.01"),
            "--order-type and --orderType are the same option: give it once",
        ),
        ((*order, "--qty", "0.01", "--qty", "2"), "--qty given more than once: give it once"),
    ]:
        outcome = cli(*args)
        assert outcome.code == 2, outcome.stderr
        assert message in outcome.stderr
        assert outcome.sent == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # option twice, alias twice, empty required value, a flag given twice
        (("--limit", "5", "--limit", "5"), "--limit given more than once"),
        (("--param", "limit=5", "--limit", "5"), "--param limit: parameter given twice"),
        (("--symbol", "ETHUSDT"), "--symbol given more than once"),
        (("--dry-run", "--dry-run"), "--dry-run given more than once"),
    ],
)
def test_repeats_exit_2_and_send_nothing(
    cli: Callable[..., Outcome], args: tuple[str, ...], message: str
) -> None:
    outcome = cli("market", "orderbook", "--category", "linear", "--symbol", "BTCUSDT", *args)
    assert outcome.code == 2 and message in outcome.stderr
    assert outcome.sent == []


def test_alias_twice_and_empty_required_value(cli: Callable[..., Outcome]) -> None:
    order = ("trade", "place-order", "--category", "linear", "--side", "Buy", "--qty", "0.001")
    outcome = cli(*order, "--symbol", "", "--order-type", "Limit", "--price", "1000")
    assert outcome.code == 2
    assert "invalid value for --symbol: expected a symbol, got an empty value" in outcome.stderr
    outcome = cli(*order, "--symbol", "BTCUSDT", "--orderType", "Limit", "--orderType", "Limit")
    assert outcome.code == 2 and "--orderType given more than once" in outcome.stderr
    outcome = cli("--timeout", "5", "--timeout=5", "market", "server-time")
    assert outcome.code == 2 and "--timeout given more than once" in outcome.stderr
    assert outcome.sent == []
