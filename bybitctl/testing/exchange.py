"""A local Bybit v5 exchange for any project's tests: started, funded, and torn down.

`start_local_bybit()` runs the exchange in this process (on its own thread) or as a
`bybitctl sim serve` process, funds its account the way Bybit's demo trading does
(`/v5/account/demo-apply-money`), and yields a `LocalBybit`: where it listens, its keys, and
the little a test needs beyond the Bybit API (moving its clock ahead, client settings for
pybit and ccxt). Only the standard library is used to talk to it, so a project under test
needs nothing but its own client.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bybitctl.private_files import private_opener
from bybitctl.sim import SimHandle

PUBLIC_CHANNELS = ("spot", "linear", "inverse", "option", "spread")
COINS = ("USDT", "USDC", "BTC", "ETH")
"""Coins a new account holds (see `bybitctl.sim.core.accounts.INITIAL_BALANCES`)."""


class LocalBybitError(RuntimeError):
    """The local exchange answered a request with a non-zero retCode."""


@dataclass
class LocalBybit:
    """A running local exchange and the keys of its funded account."""

    base_url: str
    ws_base: str
    api_key: str
    api_secret: str = field(repr=False)
    tls: ssl.SSLContext | None = field(default=None, repr=False)
    """A client context trusting the exchange's certificate (None: plain http/ws)."""
    cafile: str | None = None
    """That certificate's PEM file, for clients that take a path (`requests`' `verify`)."""
    sim: SimHandle | None = field(default=None, repr=False)
    """The in-process exchange (None when it runs as a process)."""

    def ws_public(self, category: str) -> str:
        """The public WebSocket URL of `category` (spot, linear, inverse, option, spread)."""
        if category not in PUBLIC_CHANNELS:
            raise ValueError(f"category must be one of {', '.join(PUBLIC_CHANNELS)}")
        return f"{self.ws_base}/v5/public/{category}"

    @property
    def ws_private(self) -> str:
        return f"{self.ws_base}/v5/private"

    @property
    def ws_trade(self) -> str:
        return f"{self.ws_base}/v5/trade"

    # ---- talking to it -------------------------------------------------------------------

    def request(self, method: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """A signed REST request, as Bybit's v5 API expects it; the `result` of the answer.
        LocalBybitError for a non-zero retCode."""
        params = dict(params or {})
        ts = str(int(time.time() * 1000))
        if method == "GET":
            payload = urlencode(params)
            url, body = f"{self.base_url}{path}{'?' + payload if payload else ''}", None
        else:
            payload = json.dumps(params)
            url, body = f"{self.base_url}{path}", payload.encode()
        sign = hmac.new(
            self.api_secret.encode(), f"{ts}{self.api_key}5000{payload}".encode(), hashlib.sha256
        ).hexdigest()
        headers = {
            "X-BAPI-API-KEY": self.api_key,
            "X-BAPI-TIMESTAMP": ts,
            "X-BAPI-RECV-WINDOW": "5000",
            "X-BAPI-SIGN": sign,
            "Content-Type": "application/json",
        }
        answer = self._open(urllib.request.Request(url, body, headers, method=method))
        if answer.get("retCode") != 0:
            raise LocalBybitError(f"{path}: {answer.get('retCode')} {answer.get('retMsg')}")
        return answer.get("result")

    def _open(self, req: urllib.request.Request) -> Any:
        with urllib.request.urlopen(req, timeout=30, context=self.tls) as resp:
            return json.loads(resp.read())

    def fund(self, balances: Mapping[str, str | int | Decimal], *, exact: bool = True) -> None:
        """Give the account these balances (coin -> amount); with `exact`, every other coin
        it holds goes to zero, so a test can start from a small account."""
        if exact:
            wallet = self.request("GET", "/v5/account/wallet-balance", {"accountType": "UNIFIED"})
            held = {c["coin"]: Decimal(c["walletBalance"]) for c in wallet["list"][0]["coin"]}
            out = [{"coin": c, "amountStr": str(v)} for c, v in held.items() if v > 0]
            if out:
                self.request("POST", "/v5/account/demo-apply-money",
                             {"adjustType": 1, "utaDemoApplyMoney": out})  # fmt: skip
        add = [{"coin": c, "amountStr": str(Decimal(v))} for c, v in balances.items() if Decimal(v)]
        if add:
            self.request("POST", "/v5/account/demo-apply-money",
                         {"adjustType": 0, "utaDemoApplyMoney": add})  # fmt: skip

    def advance(self, ms: int) -> None:
        """Move the exchange's time `ms` ahead (funding times, option expiries) and settle
        what fell due before returning. Signatures stay checked against real time."""
        body = json.dumps({"advance_ms": int(ms)}).encode()
        req = urllib.request.Request(f"{self.base_url}/_sim/clock", body, method="POST")
        self._open(req)

    def set_price(self, coin: str, price: str | float | Decimal) -> None:
        """Move a coin's fair price (its marks, index and books) to `price` at once, and
        settle what that sets off (liquidations, triggers, TP/SL) before returning."""
        body = json.dumps({"coin": coin, "price": str(price)}).encode()
        req = urllib.request.Request(f"{self.base_url}/_sim/price", body, method="POST")
        self._open(req)

    # ---- client settings -----------------------------------------------------------------

    def ccxt_config(self, **extra: Any) -> dict[str, Any]:
        """Settings for `ccxt.bybit(...)` and `ccxt.pro.bybit(...)` that point every REST
        and WebSocket URL at the exchange."""
        rest = dict.fromkeys(("spot", "futures", "v2", "public", "private"), self.base_url)
        private = self.ws_private
        ws = {
            "public": {c: self.ws_public(c) for c in ("spot", "linear", "inverse", "option")},
            "private": {
                "spot": {"unified": private, "nonUnified": private},
                "contract": private,
                "usdc": private,
                "trade": self.ws_trade,
            },
        }
        return {
            "apiKey": self.api_key,
            "secret": self.api_secret,
            "enableRateLimit": False,
            "urls": {"api": {**rest, "ws": ws}},
            **extra,
        }

    def pybit_http(self, **kwargs: Any) -> Any:
        """Unmodified pybit `HTTP` pointed at the exchange (its public `endpoint`)."""
        from pybit.unified_trading import HTTP

        session = HTTP(api_key=self.api_key, api_secret=self.api_secret, **kwargs)
        session.endpoint = self.base_url
        if self.cafile:
            session.client.verify = self.cafile
        return session

    def pybit_ws(self, channel_type: str, **kwargs: Any) -> Any:
        """pybit's `WebSocket` for a channel type ("linear", "spot", "private", ...) on the
        exchange: a subclass that changes only the URL it connects to (pybit takes none),
        and counts acknowledged subscriptions so a test can wait for them
        (`wait_subscribed(n)`) instead of sleeping."""
        from pybit.unified_trading import WebSocket

        url = self.ws_private if channel_type == "private" else self.ws_public(channel_type)
        if channel_type == "private":
            kwargs = {"api_key": self.api_key, "api_secret": self.api_secret, **kwargs}

        class LocalWebSocket(WebSocket):  # type: ignore[misc]
            def __init__(self, **kw: Any) -> None:
                self.acked = 0
                self._acks = threading.Condition()
                super().__init__(**kw)

            def _connect(self, _: str) -> None:
                super()._connect(url)

            def _process_subscription_message(self, message: dict[str, Any]) -> None:
                super()._process_subscription_message(message)
                if message.get("success") is True:
                    with self._acks:
                        self.acked += 1
                        self._acks.notify_all()

            def wait_subscribed(self, count: int, timeout: float = 10) -> None:
                """Wait until `count` subscriptions have been acknowledged."""
                with self._acks:
                    if not self._acks.wait_for(lambda: self.acked >= count, timeout):
                        raise TimeoutError(f"{self.acked} of {count} subscriptions acknowledged")

        return LocalWebSocket(channel_type=channel_type, **{"testnet": False, **kwargs})

    def pybit_ws_trading(self, **kwargs: Any) -> Any:
        """pybit's `WebSocketTrading` (order entry) on the exchange, likewise."""
        from pybit.unified_trading import WebSocketTrading

        url = self.ws_trade

        class LocalWebSocketTrading(WebSocketTrading):  # type: ignore[misc]
            def _connect(self, _: str) -> None:
                super()._connect(url)

        kwargs = {"testnet": False, **kwargs}
        return LocalWebSocketTrading(api_key=self.api_key, api_secret=self.api_secret, **kwargs)


@contextlib.contextmanager
def start_local_bybit(
    *,
    symbols: Sequence[str] = ("BTCUSDT", "ETHUSDT"),
    seed: int = 1,
    balances: Mapping[str, str | int | Decimal] | None = None,
    funding_interval_s: int | None = None,
    tls: bool = False,
    process: bool = False,
) -> Iterator[LocalBybit]:
    """Start the exchange on a free loopback port, fund its account and yield it.

    `balances` replaces the account's coins (default: 100,000 USDT and USDC, 1 BTC, 10 ETH);
    `funding_interval_s` makes perpetuals settle funding that often; `tls` serves
    https/wss with a fresh self-signed certificate (needs the `cryptography` package);
    `process` runs `bybitctl sim serve` as a child process instead of a thread.
    """
    with tempfile.TemporaryDirectory(prefix="local-bybit-") as tmp:
        cert = self_signed_certificate(Path(tmp)) if tls else None
        client_tls = None
        if cert is not None:
            client_tls = ssl.create_default_context(cafile=str(cert[0]))
        start = _in_process if not process else _as_process
        with start(symbols, seed, funding_interval_s, cert, Path(tmp)) as (url, key, secret, sim):
            ex = LocalBybit(
                base_url=url,
                ws_base=url.replace("http", "ws", 1),
                api_key=key,
                api_secret=secret,
                tls=client_tls,
                cafile=str(cert[0]) if cert else None,
                sim=sim,
            )
            if balances is not None:
                ex.fund(balances)
            yield ex


_Started = tuple[str, str, str, SimHandle | None]


@contextlib.contextmanager
def _in_process(
    symbols: Sequence[str],
    seed: int,
    funding_s: int | None,
    cert: tuple[Path, Path] | None,
    tmp: Path,
) -> Iterator[_Started]:
    from bybitctl.sim import running_exchange

    server_tls = None
    if cert is not None:
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(*cert)
    with running_exchange(
        symbols=tuple(symbols),
        seed=seed,
        funding_interval_ms=funding_s * 1000 if funding_s else None,
        tls=server_tls,
    ) as sim:
        yield sim.base_url, sim.api_key, sim.api_secret, sim


@contextlib.contextmanager
def _as_process(
    symbols: Sequence[str],
    seed: int,
    funding_s: int | None,
    cert: tuple[Path, Path] | None,
    tmp: Path,
) -> Iterator[_Started]:
    """`bybitctl sim serve` with its own key, nothing written outside `tmp`."""
    key, secret = secrets.token_hex(9), secrets.token_hex(18)
    args = ["sim", "serve", "--port", "0", "--no-profile", "--seed", str(seed)]
    args += ["--symbols", ",".join(symbols), "--api-key", key, "--api-secret-stdin"]
    if funding_s:
        args += ["--funding-interval", str(funding_s)]
    if cert is not None:
        args += ["--tls-cert", str(cert[0]), "--tls-key", str(cert[1])]
    env = {**os.environ, "XDG_DATA_HOME": str(tmp / "data"), "XDG_CONFIG_HOME": str(tmp / "cfg")}
    code = "import sys; from bybitctl.cli import main; main(sys.argv[1:])"
    # stderr to a file: a pipe nobody drains would stall the server once full
    with open(tmp / "serve.log", "w+", encoding="utf-8") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(secret + "\n")
            proc.stdin.close()
            url = proc.stdout.readline().strip()
            if not url.startswith("http"):
                log.seek(0)
                raise RuntimeError(f"bybitctl sim serve did not start: {log.read()[-500:]}")
            yield url, key, secret, None
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, valid for a day, and its key, as PEM
    files in `directory` (the key 0600)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "local bybit")])
    now = datetime.datetime.now(datetime.UTC)
    alt = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(alt, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb", opener=private_opener) as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path
