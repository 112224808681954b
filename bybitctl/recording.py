"""Raw WebSocket recordings: what `stream --record` writes and `stream replay`, `mm backtest`
and `sim serve --replay` read.

A recording is JSONL (gzip when the name ends in `.gz`). The first line is a header
`{"recording": "bybitctl", "version": 1, "created_ns", "channel", "topics"}`; every other line
is one frame as received: `{"recv_ns", "channel", "frame"}`. Frames are stored undecoded in
meaning (the exchange's strings stay strings) so a replay sees exactly what the feed saw.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from bybitctl.errors import UsageError

FORMAT = "bybitctl"
VERSION = 1


def _open(path: Path, mode: str) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, mode + "b")  # type: ignore[return-value]
    return open(path, mode + "b")


class RecordingWriter:
    """Appends frames to a recording, one flushed line each, so a killed stream leaves a
    readable file (gzip streams are flushed too; a truncated last member is tolerated by
    `iter_recording`)."""

    def __init__(
        self, path: str | Path, *, channel: str = "", topics: list[str] | None = None
    ) -> None:
        self.path = Path(path)
        self.channel = channel
        try:
            self._fh = _open(self.path, "w")
        except OSError as exc:
            raise UsageError(f"cannot write the recording {path}: {exc.strerror}") from exc
        header = {
            "recording": FORMAT,
            "version": VERSION,
            "created_ns": time.time_ns(),
            "channel": channel,
            "topics": list(topics or []),
        }
        self._fh.write(orjson.dumps(header) + b"\n")
        self._fh.flush()

    def write(self, frame: dict[str, Any], recv_ns: int, channel: str | None = None) -> None:
        """Record one decoded frame with the local time it was received."""
        line = {"recv_ns": recv_ns, "channel": channel or self.channel, "frame": frame}
        self._fh.write(orjson.dumps(line) + b"\n")
        self._fh.flush()

    def close(self) -> None:
        """Finish the file (writes the gzip trailer)."""
        self._fh.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_header(path: str | Path) -> dict[str, Any]:
    """The header line of a recording; `UsageError` when the file is not one."""
    for entry in _iter_lines(Path(path)):
        if entry.get("recording") != FORMAT:
            raise UsageError(f"{path} is not a bybitctl recording")
        return entry
    raise UsageError(f"{path} is empty")


def iter_recording(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the frame lines `{"recv_ns", "channel", "frame"}` of a recording, header skipped.

    A line cut short by a killed writer ends the iteration instead of failing it.
    """
    lines = _iter_lines(Path(path))
    header = next(lines, None)
    if header is None:
        return
    if header.get("recording") != FORMAT:
        raise UsageError(f"{path} is not a bybitctl recording")
    if header.get("version") != VERSION:
        raise UsageError(f"{path}: unsupported recording version {header.get('version')}")
    yield from lines


def _iter_lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        fh = _open(path, "r")
    except FileNotFoundError as exc:
        raise UsageError(f"no such recording: {path}") from exc
    with fh:
        try:
            for raw in fh:
                if not raw.strip():
                    continue
                try:
                    yield orjson.loads(raw)
                except orjson.JSONDecodeError:
                    return
        except (EOFError, gzip.BadGzipFile):
            return
