"""The engine wired to an exchange over the network: pybit's HTTP for REST, pybit's public and
private WebSockets for the feeds, pybit's trade WebSocket (HTTP as fallback) for orders, and
the system clock. `mm start` and the end-to-end tests build their engine here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bybitctl.mm.config import MMConfig
from bybitctl.mm.engine import Engine, book_depth
from bybitctl.mm.executor import Executor
from bybitctl.mm.feeds import private_feed, public_feed
from bybitctl.mm.inbox import Inbox
from bybitctl.mm.journal import Journal
from bybitctl.mm.orders import owner, run_token
from bybitctl.mm.ports import Ports, SystemClock
from bybitctl.mm.rest import Rest
from bybitctl.mm.shutdown import ExitPlan, ExitRest


def live_engine(
    config: MMConfig,
    settings: Any,
    journal: Journal,
    *,
    target: str,
    emit: Callable[[dict[str, Any]], None] | None = None,
    debug: bool = False,
    use_ws_trading: bool = True,
) -> Engine:
    """An engine quoting `config` on the exchange `settings` name (a Bybit profile or the
    local exchange). Nothing connects before `Engine.prepare`/`Engine.run`."""
    from bybitctl.client import make_http

    clock = SystemClock()
    inbox = Inbox()
    run_id = f"{config.link_prefix}{run_token(clock.now_ms())}"
    category, symbol = config.category, config.symbol
    http = make_http(settings, auth=True, debug=debug)
    owns = owner(config.link_prefix)

    def exit_rest(plan: ExitPlan) -> ExitRest:
        return ExitRest(
            lambda: make_http(settings, auth=True, debug=debug),
            category,
            symbol,
            owns,
            plan,
            timeout_s=float(settings.timeout),
        )

    ports = Ports(
        clock=clock,
        inbox=inbox,
        rest=Rest(http, category, symbol),
        executor=Executor(
            settings,
            category,
            symbol,
            http,
            inbox,
            debug=debug,
            use_ws=use_ws_trading,
            req_prefix=run_id,
        ),
        public=public_feed(settings, category, symbol, book_depth(category), inbox, debug=debug),
        private=private_feed(
            settings,
            inbox,
            dcp_product={"spot": "spot", "option": "option"}.get(category, "future"),
            debug=debug,
        ),
        exit_rest=exit_rest,
    )
    return Engine(config, journal, ports, target=target, run_id=run_id, emit=emit)
