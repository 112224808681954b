"""`bybitctl sim`: run the local Bybit v5 exchange as a server.

`sim serve` prints the base URL as its first stdout line (so scripts and tests can read it),
registers a `paper` profile pointing at it, and serves until interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from bybitctl import parsing
from bybitctl.config import data_dir
from bybitctl.errors import ConfigError, UsageError
from bybitctl.private_files import private_opener

if TYPE_CHECKING:
    from bybitctl.sim.net.server import SimServer

app = typer.Typer(
    help="The local Bybit v5 exchange (paper trading and tests).",
    no_args_is_help=True,
    add_completion=False,
)

PAPER_PROFILE = "paper"
PORT_RULE = parsing.NumberRule(minimum=0, maximum=65535)
TIMEOUT_RULE = parsing.NumberRule(positive=True, maximum=3600)
FUNDING_RULE = parsing.NumberRule(minimum=60, maximum=86400)
"""--funding-interval in whole seconds: a minute to a day."""
"""--client-timeout in seconds: above zero, at most an hour."""
T = TypeVar("T")


@app.callback()
def sim() -> None:
    """Run and control the local Bybit v5 exchange (see docs/sim.md)."""


def _write_private(path: Path, text: str) -> None:
    """Create `path` 0600 from the start, so the secret is never readable by others."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", opener=private_opener) as fh:
        fh.write(text)


def load_or_create_keys(path: Path) -> dict[str, str]:
    """The exchange's generated keys: reused from `path`, or created and saved there (0600).

    Reusing them keeps the `paper` profile valid across restarts on the same `--state`; a file
    that does not hold them is replaced, one that cannot be read or written is a ConfigError.
    """
    from bybitctl.sim.net.auth import generate_key_pair

    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        text = ""
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    with contextlib.suppress(ValueError):
        keys = json.loads(text)
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"{path} holds secrets but others can read it; fix: chmod 600 {path}")
        if isinstance(keys, dict) and all(
            isinstance(keys.get(k), str)
            for k in ("api_key", "api_secret", "readonly_key", "readonly_secret")
        ):
            return keys
    api_key, api_secret = generate_key_pair()
    readonly_key, readonly_secret = generate_key_pair()
    keys = {
        "api_key": api_key,
        "api_secret": api_secret,
        "readonly_key": readonly_key,
        "readonly_secret": readonly_secret,
    }
    try:
        _write_private(path, json.dumps(keys, indent=2) + "\n")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    return keys


