"""Generate the endpoint catalogue (bybitctl/catalog/*.json) from pybit and the v5 reference.

    .venv/bin/python tools/gen_catalog.py [--out DIR] [--reference DIR]

Sources, and which one wins, are described in docs/catalog.md. Verb, path and auth of
pybit methods come from reading the installed pybit's method source (the call to
`_submit_request` and the path enum it names), never from the reference's copy of them.
Output is deterministic: running the script twice gives byte-identical files.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import re
import sys
import textwrap
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bybitctl.naming import kebab  # noqa: E402

sys.path.insert(0, str(ROOT / "tools"))
from catalog_text import (  # noqa: E402
    GENERIC_HELP,
    PARAM_HELP,
    PARAM_HELP_AT,
    SUMMARIES,
    TIME_EDGES,
    TRADING_HELP,
    TRADING_PATHS,
)
from catalog_views import (  # noqa: E402
    KLINE,
    SHAPES,
    VIEWS,
    default_columns,
    empty_text,
    nested_lists,
)

DEFAULT_OUT = ROOT / "bybitctl" / "catalog"
DEFAULT_REFERENCE = ROOT / "data" / "reference"
DOCS_SITE = "https://bybit-exchange.github.io/docs/"

GROUP_OF_CLASS = {
    "MiscHTTP": "misc",
    "MarketHTTP": "market",
    "TradeHTTP": "trade",
    "AccountHTTP": "account",
    "AssetHTTP": "asset",
    "PositionHTTP": "position",
    "PreUpgradeHTTP": "pre-upgrade",
    "SpotLeverageHTTP": "lt",
    "SpotMarginTradeHTTP": "spot-margin",
    "UserHTTP": "user",
    "BrokerHTTP": "broker",
    "InstitutionalLoanHTTP": "loan",
    "CryptoLoanHTTP": "loan",
    "EarnHTTP": "earn",
    "FiatHTTP": "fiat",
    "RFQHTTP": "rfq",
    "RateLimitHTTP": "rate-limit",
    "P2PHTTP": "p2p",
    "SpreadHTTP": "spread",
}
# Doc areas of endpoints pybit lacks -> group; areas with no pybit class get their own group.
GROUP_OF_AREA = {
    "account": "account",
    "alpha": "alpha",
    "asset": "asset",
    "bot": "bot",
    "broker": "broker",
    "bybit-card": "card",
    "general": "user",
    "institution": "institution",
    "market": "market",
    "otc": "loan",
    "p2p": "p2p",
    "position": "position",
    "spot-margin-uta": "spot-margin",
    "spread": "spread",
    "strategy": "strategy",
}

TYPE_MAP = {
    "string": "string",
    "integer": "integer",
    "int": "integer",
    "long": "integer",
    "int64": "integer",
    "number": "number",
    "boolean": "boolean",
    "bool": "boolean",
    "object": "object",
    "array": "array",
}
JSON_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean",
              "list": "array", "dict": "object"}  # fmt: skip
CATEGORY_WORDS = {"spot", "linear", "inverse", "option"}
# String parameters that always hold a decimal number: typed "decimal", so the CLI refuses
# `--qty 0.0l` before sending while the value still travels as the exact string typed.
DECIMAL_STRINGS = {
    "qty", "price", "triggerPrice", "takeProfit", "stopLoss", "tpLimitPrice", "slLimitPrice",
    "tpSize", "slSize", "trailingStop", "activePrice", "leverage", "buyLeverage",
    "sellLeverage", "orderIv", "amount", "margin", "orderPrice", "quantity", "baseAmount",
    "quoteAmount", "loanAmount", "collateralAmount", "stakeAmount", "orderAmount",
    "slippageTolerance",
}  # fmt: skip
# Parameters whose documented values are examples or bounds, never a closed set.
OPEN_VALUED = {
    "amount", "baseCoin", "buyLeverage", "chainCode", "coin", "currency", "cursor", "days",
    "expireIn", "fromCoin", "leverage", "limit", "margin", "page", "pageIndex", "pageNo",
    "pageSize", "price", "qty", "quoteCoin", "removeRate", "sellLeverage", "settleCoin",
    "size", "slippage", "symbol", "timeWindow", "toCoin", "tokenSymbol", "vegaLimit",
    "accountType", "fromAccountType", "toAccountType", "quoteAccountType", "baseAccountType",
}  # fmt: skip
# Core order enums (https://bybit-exchange.github.io/docs/v5/enum): a single endpoint's doc
# often lists only the values its text mentions, so when its values overlap one of these
# the whole domain is the enum; otherwise, e.g. P2P's side 0/1, the doc's values stand.
ENUM_DOMAINS = {
    "timeInForce": ["GTC", "IOC", "FOK", "PostOnly", "RPI"],
    "side": ["Buy", "Sell"],
    "orderType": ["Market", "Limit"],
    "tpOrderType": ["Market", "Limit"],
    "slOrderType": ["Market", "Limit"],
    "tpslMode": ["Full", "Partial"],
    "tpSlMode": ["Full", "Partial"],
    "triggerBy": ["LastPrice", "IndexPrice", "MarkPrice"],
    "tpTriggerBy": ["LastPrice", "IndexPrice", "MarkPrice"],
    "slTriggerBy": ["LastPrice", "IndexPrice", "MarkPrice"],
    "positionIdx": ["0", "1", "2"],
    "orderFilter": [
        "Order", "tpslOrder", "StopOrder", "OcoOrder", "BidirectionalTpslOrder", "OpenOrder"
    ],
}  # fmt: skip
# Numeric facts the reference's values cannot show, as the doc pages word them; keyed by
# (path, parameter). Each must match a parameter (the generator fails on a stale entry).
NUMBER_OVERRIDES: dict[tuple[str, str], dict[str, Any]] = {
    # Spread combinations quote a price difference: "price ... can be negative".
    ("/v5/spread/order/create", "price"): {"signed": True},
    ("/v5/spread/order/amend", "price"): {"signed": True},
    # "Disconnection timing window time. [3, 300], unit: second"
    ("/v5/order/disconnected-cancel-all", "timeWindow"): {"range": [3, 300]},
}
NUMERIC_TYPES = ("decimal", "number", "integer")
# Quantities, prices, amounts and leverages: zero of them orders, moves or sets nothing, so
# an unsigned one is positive (a signed one, a spread's price, may be anything). Take-profit
# and stop-loss prices are not here: Bybit reads 0 as "remove it".
POSITIVE_NUMBERS = {
    "qty", "price", "triggerPrice", "orderPrice", "orderIv", "amount", "quantity",
    "orderAmount", "loanAmount", "leverage", "buyLeverage", "sellLeverage",
}  # fmt: skip
PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
ID_NAME = re.compile(r"(Id|Ids|ID|_id)$")
ENUM_TOKEN = re.compile(r"^[A-Za-z0-9_]+$")
CURSOR_FIELDS = ("nextPageCursor", "nextCursor", "cursor")
# Words in a POST's last path segment (or pybit name) that say what the request does.
READ_ONLY_POST = re.compile(
    r"(^|-)(get|query|list|listpage|details?|info|balance|records?|history|price|estimate|"
    r"validate|getlimit|tier|status|summary|book|orderbook|pre-check|quote)($|-)"
)
WRITE_POST = re.compile(
    r"(^|-)(create|place|cancel|amend|close|buy|sell|purchase|redeem|stake|transfer|withdraw|"
    r"borrow|repay|set|switch|submit|stop|execute|confirm|release|remove|add|update|accept)($|-)"
)
MESSAGE_POST = re.compile(r"(^|-)(send|upload|message|chat)($|-)")


@dataclass(frozen=True)
class PybitCall:
    """What one public pybit HTTP method sends, read from its source."""

    method: str
    cls: str
    http_method: str
    path: str
    auth: bool
    doc: str
    shadowed: tuple[str, ...]  # other mixins defining the same name, hidden by the MRO


def _enum_path(node: ast.expr, namespace: dict[str, Any]) -> str:
    """Resolve `f"{self.endpoint}{Enum.MEMBER}"` to the member's path."""
    if not isinstance(node, ast.JoinedStr):
        raise ValueError(f"unexpected path expression: {ast.dump(node)}")
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(str(value.value))
            continue
        expr = value.value  # type: ignore[attr-defined]
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
            if expr.value.id == "self":
                continue  # self.endpoint: the base URL
            parts.append(getattr(namespace[expr.value.id], expr.attr).value)
        else:
            raise ValueError(f"unexpected path part: {ast.dump(expr)}")
    return "".join(parts)


