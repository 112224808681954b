"""The whole command tree: a dump as data checked against the catalogue, and --help everywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from support.examples import cases
from typer import _click as click
from typer.main import get_command

from bybitctl.catalog import groups, load
from bybitctl.commands.root import LazyGroup, app
from bybitctl.naming import kebab

ROOT = Path(__file__).resolve().parents[2]


def dump(command: click.Command, name: str = "bybitctl") -> dict[str, Any]:
    """The tree as plain data, like Click's `to_info_dict` (which Typer's Click copy lacks)."""
    ctx = click.Context(command, info_name=name)
    info: dict[str, Any] = {
        "name": name,
        "help": command.help,
        "params": [
            {
                "name": p.name,
                "param_type_name": p.param_type_name,
                "opts": list(p.opts),
                "secondary_opts": list(p.secondary_opts),
                "hidden": getattr(p, "hidden", False),
            }
            for p in command.params
        ],
    }
    if hasattr(command, "list_commands"):
        info["commands"] = {
            sub: dump(command.get_command(ctx, sub), sub) for sub in command.list_commands(ctx)
        }
    return info


@pytest.fixture(scope="module")
def tree() -> dict[str, Any]:
    return dump(get_command(app))


def options(info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in info["params"] if p["param_type_name"] == "option"}


def test_tree_has_every_group_and_command(tree: dict[str, Any]) -> None:
    assert set(tree["commands"]) == set(groups()) | set(LazyGroup.lazy_commands)
    for group, rows in groups().items():
        assert set(tree["commands"][group]["commands"]) == {row.command for row in rows}


def test_every_parameter_is_an_option_named_by_the_naming_rule(tree: dict[str, Any]) -> None:
    """One spelling in help and completion; the API's camelCase one is a hidden alias."""
    for row in load():
        info = tree["commands"][row.group]["commands"][row.command]
        opts = options(info)
        for i, param in enumerate(row.params):
            assert opts[f"api_{i}"]["opts"] == [f"--{kebab(param.name)}"]
            alias = opts.get(f"api_{i}_alias")
            if param.name != kebab(param.name):
                assert alias is not None and alias["opts"] == [f"--{param.name}"]
                assert alias["hidden"]
            else:
                assert alias is None
        flat = [o for p in opts.values() for o in p["opts"]]
        assert len(flat) == len(set(flat)), f"{row.group} {row.command}: duplicate option"
        paging = {"--all", "--max-pages"} <= set(flat)
        assert paging == (row.pagination is not None)
        assert ("--yes" in flat) == row.dangerous, "--yes only where the command changes something"
        for common in ("--param", "--dry-run", "--output", "--fields", "--query"):
            assert common in flat


def test_global_options(tree: dict[str, Any]) -> None:
    flat = {o for p in options(tree).values() for o in p["opts"]}
    assert flat >= {
        "--version",
        "--output",
        "-o",
        "--profile",
        "--testnet",
        "--demo",
        "--tld",
        "--base-url",
        "--api-key",
        "--api-secret-stdin",
        "--rsa-key-file",
        "--recv-window",
        "--timeout",
        "--debug",
        "--yes",
        "--fields",
        "--query",
    }


