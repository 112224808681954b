"""`bybitctl config init|set|get|show|list|use`: profiles and credentials on disk.

Secrets only ever arrive on stdin or at a hidden prompt, never as an argument (shell
history), and nothing here prints one: `get` and `show` mask them.
Commands act on `--profile` given here, else the global `--profile`, BYBIT_PROFILE, the
current profile, then `default`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from bybitctl import config
from bybitctl.commands import common
from bybitctl.commands.base import examples, read_secret
from bybitctl.errors import UsageError
from bybitctl.output import render

app = typer.Typer(
    help="Manage profiles and credentials.\n\n"
    "Profiles live in $XDG_CONFIG_HOME/bybitctl/config.toml (~/.config by default).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)

ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile", metavar="NAME", help="Profile to act on (default: the selected one)."
    ),
]


def _target(ctx: typer.Context, profile: str | None) -> str:
    app_ctx = common.app_context(ctx)
    if profile:
        return config.check_profile_name(profile)
    doc = config.load_config(config.config_path(app_ctx.env))
    return config.selected_profile(app_ctx.overrides, app_ctx.env, doc)


def _print(
    ctx: typer.Context,
    rows: list[dict[str, Any]],
    output: str | None,
    fields: str | None,
    query: str | None,
) -> None:
    """Render rows; options given after the subcommand win over the global ones."""
    pres = common.presentation(ctx, output, fields, query)
    render({"result": rows}, pres.fmt, fields=pres.fields, query=pres.query)


@dataclass(frozen=True)
class InitOptions:
    """Everything `config init` writes; None leaves a stored value as it is."""

    profile: str | None  # None: the selected one (global --profile, BYBIT_PROFILE, current)
    values: Mapping[str, Any]
    make_current: bool
    overrides: Mapping[str, Any]
    env: Mapping[str, str]


def run_init(opts: InitOptions) -> tuple[str, Path]:
    """Create or update the profile (current if it is the first one), reading the file once
    just before writing it; the profile's name and the file written."""
    path = config.config_path(opts.env)
    doc = config.load_config(path)
    name = opts.profile or config.selected_profile(opts.overrides, opts.env, doc)
    make_current = opts.make_current or not doc.get("profiles")
    config.write_config(
        path, config.with_profile(doc, name, opts.values, make_current=make_current)
    )
    return name, path


@app.command(
    epilog=examples(
        'printf %s "$SECRET" | bybitctl config init --profile main --api-key KEY '
        "--api-secret-stdin",
        "bybitctl config init --profile test --testnet --use",
    )
)
def init(
    ctx: typer.Context,
    profile: ProfileOption = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", metavar="KEY", help="API key.")
    ] = None,
    api_secret_stdin: Annotated[
        bool, typer.Option("--api-secret-stdin", help="Read the API secret from stdin.")
    ] = False,
    rsa_key_file: Annotated[
        str | None,
        typer.Option(
            "--rsa-key-file", metavar="PEM", help="RSA private key (PEM) instead of a secret."
        ),
    ] = None,
    testnet: Annotated[
        bool | None, typer.Option("--testnet/--no-testnet", help="Target Bybit testnet.")
    ] = None,
    demo: Annotated[
        bool | None, typer.Option("--demo/--no-demo", help="Target demo trading.")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url", metavar="URL", help="Any http(s) base URL, e.g. a local exchange."
        ),
    ] = None,
    tld: Annotated[
        str | None,
        typer.Option(
            "--tld", metavar="TLD", help=f"Regional domain: {', '.join(config.BYBIT_TLDS)}."
        ),
    ] = None,
    make_current: Annotated[
        bool,
        typer.Option("--use", help="Make it the current profile (automatic for the first one)."),
    ] = False,
) -> None:
    """Create or update a profile.

    On a terminal it asks for what the flags leave out; in a script, give the flags and
    the secret on stdin (never on the command line).
    """
    name = config.check_profile_name(profile) if profile else None
    api_secret = read_secret("API secret") if api_secret_stdin else None
    if sys.stdin.isatty() and api_key is None and not api_secret_stdin:
        api_key = typer.prompt("API key (empty for none)", default="", show_default=False) or None
    if api_key and api_secret is None and rsa_key_file is None:
        if not sys.stdin.isatty():
            raise UsageError("--api-key needs --api-secret-stdin or --rsa-key-file")
        api_secret = typer.prompt("API secret", hide_input=True)
    values = {
        "api_key": api_key,
        "api_secret": api_secret,
        "rsa_key_file": rsa_key_file,
        "testnet": testnet,
        "demo": demo,
        "base_url": base_url,
        "tld": tld,
    }
    app_ctx = common.app_context(ctx)
    opts = InitOptions(
        profile=name,
        values={k: v for k, v in values.items() if v is not None},
        make_current=make_current,
        overrides=app_ctx.overrides,
        env=app_ctx.env,
    )
    saved, path = run_init(opts)
    typer.echo(f"saved profile '{saved}' in {path}", err=True)