def introspect_pybit() -> list[PybitCall]:
    """Every public method of pybit's HTTP with the verb, path and auth flag it sends.

    A name defined in two mixins resolves through HTTP's MRO, as a call on HTTP does.
    """
    from pybit.unified_trading import HTTP

    names = {n for cls in HTTP.__bases__ for n in vars(cls) if not n.startswith("_")}
    calls = []
    for name in sorted(names):
        owner = next(c for c in HTTP.__mro__ if name in vars(c))
        fn = vars(owner)[name]
        if not inspect.isfunction(fn):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        submits = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("_submit_request", "_submit_file_request")
        ]
        if len(submits) != 1:
            raise ValueError(f"{owner.__name__}.{name}: expected one request, got {len(submits)}")
        call = submits[0]
        kw = {k.arg: k.value for k in call.keywords}
        is_file = call.func.attr == "_submit_file_request"  # type: ignore[attr-defined]
        verb = "POST" if is_file else ast.literal_eval(kw["method"])
        auth = ast.literal_eval(kw["auth"]) if "auth" in kw else is_file
        shadowed = [c.__name__ for c in HTTP.__bases__ if name in vars(c) and c is not owner]
        calls.append(
            PybitCall(
                method=name,
                cls=owner.__name__,
                http_method=verb,
                path=_enum_path(kw["path"], fn.__globals__),
                auth=bool(auth),
                doc=inspect.getdoc(fn) or "",
                shadowed=tuple(shadowed),
            )
        )
    return calls


