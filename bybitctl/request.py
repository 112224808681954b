"""Send, dry-run and page one request through pybit; shared by endpoint commands, `call`, `api`.

Signing, retries and the exchange's error codes stay pybit's: a request either goes through
the pybit method of its catalogue row or through pybit's own `_submit_request`. What pybit
signs is exactly what goes on the wire (`wire_params`), and `--dry-run` shows that string.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import quote

from bybitctl import pybit_compat
from bybitctl.errors import ExchangeError, ItemsRefused, UsageError, visible

if TYPE_CHECKING:
    from pybit.unified_trading import HTTP

    from bybitctl.catalog import Endpoint, Pagination, View

REDACTED = "<redacted>"
MISSING = "<missing>"


@dataclass(frozen=True)
class Request:
    """What to send: verb, path, parameters under their API names, and how to send it."""

    http_method: str
    path: str
    params: dict[str, Any]
    auth: bool
    pybit_method: str | None = None
    pagination: Pagination | None = None
    dangerous: bool = False
    summary: str = ""

    @classmethod
    def for_row(cls, row: Endpoint, params: dict[str, Any]) -> Request:
        """What the pybit method of a catalogue row sends with `params`."""
        return cls(
            http_method=row.http_method,
            path=row.path,
            params=params,
            auth=row.auth,
            pybit_method=row.pybit_method,
            pagination=row.pagination,
            dangerous=row.dangerous,
            summary=row.summary,
        )

    def with_param(self, name: str, value: Any) -> Request:
        """A copy with one more (or replaced) parameter."""
        return replace(self, params={**self.params, name: value})


@dataclass(frozen=True)
class Presentation:
    """How to print the answer: `-o`, `--fields`, `--query`, the pager, and what the
    catalogue knows of the answer (`view`, and `example`, a thunk of its documented result)."""

    fmt: str
    fields: list[str] | None = None
    query: str | None = None
    pager: bool = True
    view: View | None = None
    example: Callable[[], Any] | None = None
    chosen: bool = True
    """Whether the format was asked for (`-o`, BYBITCTL_OUTPUT, the profile), not only the
    default of a pipe: a refusal is a JSON object on stderr only for a chosen json/jsonl."""


@dataclass(frozen=True)
class Target:
    """The injected dependencies: a pybit client thunk and whether the target is a safe one.

    `http(auth=True)` fails with exit 3 when no credentials are configured; its client
    returns a refusal's envelope instead of raising, so `send` can keep it. `has_key` and
    `can_sign` say, for `--dry-run`, whether an API key and a secret (or RSA key) are known:
    pybit's client holds the key only when it can sign. `describe` names the target in a
    confirmation ("api.bybit.com, profile main"); `width` is the terminal's, for the question.
    """

    http: Callable[..., HTTP]
    is_safe: Callable[[], bool]
    describe: Callable[[], str] = field(default=lambda: "")
    has_key: Callable[[], bool] = field(default=lambda: False)
    can_sign: Callable[[], bool] = field(default=lambda: False)
    stdin_isatty: Callable[[], bool] = field(default=lambda: sys.stdin.isatty())
    confirm: Callable[[str], bool] = field(default=lambda text: _confirm(text))
    width: Callable[[], int] = field(default=lambda: shutil.get_terminal_size().columns)


@dataclass(frozen=True)
class RunOptions:
    """Everything `run_request` needs, parsed and checked before any I/O."""

    request: Request
    presentation: Presentation
    target: Target
    dry_run: bool = False
    follow: bool = False
    max_pages: int | None = None
    yes: bool = False
    label: str = ""


def check_paging(request: Request, *, follow: bool, max_pages: int | None) -> None:
    """Refuse contradictory paging flags before anything is sent."""
    if not (follow or max_pages is not None):
        return
    pages = request.pagination
    if pages is None:
        raise UsageError("--all/--max-pages: this endpoint does not page")
    if request.http_method != "GET":
        raise UsageError("--all/--max-pages only work with GET requests")
    if max_pages is not None and max_pages < 1:
        raise UsageError("--max-pages must be at least 1")
    if request.params.get(pages.cursor_param) not in (None, ""):
        raise UsageError(f"--all/--max-pages start at the first page: drop --{pages.cursor_param}")


def run_request(opts: RunOptions, out: TextIO | None = None) -> None:
    """Dry-run, or confirm, send (following cursors when asked) and render."""
    from bybitctl.output import PageWriter

    request = opts.request
    if opts.dry_run:
        target = opts.target
        described = describe(
            request, target.http(), has_key=target.has_key(), can_sign=target.can_sign()
        )
        print_dry_run(described, opts.presentation.fmt, out)
        return
    pres = opts.presentation
    writer = PageWriter(
        pres.fmt,
        pres.fields,
        pres.query,
        out,
        view=pres.view,
        example=pres.example,
        pager=pres.pager,
    )
    confirm_if_dangerous(opts)
    http = opts.target.http(auth=request.auth)
    try:
        if not (opts.follow or opts.max_pages is not None):
            envelope = send(http, request)
            writer.page(envelope)
            writer.close()
            refused = refused_items(envelope)
            if refused:
                error = ItemsRefused(refused, len(_ext_list(envelope)))
                error.machine = pres.chosen and pres.fmt in ("json", "jsonl")
                raise error
            return
        _follow(writer, http, request, opts.max_pages)
    except ExchangeError as exc:
        if exc.envelope is not None:
            writer.refused(exc.envelope)
        exc.machine = pres.chosen and pres.fmt in ("json", "jsonl")
        raise


def refused_items(envelope: dict[str, Any]) -> list[tuple[int, int, str]]:
    """(index, retCode, retMsg) of each item a batch answer refused: Bybit answers a batch
    with retCode 0 and puts each item's own verdict in `retExtInfo.list`, in item order.

    >>> refused_items({"retCode": 0, "retExtInfo": {"list": [{"code": 0, "msg": "OK"},
    ...     {"code": 10001, "msg": "bad qty"}]}})
    [(1, 10001, 'bad qty')]
    """
    out = []
    for index, verdict in enumerate(_ext_list(envelope)):
        code = verdict.get("code") if isinstance(verdict, dict) else None
        if code not in (0, "0", None):
            out.append((index, _int(code), str(verdict.get("msg", ""))))
    return out


def _ext_list(envelope: dict[str, Any]) -> list[Any]:
    ext = envelope.get("retExtInfo") if isinstance(envelope, dict) else None
    items = ext.get("list") if isinstance(ext, dict) else None
    return items if isinstance(items, list) else []


def _int(code: Any) -> int:
    try:
        return int(code)
    except (TypeError, ValueError):
        return -1


def _follow(writer: Any, http: HTTP, request: Request, max_pages: int | None) -> None:
    """Every page through the writer, with a progress line on a terminal's stderr."""
    progress = sys.stderr.isatty()
    rows = 0
    try:
        for number, envelope in enumerate(pages(http, request, max_pages), start=1):
            if progress:
                rows += len(_rows(envelope, request.pagination))
                print(f"\rpage {number}, {rows} rows", end="", file=sys.stderr, flush=True)
            if not writer.page(envelope):
                break
    finally:
        if progress:
            print(file=sys.stderr)
    writer.close()


