"""`mm status` as a table: the live state an instance left in its journal's control row,
with the queue position of each quote."""

from __future__ import annotations

from pathlib import Path

from bybitctl.commands.mm.status import StatusOptions, run_status
from bybitctl.mm.journal import Journal


def test_quotes_show_the_qty_ahead_in_the_queue_when_known(tmp_path: Path, capsys) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    journal.start_run("mmabc123", "e2e", "BTCUSDT", "linear", "mm", {})
    quote = {"side": "Buy", "price": "64999.9", "qty": "0.002", "status": "open"}
    state = {
        "position": "0",
        "quotes": [
            {**quote, "level_qty": "0.302", "queue_ahead": "0.3"},
            {**quote, "price": "64999.8", "status": "pending_new", "queue_ahead": None},
        ],
    }
    journal.heartbeat("running", state)
    journal.close()
    assert run_status(StatusOptions(path, "table")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "  quote Buy 0.002 @ 64999.9 (open, 0.3 ahead in queue)" in lines
    assert "  quote Buy 0.002 @ 64999.8 (pending_new)" in lines
