"""Settings precedence, the config file's permissions and format, and `bybitctl config`."""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from bybitctl import config
from bybitctl.commands.config import app
from bybitctl.context import AppContext
from bybitctl.errors import ConfigError, UsageError

SECRET = "Zq9-very-secret-value-77"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A private XDG_CONFIG_HOME and no BYBIT_* variables, so the real ~/.config is never read."""
    for name in [*config.ENV_VARS.values(), config.PROFILE_ENV]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}


def cfg_file(env: dict[str, str]) -> Path:
    return Path(env["XDG_CONFIG_HOME"]) / "bybitctl" / "config.toml"


# --- precedence -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "environ", "profile", "expected", "source"),
    [
        ("F", "E", "P", "F", "flag"),
        (None, "E", "P", "E", "env"),
        (None, None, "P", "P", "profile"),
        (None, None, None, None, "default"),
    ],
)
def test_precedence_flag_env_profile_default(env, flag, environ, profile, expected, source):
    if profile:
        config.save_profile("default", {"api_key": profile}, env=env)
    if environ:
        env["BYBIT_API_KEY"] = environ
    settings = config.resolve_settings({"api_key": flag}, env)
    assert settings.api_key == expected
    assert settings.sources["api_key"] == source


def test_precedence_holds_per_key(env):
    config.save_profile(
        "default", {"output": "csv", "base_url": "http://127.0.0.1:1", "tld": "nl"}, env=env
    )
    env["BYBITCTL_OUTPUT"] = "jsonl"
    env["BYBIT_BASE_URL"] = "http://127.0.0.1:2/"
    settings = config.resolve_settings({"output": "raw"}, env)
    assert (settings.output, settings.base_url, settings.tld) == ("raw", "http://127.0.0.1:2", "nl")
    assert settings.recv_window == 5000 and settings.timeout == 10.0 and settings.testnet is False


def test_profile_selection_order(env):
    for name in ("a", "b", "c"):
        config.save_profile(name, {"api_key": f"key-{name}"}, env=env)
    config.use("c", env)
    assert config.resolve_settings({}, env).profile == "c"
    env["BYBIT_PROFILE"] = "b"
    assert config.resolve_settings({}, env).api_key == "key-b"
    assert config.resolve_settings({"profile": "a"}, env).api_key == "key-a"


def test_no_file_gives_defaults(env):
    settings = config.resolve_settings({}, env)
    assert settings == config.Settings()
    assert not cfg_file(env).exists()


def test_unknown_named_profile_is_a_config_error(env):
    with pytest.raises(ConfigError) as info:
        config.resolve_settings({"profile": "nope"}, env)
    assert info.value.exit_code == 3
    assert "config init --profile nope" in info.value.show()


def test_bad_values_name_their_origin(env):
    with pytest.raises(UsageError, match="recv_window"):
        config.resolve_settings({"recv_window": "soon"}, env)
    env["BYBIT_BASE_URL"] = "ftp://x"
    with pytest.raises(ConfigError, match="BYBIT_BASE_URL"):
        config.resolve_settings({}, env)
    del env["BYBIT_BASE_URL"]
    cfg_file(env).parent.mkdir(parents=True)
    cfg_file(env).write_text('[profiles.default]\ntestnet = "maybe"\n')
    with pytest.raises(ConfigError, match=r"testnet.*profile 'default'"):
        config.resolve_settings({}, env)


def test_string_values_convert_to_their_types(env):
    settings = config.resolve_settings(
        {"testnet": "yes", "recv_window": "20000", "timeout": "2.5"}, env
    )
    assert (settings.testnet, settings.recv_window, settings.timeout) == (True, 20000, 2.5)


def test_missing_credentials_message(env):
    with pytest.raises(ConfigError) as info:
        config.resolve_settings({}, env).require_credentials()
    assert info.value.exit_code == 3
    assert "BYBIT_API_KEY" in info.value.message and "\n" not in info.value.message
    config.resolve_settings({"api_key": "k", "api_secret": "s"}, env).require_credentials()


def test_key_without_secret_says_which_half_is_missing(env):
    with pytest.raises(ConfigError) as info:
        config.resolve_settings({"api_key": "k"}, env).require_credentials()
    assert info.value.message.startswith("an API key is set by --api-key but no API secret")
    env = {**env, "BYBIT_API_KEY": "k"}
    with pytest.raises(ConfigError, match="set by BYBIT_API_KEY but no API secret"):
        config.resolve_settings({}, env).require_credentials()


def test_a_bad_secret_value_is_refused_without_echoing_it(env):
    """An unquoted numeric secret in the file is not a string; the error must not print it."""
    path = config.config_path(env)
    path.parent.mkdir(parents=True)
    path.write_text('[profiles.default]\napi_key = "k"\napi_secret = 123456789012\n')
    path.chmod(0o600)
    with pytest.raises(ConfigError) as info:
        config.resolve_settings({}, env)
    assert "bad value for api_secret" in info.value.message
    assert "123456789012" not in info.value.show()


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:99999", "http://h:port"])
def test_a_malformed_base_url_is_bad_input_not_a_crash(env, url):
    """urlsplit raises ValueError on these; it must become exit 2, not an internal error."""
    with pytest.raises(UsageError, match="bad base_url"):
        config.resolve_settings({"base_url": url}, env)


def test_an_unwritable_config_directory_is_a_config_error(tmp_path):
    """Not an internal error with a traceback: exit 3 naming the file."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = {"XDG_CONFIG_HOME": str(blocker)}
    with pytest.raises(ConfigError, match=r"cannot write .*config\.toml"):
        config.write_config(config.config_path(env), {"profiles": {}})