def confirm_if_dangerous(opts: RunOptions) -> None:
    """Ask before a dangerous request to a live target; refuse when nobody can answer.

    The question names what would happen, as `kubectl delete` names the object: the action,
    every parameter that decides it (`action_words`) and the target. It is one line when it
    fits the terminal, else one parameter a line.
    """
    if not opts.request.dangerous or opts.yes or opts.target.is_safe():
        return
    name, words = action_parts(opts.request, opts.label)
    where = opts.target.describe()
    on = f" on {where}" if where else " on a live account"
    what = f"{name}: {' '.join(words)}" if words else name
    if not opts.target.stdin_isatty():
        raise UsageError(
            f"not sent: {what}{on} needs confirmation; stdin is not a terminal",
            hint="pass --yes to send it",
        )
    question = f"{what}{on}. Send it?"
    if len(question) > opts.target.width():
        question = "\n".join([f"{name}{on}:", *(f"  {w}" for w in words), "Send it?"])
    if not opts.target.confirm(question):
        raise UsageError("not confirmed; nothing was sent (pass --yes to skip this question)")


_LEADING_KEYS = ("category", "symbol", "side", "orderType", "qty", "price")
"""Parameters named first, in this order; the rest follow in the request's own order."""
_PLAIN_KEYS = frozenset({"category", "symbol", "side", "orderType"})
"""Parameters whose value reads alone ("linear BTCUSDT Buy Limit")."""
_SECRET_KEY = re.compile(r"(?i)password|secret|apikey|api_key|token$|otp$")
"""Parameters never shown: a password or key is not what the question is about."""


