"""Entry point of the `bybitctl` console script and its one top-level error handler.

Every expected failure ends here as a `BybitctlError`: its message on stderr and its exit
code (see `bybitctl.errors`). pybit's and requests' exceptions are translated on the way out.
The command tree lives in `bybitctl.commands.root`; this module imports nothing heavy, so
`bybitctl --version` answers without loading Typer.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bybitctl.errors import BybitctlError


def main(argv: list[str] | None = None) -> None:
    """Run `bybitctl` with `argv` (default `sys.argv[1:]`) and exit with its code."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args == ["--version"]:
        from bybitctl import __version__

        sys.stdout.write(f"bybitctl {__version__}\n")
        sys.stdout.flush()
        return
    _load_and_freeze()
    sys.exit(run(args))


def _load_and_freeze() -> None:
    """Import Typer and the command tree, then exempt everything loaded so far from GC.

    Those objects live until exit, yet every collection while pybit loads, and the full one
    at exit, would walk them all again; `gc.freeze()` is meant for exactly this and saves
    several percent of a short command's run. Only the console script does it: `run()`, which
    tests call in-process, leaves the collector alone.
    """
    import gc

    import bybitctl.commands.root  # noqa: F401

    gc.freeze()


def run(args: list[str]) -> int:
    """Invoke the command tree and turn any exception into a message and an exit code.

    `--debug` is read from argv here, since an error may come before Click has parsed it.
    """
    debug = "--debug" in args or os.environ.get("BYBITCTL_DEBUG", "") not in ("", "0")
    import typer
    from typer import _click as click

    from bybitctl.errors import INTERRUPTED, BybitctlError

    if os.environ.get("_BYBITCTL_COMPLETE"):
        # A completion request from the script `bybitctl completion SHELL` printed.
        from typer.completion import completion_init

        completion_init()
    try:
        from bybitctl.commands.root import command, hoist_global_options

        root = command()
        if not os.environ.get("_BYBITCTL_COMPLETE"):
            args = hoist_global_options(root, args)
        result = root.main(args, prog_name="bybitctl", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        print("\ninterrupted", file=sys.stderr)
        return INTERRUPTED
    except click.exceptions.UsageError as exc:
        # One line, as every refusal of bad input; the usage and "Try" lines added nothing.
        if debug:
            _print_traceback(exc)
        from bybitctl.errors import visible

        print(f"error: {visible(exc.format_message())}", file=sys.stderr)
        return exc.exit_code
    except click.ClickException as exc:
        if debug:
            _print_traceback(exc)
        _show_click_error(exc)
        return exc.exit_code
    except Exception as exc:
        error = translate(exc)
        if debug or error is None:
            _print_traceback(exc)
        if error is None:
            error = BybitctlError(
                f"internal error: {type(exc).__name__}: {_first_line(exc)}",
                hint="this is a bug in bybitctl; please report it with the traceback above",
            )
        print(error.show(), file=sys.stderr)
        return error.exit_code


def _show_click_error(exc: Any) -> None:
    """Click's usage error (usage line, hint, message) with the values it echoes made
    `visible`: an unknown option or choice is printed as typed, escapes and all."""
    import io

    from bybitctl.errors import visible

    text = io.StringIO()
    exc.show(file=text)
    sys.stderr.write("\n".join(visible(line) for line in text.getvalue().split("\n")))
    sys.stderr.flush()


def translate(exc: Exception) -> BybitctlError | None:
    """The `BybitctlError` an exception means to users, or None when it is a bug."""
    from bybitctl import pybit_compat
    from bybitctl.errors import (
        BybitctlError,
        ConfigError,
        ExchangeError,
        NetworkError,
        UsageError,
    )

    if isinstance(exc, BybitctlError):
        return exc
    pybit_errors = sys.modules.get("pybit.exceptions")
    if pybit_errors is not None:
        if isinstance(exc, pybit_errors.InvalidRequestError):
            from bybitctl.catalog import error_meaning

            code = int(exc.status_code)
            return ExchangeError(code, str(exc.message), error_meaning(code))
        if isinstance(exc, pybit_errors.FailedRequestError):
            return NetworkError(_failed_request(exc))
    requests_errors = sys.modules.get("requests.exceptions")
    if requests_errors is not None and isinstance(exc, requests_errors.RequestException):
        message, hint = network_message(exc), local_exchange_hint(exc)
        unsure = unanswered_change(exc)
        if unsure:
            message, hint = f"{message}; the exchange may have carried it out", unsure
        return NetworkError(message, hint=hint)
    if pybit_compat.is_missing_keys(exc):
        # pybit's own check in `_auth`, reached through `call` or `api`.
        return ConfigError("this request needs API credentials")
    if pybit_compat.raised_by_pybit(exc):
        # pybit's local checks (e.g. "You must pass demo=True ..."): nothing was sent.
        hint = "pass --demo" if "demo=True" in str(exc) else None
        return UsageError(f"pybit refused the call: {_first_line(exc)}", hint=hint)
    return None


def network_message(exc: BaseException) -> str:
    """One readable line for a requests failure, e.g. "cannot connect to URL (connection refused)".

    requests wraps urllib3's wrapper of the socket error, and its text is a long repr of
    both; the line names the target and the innermost cause instead.
    """
    import socket
    from urllib.parse import urlsplit

    request = getattr(exc, "request", None)
    url = getattr(request, "url", None) or ""
    parts = urlsplit(url)
    target = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "the server"
    chain = _causes(exc)
    names = {type(e).__name__ for e in chain}
    if "ReadTimeout" in names:
        return f"no answer from {target} within the timeout (--timeout)"
    if names & {"ConnectTimeout", "ConnectTimeoutError"}:
        return f"timed out connecting to {target}"
    for error in chain:
        if isinstance(error, socket.gaierror):
            return f"cannot connect to {target} (cannot resolve host {parts.hostname!r})"
    for error in chain:
        reason = getattr(error, "reason", None)
        if type(error).__name__.startswith("SSL") and isinstance(reason, str):
            return f"cannot connect to {target} (TLS error: {reason.lower().replace('_', ' ')})"
    for error in chain:
        if isinstance(error, OSError) and isinstance(error.errno, int) and error.errno > 0:
            return f"cannot connect to {target} ({os.strerror(error.errno).lower()})"
    if names & {"RemoteDisconnected", "ProtocolError", "ConnectionResetError"}:
        return f"the connection to {target} closed before an answer"
    innermost = chain[-1]
    detail = type(innermost).__name__ if innermost is exc else _first_line(innermost)
    return f"request to {target} failed ({detail})"


_SENT = frozenset({"ReadTimeout", "RemoteDisconnected", "ProtocolError", "ConnectionResetError"})
"""Failures after the request went out: the exchange may have acted on it."""


def unanswered_change(exc: BaseException) -> str | None:
    """For a request that changes something (a dangerous catalogue row, or a POST the
    catalogue lacks) and went out but got no answer: how to check before sending it again,
    since a script that simply resends may place the order twice. None otherwise."""
    import json
    from urllib.parse import urlsplit

    from bybitctl.catalog import by_route

    request = getattr(exc, "request", None)
    if request is None or request.method != "POST":
        return None
    if not {type(e).__name__ for e in _causes(exc)} & _SENT:
        return None
    path = urlsplit(request.url or "").path
    row = by_route("POST", path[path.find("/v5/") :] if "/v5/" in path else path)
    if row is not None and not row.dangerous:
        return None
    try:
        body = json.loads(request.body or "{}")
    except (TypeError, ValueError):
        body = {}
    body = body if isinstance(body, dict) else {}
    link, category = body.get("orderLinkId"), body.get("category")
    if row is not None and row.group == "trade" and isinstance(link, str) and link:
        where = f" --category {category}" if isinstance(category, str) and category else ""
        return (
            f"check before sending it again: bybitctl trade open-orders{where} "
            f"--order-link-id {link} (or trade order-history)"
        )
    if row is not None and row.group == "trade":
        return (
            "check before sending it again: bybitctl trade open-orders (or trade "
            "order-history); an --order-link-id makes the order easy to find"
        )
    return "check the account before sending it again (the matching history or list command)"


def local_exchange_hint(exc: BaseException) -> str | None:
    """For a refused connection to a loopback address (the `paper` profile's local
    exchange, say): how to start an exchange there again."""
    from urllib.parse import urlsplit

    from bybitctl.config import is_loopback

    url = getattr(getattr(exc, "request", None), "url", None) or ""
    parts = urlsplit(url)
    refused = any(isinstance(e, ConnectionRefusedError) for e in _causes(exc))
    if not (refused and parts.hostname and is_loopback(parts.hostname)):
        return None
    port = f" --port {parts.port}" if parts.port else ""
    return f"is the local exchange running? start it with: bybitctl sim serve{port}"


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and every exception it wraps (cause, context, urllib3's `reason`, args)."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        error = todo.pop(0)
        if any(error is known for known in seen):
            continue
        seen.append(error)
        inner = [getattr(error, "reason", None), error.__cause__, error.__context__, *error.args]
        todo += [e for e in inner if isinstance(e, BaseException)]
    return seen


def _failed_request(exc: Any) -> str:
    """pybit's FailedRequestError as one line naming the request (never its parameters)."""
    where = str(exc.request).partition(": ")[0]
    if exc.resp_headers is None:
        # Not an HTTP status: pybit gave up retrying, or the answer was not JSON.
        if where == "JSON decoding":
            return "the server's answer is not JSON (is the base URL a Bybit v5 API?)"
        message = str(exc.message)
        return f"{message} ({where})" if where.startswith(("GET ", "POST ")) else message
    generic = str(exc.message).startswith("HTTP status code is not 200")
    status = f"HTTP {exc.status_code} from {where}"
    return status if generic else f"{exc.message} ({status})"


def _print_traceback(exc: BaseException) -> None:
    import traceback

    traceback.print_exception(exc, file=sys.stderr)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