async def _serve(server: SimServer, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve until SIGINT or SIGTERM, then close the core cleanly (flushing --state)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start(host, port)
    except (OSError, ValueError) as exc:  # ValueError: a host name IDNA cannot encode
        server.core.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise UsageError(f"cannot listen on {host[:64]}:{port}: {reason}") from None
    try:
        on_ready(server.base_url)
        await stop.wait()
    finally:
        await server.stop()


def _parsed(option: str, raw: str, parse: Callable[[str], T]) -> T:
    """`parse(raw)` in the project's grammar for typed values; a refusal names the option."""
    try:
        return parse(raw)
    except parsing.InvalidValue as exc:
        raise UsageError(f"invalid value for {option}: {exc}") from None


def _symbols(raw: str) -> tuple[str, ...]:
    """The listed symbols, each a Bybit symbol as written (BTCUSDT, not btcusdt), in order."""
    from bybitctl.sim.core.instruments import MAX_SYMBOLS, split_symbol

    names = tuple(dict.fromkeys(s.strip() for s in raw.split(",") if s.strip()))
    if not names:
        raise UsageError("--symbols: give at least one symbol, e.g. BTCUSDT,ETHUSDT")
    if len(names) > MAX_SYMBOLS:
        raise UsageError(f"--symbols: at most {MAX_SYMBOLS} symbols, got {len(names)}")
    for name in names:
        try:
            split_symbol(name)
        except ValueError as exc:
            raise UsageError(f"--symbols: {exc}") from None
    return names


def _key_text(option: str, raw: str) -> str:
    """An API key or secret: printable ASCII without blanks, as Bybit issues them."""
    if not raw or not raw.isascii() or not raw.isprintable() or any(c.isspace() for c in raw):
        raise UsageError(f"invalid value for {option}: printable ASCII without blanks expected")
    return raw


def _tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """The server's TLS context from a PEM certificate and key (both or neither)."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise UsageError("--tls-cert and --tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise UsageError(f"--tls-cert/--tls-key: cannot load {cert}: {reason}") from None
    return context


@app.command(
    epilog="Examples:\n  bybitctl sim serve --port 0 &\n"
    "  bybitctl --profile paper market tickers --category linear"
)
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[
        str,
        typer.Option(
            metavar="PORT", help=f"TCP port (0 = any free port). Accepts: {PORT_RULE.interval()}."
        ),
    ] = "0",
    symbols: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated symbols to list and simulate "
            "[default: BTCUSDT,ETHUSDT, or those a --replay recording names]."
        ),
    ] = None,
    seed: Annotated[
        str, typer.Option(metavar="INTEGER", help="Seed of the synthetic market.")
    ] = "1",
    api_key: Annotated[
        str | None, typer.Option("--api-key", help="Trading key to accept (else generated).")
    ] = None,
    api_secret: Annotated[
        str | None,
        typer.Option("--api-secret", help="Its HMAC secret (prefer --api-secret-stdin)."),
    ] = None,
    api_secret_stdin: Annotated[
        bool, typer.Option("--api-secret-stdin", help="Read the secret from stdin.")
    ] = False,
    state: Annotated[
        Path | None, typer.Option(help="SQLite file persisting accounts, orders, positions.")
    ] = None,
    faults: Annotated[
        str | None,
        typer.Option(help="Faults to inject, e.g. drop_ws@2s,skip_u:once (docs/sim.md)."),
    ] = None,
    replay: Annotated[
        Path | None, typer.Option(help="Drive books and trades from a `stream --record` file.")
    ] = None,
    client_timeout: Annotated[
        str,
        typer.Option(
            "--client-timeout",
            metavar="SECONDS",
            help="Drop a connection that sends no whole request within this time "
            "(slow clients; also the keep-alive idle limit).",
        ),
    ] = "60",
    funding_interval: Annotated[
        str,
        typer.Option(
            "--funding-interval",
            metavar="SECONDS",
            help="How often perpetual positions settle funding (Bybit: 28800). "
            f"Accepts: {FUNDING_RULE.interval()}.",
        ),
    ] = "28800",
    tls_cert: Annotated[
        Path | None,
        typer.Option("--tls-cert", help="Serve https:// and wss:// with this PEM certificate."),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="The certificate's PEM private key.")
    ] = None,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow binding a non-loopback interface.")
    ] = False,
    rate_limits: Annotated[
        bool, typer.Option("--rate-limits/--no-rate-limits", help="Enforce per-UID API limits.")
    ] = True,
    profile: Annotated[
        bool,
        typer.Option(
            "--profile/--no-profile", help="Register the `paper` profile (base URL, keys)."
        ),
    ] = True,
) -> None:
    """Run the local exchange; the first stdout line is its base URL."""
    from bybitctl.config import is_loopback
    from bybitctl.sim import DEFAULT_ACCOUNT, make_core
    from bybitctl.sim.net.auth import ApiKey, Keyring
    from bybitctl.sim.net.faults import parse_spec
    from bybitctl.sim.net.server import SimServer
    from bybitctl.sim.store.state import StateFileError

    if not allow_remote and not is_loopback(host):
        raise UsageError(f"refusing to bind {host!r}: not a loopback address (use --allow-remote)")
    port_number = _parsed("--port", port, lambda raw: parsing.integer(raw, PORT_RULE))
    seed_number = _parsed("--seed", seed, lambda raw: parsing.integer(raw, parsing.SIGNED))
    timeout_s = _parsed(
        "--client-timeout", client_timeout, lambda raw: parsing.number(raw, TIMEOUT_RULE)
    )
    funding_s = _parsed(
        "--funding-interval", funding_interval, lambda raw: parsing.integer(raw, FUNDING_RULE)
    )
    if faults:
        try:
            parse_spec(faults)
        except ValueError as exc:
            raise UsageError(f"--faults: {exc}") from None
    if api_secret_stdin:
        api_secret = sys.stdin.readline().strip()
    if (api_key is None) != (api_secret is None):
        raise UsageError("--api-key and --api-secret (or --api-secret-stdin) go together")
    if api_key is not None and api_secret is not None:
        api_key = _key_text("--api-key", api_key)
        api_secret = _key_text("--api-secret", api_secret)
    if symbols is None:
        from bybitctl.sim.market.replay import recorded_symbols

        symbols = ",".join(recorded_symbols(replay) if replay else ()) or "BTCUSDT,ETHUSDT"
    names = _symbols(symbols)
    tls = _tls_context(tls_cert, tls_key)
    keys = load_or_create_keys(data_dir() / "sim-keys.json")
    if api_key is not None and api_secret is not None:
        keys = {**keys, "api_key": api_key, "api_secret": api_secret}
    keyring = Keyring()
    keyring.add(ApiKey(keys["api_key"], keys["api_secret"], DEFAULT_ACCOUNT))
    keyring.add(ApiKey(keys["readonly_key"], keys["readonly_secret"], DEFAULT_ACCOUNT, True))
    try:
        core = make_core(names, seed_number, state, replay, funding_s * 1000)
    except StateFileError as exc:
        raise UsageError(f"--state: {exc}") from None
    server = SimServer(
        core,
        keyring,
        faults=faults,
        seed=seed_number,
        rate_limits=rate_limits,
        client_timeout=float(timeout_s),
        debug=bool(getattr(ctx.obj, "debug", False)),
        tls=tls,
    )

    def ready(base_url: str) -> None:
        # The profile is written before the URL is printed, so whoever reads that first line
        # can use `--profile paper` at once.
        note = ""
        if profile:
            from bybitctl.config import save_profile

            path = save_profile(
                PAPER_PROFILE,
                {
                    "base_url": base_url,
                    "api_key": keys["api_key"],
                    "api_secret": keys["api_secret"],
                },
            )
            note = f"; profile {PAPER_PROFILE!r} registered in {path}"
        print(base_url, flush=True)
        source = f" replaying {replay}" if replay is not None else ""
        print(f"serving {','.join(names)}{source}{note}; Ctrl-C stops", file=sys.stderr, flush=True)

    asyncio.run(_serve(server, host, port_number, ready))