def action_words(request: Request, label: str = "") -> str:
    """A request in words: "Place Order: linear BTCUSDT Buy Limit qty 0.01 price 60000".

    >>> action_words(Request("POST", "/v5/asset/withdraw/create", {"coin": "USDT",
    ...     "chain": "ETH", "address": "0xA\u202e", "amount": "5", "password": "x"}, True,
    ...     summary="Withdraw"))
    'Withdraw: coin USDT chain ETH address 0xA\\\\u202e amount 5'
    """
    name, words = action_parts(request, label)
    return f"{name}: {' '.join(words)}" if words else name


def action_parts(request: Request, label: str = "") -> tuple[str, list[str]]:
    """The action's name and one `key value` word per parameter that decides what is done:
    every given parameter but secrets, the order's words first. Values are `visible`."""
    params = request.params
    keys = [k for k in _LEADING_KEYS if k in params]
    keys += [k for k in params if k not in _LEADING_KEYS and not _SECRET_KEY.search(k)]
    words = []
    for key in keys:
        value = params[key]
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list | dict):
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        else:
            text = str(value)
        text = visible(text)
        words.append(text if key in _PLAIN_KEYS else f"{visible(key)} {text}")
    name = request.summary or label or f"{request.http_method} {request.path}"
    return name, words


def wire_params(request: Request) -> dict[str, Any]:
    """The parameters as pybit should get them, so that it signs what is sent.

    pybit signs a GET's `k=v&k=v` joined from the values as given, and requests then
    percent-encodes what a URL cannot carry: `vipLevel=No VIP` would be signed with a blank
    and sent as `No%20VIP`, and Bybit checks the signature over the query string it
    receives. So every key and value of a GET is percent-encoded here (all but RFC 3986's
    unreserved characters, `%` included); pybit signs that string and requests' requote
    step leaves it unchanged, byte for byte. A body is JSON, signed as sent: unchanged.
    """
    if request.http_method != "GET":
        return dict(request.params)
    return {
        quote(str(key), safe=""): quote(str(value), safe="")
        for key, value in request.params.items()
        if value is not None
    }


def send(http: HTTP, request: Request) -> dict[str, Any]:
    """One request: the row's pybit method, or pybit's request machinery for the rest.

    A pybit method that takes no keyword arguments (`get_system_status`,
    `request_demo_trading_funds`) cannot carry the documented parameters, so a request with
    parameters goes to `_submit_request` like a row pybit lacks.
    """
    params = wire_params(request)
    method = getattr(http, request.pybit_method) if request.pybit_method else None
    envelope: Any = None
    if method is not None and (not params or _takes_keywords(method)):
        try:
            envelope = method(**params)
        except AttributeError as exc:
            # pybit 5.17's legacy crypto-loan methods read `self.crypto_loan_legacy_message`,
            # which their class never sets (its __init__ sits inside a docstring). Nothing was
            # sent yet, so the same request goes through pybit's own machinery instead.
            if exc.obj is not http:
                raise
    if envelope is None:
        envelope = pybit_compat.submit(
            http, request.http_method, request.path, params, auth=request.auth
        )
    return checked(envelope)


def checked(envelope: Any) -> dict[str, Any]:
    """The envelope of an answer, or `ExchangeError` carrying it when the exchange refused.

    The client of `Target.http` hands refusals back instead of raising (pybit's
    `ignore_codes`), so the refusal's whole envelope reaches `-o raw`.
    """
    code = envelope.get("retCode", envelope.get("ret_code")) if isinstance(envelope, dict) else 0
    if not code:
        return envelope
    from bybitctl.catalog import error_meaning

    message = envelope.get("retMsg", envelope.get("ret_msg", ""))
    error = ExchangeError(int(code), str(message), error_meaning(int(code)))
    error.envelope = envelope
    raise error


def _takes_keywords(method: Callable[..., Any]) -> bool:
    """True when `method` accepts `**kwargs` (almost every pybit method)."""
    return any(
        p.kind is inspect.Parameter.VAR_KEYWORD
        for p in inspect.signature(method).parameters.values()
    )