def test_relative_xdg_is_ignored():
    path = config.config_path({"XDG_CONFIG_HOME": "relative/dir", "HOME": "/home/u"})
    assert path == Path("/home/u/.config/bybitctl/config.toml")


def test_data_dir_follows_xdg_data_home_and_holds_the_mm_journal():
    from bybitctl.mm import journal

    assert config.data_dir({"XDG_DATA_HOME": "/xdg/data", "HOME": "/home/u"}) == Path(
        "/xdg/data/bybitctl"
    )
    home = {"XDG_DATA_HOME": "relative/dir", "HOME": "/home/u"}
    assert config.data_dir(home) == Path("/home/u/.local/share/bybitctl")
    assert journal.default_path(home) == Path("/home/u/.local/share/bybitctl/mm.sqlite")


# --- the file -------------------------------------------------------------------------


def test_save_profile_writes_0600_in_0700_dir_atomically(env):
    path = config.save_profile("paper", {"api_key": "k", "api_secret": SECRET}, env=env)
    assert path == cfg_file(env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert os.listdir(path.parent) == ["config.toml"]
    doc = tomllib.loads(path.read_text())
    assert doc == {"profiles": {"paper": {"api_key": "k", "api_secret": SECRET}}}


def test_registering_a_profile_does_not_redirect_other_commands(env):
    config.save_profile("live", {"api_key": "k"}, env=env)
    config.use("live", env)
    config.save_profile("paper", {"base_url": "http://127.0.0.1:1"}, env=env)
    assert config.current_profile(env) == "live"
    config.save_profile("paper", {}, env=env, make_current=True)
    assert config.resolve_settings({}, env).base_url == "http://127.0.0.1:1"


def test_save_profile_merges_and_removes(env):
    config.save_profile("p", {"api_key": "k", "testnet": True}, env=env)
    config.save_profile("p", {"testnet": None, "tld": "nl"}, env=env)
    assert config.profiles(env) == {"p": {"api_key": "k", "tld": "nl"}}


def test_readable_secret_file_is_refused_with_chmod_fix(env):
    path = config.save_profile("default", {"api_key": "k", "api_secret": SECRET}, env=env)
    path.chmod(0o644)
    with pytest.raises(ConfigError) as info:
        config.resolve_settings({}, env)
    assert info.value.exit_code == 3
    assert f"chmod 600 {path}" in info.value.message
    assert SECRET not in info.value.show()
    path.chmod(0o600)
    assert config.resolve_settings({}, env).api_secret == SECRET


def test_readable_file_without_secrets_is_accepted(env):
    path = config.save_profile("default", {"base_url": "http://127.0.0.1:9"}, env=env)
    path.chmod(0o644)
    assert config.resolve_settings({}, env).base_url == "http://127.0.0.1:9"


def test_rsa_key_file_permissions(tmp_path):
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    key.chmod(0o640)
    with pytest.raises(ConfigError, match=re.escape(f"chmod 600 {key}")):
        config.read_rsa_key(str(key))
    key.chmod(0o600)
    assert config.read_rsa_key(str(key)).startswith("-----BEGIN")
    with pytest.raises(ConfigError, match="cannot read RSA key file"):
        config.read_rsa_key(str(tmp_path / "absent.pem"))


def test_bad_profile_name_and_use_of_unknown(env):
    with pytest.raises(UsageError):
        config.save_profile("has space", {}, env=env)
    config.save_profile("a", {}, env=env)
    with pytest.raises(UsageError, match="profiles: a"):
        config.use("b", env)
    assert config.current_profile(env) == "default"


text_values = st.text(max_size=40)
profile_values = st.fixed_dictionaries(
    {},
    optional={
        "api_key": text_values,
        "api_secret": text_values,
        "testnet": st.booleans(),
        "recv_window": st.integers(1, 10**9),
        "timeout": st.floats(0.001, 1e6),
    },
)


@given(
    st.dictionaries(
        st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True),
        profile_values,
        min_size=1,
        max_size=4,
    )
)
def test_toml_writer_round_trips(profiles):
    doc = {"current": 'x"\\\n\x7f', "profiles": profiles}
    assert tomllib.loads(config.dumps_toml(doc)) == doc


