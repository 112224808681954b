"""Rotating recordings: files cut by time or size, each replayable alone (it starts from the
books as they stood), and the files read in sequence replay exactly as one recording."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.synthetic import LINEAR_INSTRUMENT, synthetic_recording

from bybitctl.errors import UsageError
from bybitctl.mm.backtest import run_backtest
from bybitctl.mm.config import from_mapping
from bybitctl.mm.rules import validate
from bybitctl.recording import (
    RecordingWriter,
    RotatingWriter,
    Rotation,
    iter_recording,
    iter_recordings,
    parse_rotation,
)
from bybitctl.stream.pipeline import Pipeline
from bybitctl.stream.runner import live_books


def record(lines: list[dict[str, Any]], writer: Any, pipeline: Pipeline) -> None:
    """What the stream loop does per frame: record it, then feed the books."""
    for entry in lines:
        writer.write(entry["frame"], entry["recv_ns"], entry["channel"])
        pipeline.feed(entry["frame"], entry["recv_ns"])
    writer.close()


@pytest.mark.parametrize("rotation", [Rotation(seconds=5), Rotation(size=6_000)])
def test_rotated_files_replay_as_the_whole_recording(tmp_path: Path, rotation: Rotation) -> None:
    lines = synthetic_recording(seed=31, messages=900)  # books, trades and tickers together
    whole = tmp_path / "whole.jsonl"
    record(lines, RecordingWriter(whole, channel="public/linear"), Pipeline())
    pipeline = Pipeline()
    rotating = RotatingWriter(
        tmp_path / "btc.jsonl.gz",
        rotation,
        channel="public/linear",
        restate=lambda: live_books(pipeline, "public/linear"),
    )
    record(lines, rotating, pipeline)
    files = rotating.paths
    assert len(files) >= 4 and all(p.name.startswith("btc-") for p in files)
    assert all(p.name.endswith(".jsonl.gz") for p in files)
    assert list(iter_recordings(files)) == list(iter_recording(whole))
    topics = {line["frame"]["topic"].split(".")[0] for line in iter_recording(whole)}
    assert topics == {"orderbook", "publicTrade", "tickers"}
    cfg = from_mapping(
        {"symbol": "SIMUSDT", "order_qty": "0.1", "max_position": "0.5", "spread_bps": 1.0}
    )
    rules = validate(cfg, LINEAR_INSTRUMENT)
    assert run_backtest(files, cfg, rules).fills == run_backtest(whole, cfg, rules).fills
    for later in files[1:]:  # each file alone starts from a full book
        first = next(iter_recording(later))
        assert first["restated"] is True and first["frame"]["type"] == "snapshot"
        assert run_backtest(later, cfg, rules).report["orders_placed"] > 0


def test_time_rotation_is_aligned_to_the_clock(tmp_path: Path) -> None:
    writer = RotatingWriter(tmp_path / "r.jsonl", Rotation(seconds=3600), channel="c")
    hour = 3600 * 10**9
    for t in (5 * hour + 1, 5 * hour + 10, 6 * hour - 1, 6 * hour, 7 * hour + 5):
        writer.write({"topic": "x", "data": {}}, t)
    writer.close()
    assert [p.name for p in writer.paths] == [
        "r-19700101T050000Z.jsonl",
        "r-19700101T060000Z.jsonl",
        "r-19700101T070000Z.jsonl",
    ]
    assert [len(list(iter_recording(p))) for p in writer.paths] == [3, 1, 1]


@pytest.mark.parametrize(
    ("text", "rotation"),
    [("30s", Rotation(seconds=30)), ("1d", Rotation(seconds=86400)), ("2GB", Rotation(size=2e9))],
)
def test_rotation_grammar(text: str, rotation: Rotation) -> None:
    assert parse_rotation(text) == rotation


@pytest.mark.parametrize("text", ["", "1", "1.5h", "-1h", "0h", "1 h", "1w", "１h", "1mb"])
def test_rotation_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(UsageError, match="--rotate"):
        parse_rotation(text)
