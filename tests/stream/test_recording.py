"""Recordings: the documented line format, gzip by name, tolerance of a killed writer."""

from __future__ import annotations

import gzip
import json
import os
import stat
from pathlib import Path

import pytest

from bybitctl.errors import UsageError
from bybitctl.recording import RecordingWriter, iter_recording, read_header
from stream.frames import snapshot, trade


@pytest.mark.parametrize("name", ["rec.jsonl", "rec.jsonl.gz"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with RecordingWriter(path, channel="public/linear", topics=["orderbook.50.BTCUSDT"]) as rec:
        rec.write(snapshot(10), 111)
        rec.write(trade(), 222, channel="public/spot")
    assert read_header(path)["topics"] == ["orderbook.50.BTCUSDT"]
    assert list(iter_recording(path)) == [
        {"recv_ns": 111, "channel": "public/linear", "frame": snapshot(10)},
        {"recv_ns": 222, "channel": "public/spot", "frame": trade()},
    ]


def test_lines_are_the_documented_shape(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl.gz"
    with RecordingWriter(path, channel="private", topics=["order"]) as rec:
        rec.write({"topic": "order", "data": [{"price": "72.50"}]}, 5)
    with gzip.open(path, "rt") as fh:
        lines = [json.loads(line) for line in fh]
    header = lines[0]
    assert header["recording"] == "bybitctl"
    assert header["version"] == 1
    assert header["channel"] == "private"
    assert header["topics"] == ["order"]
    assert isinstance(header["created_ns"], int)
    assert lines[1] == {
        "recv_ns": 5,
        "channel": "private",
        "frame": {"topic": "order", "data": [{"price": "72.50"}]},
    }


def test_each_frame_is_on_disk_before_close(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    rec = RecordingWriter(path, channel="public/linear")
    rec.write(snapshot(10), 1)
    assert [line["recv_ns"] for line in iter_recording(path)] == [1]
    rec.close()


def test_a_line_cut_short_ends_the_recording(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    with RecordingWriter(path, channel="public/linear") as rec:
        rec.write(snapshot(10), 1)
    with path.open("a") as fh:
        fh.write('{"recv_ns": 2, "chan')
    assert [line["recv_ns"] for line in iter_recording(path)] == [1]


def test_not_a_recording(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"hello": 1}\n')
    with pytest.raises(UsageError, match="not a bybitctl recording"):
        list(iter_recording(path))
    with pytest.raises(UsageError, match="no such recording"):
        read_header(tmp_path / "missing.jsonl")
    with pytest.raises(UsageError, match="cannot write the recording"):
        RecordingWriter(tmp_path / "no" / "such" / "dir.jsonl")


@pytest.mark.parametrize("name", ["rec.jsonl", "rec.jsonl.gz"])
def test_a_recording_is_readable_by_its_owner_only(tmp_path: Path, name: str) -> None:
    """Private streams record orders and balances: 0600 (whatever the umask)."""
    path = tmp_path / name
    old = os.umask(0)
    try:
        with RecordingWriter(path, channel="private") as rec:
            rec.write({"topic": "wallet", "data": []}, 1)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [line["recv_ns"] for line in iter_recording(path)] == [1]


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "week.jsonl"
    with RecordingWriter(path, channel="public/linear") as rec:
        rec.write({"topic": "tickers.BTCUSDT", "data": {}}, 1)
    before = path.read_bytes()
    with pytest.raises(UsageError, match="exists: a recording is never overwritten"):
        RecordingWriter(path, channel="public/linear")
    assert path.read_bytes() == before


def _corrupt_gzip(path: Path) -> None:
    data = gzip.compress(b'{"recording": "bybitctl", "version": 1}\n' * 50)
    path.write_bytes(data[:20] + b"\xff" * 40 + data[60:])


HEADER = '{"recording": "bybitctl", "version": 1}\n'


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "cannot read the recording"),
        (lambda p: p.write_bytes(b"\x00\xffgarbage"), "is not a bybitctl recording"),
        (lambda p: p.write_text("[1, 2]\n"), "is not a bybitctl recording"),
        (_corrupt_gzip, "not a bybitctl recording"),
    ],
)
def test_what_is_not_a_recording_is_a_usage_error(tmp_path: Path, make, message: str) -> None:
    path = tmp_path / ("rec.jsonl.gz" if make is _corrupt_gzip else "rec.jsonl")
    make(path)
    with pytest.raises(UsageError, match=message):
        read_header(path)
    with pytest.raises(UsageError, match=message):
        list(iter_recording(path))


@pytest.mark.parametrize(
    ("body", "line"),
    [('{"recv_ns": "x"}\n', 2), ("[]\n", 2), ("\n\n[]\n", 4), ("\n7\n", 3)],
)
def test_a_line_of_another_shape_is_named_by_its_number_in_the_file(
    tmp_path: Path, body: str, line: int
) -> None:
    path = tmp_path / "rec.jsonl"
    path.write_text(HEADER + body)
    assert read_header(path)["recording"] == "bybitctl"  # the header itself is fine
    with pytest.raises(UsageError, match=f"line {line} is not a recorded frame"):
        list(iter_recording(path))