def pages(http: HTTP, request: Request, max_pages: int | None) -> Iterator[dict[str, Any]]:
    """Envelopes page by page, following the cursor until it is empty or repeats."""
    pagination = request.pagination
    assert pagination is not None

    def fetch(cursor: str) -> dict[str, Any]:
        page_request = request.with_param(pagination.cursor_param, cursor) if cursor else request
        return send(http, page_request)

    return follow_cursor(fetch, pagination.cursor_field, max_pages)


def follow_cursor(
    fetch: Callable[[str], dict[str, Any]], cursor_field: str, max_pages: int | None = None
) -> Iterator[dict[str, Any]]:
    """Envelopes from `fetch(cursor)` ("" for the first page), following the result's
    `cursor_field` until it is empty or repeats: an exchange that hands back a cursor it
    gave before would otherwise be paged forever. The one cursor loop (`pages`, mm's `paged`)."""
    seen: set[str] = set()
    cursor = ""
    number = 0
    while True:
        envelope = fetch(cursor)
        number += 1
        yield envelope
        cursor = (envelope.get("result") or {}).get(cursor_field) or ""
        if not cursor or cursor in seen or (max_pages is not None and number >= max_pages):
            return
        seen.add(cursor)


def describe(
    request: Request, http: HTTP, *, has_key: bool = False, can_sign: bool = False
) -> dict[str, Any]:
    """The exact request pybit would send, with the key and the signature redacted.

    A header that could not be filled says `<missing>`: the real request would stop at exit 3.
    """
    from requests.models import PreparedRequest  # loaded with pybit already

    query = pybit_compat.clean_query(http, wire_params(request))
    url = pybit_compat.request_url(http, request.path)
    headers = pybit_compat.session_headers(http)
    content_type = "application/json"
    body: str | None = None
    if request.http_method == "GET":
        payload = pybit_compat.encode_payload(http, request.http_method, query)
        if payload:
            # Through requests' own URL preparation, as on the wire (it changes nothing).
            prepared = PreparedRequest()
            prepared.prepare_url(f"{url}?{payload}", None)
            url = str(prepared.url)
    elif request.pybit_method and "upload_file" in query:
        # pybit's file upload (`_submit_file_request`) sends the file as multipart form data;
        # `api` sends any `upload_file` key as JSON like every other parameter.
        name = query.get("filename") or os.path.basename(str(query["upload_file"]))
        content_type = "multipart/form-data; boundary=boundary-for-file"
        body = f"<multipart form data: upload_file {name!r} read from {query['upload_file']}>"
    else:
        body = pybit_compat.encode_payload(http, request.http_method, query)
    if request.auth:
        headers.update(
            {
                "Content-Type": content_type,
                "X-BAPI-API-KEY": REDACTED if pybit_compat.holds_key(http) or has_key else MISSING,
                "X-BAPI-SIGN": REDACTED if pybit_compat.holds_secret(http) or can_sign else MISSING,
                "X-BAPI-SIGN-TYPE": "2",
                "X-BAPI-TIMESTAMP": str(int(time.time() * 1000)),
                "X-BAPI-RECV-WINDOW": str(pybit_compat.recv_window(http)),
            }
        )
    return {"method": request.http_method, "url": url, "headers": headers, "body": body}


def print_dry_run(described: dict[str, Any], fmt: str, out: TextIO | None = None) -> None:
    """JSON for machine formats, an HTTP-like listing for people."""
    out = out or sys.stdout
    if fmt in ("json", "jsonl", "raw"):
        out.write(json.dumps(described, indent=None if fmt == "jsonl" else 2) + "\n")
    else:
        lines = [f"{described['method']} {described['url']}"]
        lines += [f"{name}: {value}" for name, value in described["headers"].items()]
        if described["body"] is not None:
            lines += ["", described["body"]]
        out.write("\n".join(lines) + "\n")
    out.flush()


def _rows(envelope: dict[str, Any], pagination: Pagination | None) -> list[Any]:
    result = envelope.get("result") or {}
    rows = result.get(pagination.list_field if pagination else "list")
    return rows if isinstance(rows, list) else []


def _confirm(text: str) -> bool:
    import typer

    return typer.confirm(text, default=False, err=True)