# --- masking --------------------------------------------------------------------------


def test_repr_masks_secret_and_key():
    settings = config.Settings(api_key="ABCDEFGHIJKL", api_secret=SECRET)
    for text in (repr(settings), str(settings), f"{settings}"):
        assert SECRET not in text and "ABCDEFGHIJKL" not in text
        assert "IJKL" in text
    assert config.mask("api_secret", SECRET) == "****"
    assert config.mask("api_key", "short") == "****"
    assert config.mask("api_secret", None) is None
    assert config.mask("base_url", "http://x") == "http://x"


# --- `bybitctl config` ----------------------------------------------------------------

runner = CliRunner()


def invoke(env: dict[str, str], args: list[str], stdin: str | None = None, **overrides):
    obj = AppContext(overrides=overrides, env=env)
    return runner.invoke(app, args, input=stdin, obj=obj)


def test_init_reads_secret_from_stdin(env):
    result = invoke(
        env,
        ["init", "--profile", "t", "--api-key", "KEY123456", "--api-secret-stdin", "--testnet"],
        stdin=SECRET + "\n",
    )
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert config.profiles(env)["t"] == {
        "api_key": "KEY123456",
        "api_secret": SECRET,
        "testnet": True,
    }
    assert stat.S_IMODE(cfg_file(env).stat().st_mode) == 0o600


def test_init_key_without_secret_off_a_terminal_is_refused(env):
    result = invoke(env, ["init", "--api-key", "K"])
    assert isinstance(result.exception, UsageError)
    assert "--api-secret-stdin" in result.exception.message
    assert not cfg_file(env).exists()