def docstring_required(doc: str) -> list[tuple[str, str, str]]:
    """(name, type, note) for each top-level entry of a pybit docstring's `Required args:`.

    The block ends at the next unindented line; deeper-indented lines continue an entry
    or describe fields of an item (move_position's `list`), so they are skipped.
    """
    lines = doc.splitlines()
    if "Required args:" not in lines:
        return []
    out, indent = [], None
    for line in lines[lines.index("Required args:") + 1 :]:
        if line.strip() and not line[0].isspace():
            break
        m = re.match(r"(\s+)(\w+) \(([^)]*)\):?\s*(.*)", line)
        if m and (indent is None or len(m.group(1)) == indent):
            indent = len(m.group(1))
            out.append((m.group(2), m.group(3), m.group(4).strip()))
    return out


def docstring_url(doc: str) -> str | None:
    m = re.search(r"https://bybit-exchange\.github\.io/docs/\S+", doc)
    return m.group(0) if m else None


def norm_type(raw: str) -> tuple[str, str]:
    """Catalogue type for a documented type, plus a note when the mapping loses something."""
    low = raw.strip().lower().replace("&lt;", "<").replace("&gt;", ">")
    if low in TYPE_MAP:
        return TYPE_MAP[low], ""
    if low.startswith("array"):
        return "array", ""
    if low == "multipartfile":
        return "string", "multipart file upload (a path to the file)"
    if low.startswith("strin"):
        return "string", ""
    return "string", f"documented type: {raw}"


def doc_url_of(doc_path: str) -> str:
    """Docs-site URL of a docs/*.mdx file; a file named like its folder is the folder's page."""
    parts = doc_path.removeprefix("docs/").removesuffix(".mdx").split("/")
    if len(parts) > 1 and parts[-1] == parts[-2]:
        parts.pop()
    return DOCS_SITE + quote("/".join(parts))


def enum_of(param: dict[str, Any], names: set[str]) -> list[str] | None:
    """The documented values of a parameter when they read as a closed set, else None.

    The reference's `hints` are every value the doc mentions for the parameter, so they
    are kept only when they look like a choice: two or more plain tokens, none of them
    another parameter's name, for a parameter that is not an id, amount, coin, symbol,
    account type or bound.
    Category words are dropped from non-category parameters (they say where it applies).
    """
    hints = param.get("hints") or []
    name = param["name"]
    if name in OPEN_VALUED or name in DECIMAL_STRINGS or ID_NAME.search(name):
        return None
    if norm_type(str(param["type"]))[0] not in ("string", "integer"):
        return None
    domain = ENUM_DOMAINS.get(name)
    if domain and set(hints) & set(domain):
        return domain
    if not name.lower().startswith("category") and name != "symbolType":
        hints = [h for h in hints if h not in CATEGORY_WORDS]
    values = list(dict.fromkeys(h for h in hints if h != "null"))
    if len(values) < 2 or any(not ENUM_TOKEN.match(v) or v in names for v in values):
        return None
    return values