@app.command(
    "set",
    epilog=examples(
        "bybitctl config set output csv", 'printf %s "$SECRET" | bybitctl config set api_secret -'
    ),
)
def set_(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help=f"One of: {', '.join(config.PROFILE_KEYS)}.")],
    value: Annotated[str, typer.Argument(help="The value; '-' reads stdin; '' removes the key.")],
    profile: ProfileOption = None,
) -> None:
    """Set one value of a profile.

    Secrets come only from stdin (VALUE `-`), so they stay out of shell history.
    """
    if key in config.SECRET_KEYS and value not in ("-", ""):
        raise UsageError(
            f"pass {key} on stdin so it stays out of shell history: "
            f'printf %s "$SECRET" | bybitctl config set {key} -'
        )
    if value == "-":
        value = read_secret(key)
    name = _target(ctx, profile)
    path = config.save_profile(name, {key: value}, env=common.app_context(ctx).env)
    typer.echo(
        f"{'removed' if value == '' else 'set'} {key} in profile '{name}' ({path})", err=True
    )


@app.command(epilog=examples("bybitctl config get base_url --profile paper"))
def get(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help=f"One of: {', '.join(config.PROFILE_KEYS)}.")],
    profile: ProfileOption = None,
) -> None:
    """Print one stored value of a profile.

    Secrets are masked; an unset value prints nothing.
    """
    if key not in config.PROFILE_KEYS:
        raise UsageError(f"unknown setting '{key}'; valid: {', '.join(config.PROFILE_KEYS)}")
    name = _target(ctx, profile)
    value = config.profiles(common.app_context(ctx).env).get(name, {}).get(key)
    if value is not None:
        typer.echo(_text(config.mask(key, value)))


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


@app.command(epilog=examples("bybitctl config show", "bybitctl --profile paper config show"))
def show(
    ctx: typer.Context,
    output: common.OutputOption = None,
    fields: common.FieldsOption = None,
    query: common.QueryOption = None,
) -> None:
    """Show the effective settings and where each came from.

    A flag beats the environment, which beats the profile, which beats the default.
    Secrets are masked.
    """
    app_ctx = common.app_context(ctx)
    settings = app_ctx.settings()
    rows = [{"key": "config_file", "value": str(config.config_path(app_ctx.env)), "source": ""}]
    rows += [
        {"key": key, "value": config.mask(key, getattr(settings, key)), "source": source}
        for key, source in settings.sources.items()
    ]
    _print(ctx, rows, output, fields, query)


@app.command("list", epilog=examples("bybitctl config list"))
def list_(
    ctx: typer.Context,
    output: common.OutputOption = None,
    fields: common.FieldsOption = None,
    query: common.QueryOption = None,
) -> None:
    """List the stored profiles.

    `current` marks the one commands use now.
    """
    app_ctx = common.app_context(ctx)
    doc = config.load_config(config.config_path(app_ctx.env))
    selected = config.selected_profile(app_ctx.overrides, app_ctx.env, doc)
    rows = [
        {
            "profile": name,
            "current": name == selected,
            "target": _describe(values),
            "api_key": config.mask("api_key", values.get("api_key")),
        }
        for name, values in doc.get("profiles", {}).items()
    ]
    _print(ctx, rows, output, fields, query)


def _describe(values: Mapping[str, Any]) -> str:
    """Where a profile points, in a word: its base URL, or testnet/demo/mainnet and the TLD."""
    if values.get("base_url"):
        return str(config.mask("base_url", values["base_url"]))
    kind = "-".join(k for k in ("demo", "testnet") if values.get(k)) or "mainnet"
    return f"{kind} ({values.get('tld', 'com')})"


@app.command(epilog=examples("bybitctl config use main"))
def use(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Profile name.")]) -> None:
    """Make a profile the current one.

    BYBIT_PROFILE and --profile still win over it.
    """
    app_ctx = common.app_context(ctx)
    path = config.use(name, app_ctx.env)
    typer.echo(f"current profile: {name} ({path})", err=True)
    if app_ctx.env.get(config.PROFILE_ENV) not in (None, "", name):
        typer.echo(f"note: BYBIT_PROFILE={app_ctx.env[config.PROFILE_ENV]} overrides it", err=True)
