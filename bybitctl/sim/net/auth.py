"""API keys and signature checks of the local exchange, byte-for-byte as Bybit v5 verifies them.

REST: the signature covers `timestamp + api_key + recv_window + payload`, where the payload is
the raw POST body or the query string exactly as it arrived on the wire, as Bybit verifies it:
a client must sign the string it sends (`vipLevel=No%20VIP`, not `vipLevel=No VIP`).
WebSockets: the `auth` op signs `GET/realtime{expires}`. HMAC keys answer lowercase hex
(compared case-insensitively); RSA keys answer base64 PKCS#1 v1.5 over SHA-256, verified with
the registered public key.

Headers are client input like any other: a timestamp or window that is not plain ASCII digits
within 64 bits is 10002, a signature that is not ASCII (or of an unknown sign type) is 10004,
never a server error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from typing import Any

INVALID_TIMESTAMP = 10002
INVALID_KEY = 10003
INVALID_SIGN = 10004
PERMISSION_DENIED = 10005

MESSAGES = {
    INVALID_KEY: "API key is invalid.",
    INVALID_SIGN: "Error sign, please check your signature generation algorithm.",
    PERMISSION_DENIED: "Permission denied, please check your API key permissions.",
}
DEFAULT_RECV_WINDOW = 5000
FUTURE_TOLERANCE_MS = 1000
SIGN_TYPE_HMAC = "2"
"""The only `X-BAPI-SIGN-TYPE` value (pybit sends it for HMAC and RSA keys alike)."""
_MS = re.compile(r"[0-9]{1,19}")
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class ApiKey:
    """One registered key: its account (uid), its secret or RSA public key, and permissions."""

    key: str
    secret: str
    account: str
    readonly: bool = False
    rsa: bool = False


class AuthError(Exception):
    """A failed check, carrying the Bybit retCode and message to answer with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def generate_key_pair() -> tuple[str, str]:
    """A random key (18 chars) and HMAC secret (36 chars), shaped like Bybit's."""
    alphabet = string.ascii_letters + string.digits
    key = "".join(secrets.choice(alphabet) for _ in range(18))
    secret = "".join(secrets.choice(alphabet) for _ in range(36))
    return key, secret


def _verify_rsa(public_key_pem: str, message: bytes, signature: str) -> bool:
    """PKCS#1 v1.5 / SHA-256 check; pycryptodome is already installed as a pybit dependency."""
    from Crypto.Hash import SHA256
    from Crypto.PublicKey import RSA
    from Crypto.Signature import pkcs1_15

    try:
        pkcs1_15.new(RSA.import_key(public_key_pem)).verify(
            SHA256.new(message), base64.b64decode(signature, validate=True)
        )
    except (ValueError, TypeError):
        return False
    return True


class Keyring:
    """The exchange's registered keys; lookups are one dict access on the request path."""

    def __init__(self) -> None:
        self._keys: dict[str, ApiKey] = {}

    def add(self, key: ApiKey) -> None:
        """Register (or replace) a key."""
        self._keys[key.key] = key

    def get(self, key: str) -> ApiKey | None:
        """The registered key, or None."""
        return self._keys.get(key)

    def accounts(self) -> set[str]:
        """Every account that owns a key."""
        return {k.account for k in self._keys.values()}

    def _signature_ok(self, api_key: ApiKey, message: bytes, signature: Any) -> bool:
        """Whether `signature` signs `message`; anything but a non-empty ASCII string fails."""
        if not isinstance(signature, str) or not signature or not signature.isascii():
            return False
        if api_key.rsa:
            return _verify_rsa(api_key.secret, message, signature)
        expected = hmac.new(api_key.secret.encode(), message, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature.lower())

    def verify_rest(self, headers: Any, payload: bytes, now_ms: int) -> ApiKey:
        """Check a signed REST request's headers against `payload` (the raw body, or the query
        string as received); raise AuthError like Bybit.

        Order of checks follows Bybit: the key must exist (10003), the timestamp must fall in
        `[now - recv_window, now + 1000)` (10002), then the signature must match (10004).
        """
        key_name = headers.get("X-BAPI-API-KEY")
        api_key = self._keys.get(key_name) if key_name else None
        if api_key is None:
            raise AuthError(INVALID_KEY, MESSAGES[INVALID_KEY])
        timestamp = headers.get("X-BAPI-TIMESTAMP", "")
        recv_window = headers.get("X-BAPI-RECV-WINDOW", "")
        check_window(timestamp, recv_window or DEFAULT_RECV_WINDOW, now_ms)
        if headers.get("X-BAPI-SIGN-TYPE", SIGN_TYPE_HMAC) != SIGN_TYPE_HMAC:
            raise AuthError(INVALID_SIGN, MESSAGES[INVALID_SIGN])
        # timestamp and window are ASCII digits by now, and the key is a registered one
        message = f"{timestamp}{key_name}{recv_window}".encode() + payload
        if not self._signature_ok(api_key, message, headers.get("X-BAPI-SIGN")):
            raise AuthError(INVALID_SIGN, MESSAGES[INVALID_SIGN])
        return api_key

    def verify_ws(self, args: Any, now_ms: int) -> ApiKey:
        """Check a WebSocket `auth` op's args `[api_key, expires_ms, signature]`: an unknown
        key is 10003, an `expires` that is not an integer or already past 10002, a signature
        that does not match 10004."""
        if not isinstance(args, list) or len(args) != 3:
            raise AuthError(10001, "Params Error")
        key_name, expires, signature = args
        api_key = self._keys.get(key_name) if isinstance(key_name, str) else None
        if api_key is None:
            raise AuthError(INVALID_KEY, "error:apikey invalid")
        expires_ms = milliseconds(expires)
        if expires_ms is None:
            raise AuthError(INVALID_TIMESTAMP, "error:expires must be an integer of milliseconds")
        if expires_ms <= now_ms:
            raise AuthError(INVALID_TIMESTAMP, "error:request expired")
        if not self._signature_ok(api_key, f"GET/realtime{expires}".encode(), signature):
            raise AuthError(INVALID_SIGN, "error:signature verification failed")
        return api_key


def milliseconds(value: Any) -> int | None:
    """A non-negative count of milliseconds: a JSON integer, or ASCII digits within 64 bits
    (no sign, blanks, `_` or other scripts' digits, which Python's `int()` would accept)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= _INT64_MAX else None
    if isinstance(value, str) and _MS.fullmatch(value) and int(value) <= _INT64_MAX:
        return int(value)
    return None


def check_window(timestamp: Any, recv_window: Any, now_ms: int) -> None:
    """Bybit's rule `now - recv_window <= timestamp < now + 1000`, else 10002 with the figures."""
    ts, window = milliseconds(timestamp), milliseconds(recv_window)
    if ts is None or window is None:
        raise AuthError(
            INVALID_TIMESTAMP, "invalid request, please check your timestamp and recv_window param"
        )
    if not now_ms - window <= ts < now_ms + FUTURE_TOLERANCE_MS:
        raise AuthError(
            INVALID_TIMESTAMP,
            "invalid request, please check your server timestamp or recv_window param. "
            f"req_timestamp[{ts}],server_timestamp[{now_ms}],recv_window[{window}]",
        )
