"""`bybitctl stream`: one verb per pybit WebSocket stream, plus `record` (several at once) and
`replay` (see docs/stream.md).

This module only assembles the verbs; `live` builds them from `bybitctl.stream.topics`.
"""

from __future__ import annotations

import typer

from bybitctl.commands.stream.live import add_stream_commands
from bybitctl.commands.stream.record import make_record_command
from bybitctl.commands.stream.replay import make_replay_command

app = typer.Typer(
    help="Live Bybit WebSocket streams: exact order books, trades, tickers, private events.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
add_stream_commands(app)
app.command(
    "record",
    epilog=(
        "Example:\n  bybitctl stream record --record day.jsonl.gz -s BTCUSDT -s ETHUSDT --rotate 1h"
    ),
)(make_record_command())
app.command(
    "replay",
    epilog="Example:\n  bybitctl stream replay btc.jsonl.gz --max-speed -o jsonl",
)(make_replay_command())