def test_set_secret_only_from_stdin(env):
    result = invoke(env, ["set", "api_secret", SECRET])
    assert isinstance(result.exception, UsageError)
    assert SECRET not in result.exception.show()
    result = invoke(env, ["set", "api_secret", "-"], stdin=SECRET + "\n")
    assert result.exit_code == 0, result.output
    assert config.profiles(env)["default"]["api_secret"] == SECRET


def test_set_get_and_unset(env):
    assert invoke(env, ["set", "testnet", "true", "--profile", "x"]).exit_code == 0
    assert invoke(env, ["get", "testnet", "--profile", "x"]).stdout == "true\n"
    assert invoke(env, ["set", "testnet", "", "--profile", "x"]).exit_code == 0
    assert invoke(env, ["get", "testnet", "--profile", "x"]).stdout == ""
    result = invoke(env, ["set", "recv_window", "0", "--profile", "x"])
    assert isinstance(result.exception, UsageError)
    result = invoke(env, ["get", "colour"])
    assert isinstance(result.exception, UsageError) and "api_key" in result.exception.message


def test_get_masks_secret(env):
    config.save_profile("default", {"api_secret": SECRET}, env=env)
    result = invoke(env, ["get", "api_secret"])
    assert result.stdout == "****\n"


def test_show_masks_and_reports_sources(env):
    config.save_profile("default", {"api_key": "KEY123456", "api_secret": SECRET}, env=env)
    env["BYBIT_BASE_URL"] = "http://127.0.0.1:5"
    result = invoke(env, ["show", "-o", "json"], testnet=True)
    assert result.exit_code == 0, result.output
    assert SECRET not in result.stdout and "KEY123456" not in result.stdout
    rows = {r["key"]: r for r in json.loads(result.stdout)}
    assert rows["api_secret"] == {"key": "api_secret", "value": "****", "source": "profile"}
    assert rows["base_url"]["source"] == "env" and rows["testnet"]["source"] == "flag"
    assert rows["config_file"]["value"] == str(cfg_file(env))


def test_list_marks_the_selected_profile(env):
    assert invoke(env, ["init", "--profile", "a", "--testnet"]).exit_code == 0
    assert (
        invoke(env, ["init", "--profile", "b", "--base-url", "http://127.0.0.1:7"]).exit_code == 0
    )
    result = invoke(env, ["list", "-o", "jsonl"])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["profile"], r["current"], r["target"]) for r in lines] == [
        ("a", True, "testnet (com)"),
        ("b", False, "http://127.0.0.1:7"),
    ]
    assert invoke(env, ["use", "b"]).exit_code == 0
    result = invoke(env, ["list", "-o", "csv"])
    assert result.stdout.splitlines()[1:] == [
        "a,false,testnet (com),",
        "b,true,http://127.0.0.1:7,",
    ]


def test_use_unknown_profile_fails(env):
    result = invoke(env, ["use", "ghost"])
    assert isinstance(result.exception, UsageError)


def test_show_accepts_fields_and_query_after_the_subcommand(env):
    result = invoke(env, ["show", "-o", "csv", "--fields", "key,source", "--query", "[1:3]"])
    assert result.stdout == "key,source\nprofile,profile\napi_key,default\n"


def test_init_without_profile_updates_the_selected_one_reading_the_file_once(env, monkeypatch):
    assert invoke(env, ["init", "--profile", "a", "--testnet"]).exit_code == 0  # first: current
    assert invoke(env, ["init", "--profile", "b", "--demo"]).exit_code == 0
    assert config.current_profile(env) == "a"
    reads = []
    load = config.load_config
    monkeypatch.setattr(config, "load_config", lambda path: reads.append(path) or load(path))
    result = invoke(env, ["init", "--tld", "nl"])
    assert result.exit_code == 0, result.output
    assert "saved profile 'a'" in result.output
    assert reads == [cfg_file(env)]
    assert invoke({**env, config.PROFILE_ENV: "b"}, ["init", "--tld", "nl"]).exit_code == 0
    assert config.profiles(env) == {
        "a": {"testnet": True, "tld": "nl"},
        "b": {"demo": True, "tld": "nl"},
    }