def build_params(
    entry: dict[str, Any] | None, pybit_required: list[tuple[str, str, str]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Top-level params (nested fields summarised in the parent's description) and notes."""
    notes: list[str] = []
    pybit_notes = {n: note for n, _, note in pybit_required}
    if entry is None:
        params = []
        for name, raw, note in pybit_required:
            typ, type_note = norm_type(raw)
            desc = "; ".join(x for x in (note, type_note) if x)
            params.append(_param(name, True, typ, None, desc))
        return params, notes
    top = [p for p in entry["params"] if not p.get("depth")]
    sample = example_request(entry)
    if not top and sample:
        notes.append("the doc has no parameter table; params from its request example")
        params = [
            _param(k, False, JSON_TYPES.get(type(v).__name__, "string"), None, "", sample=v)
            for k, v in sample.items()
        ]
        return params, notes
    children: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in entry["params"]:
        if p.get("depth") == 1:
            children[p["parent"]].append(p)
    names = {p["name"] for p in entry["params"]}
    params, seen = [], set()
    for p in top:
        if p["name"] in seen:
            continue
        seen.add(p["name"])
        raw_type, required, extra = str(p["type"]), p["required"], ""
        if required == "conditional":
            required, extra = False, "required in some cases (see the doc)"
        elif required is True and sample.get(p["name"]) == "":
            # The CLI refuses an empty required value; the doc's own example sends this one
            # empty (p2p `premium` with a fixed price), so it is required only in some cases.
            required, extra = False, "required in some cases (the doc's example sends it empty)"
        elif not isinstance(required, bool):
            # Shifted doc table ("required" holds the type): fall back to pybit's docstring.
            raw_type, required = str(required), p["name"] in pybit_notes
            notes.append(f"the doc's table for {p['name']} is malformed; required per pybit")
        typ, type_note = norm_type(raw_type)
        desc = [pybit_notes.get(p["name"], ""), type_note, extra]
        if p["name"] == "cursor":
            desc.append("cursor from the previous page's response")
        kids = children.get(p["name"])
        if kids:
            fields = ", ".join(k["name"] + ("*" if k["required"] is True else "") for k in kids)
            desc.append(f"fields: {fields} (* required)")
        enum = enum_of(p, names - {p["name"]})
        if enum and sample.get(p["name"]) is not None and str(sample[p["name"]]) not in enum:
            enum = None  # the doc's own example uses a value outside the listed ones
        params.append(
            _param(
                p["name"],
                required,
                typ,
                enum,
                "; ".join(d for d in desc if d),
                p.get("hints") or (),
                sample.get(p["name"]),
            )
        )
    for name, raw, note in pybit_required:
        if name not in seen:
            typ, type_note = norm_type(raw)
            desc = "; ".join(
                x for x in (note, type_note, "named by pybit, not in the v5 docs") if x
            )
            params.append(_param(name, False, typ, None, desc))
    return params, notes


def _param(
    name: str,
    required: bool,
    typ: str,
    enum: list[str] | None,
    desc: str,
    hints: Sequence[str] = (),
    sample: Any = None,
) -> dict[str, Any]:
    """One parameter; `hints` are the values its doc mentions, `sample` its example value."""
    if typ == "string" and name in DECIMAL_STRINGS:
        typ = "decimal"
    signed, bounds = number_facts(name, typ, hints, sample)
    return {
        "name": name,
        "required": required,
        "type": typ,
        "enum": enum,
        "description": desc,
        "signed": signed,
        "range": bounds,
        "positive": typ in NUMERIC_TYPES and name in POSITIVE_NUMBERS and not signed,
        "time": None,
        "items": None,
        "sample": sample,
    }


def number_facts(
    name: str, typ: str, hints: Sequence[str], sample: Any
) -> tuple[bool, list[int] | None]:
    """Whether a numeric parameter may be negative, and its documented range, by rule.

    Signed: its doc names a negative value (`margin`: "To reduce, use -10") or its example
    sends one. Range: a `limit` whose doc names 1 is `[1, N]`, N the largest value the doc
    names ("[1, 50]. Default: 20"). Everything else is unsigned and unbounded here;
    `NUMBER_OVERRIDES` adds what only the doc's prose says.
    """
    if typ not in NUMERIC_TYPES:
        return False, None
    named = [float(h) for h in hints if PLAIN_NUMBER.fullmatch(h)]
    signed = any(n < 0 for n in named) or str(sample).startswith("-")
    whole = sorted({int(n) for n in named if n.is_integer() and n > 0})
    if name == "limit" and typ == "integer" and len(whole) > 1 and whole[0] == 1:
        return signed, [1, whole[-1]]
    return signed, None


def apply_number_overrides(rows: list[dict[str, Any]]) -> None:
    """Merge `NUMBER_OVERRIDES` into the rows; an entry that names no parameter is an error."""
    for (path, name), facts in NUMBER_OVERRIDES.items():
        hits = [p for r in rows if r["path"] == path for p in r["params"] if p["name"] == name]
        if not hits or any(p["type"] not in NUMERIC_TYPES for p in hits):
            raise ValueError(f"NUMBER_OVERRIDES: {path} has no numeric parameter {name}")
        for param in hits:
            param.update(facts)
            param["positive"] = param["positive"] and not param["signed"]


BATCH_SUFFIX = "-batch"


def link_batch_items(rows: list[dict[str, Any]], by_path: dict[str, dict[str, Any]]) -> None:
    """Mark each array parameter whose items are single requests with that route (`items`).

    By rule: a POST `.../X-batch` whose array parameter's documented item fields are all
    parameters of the POST `.../X` row carries items that are each an `X` request, so the
    CLI checks an item's fields with `X`'s facts and the simulator answers each as `X`.
    """
    posts = {r["path"]: r for r in rows if r["http_method"] == "POST"}
    for row in rows:
        single = posts.get(row["path"].removesuffix(BATCH_SUFFIX))
        entry = by_path.get(row["path"])
        if not row["path"].endswith(BATCH_SUFFIX) or single is None or entry is None:
            continue
        names = _names(single)
        for param in row["params"]:
            fields = {p["name"] for p in entry["params"] if p.get("parent") == param["name"]}
            if param["type"] == "array" and fields and fields <= names:
                param["items"] = single["path"]


def pagination_of(
    params: list[dict[str, Any]], entry: dict[str, Any] | None
) -> dict[str, str] | None:
    if entry is None or "cursor" not in {p["name"] for p in params}:
        return None
    result = (entry.get("response_example") or {}).get("result")
    if not isinstance(result, dict):
        return None
    cursor = next((f for f in CURSOR_FIELDS if isinstance(result.get(f), str)), None)
    lists = [k for k, v in result.items() if isinstance(v, list)]
    if cursor is None or len(lists) != 1:
        return None
    return {"cursor_param": "cursor", "cursor_field": cursor, "list_field": lists[0]}


def is_dangerous(verb: str, path: str, pybit_method: str | None) -> bool:
    """A write: moves funds, places/amends/cancels orders or changes settings.

    `verb` is the documented one: every documented GET only reads. A POST is a write when
    its last path segment or pybit name names a write (`create`, `cancel`, `set`, ...), or
    when nothing says it only reads (`get_*`, `.../order-list`) or only chats (`send`, `upload`).
    """
    if verb != "POST":
        return False
    words = [kebab(path.rstrip("/").rsplit("/", 1)[-1])]
    if pybit_method:
        words.append(kebab(pybit_method))
    if any(WRITE_POST.search(w) for w in words):
        return True
    return not any(READ_ONLY_POST.search(w) or MESSAGE_POST.search(w) for w in words)


def example_request(entry: dict[str, Any]) -> dict[str, Any]:
    """The doc's example parameters: the POST body, or the GET query string as a dict."""
    if entry["method"] == "POST":
        return entry.get("request_example_body") or {}
    line = entry.get("request_example_line") or ""
    target = line.split(" ", 1)[-1]
    sep = min((i for i in (target.find("?"), target.find("&")) if i >= 0), default=-1)
    return dict(parse_qsl(target[sep + 1 :])) if sep >= 0 else {}


def pybit_row(
    call: PybitCall, entry: dict[str, Any] | None, shared: dict[tuple[str, str], list[str]]
) -> dict[str, Any]:
    required_doc = docstring_required(call.doc)
    params, notes = build_params(entry, required_doc)
    decisions = list(notes)
    if entry is None:
        decisions.append("path not in the v5 docs; row follows pybit (params from its docstring)")
    else:
        if entry["method"] != call.http_method:
            decisions.append(
                f"pybit sends {call.http_method}, the docs say {entry['method']}; row follows pybit"
            )
        if entry["auth"] != call.auth:
            decisions.append(
                f"pybit {'signs' if call.auth else 'does not sign'} this request, the docs say "
                f"{'signed' if entry['auth'] else 'public'}; row follows pybit"
            )
        doc_req = sorted(p["name"] for p in params if p["required"])
        pybit_req = sorted(n for n, _, _ in required_doc)
        if doc_req != pybit_req:
            decisions.append(
                f"required follows the docs {doc_req}; pybit's docstring lists {pybit_req}"
            )
    if call.shadowed:
        decisions.append(
            f"also defined in {', '.join(call.shadowed)}; HTTP resolves it to {call.cls}"
        )
    others = [m for m in shared[(call.http_method, call.path)] if m != call.method]
    if others:
        decisions.append(f"pybit sends {', '.join(others)} to the same route")
    summary = entry["title"] if entry else SUMMARIES.get(call.method) or _first_sentence(call.doc)
    documented_verb = entry["method"] if entry else call.http_method
    url = doc_url_of(entry["doc"]) if entry else docstring_url(call.doc)
    return {
        "group": GROUP_OF_CLASS[call.cls],
        "command": "",
        "pybit_class": call.cls,
        "pybit_method": call.method,
        "http_method": call.http_method,
        "path": call.path,
        "auth": call.auth,
        "summary": summary,
        "doc_url": url,
        "required": [p["name"] for p in params if p["required"]],
        "params": params,
        "pagination": pagination_of(params, entry),
        "dangerous": is_dangerous(documented_verb, call.path, call.method),
        "deprecated": bool(entry and entry["deprecated"]),
        "decision": "; ".join(decisions) or None,
    }


def _first_sentence(doc: str) -> str:
    """A docstring's title: its first sentence, without the final full stop."""
    return re.split(r"\.(\s|$)", doc.strip(), maxsplit=1)[0].strip()


def doc_row(entry: dict[str, Any]) -> dict[str, Any]:
    params, notes = build_params(entry, [])
    return {
        "group": GROUP_OF_AREA[entry["area"]],
        "command": "",
        "pybit_class": None,
        "pybit_method": None,
        "http_method": entry["method"],
        "path": entry["path"],
        "auth": entry["auth"],
        "summary": entry["title"],
        "doc_url": doc_url_of(entry["doc"]),
        "required": [p["name"] for p in params if p["required"]],
        "params": params,
        "pagination": pagination_of(params, entry),
        "dangerous": is_dangerous(entry["method"], entry["path"], None),
        "deprecated": False,
        "decision": "; ".join(["not in pybit; row follows the docs", *notes]),
    }


LADDER = ["bidCum", "bidSize", "bid", "ask", "askSize", "askCum"]
"""Fields of one level of a book shown as a ladder (the `orderbook` shape): a bid and an
ask side by side, with each side's size summed from the best price."""
PROVENANCE = ("named by pybit, not in the v5 docs", "documented type: ")
"""Parts of a source description that say where a parameter came from: catalogue notes,
kept in the row's `decision`, never in a command's help."""
SAMPLE_TIME = re.compile(r"[0-9]{10}([0-9]{3})?")


def time_unit(name: str, typ: str, description: str, sample: Any) -> str | None:
    """ "ms" or "s" for a parameter holding an epoch time (startTime, end, ...), else None.

    By name (`TIME_EDGES`), for integer and number parameters, and for a string whose doc
    example is an epoch number or whose description says "timestamp"; seconds where the
    doc example has ten digits or the description says seconds.
    """
    if name not in TIME_EDGES or typ not in ("integer", "number", "string"):
        return None
    text = "" if sample is None else str(sample)
    if text and not SAMPLE_TIME.fullmatch(text):
        return None
    if typ == "string" and not text and "timestamp" not in description.lower():
        return None
    seconds = len(text) == 10 or "seconds" in description
    return "s" if seconds else "ms"


def _clean_source(text: str) -> tuple[str, list[str]]:
    """A source description as help text, and the catalogue notes taken out of it.

    pybit's words and the generator's own notes are joined with "; "; notes about where a
    parameter came from move out, "Object; fields: a*, b" keeps only its fields, and the
    text starts with a capital and ends with a full stop.
    """
    parts, notes = [], []
    for part in (p.strip() for p in text.split("; ")):
        if not part or part == "cursor from the previous page's response":
            continue
        if part.startswith(PROVENANCE):
            notes.append(part)
            continue
        if part.startswith("fields: "):
            part = "Fields: " + part.removeprefix("fields: ")
        elif part.startswith("required in some cases"):
            part = "Required in some cases (see the Bybit docs)"
        parts.append(part.rstrip(". "))
    parts = [p for p in parts if p not in ("Object", "An array of objects")]
    sentence = "; ".join(parts)
    if sentence:
        sentence = sentence[0].upper() + sentence[1:] + "."
    return sentence, notes


def describe_params(rows: list[dict[str, Any]]) -> None:
    """Give every parameter its help text and time unit; notes go to the row's decision.

    Help text, first found: the endpoint's own wording (`PARAM_HELP_AT`), the trading words
    on trading routes (`TRADING_HELP`), the common words (`PARAM_HELP`), what a time takes,
    the sources' words cleaned, then the generic words (`GENERIC_HELP`).
    """
    for key in PARAM_HELP_AT:
        if not any(r["path"] == key[0] and key[1] in _names(r) for r in rows):
            raise ValueError(f"PARAM_HELP_AT: {key[0]} has no parameter {key[1]}")
    for row in rows:
        notes: list[str] = []
        trading = row["path"].startswith(TRADING_PATHS)
        for param in row["params"]:
            name = param["name"]
            source, moved = _clean_source(param["description"])
            notes += [f"{name}: {note}" for note in moved]
            unit = time_unit(name, param["type"], param["description"], param.pop("sample"))
            param["time"] = unit
            text = PARAM_HELP_AT.get((row["path"], name))
            if text is None and trading:
                text = TRADING_HELP.get(name)
            if text is None:
                text = PARAM_HELP.get(name)
            if text is None and unit is not None:
                epoch = "milliseconds" if unit == "ms" else "seconds"
                text = (
                    f"{TIME_EDGES[name]} of the time range: epoch {epoch}, an ISO 8601 date "
                    "or time (UTC), or a time relative to now such as -1h or -7d."
                )
            if text is not None:
                # A condition the sources state ("Either orderId or orderLinkId is
                # required") still matters next to the common words.
                text = " ".join([text, *_required_sentences(source)])
            param["description"] = text or source or GENERIC_HELP.get(name, "")
        if notes:
            row["decision"] = "; ".join(filter(None, [row["decision"], *notes]))


def _required_sentences(text: str) -> list[str]:
    """The sentences of `text` that say when a parameter is required."""
    sentences = [s.strip().rstrip(".") for s in re.split(r"(?<=\.)\s+|;\s+", text)]
    return [s + "." for s in sentences if "required" in s.lower() and not s.startswith("Fields")]


def _names(row: dict[str, Any]) -> set[str]:
    return {p["name"] for p in row["params"]}


def view_of(row: dict[str, Any], response: Any) -> dict[str, Any]:
    """How the row's answer reads in a table: hand-picked (`VIEWS`) or by rule."""
    shape = SHAPES.get(row["path"])
    view: dict[str, Any] = {"shape": shape, "columns": [], "nested": {}, "empty": None}
    result = response.get("result") if isinstance(response, dict) else None
    record, listed = _record_of(result)
    if shape == "kline":
        width = len(record) if isinstance(record, list) else len(KLINE)
        view["columns"] = KLINE[:width]
    elif shape == "orderbook":
        view["columns"] = list(LADDER)
    elif isinstance(record, dict):
        view["columns"] = default_columns(record)
        view["nested"] = {k: default_columns(v[0]) for k, v in nested_lists(record).items()}
    if listed or shape is not None:
        view["empty"] = empty_text(row["summary"])
    chosen = VIEWS.get(row["path"], {})
    view.update({k: v for k, v in chosen.items() if k != "nested"})
    view["nested"] = {**view["nested"], **chosen.get("nested", {})}
    return view


def _record_of(result: Any) -> tuple[Any, bool]:
    """A documented answer's first row (or the object itself), and whether it has rows."""
    if isinstance(result, list):
        return (result[0] if result else None), True
    if not isinstance(result, dict):
        return None, False
    rows = result.get("list")
    if not isinstance(rows, list):
        lists = [v for v in result.values() if isinstance(v, list)]
        rows = lists[0] if len(lists) == 1 else None
    if rows is None:
        return result, False
    return (rows[0] if rows else None), True


def name_commands(rows: list[dict[str, Any]]) -> None:
    """pybit rows: method in kebab-case, leading `get-` dropped where that stays unique.

    Doc-only rows: the last path segment (the last two below /v5/<area>/<sub>/), extended
    to the left until unique in the group and distinct from every pybit command there.
    """
    by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_group[row["group"]].append(row)
    for group_rows in by_group.values():
        pybit = [r for r in group_rows if r["pybit_method"]]
        full = {kebab(r["pybit_method"]) for r in pybit}
        short_count: dict[str, int] = defaultdict(int)
        for r in pybit:
            short_count[kebab(r["pybit_method"]).removeprefix("get-")] += 1
        taken = set()
        for r in pybit:
            name = kebab(r["pybit_method"])
            short = name.removeprefix("get-")
            if short != name and short_count[short] == 1 and short not in full:
                name = short
            r["command"] = name
            taken.add(name)
        docs = [r for r in group_rows if not r["pybit_method"]]
        segments = {id(r): r["path"].removeprefix("/v5/").split("/") for r in docs}
        depth = {id(r): 1 if len(segments[id(r)]) <= 2 else 2 for r in docs}
        while True:
            names = {id(r): kebab("-".join(segments[id(r)][-depth[id(r)] :])) for r in docs}
            counts: dict[str, int] = defaultdict(int)
            for n in names.values():
                counts[n] += 1
            clash = [r for r in docs if counts[names[id(r)]] > 1 or names[id(r)] in taken]
            if not clash:
                break
            for r in clash:
                if depth[id(r)] >= len(segments[id(r)]):
                    raise ValueError(f"cannot name {r['path']} uniquely")
                depth[id(r)] += 1
        for r in docs:
            r["command"] = names[id(r)]


def generate(reference: Path) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, str]]:
    docs = json.loads((reference / "bybit_v5_endpoints.json").read_text())
    vs = json.loads((reference / "pybit_vs_docs.json").read_text())
    codes = json.loads((reference / "error_codes.json").read_text())["codes"]
    by_path = {e["path"]: e for e in docs}
    calls = introspect_pybit()
    shared: dict[tuple[str, str], list[str]] = defaultdict(list)
    for c in calls:
        shared[(c.http_method, c.path)].append(c.method)
    rows = [pybit_row(c, by_path.get(c.path), shared) for c in calls]
    pybit_paths = {c.path for c in calls}
    for missing in vs["doc_endpoints_not_in_pybit"]:
        entry = by_path[missing["path"]]
        if not entry["deprecated"] and entry["path"] not in pybit_paths:
            rows.append(doc_row(entry))
    apply_number_overrides(rows)
    link_batch_items(rows, by_path)
    describe_params(rows)
    name_commands(rows)
    rows.sort(key=lambda r: (r["group"], r["command"]))
    examples = {}
    for row in rows:
        entry = by_path.get(row["path"])
        response = (entry or {}).get("response_example")
        row["view"] = view_of(row, response)
        if response:
            examples[f"{row['http_method']} {row['path']}"] = {
                "request": example_request(entry),
                "response": response,
            }
    errors = {k: codes[k]["message"] for k in sorted(codes, key=int)}
    return rows, dict(sorted(examples.items())), errors


def dump_lines(items: list[str], open_: str, close: str) -> str:
    """One JSON value per line: a diff shows exactly the endpoints that changed."""
    return open_ + "\n" + ",\n".join(items) + "\n" + close + "\n"


def write(out: Path, rows: list[dict[str, Any]], examples: dict[str, Any], errors: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)

    def enc(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    (out / "endpoints.json").write_text(dump_lines([enc(r) for r in rows], "[", "]"))
    (out / "examples.json").write_text(
        dump_lines([f"{enc(k)}:{enc(v)}" for k, v in examples.items()], "{", "}")
    )
    (out / "error_codes.json").write_text(json.dumps(errors, indent=1, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    args = parser.parse_args(argv)
    rows, examples, errors = generate(args.reference)
    write(args.out, rows, examples, errors)
    groups: dict[str, int] = defaultdict(int)
    for r in rows:
        groups[r["group"]] += 1
    summary = ", ".join(f"{g} {n}" for g, n in sorted(groups.items()))
    print(f"{len(rows)} endpoints ({summary}); {len(examples)} examples; {len(errors)} error codes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
