"""bybitctl signs exactly the query string that goes on the wire, and --dry-run shows it.

pybit signs a GET's `k=v&...` from the values as given and requests then percent-encodes the
URL, so a value that needs encoding (`vipLevel=No VIP`, the docs' own example) used to be
signed one way and sent another. Bybit verifies the signature over the query string it
receives. Two checks: the local exchange accepts such a request and records the values typed;
and a bare loopback HTTP server, which keeps the request line byte for byte, shows that the
signature covers exactly the bytes that arrived (for any text) and that the dry run printed
that same URL.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.server
import io
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.examples import examples

from bybitctl.cli import run
from bybitctl.sim import SimHandle

RATES = ("spot-margin", "spot-margin-trade-get-historical-interest-rate", "--currency", "USDC")
KEY, SECRET = "capture-key", "capture-secret"


def test_a_value_that_needs_encoding_is_accepted_by_the_exchange(
    bybitctl: Any, received: Any, exchange: SimHandle
) -> None:
    """The docs' example `vipLevel=No VIP`: signed (the exchange answers 0, not 10004) and
    received as typed; the dry run's query string is the one the values encode to."""
    described = bybitctl("-o", "json", *RATES, "--vip-level", "No VIP", "--dry-run").json()
    result = bybitctl("-o", "raw", *RATES, "--vip-level", "No VIP")
    assert result.code == 0, result.stderr
    assert result.json()["retCode"] == 0
    [got] = received()
    assert got["query"] == {"currency": "USDC", "vipLevel": "No VIP"}
    signed = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in got["query"].items())
    assert urlsplit(described["url"]).query == signed == "currency=USDC&vipLevel=No%20VIP"


class _Capture(http.server.BaseHTTPRequestHandler):
    """Keeps each request's raw target, headers and body; answers like Bybit, retCode 0."""

    seen: list[dict[str, Any]]

    def do_GET(self) -> None:
        self._keep(b"")

    def do_POST(self) -> None:
        self._keep(self.rfile.read(int(self.headers.get("Content-Length", 0))))

    def _keep(self, body: bytes) -> None:
        self.seen.append({"target": self.path, "headers": dict(self.headers), "body": body})
        answer = json.dumps({"retCode": 0, "retMsg": "OK", "result": {}, "retExtInfo": {}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads `seen`."""


@pytest.fixture(scope="module")
def capture(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Callable[..., tuple[int, str, str]], list[dict[str, Any]]]]:
    """(`cli(*args)` -> (code, stdout, stderr) in-process, the requests the server kept)."""
    seen: list[dict[str, Any]] = []
    handler = type("Capture", (_Capture,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    home = tmp_path_factory.mktemp("signing")
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("XDG_CONFIG_HOME", str(home / "xdg"))
            mp.setenv("HOME", str(home))
            mp.delenv("BYBIT_PROFILE", raising=False)
            mp.setenv("BYBIT_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}")
            mp.setenv("BYBIT_API_KEY", KEY)
            mp.setenv("BYBIT_API_SECRET", SECRET)

            def cli(*args: str) -> tuple[int, str, str]:
                out, err = io.StringIO(), io.StringIO()
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    code = run(["-o", "json", *args])
                return code, out.getvalue(), err.getvalue()

            yield cli, seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def signature_ok(request: dict[str, Any], payload: bytes) -> bool:
    headers = request["headers"]
    prefix = f"{headers['X-BAPI-TIMESTAMP']}{KEY}{headers['X-BAPI-RECV-WINDOW']}".encode()
    expected = hmac.new(SECRET.encode(), prefix + payload, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-BAPI-SIGN"])


printable = st.text(
    st.characters(blacklist_categories=["Cc", "Cs"]), min_size=1, max_size=16
) | st.sampled_from(["No VIP", "a+b", "100%", "x&y=z", "é/ü", "%20", "#frag", "?q", "~-._"])


@settings(max_examples=examples(40), deadline=None)
@given(printable)
def test_the_signature_covers_the_bytes_that_arrive(capture, value: str) -> None:
    cli, seen = capture
    code, out, err = cli(*RATES, "--vip-level", value, "--dry-run")
    assert code == 0, err
    shown = json.loads(out)["url"]
    start = len(seen)
    code, _, err = cli(*RATES, "--vip-level", value)
    assert code == 0, err
    [request] = seen[start:]
    query = request["target"].partition("?")[2]
    # The query string the server got is the one the dry run showed, and it was signed.
    assert shown.endswith(request["target"])
    assert signature_ok(request, query.encode())
    # It carries exactly the text typed.
    pairs = dict(pair.split("=", 1) for pair in query.split("&"))
    assert unquote(pairs["vipLevel"], errors="strict") == value
    assert pairs["currency"] == "USDC"


def test_a_post_body_is_signed_as_sent(capture) -> None:
    cli, seen = capture
    code, _, err = cli(
        "trade", "place-order", "--category", "linear", "--symbol", "BTCUSDT", "--side", "Buy",
        "--order-type", "Limit", "--qty", "0.010", "--price", "1000", "--order-link-id", "é 1%",
        "--yes",
    )  # fmt: skip
    assert code == 0, err
    request = seen[-1]
    assert signature_ok(request, request["body"])
    assert json.loads(request["body"])["orderLinkId"] == "é 1%"
    assert json.loads(request["body"])["qty"] == "0.010"


def test_rows_whose_pybit_method_takes_no_arguments_send_their_parameters(capture) -> None:
    """`get_system_status()` takes no keyword arguments; its documented `id` and `state`
    still go out (through pybit's `_submit_request`), signed as sent."""
    cli, seen = capture
    code, _, err = cli("misc", "system-status", "--id", "a b", "--state", "completed")
    assert code == 0, err
    assert seen[-1]["target"] == "/v5/system/status?id=a%20b&state=completed"
    code, _, err = cli("--demo", "misc", "request-demo-trading-funds", "--adjust-type", "0")
    assert code == 0, err
    assert json.loads(seen[-1]["body"]) == {"adjustType": 0}
    assert signature_ok(seen[-1], seen[-1]["body"])
