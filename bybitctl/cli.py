"""Entry point of the `bybitctl` console script and its one top-level error handler.

Every expected failure ends here as a `BybitctlError`: its message on stderr and its exit
code (see `bybitctl.errors`). pybit's and requests' exceptions are translated on the way out.
The command tree lives in `bybitctl.commands.root`; this module imports nothing heavy, so
`bybitctl --version` answers without loading Typer.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

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
        from bybitctl.commands.root import command

        result = command().main(args, prog_name="bybitctl", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        print("\ninterrupted", file=sys.stderr)
        return INTERRUPTED
    except click.ClickException as exc:
        if debug:
            _print_traceback(exc)
        exc.show(file=sys.stderr)
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


def translate(exc: Exception) -> BybitctlError | None:
    """The `BybitctlError` an exception means to users, or None when it is a bug."""
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
            return NetworkError(f"{exc.message} (HTTP {exc.status_code})")
    requests_errors = sys.modules.get("requests.exceptions")
    if requests_errors is not None and isinstance(exc, requests_errors.RequestException):
        kind = "timed out" if isinstance(exc, requests_errors.Timeout) else "connection failed"
        return NetworkError(f"{kind}: {_first_line(exc)}")
    if isinstance(exc, PermissionError) and "require keys" in str(exc):
        # pybit's own check in `_auth`, reached through `call` or `api`.
        return ConfigError("this request needs API credentials")
    if _raised_by_pybit(exc):
        # pybit's local checks (e.g. "You must pass demo=True ..."): nothing was sent.
        return UsageError(f"pybit refused the call: {_first_line(exc)}")
    return None


def _raised_by_pybit(exc: BaseException) -> bool:
    """True when the innermost frame of the traceback is pybit's own code."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and f"{os.sep}pybit{os.sep}" in tb.tb_frame.f_code.co_filename


def _print_traceback(exc: BaseException) -> None:
    import traceback

    traceback.print_exception(exc, file=sys.stderr)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
