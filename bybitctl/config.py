"""Profiles, credentials and the config file.

Settings resolve per key with the precedence flag > environment > profile > default, so a
one-off `--testnet` or `BYBIT_API_KEY` never needs an edit of the file. The file lives at
`$XDG_CONFIG_HOME/bybitctl/config.toml` (default `~/.config/bybitctl/config.toml`):

    current = "default"

    [profiles.default]
    api_key = "..."
    api_secret = "..."
    testnet = true

It is always written 0600 (atomically; a symlinked file stays a symlink and its target is
written). Like ssh, bybitctl refuses a config file or directory that another user owns or
that group or others can write, and a file holding a secret that others can read. Values
convert with the grammar of `bybitctl.parsing`, from flags, the environment and the file
alike.

tomllib, tempfile and ipaddress are imported where used: this module loads on every start.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bybitctl import parsing
from bybitctl.errors import ConfigError, UsageError
from bybitctl.output import FORMATS

DEFAULT_PROFILE = "default"

# Every key a profile may hold, with the type its value converts to.
PROFILE_KEYS: dict[str, type] = {
    "api_key": str,
    "api_secret": str,
    "rsa_key_file": str,
    "base_url": str,
    "testnet": bool,
    "demo": bool,
    "tld": str,
    "recv_window": int,
    "timeout": float,
    "output": str,
}
NUMBER_RULES: dict[str, parsing.NumberRule] = {
    "recv_window": parsing.NumberRule(minimum=1, maximum=60_000),
    "timeout": parsing.NumberRule(minimum=0, maximum=300, positive=True),
}
"""The range of each numeric setting, for flags, environment, file and `config set` alike.
A request signed more than a minute ago should not still be carried out (and Bybit's own
default is 5000 ms); an answer awaited longer than five minutes is not one a shell waits
for, and larger timeouts overflow the socket layer."""
SECRET_KEYS = frozenset({"api_secret"})
CREDENTIAL_KEYS = frozenset({"api_key", "api_secret"})
"""Sent in HTTP headers: printable ASCII without blanks (`parsing.token`), never echoed."""
ENV_VARS = {
    "api_key": "BYBIT_API_KEY",
    "api_secret": "BYBIT_API_SECRET",
    "rsa_key_file": "BYBIT_RSA_KEY_FILE",
    "base_url": "BYBIT_BASE_URL",
    "output": "BYBITCTL_OUTPUT",
}
PROFILE_ENV = "BYBIT_PROFILE"
BYBIT_TLDS = ("com", "nl", "com.hk", "kz", "eu", "ae", "id")
"""Bybit's regional domains `api.bybit.<tld>`: pybit's TLD_* constants (com, nl, com.hk, kz,
eu) and the regional hosts the v5 integration guide lists (ae, id). Turkey (api.bybit-tr.com)
and Georgia (api.bybitgeorgia.ge) are other domains, reached with --base-url."""
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
CREDENTIALS_HINT = (
    "pass --api-key with --api-secret-stdin, set BYBIT_API_KEY and BYBIT_API_SECRET, "
    "or run `bybitctl config init`"
)


@dataclass(frozen=True)
class Settings:
    """Everything needed to reach one Bybit target; built only by `resolve_settings`."""

    profile: str = DEFAULT_PROFILE
    api_key: str | None = None
    api_secret: str | None = None
    rsa_key_file: str | None = None
    base_url: str | None = None
    testnet: bool = False
    demo: bool = False
    tld: str = "com"
    recv_window: int = 5000
    timeout: float = 10.0
    output: str | None = None
    # Where each value came from ("flag", "env", "profile", "default"), for `config show`.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def __repr__(self) -> str:
        """Masks credentials so a stray print or log line never leaks them."""
        parts = [
            f"{f.name}={mask(f.name, getattr(self, f.name))!r}"
            for f in fields(self)
            if f.name != "sources"
        ]
        return f"Settings({', '.join(parts)})"

    @property
    def has_credentials(self) -> bool:
        """True when an API key and either a secret or an RSA key file are known."""
        return bool(self.api_key and (self.api_secret or self.rsa_key_file))

    def require_credentials(self) -> None:
        """Fail with exit 3 before an authenticated request that could only be refused."""
        if self.has_credentials:
            return
        if self.api_key:
            where = {
                "flag": "by --api-key",
                "env": f"by {ENV_VARS['api_key']}",
                "profile": f"in profile '{self.profile}'",
            }.get(self.sources.get("api_key", ""))
            raise ConfigError(
                f"an API key is set{f' {where}' if where else ''} but no API secret: "
                "pass --api-secret-stdin, set BYBIT_API_SECRET, use --rsa-key-file, "
                "or `bybitctl config set api_secret -`"
            )
        raise ConfigError(f"no API credentials for profile '{self.profile}': {CREDENTIALS_HINT}")


def mask(key: str, value: Any) -> Any:
    """Hide a secret entirely, an API key but for the last 4 characters of a long one, and
    credentials a hand-edited file put in a base URL (bybitctl refuses to use them).

    >>> mask("base_url", "http://user:pass@127.0.0.1:9")
    'http://****@127.0.0.1:9'
    """
    if value in (None, ""):
        return value
    if key in SECRET_KEYS or (key == "api_key" and len(str(value)) <= 8):
        return "****"
    if key == "api_key":
        return "*" * (len(value) - 4) + value[-4:]
    if key == "base_url" and isinstance(value, str) and "@" in value:
        # Everything up to the last "@" may be credentials, however the URL is malformed
        # (a "/" or "@" inside the password included).
        return f"{value.partition('://')[0]}://****@{value.rpartition('@')[2]}"
    return value


def _xdg_dir(variable: str, fallback: str, env: Mapping[str, str] | None) -> Path:
    """Our directory under `$variable`, else under `~/fallback`; a relative value is
    ignored, as the XDG spec requires."""
    env = os.environ if env is None else env
    base = env.get(variable, "")
    root = (
        Path(base)
        if base and os.path.isabs(base)
        else Path(env.get("HOME") or Path.home()) / fallback
    )
    return root / "bybitctl"


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The config file, `$XDG_CONFIG_HOME/bybitctl/config.toml`."""
    return _xdg_dir("XDG_CONFIG_HOME", ".config", env) / "config.toml"


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where bybitctl keeps its data (the mm journal, the local exchange's keys):
    `$XDG_DATA_HOME/bybitctl`, default `~/.local/share/bybitctl`."""
    return _xdg_dir("XDG_DATA_HOME", ".local/share", env)


def convert(key: str, value: Any, origin: str = "flag") -> Any:
    """Convert and check one profile value; `origin` names where a bad value came from.

    A bad flag is bad input (exit 2); a bad environment or file value is configuration (exit 3).
    """
    error = UsageError if origin == "flag" else ConfigError
    if key not in PROFILE_KEYS:
        raise error(f"unknown setting '{key}' ({origin}); valid: {', '.join(PROFILE_KEYS)}")
    try:
        if key in CREDENTIAL_KEYS:
            value = parsing.token(value)
        else:
            value = _typed(PROFILE_KEYS[key], value, NUMBER_RULES.get(key, parsing.POSITIVE))
    except parsing.InvalidValue as exc:
        raise error(f"bad value for {key} ({origin}): {exc}") from None
    if key == "base_url":
        value = _check_base_url(value, error, origin)
    elif key == "output" and value not in FORMATS:
        raise error(f"bad value for output ({origin}): {value!r}; expected {'|'.join(FORMATS)}")
    elif key == "tld" and value not in BYBIT_TLDS:
        raise error(
            f"bad value for tld ({origin}): {value!r}; Bybit's domains are " + ", ".join(BYBIT_TLDS)
        )
    return value


def _typed(kind: type, value: Any, rule: parsing.NumberRule) -> Any:
    """`value` (a string, or already typed from TOML) as `kind`, by the one grammar; a
    number within `rule`."""
    if kind is bool:
        return parsing.boolean(value)
    if kind is int:
        return parsing.finite(value, rule, integral=True)
    if kind is float:
        return float(parsing.finite(value, rule))
    return parsing.text(value)


def _check_base_url(value: str, error: type[Exception], origin: str) -> str:
    """An http(s) URL with a host; credentials in it are refused without echoing them.

    Any "@" counts: no Bybit or local base URL has one, and a password may hold "/" or "@",
    which would move the authority's end for a URL parser.
    """
    if "@" in value:
        raise error(
            f"bad base_url ({origin}): credentials in the URL (user:password@) are not "
            "allowed; Bybit keys go in --api-key and --api-secret-stdin"
        )
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port outside 0-65535
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise error(f"bad base_url ({origin}): {value!r}; expected http(s)://host[:port]")
    return value.rstrip("/")


def is_loopback(host: str | None) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1: the only hosts safe without a prompt."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    from ipaddress import ip_address

    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _check_private(path: Path) -> None:
    """Refuse a secret-bearing file that group or others can read (or replace)."""
    mode = path.stat().st_mode
    if mode & 0o077:
        raise ConfigError(
            f"{path} holds secrets but group or others can access it "
            f"(mode {stat.filemode(mode)}); fix: chmod 600 {path}"
        )


def _check_owned(path: Path) -> None:
    """Refuse, as ssh does, a config file or directory another user owns or others can write:
    whoever can change it can point bybitctl at another exchange or key."""
    info = path.stat()
    if info.st_uid != os.getuid():
        raise ConfigError(
            f"{path} belongs to uid {info.st_uid}, not to you (uid {os.getuid()}); "
            f"fix: chown {os.getuid()} {path}"
        )
    if info.st_mode & 0o022:
        raise ConfigError(
            f"{path} can be changed by group or others (mode {stat.filemode(info.st_mode)}); "
            f"fix: chmod go-w {path}"
        )


def load_config(path: Path) -> dict[str, Any]:
    """The parsed file (`{}` when absent), refusing it if it or its directory is not safely
    the user's, or if it holds a secret others can read."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    _check_owned(path.parent)
    _check_owned(path)
    import tomllib  # only once a file exists: without one, nothing needs the parser

    try:
        doc = tomllib.loads(data.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    profiles = doc.get("profiles", {})
    if not isinstance(profiles, dict) or not all(isinstance(p, dict) for p in profiles.values()):
        raise ConfigError(f"{path}: [profiles.NAME] tables expected")
    if any(p.get(k) for p in profiles.values() for k in SECRET_KEYS):
        _check_private(path)
    return doc


def dumps_toml(doc: Mapping[str, Any]) -> str:
    """TOML for our shape: top-level values, then one table per profile.

    Hand-written because tomllib only reads, and the shape is too small for a dependency.
    Whatever a hand-edited file holds besides (quoted names, arrays, inline tables, dates)
    is written back as it was read.
    """
    lines = [
        f"{_toml_key(key)} = {_toml_value(value)}"
        for key, value in doc.items()
        if key != "profiles"
    ]
    for name, values in doc.get("profiles", {}).items():
        lines.extend(["", f"[profiles.{_toml_key(name)}]"])
        lines.extend(f"{_toml_key(key)} = {_toml_value(value)}" for key, value in values.items())
    return "\n".join(lines).lstrip("\n") + "\n"


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_value(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = "".join(
            {'"': '\\"', "\\": "\\\\"}.get(ch)
            or (f"\\u{ord(ch):04X}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch)
            for ch in value
        )
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        items = (f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    return value.isoformat()  # the dates and times tomllib reads


def write_config(path: Path, doc: Mapping[str, Any]) -> None:
    """Write atomically (temp file + rename) with mode 0600 inside a 0700 directory.

    A symlinked config file (dotfiles) stays a symlink: its target is what gets replaced.
    """
    import tempfile

    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        target = Path(os.path.realpath(path))
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".config.", suffix=".tmp")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(dumps_toml(doc))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)  # mkstemp made it 0600
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_profile_name(name: str) -> str:
    """Profile names are bare TOML keys, so the file needs no quoting rules."""
    if not _PROFILE_NAME.fullmatch(name):
        raise UsageError(f"bad profile name {name!r}: use letters, digits, '-' and '_'")
    return name


def save_profile(
    name: str,
    values: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    make_current: bool = False,
) -> Path:
    """Merge `values` into profile `name` (a None value removes the key) and write the file.

    Used by `config init/set` and by `sim serve` to register the `paper` profile; the current
    profile changes only with `make_current`, so registering one never redirects other commands.
    """
    path = config_path(env)
    write_config(path, with_profile(load_config(path), name, values, make_current=make_current))
    return path


def with_profile(
    doc: Mapping[str, Any], name: str, values: Mapping[str, Any], *, make_current: bool = False
) -> dict[str, Any]:
    """A copy of the file's `doc` with `values` merged into profile `name` (a None or empty
    value removes the key), made current if asked."""
    profile = dict(doc.get("profiles", {}).get(check_profile_name(name), {}))
    for key, value in values.items():
        if value is None or value == "":
            profile.pop(key, None)
        else:
            profile[key] = convert(key, value)
    merged = {**doc, "profiles": {**doc.get("profiles", {}), name: profile}}
    if make_current:
        merged["current"] = name
    return merged


def profiles(env: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Every stored profile by name."""
    return dict(load_config(config_path(env)).get("profiles", {}))


def current_profile(env: Mapping[str, str] | None = None) -> str:
    """The profile `config use` selected, else `default` (BYBIT_PROFILE is not consulted)."""
    current = load_config(config_path(env)).get("current")
    return current if isinstance(current, str) and current else DEFAULT_PROFILE


def use(name: str, env: Mapping[str, str] | None = None) -> Path:
    """Make `name` the current profile; it must exist so a typo cannot silently select nothing."""
    path = config_path(env)
    doc = load_config(path)
    known = doc.get("profiles", {})
    if name not in known:
        raise UsageError(f"no profile '{name}' in {path}; profiles: {', '.join(known) or 'none'}")
    doc["current"] = name
    write_config(path, doc)
    return path


def selected_profile(overrides: Mapping[str, Any], env: Mapping[str, str], doc: Mapping) -> str:
    """--profile, else BYBIT_PROFILE, else the file's current profile, else `default`."""
    for candidate in (overrides.get("profile"), env.get(PROFILE_ENV), doc.get("current")):
        if candidate:
            return str(candidate)
    return DEFAULT_PROFILE


def resolve_settings(overrides: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    """Merge flags (`overrides`, None = not given), environment, profile and defaults per key."""
    unknown = set(overrides) - set(PROFILE_KEYS) - {"profile"}
    if unknown:
        raise ValueError(f"unknown override(s): {sorted(unknown)}")
    path = config_path(env)
    doc = load_config(path)
    name = selected_profile(overrides, env, doc)
    stored = doc.get("profiles", {})
    if name not in stored and name != DEFAULT_PROFILE:
        raise ConfigError(
            f"no profile '{name}' in {path} (profiles: {', '.join(stored) or 'none'})",
            hint=f"create it with `bybitctl config init --profile {name}`",
        )
    profile = stored.get(name, {})
    values: dict[str, Any] = {}
    sources = {
        "profile": "flag"
        if overrides.get("profile")
        else "env"
        if env.get(PROFILE_ENV)
        else "profile"
    }
    for key in PROFILE_KEYS:
        if overrides.get(key) is not None:
            values[key], sources[key] = convert(key, overrides[key], "flag"), "flag"
        elif env.get(ENV_VARS.get(key, "")):
            values[key] = convert(key, env[ENV_VARS[key]], ENV_VARS[key])
            sources[key] = "env"
        elif profile.get(key) not in (None, ""):
            values[key] = convert(key, profile[key], f"profile '{name}' in {path}")
            sources[key] = "profile"
        else:
            sources[key] = "default"
    return Settings(profile=name, sources=sources, **values)


def read_rsa_key(path: str) -> str:
    """The PEM text of an RSA private key file, refused if others can read it."""
    key_path = Path(path).expanduser()
    try:
        if key_path.exists() and not key_path.is_file():
            raise ConfigError(f"RSA key file {key_path} is not a regular file")
        _check_private(key_path)
        return key_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read RSA key file {key_path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"RSA key file {key_path} is not a PEM text file") from None
