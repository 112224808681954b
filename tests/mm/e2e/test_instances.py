"""One instance per journal, held by an OS lock: a second `mm start` is refused naming the
first, and `kill -9` frees the journal at once. The verbs that read a journal refuse any
other file in one line."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from bybitctl.cli import run

from .support import SYMBOL, events_of, own_open, reaped, rest, run_cli, start_bot, wait_for


def _status(exchange, tmp_path: Path) -> dict:
    done = run_cli(exchange, tmp_path, "mm", "status", "--journal", str(tmp_path / "j.sqlite"))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_second_start_on_the_journal_is_refused_until_the_first_dies(exchange, tmp_path) -> None:
    with reaped(start_bot(exchange, tmp_path)) as first:
        http = rest(exchange)
        wait_for(lambda: len(own_open(http)) == 2, timeout=20)
        second = start_bot(exchange, tmp_path)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2
        assert f"another mm instance (pid {first.pid}) is running on" in err
        assert "Traceback" not in err and err.count("error:") == 1
        with contextlib.closing(sqlite3.connect(tmp_path / "j.sqlite")) as db:  # no run of its own
            assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
        status = _status(exchange, tmp_path)
        assert status["running"] is True and status["pid"] == first.pid
        first.kill()  # SIGKILL: no clean-up, the lock goes with the process
        first.wait(timeout=30)
        status = _status(exchange, tmp_path)
        assert status["running"] is False and status["status"] == "crashed"
    third = start_bot(exchange, tmp_path, "--duration", "1")
    out, err = third.communicate(timeout=60)
    assert third.returncode == 0, err
    assert events_of(out)[-1]["runs"] == 2  # the killed run's accounting carried on
    assert own_open(http) == []


def _text(path: Path) -> None:
    path.write_text("symbol = 'BTCUSDT'\n")


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _directory(path: Path) -> None:
    path.mkdir()


def _other_database(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE runs (id INTEGER)")  # one of our names, not our journal


NOT_JOURNALS: dict[str, Callable[[Path], None]] = {
    "text": _text,
    "empty": _empty,
    "directory": _directory,
    "other sqlite": _other_database,
}


@pytest.mark.parametrize("kind", NOT_JOURNALS)
@pytest.mark.parametrize(
    "verb", [["stop"], ["status"], ["resume"], ["report"], ["start", "--paper"]]
)
def test_a_file_that_is_not_a_journal_is_refused_in_one_line(
    verb: list[str], kind: str, tmp_path: Path, clean_env, capsys
) -> None:
    path = tmp_path / "j.sqlite"
    NOT_JOURNALS[kind](path)
    before = path.read_bytes() if path.is_file() else None
    assert run(["mm", *verb, "--journal", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --journal {path} ") and "journal" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    if before is not None:
        assert path.read_bytes() == before


def test_a_broken_default_journal_is_a_configuration_problem(
    tmp_path: Path, clean_env, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    default = tmp_path / "data" / "bybitctl" / "mm.sqlite"
    default.parent.mkdir(parents=True)
    default.write_text("not a journal\n")
    assert run(["mm", "status"]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"error: the default mm journal {default} is not an mm journal")
    assert "--journal" in err


def test_stop_status_and_resume_on_a_journal_nobody_runs_on(tmp_path: Path, capsys) -> None:
    from bybitctl.mm.journal import Journal

    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    journal.start_run("mmaaaaaa", "t", SYMBOL, "linear", "mm", {})
    journal.heartbeat("running", {})  # its process died without a word
    journal.close()
    assert run(["mm", "stop", "--journal", str(path)]) == 0
    assert run(["mm", "resume", "--journal", str(path)]) == 0
    assert run(["mm", "status", "--journal", str(path), "-o", "json"]) == 0
    out, err = capsys.readouterr()
    assert err.count("no mm instance is running") == 2
    status = json.loads(out)
    assert status["running"] is False and status["status"] == "crashed"
