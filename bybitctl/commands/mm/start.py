"""`bybitctl mm start`: quote one symbol until a duration, `mm stop`, a signal or the kill
switch, then pull every order, confirm over REST and print the report.

Every `mm.toml` field is also a flag (`spread_bps` -> `--spread-bps`, booleans as
`--x/--no-x`), generated from the config's own field list so the two cannot drift apart.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from bybitctl.commands.common import app_context
from bybitctl.commands.mm.common import (
    ConfigFileOption,
    JournalOption,
    check_input_file,
    check_journal_for_writing,
    check_output_file,
    config_command,
    config_overrides,
    journal_path,
    number_option,
    output_choice,
    paper_defaults,
    warn_retired,
)
from bybitctl.errors import INTERRUPTED, BybitctlError, UsageError
from bybitctl.parsing import NumberRule

DURATION = NumberRule(minimum=0, maximum=30 * 86_400, positive=True)
"""`--duration`: seconds, at most 30 days (a longer run simply omits it)."""
SEED = NumberRule(minimum=0, maximum=2**31 - 1)
"""`--paper-seed`: the range of the seeds a paper run draws by itself."""


@dataclass(frozen=True)
class StartOptions:
    """Everything one run needs, checked before any I/O; `settings` is a thunk so building
    the options never reads the profile."""

    config: Any  # MMConfig
    paper: bool
    paper_seed: int | None
    duration: float | None
    report_json: Path | None
    journal: Path
    live_view: bool
    yes: bool
    debug: bool
    ws_trading: bool
    settings: Callable[[], Any]
    confirm: Callable[[str], bool]


_OWN: dict[str, tuple[Any, Any]] = {
    "paper": (
        Annotated[
            bool,
            typer.Option(
                "--paper", help="Start the local exchange in-process (funded account) and quote it."
            ),
        ],
        False,
    ),
    "paper_seed": (
        Annotated[
            str | None,
            typer.Option(
                "--paper-seed",
                metavar="N",
                help="With --paper: the local market's random seed (default: a new one per "
                "run; the start event's target names it, so a run can be repeated). "
                "Accepts: [0, 2147483647].",
            ),
        ],
        None,
    ),
    "config_file": (ConfigFileOption, None),
    "duration": (
        Annotated[
            str | None,
            typer.Option(
                "--duration",
                metavar="SECONDS",
                help="Stop by itself after this long. Accepts: (0, 2592000].",
            ),
        ],
        None,
    ),
    "report_json": (
        Annotated[
            Path | None,
            typer.Option(
                "--report-json",
                metavar="FILE",
                help="Write the report's numbers here on every exit path.",
            ),
        ],
        None,
    ),
    "journal": (JournalOption, None),
    "ws_trading": (
        Annotated[
            bool,
            typer.Option(
                "--ws-trading/--http-trading",
                help="Send orders over the trade WebSocket (HTTP as fallback) or HTTP only.",
            ),
        ],
        True,
    ),
    "yes": (
        Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before quoting on mainnet.")],
        False,
    ),
    "output": (
        Annotated[
            str | None,
            typer.Option(
                "-o",
                "--output",
                metavar="FORMAT",
                help="table (live dashboard, default on a terminal) | jsonl (events).",
            ),
        ],
        None,
    ),
}


def build_start_options(ctx: typer.Context, values: Mapping[str, Any]) -> StartOptions:
    """Parse and check the flags, the config file and every file the run will write; no
    network, no exchange: whatever is wrong is said before the first request."""
    from bybitctl.mm.config import from_mapping, read_config_file

    app = app_context(ctx)
    config_file: Path | None = values["config_file"]
    if config_file is not None:
        check_input_file(config_file, "--config")
    file_values = read_config_file(config_file) if config_file is not None else {}
    warn_retired(file_values)
    overrides = config_overrides(values, _OWN)
    given = {**file_values, **overrides}
    defaults = paper_defaults(given) if values["paper"] else {}
    config = from_mapping({**defaults, **given})
    duration = number_option(values["duration"], "--duration", DURATION)
    seed = number_option(values["paper_seed"], "--paper-seed", SEED, integral=True)
    journal = journal_path(values["journal"])
    check_journal_for_writing(journal)
    report_json: Path | None = values["report_json"]
    if report_json is not None:
        from bybitctl.mm.journal import lock_path

        own = {"--journal": journal, "journal's lock": lock_path(journal)}
        for suffix in ("-wal", "-shm"):
            own[f"journal's {suffix}"] = journal.with_name(journal.name + suffix)
        if config_file is not None:
            own["--config"] = config_file
        check_output_file(report_json, "--report-json", not_any_of=own)
    live = output_choice(values["output"], ctx, ("table", "jsonl")) == "table"

    def confirm(question: str) -> bool:
        return typer.confirm(question, default=False, err=True)

    return StartOptions(
        config=config,
        paper=values["paper"],
        paper_seed=seed,
        duration=None if duration is None else float(duration),
        report_json=report_json,
        journal=journal,
        live_view=live and sys.stdout.isatty(),
        yes=values["yes"] or bool(app.yes),
        debug=app.debug,
        ws_trading=values["ws_trading"],
        settings=app.settings,
        confirm=confirm,
    )


def run_start(opts: StartOptions) -> int:
    """Claim the journal (one instance per journal, before any request), then run against
    the local exchange (`--paper`) or the active profile."""
    from bybitctl.mm.journal import Journal, JournalLock

    with JournalLock(opts.journal):
        journal = Journal(opts.journal)
        try:
            if opts.paper:
                import secrets

                from bybitctl.config import Settings
                from bybitctl.sim import running_exchange

                seed = opts.paper_seed if opts.paper_seed is not None else secrets.randbelow(2**31)
                c = opts.config
                # an option's chain is listed with its coin's perpetual
                listed = f"{c.symbol.split('-')[0]}USDT" if c.category == "option" else c.symbol
                with running_exchange(symbols=(listed,), seed=seed, record=False) as ex:
                    settings = Settings(
                        profile="paper",
                        api_key=ex.api_key,
                        api_secret=ex.api_secret,
                        base_url=ex.base_url,
                    )
                    return _run(opts, journal, settings, f"paper(seed={seed}):{ex.base_url}")
            settings = opts.settings()
            settings.require_credentials()
            _check_target(opts, settings)
            where = settings.base_url or (
                "testnet"
                if settings.testnet
                else "demo"
                if settings.demo
                else f"mainnet.{settings.tld}"
            )
            return _run(opts, journal, settings, f"{settings.profile}@{where}")
        finally:
            journal.close()


def _check_target(opts: StartOptions, settings: Any) -> None:
    """Real money needs a yes: --yes, or an answer on a terminal."""
    from bybitctl.client import is_safe_target

    if is_safe_target(settings) or opts.yes:
        return
    question = (
        f"Quote {opts.config.symbol} on Bybit mainnet with profile "
        f"'{settings.profile}' (real funds)?"
    )
    if not sys.stdin.isatty():
        raise UsageError("quoting on mainnet needs confirmation: pass --yes")
    if not opts.confirm(question):
        raise BybitctlError("not confirmed; nothing was sent")


def _run(opts: StartOptions, journal: Any, settings: Any, target: str) -> int:
    from bybitctl.commands.mm.process import engine_signals, tuned_for_quoting
    from bybitctl.errors import NETWORK
    from bybitctl.mm.dashboard import Dashboard, JsonlSink
    from bybitctl.mm.live import live_engine
    from bybitctl.mm.report import build_report, print_report, write_report_json

    sink = Dashboard() if opts.live_view else JsonlSink()
    engine = live_engine(
        opts.config,
        settings,
        journal,
        target=target,
        emit=sink,
        debug=opts.debug,
        use_ws_trading=opts.ws_trading,
    )
    with sink:
        try:
            with engine_signals(engine):  # from the first request: a signal exits cleanly
                engine.prepare()
                with tuned_for_quoting() as between_ticks:
                    code = engine.run(opts.duration, between_ticks=between_ticks)
        finally:
            # also when start-up failed once the run was journaled (e.g. leftovers that
            # would not cancel, a symbol that cannot switch to hedge mode)
            chain = journal.chain(engine.run_id)
            report = build_report(journal, chain)
            if opts.report_json is not None and chain:
                write_report_json(opts.report_json, report)
    print_report(report, "table" if opts.live_view else "json")
    for line in engine.exit_notes():
        print(line, file=sys.stderr)
    if engine.remaining:
        return code or 1
    if engine.stop_reason == "signal:SIGINT" and code != NETWORK:
        return INTERRUPTED
    if (engine.stop_reason or "").startswith("rejects:"):
        print(
            f"error: stopped: {opts.config.reject_limit} order placements in a row "
            f"rejected with retCode {engine.stop_reason.split(':', 1)[1]}",
            file=sys.stderr,
        )
    return code


def make_start(runner: Callable[[StartOptions], int] = run_start) -> Callable[..., None]:
    """The `start` command with one flag per config field; `runner` is replaced in tests."""
    return config_command(
        _OWN,
        lambda ctx, values: runner(build_start_options(ctx, values)),
        "Quote a symbol on both sides (--paper: on the local exchange); stops on "
        "--duration, `mm stop`, a signal or the kill switch, then prints the "
        "report.",
    )