def _paths(info: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, sub in info.get("commands", {}).items():
        out += _paths(sub, (*prefix, name))
    return out


def test_every_command_help_works(tree: dict[str, Any], bybitctl: Any) -> None:
    """Every command's help prints, and carries no catalogue notes: where a parameter came
    from is the catalogue's business, not the user's."""
    paths = _paths(tree)
    assert len(paths) > len(load())
    for path in cases(paths):
        result = bybitctl(*path, "--help")
        assert result.code == 0, (path, result.stderr)
        assert "Usage: bybitctl" in result.stdout, path
        assert result.stderr == ""
        for note in ("Note:", "named by pybit", "documented type", "pybit's docstring"):
            assert note not in result.stdout, (path, note)


def test_endpoint_help_shows_summary_required_example_and_docs(bybitctl: Any) -> None:
    text = bybitctl("trade", "place-order", "--help").stdout
    assert "Place Order" in text
    assert "Required: --category, --symbol, --side, --order-type, --qty" in text
    assert "Example:\n  bybitctl trade place-order --category" in text
    assert "Bybit docs: https://bybit-exchange.github.io/docs/v5/order/create-order" in text
    assert "--side TEXT" in text and "Buy or Sell." in text
    text = bybitctl("trade", "open-orders", "--help").stdout
    assert "Columns: symbol, side, orderType, price, qty, orderId, orderStatus, createdTime" in text
    assert "--yes" not in text


EVERYDAY = ("symbol", "category", "side", "qty", "price", "orderType", "timeInForce",
            "orderLinkId", "orderId", "startTime", "endTime", "limit", "coin", "accountType",
            "baseCoin", "settleCoin", "interval", "positionIdx", "reduceOnly", "triggerPrice",
            "takeProfit", "stopLoss", "leverage")  # fmt: skip


def test_common_parameters_are_described_for_this_tool() -> None:
    """Every parameter on five endpoints or more has words on each of them, and the
    everyday ones say the same on every trading route (no scraped fragments)."""
    from collections import Counter, defaultdict

    counts = Counter(p.name for row in load() for p in row.params)
    words: dict[str, set[str]] = defaultdict(set)
    for row in load():
        for param in row.params:
            if counts[param.name] >= 5:
                assert param.description, f"{row.group} {row.command} --{kebab(param.name)}"
            if param.name in EVERYDAY and row.path.startswith(("/v5/order/", "/v5/position/")):
                words[param.name].add(param.description.split(" Either ")[0])
            assert not param.description[:1].islower(), param.description
    for name in ("symbol", "category", "side", "qty", "price", "orderType", "orderLinkId"):
        assert len(words[name]) == 1, (name, words[name])


@pytest.mark.parametrize(
    "path",
    [
        ("config", "init"), ("config", "set"), ("config", "show"), ("sim", "serve"),
        ("stream", "orderbook"), ("stream", "replay"), ("api",), ("call",), ("catalog",),
        ("completion",), ("market", "kline"),
    ],
)  # fmt: skip
def test_hand_written_help_has_the_endpoint_commands_style(bybitctl: Any, path: tuple) -> None:
    """Plain text, a metavar for each value, arguments as KEY, examples in an epilog."""
    text = bybitctl(*path, "--help").stdout
    assert text.startswith(f"Usage: bybitctl {' '.join(path)} [OPTIONS]")
    for typer_style in ("<str>", "<int>", "<float>", "<path>", "{", "│", "╭", "[required]"):
        assert typer_style not in text, (path, typer_style)
    assert "\nExample:\n  " in text or "\nExamples:\n  " in text
    assert "  -h, --help" in text


def test_help_examples_are_runnable(dry: Any) -> None:
    """Every help example, placeholders included, parses and passes validation."""
    import shlex

    from bybitctl.commands.endpoints import example_command

    for row in cases(load()):
        words = shlex.split(example_command(row))
        described = dry(*words[1:])
        assert described["method"] == row.http_method
        assert urlsplit(described["url"]).path == row.path


def test_help_examples_fill_typed_required_parameters_with_values() -> None:
    """A required integer or decimal gets a value of its type, never an unparsable `<name>`."""
    from bybitctl.commands.endpoints import example_command

    typed = {"integer", "number", "decimal", "boolean"}
    for row in load():
        text = example_command(row)
        for param in row.params:
            if param.required and param.type in typed:
                assert f"'<{param.name}>'" not in text, text
    demo = example_command(next(r for r in load() if r.path == "/v5/account/demo-apply-money"))
    assert demo.startswith("bybitctl --demo misc ")
    deposit = example_command(next(r for r in load() if r.command == "deposit-submit"))
    assert "--deposit-id 1234567890" in deposit and "--param deposit_id" not in deposit


@pytest.mark.parametrize(
    "argv",
    [["--version"], ["--help"], ["market", "--help"], ["trade", "place-order", "--help"]],
)
def test_version_and_help_import_neither_pybit_nor_requests(argv: list[str]) -> None:
    probe = (
        "import sys, atexit\n"
        "heavy = ('pybit', 'requests', 'urllib3', 'rich', 'jmespath', 'Crypto')\n"
        "atexit.register(lambda: sys.stderr.write('LOADED=' + ','.join(sorted({m.split('.')[0] "
        "for m in sys.modules if m.split('.')[0] in heavy})) + '\\n'))\n"
        "from bybitctl.cli import main\n"
        f"main({argv!r})\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "LOADED=\n" in result.stderr
    if argv == ["--version"]:
        assert result.stdout.startswith("bybitctl ")


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        [
            "--timeout",
            "2.5",
            "--recv-window",
            "5000",
            "market",
            "tickers",
            "--category",
            "linear",
            "--dry-run",
        ],
        [
            "trade",
            "order-history",
            "--category",
            "linear",
            "--limit",
            "5",
            "--max-pages",
            "2",
            "--dry-run",
        ],
        ["mm", "start", "--help"],
        ["stream", "orderbook", "--help"],
    ],
)
def test_commands_never_import_pydantic(argv: list[str], clean_env: dict[str, str]) -> None:
    """Typer is pinned to a release whose pydantic coercion `base.strict` replaces: pydantic
    alone costs more start-up than the rest of a command together."""
    probe = (
        "import sys, atexit\n"
        "atexit.register(lambda: sys.stderr.write(f'PYDANTIC={\"pydantic\" in sys.modules}\\n'))\n"
        "from bybitctl.cli import main\n"
        f"main({argv!r})\n"
    )
    env = {**os.environ, **clean_env}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "PYDANTIC=False\n" in result.stderr


def test_version_does_not_load_typer() -> None:
    probe = (
        "import sys\nfrom bybitctl.cli import main\ntry:\n    main(['--version'])\n"
        "finally:\n    print('typer' in sys.modules, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stderr.strip() == "False"


@pytest.mark.parametrize("tool", ["gen_docs.py", "gen_completions.py"])
def test_generated_files_are_current(tool: str) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / tool), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr + f"\nrun: python tools/{tool}"