# --- hardening ------------------------------------------------------------------------


@pytest.mark.parametrize("tld", config.BYBIT_TLDS)
def test_every_bybit_domain_is_accepted(env, tld):
    assert config.resolve_settings({"tld": tld}, env).tld == tld


@pytest.mark.parametrize("tld", ["org", "attacker.org", "com.evil", "COM", "", "nl ", "com/x"])
def test_other_domains_are_refused(env, tld):
    with pytest.raises(UsageError, match=re.escape("Bybit's domains are com, nl, com.hk")):
        config.resolve_settings({"tld": tld}, env)


@pytest.mark.parametrize(
    ("value", "kind"),
    [("٥٠٠٠", "recv_window"), ("5_000", "recv_window"), ("5e3", "recv_window"),
     ("nan", "timeout"), ("inf", "timeout"), ("-1", "timeout"), (" 2", "timeout"),
     ("0", "recv_window"), ("60001", "recv_window"), ("300.5", "timeout"),
     ("2147483648", "timeout"), ("0", "timeout")],
)  # fmt: skip
def test_numbers_follow_the_grammar_from_flags_env_and_file(env, value, kind):
    with pytest.raises(UsageError, match=f"bad value for {kind}"):
        config.resolve_settings({kind: value}, env)
    path = cfg_file(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[profiles.default]\n{kind} = "{value}"\n')
    with pytest.raises(ConfigError, match=f"bad value for {kind}"):
        config.resolve_settings({}, env)


def test_toml_numbers_are_checked_too(env):
    path = cfg_file(env)
    path.parent.mkdir(parents=True)
    path.write_text("[profiles.default]\ntimeout = inf\n")
    with pytest.raises(ConfigError, match="finite"):
        config.resolve_settings({}, env)
    path.write_text("[profiles.default]\ntimeout = 99999999999\n")
    with pytest.raises(ConfigError, match=re.escape("in (0, 300]")):
        config.resolve_settings({}, env)
    path.write_text("[profiles.default]\ntimeout = 2\nrecv_window = 20000\n")
    assert config.resolve_settings({}, env).timeout == 2.0
    path.write_text("[profiles.default]\ntimeout = 300\nrecv_window = 60000\n")
    assert config.resolve_settings({}, env).recv_window == 60000


@pytest.mark.parametrize(
    "url",
    [
        "http://user:hunter2@127.0.0.1:9",
        "https://:hunter2@api.bybit.com",
        "http://a@[::1",
        "http://user:hun/ter2@127.0.0.1:9",  # a "/" in the password ends the authority early
        "http://user:hunter2@@127.0.0.1:9",
    ],
)
def test_credentials_in_a_base_url_are_refused_and_never_echoed(env, url):
    with pytest.raises(UsageError) as info:
        config.resolve_settings({"base_url": url}, env)
    assert "credentials in the URL" in info.value.message
    assert "hunter2" not in info.value.show() and url not in info.value.show()
    env["BYBIT_BASE_URL"] = url
    with pytest.raises(ConfigError) as info:
        config.resolve_settings({}, env)
    assert "hunter2" not in info.value.show()
    with pytest.raises(UsageError) as info:
        config.save_profile("default", {"base_url": url}, env=env)
    assert "hunter2" not in info.value.show()


@pytest.mark.parametrize("stored", ["me:hunter2", "me:hun/ter2", "me:hun@ter2"])
def test_a_stored_base_url_with_credentials_is_masked_wherever_shown(env, stored):
    path = cfg_file(env)
    path.parent.mkdir(parents=True)
    path.write_text(f'[profiles.default]\nbase_url = "http://{stored}@127.0.0.1:9"\n')
    for args in (["list", "-o", "json"], ["get", "base_url"]):
        result = invoke(env, args)
        assert "hunter2" not in result.output and "ter2" not in result.output, args
        assert "****@127.0.0.1:9" in result.output, args
    result = invoke(env, ["show", "-o", "json"])
    assert isinstance(result.exception, ConfigError)
    assert "hunter2" not in result.exception.show()


def test_a_config_file_or_directory_others_can_change_is_refused(env):
    path = config.save_profile("default", {"base_url": "http://127.0.0.1:9"}, env=env)
    path.chmod(0o620)
    with pytest.raises(ConfigError, match=re.escape(f"fix: chmod go-w {path}")):
        config.resolve_settings({}, env)
    path.chmod(0o600)
    path.parent.chmod(0o777)
    with pytest.raises(ConfigError, match=re.escape(f"fix: chmod go-w {path.parent}")):
        config.resolve_settings({}, env)
    path.parent.chmod(0o755)
    assert config.resolve_settings({}, env).base_url == "http://127.0.0.1:9"


@pytest.mark.skipif(os.getuid() != 0, reason="giving a file to another user needs root")
def test_a_config_file_another_user_owns_is_refused(env):
    path = config.save_profile("default", {"tld": "nl"}, env=env)
    os.chown(path, 4321, -1)
    with pytest.raises(ConfigError, match="belongs to uid 4321, not to you"):
        config.resolve_settings({}, env)
    os.chown(path, os.getuid(), -1)
    os.chown(path.parent, 4321, -1)
    with pytest.raises(ConfigError, match="belongs to uid 4321"):
        config.load_config(path)


def test_config_set_keeps_a_symlinked_file_a_symlink(env, tmp_path):
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    target = dotfiles / "bybitctl.toml"
    target.write_text('[profiles.default]\ntld = "nl"\n')
    target.chmod(0o600)
    link = cfg_file(env)
    link.parent.mkdir(parents=True)
    link.symlink_to(target)
    assert invoke(env, ["set", "testnet", "true"]).exit_code == 0
    assert link.is_symlink() and link.resolve() == target
    assert tomllib.loads(target.read_text()) == {
        "profiles": {"default": {"tld": "nl", "testnet": True}}
    }
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(dotfiles) == ["bybitctl.toml"]


def test_a_hand_edited_file_is_written_back_as_read(env):
    text = (
        'current = "a b"\nnote = 2026-01-02\n\n[profiles."a b"]\ntld = "nl"\n'
        'extra = [1, "x", {k = true}]\n\n[profiles.c.nested]\nx = 1\n'
    )
    path = cfg_file(env)
    path.parent.mkdir(parents=True)
    path.write_text(text)
    assert invoke(env, ["set", "testnet", "true", "--profile", "d"]).exit_code == 0
    doc = tomllib.loads(path.read_text())
    assert doc == {**tomllib.loads(text), "profiles": {**tomllib.loads(text)["profiles"],
                                                        "d": {"testnet": True}}}  # fmt: skip


def test_an_rsa_key_path_that_is_a_directory_or_binary_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="is not a regular file"):
        config.read_rsa_key(str(tmp_path))
    binary = tmp_path / "key.der"
    binary.write_bytes(b"\x30\x82\xff\xfe")
    binary.chmod(0o600)
    with pytest.raises(ConfigError, match="is not a PEM text file"):
        config.read_rsa_key(str(binary))


@pytest.mark.parametrize("key", ["ключключключ", "a b c d", "tab\tkey", "ké"])
def test_an_api_key_that_cannot_go_in_a_header_is_refused_without_echo(env, key):
    with pytest.raises(UsageError) as info:
        config.resolve_settings({"api_key": key, "api_secret": "s"}, env)
    assert "printable ASCII" in info.value.message and key not in info.value.show()
    env["BYBIT_API_KEY"], env["BYBIT_API_SECRET"] = "k", key
    with pytest.raises(ConfigError) as info:
        config.resolve_settings({}, env)
    assert "api_secret" in info.value.message and key not in info.value.show()
