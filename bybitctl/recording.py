"""Raw WebSocket recordings: what `stream --record` writes and `stream replay`, `mm backtest`
and `sim serve --replay` read.

A recording is JSONL (gzip when the name ends in `.gz`). The first line is a header
`{"recording": "bybitctl", "version": 1, "created_ns", "channel", "topics"}`; every other line
is one frame as received: `{"recv_ns", "channel", "frame"}`. Frames are stored undecoded in
meaning (the exchange's strings stay strings) so a replay sees exactly what the feed saw.

A recording is created readable by its owner only (0600): private streams carry orders,
executions and balances. Reading anything that is not a recording (a directory, a binary
file, a corrupt gzip, a line of the wrong shape) is a `UsageError` naming the file.
"""

from __future__ import annotations

import gzip
import os
import time
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from bybitctl.errors import UsageError

FORMAT = "bybitctl"
VERSION = 1
_UNREADABLE = (EOFError, gzip.BadGzipFile, zlib.error)
"""What reading a gzip recording raises when it is cut short or is not gzip at all."""


def _create(path: Path) -> IO[bytes]:
    """A new (or emptied) file with mode 0600, gzip-compressed when its name ends in .gz."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_TRUNC
    fh = os.fdopen(fd, "wb")
    if path.suffix == ".gz":
        return gzip.GzipFile(filename=path.name, mode="wb", fileobj=fh)  # type: ignore[return-value]
    return fh


Source = str | Path
"""A recording's location: a local path, or an fsspec URL (`s3://...`, `file://...`)."""


def is_url(path: Source) -> bool:
    """Whether `path` names a recording by URL (read through fsspec)."""
    return isinstance(path, str) and "://" in path


def _local(path: Source) -> Source:
    return path if is_url(path) else Path(path)


def _open(path: Source) -> IO[bytes]:
    if is_url(path):
        try:
            import fsspec
        except ImportError:
            raise UsageError(
                f"{path}: reading a recording by URL needs fsspec",
                hint="install it with: pip install 'bybitctl[cluster]'",
            ) from None
        name = str(path)
        compression = "gzip" if name.endswith(".gz") else None
        try:
            return fsspec.open(name, "rb", compression=compression).open()  # type: ignore[no-any-return]
        except FileNotFoundError:
            raise
        except (ValueError, ImportError) as exc:
            raise UsageError(f"cannot read the recording {path}: {exc}") from None
    if Path(path).suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


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
            self._fh = _create(self.path)
        except OSError as exc:
            raise UsageError(f"cannot write the recording {path}: {exc.strerror}") from None
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
        """Finish the file (writes the gzip trailer and closes the file under it)."""
        inner = getattr(self._fh, "fileobj", None)
        self._fh.close()
        if inner is not None:
            inner.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_header(path: Source) -> dict[str, Any]:
    """The header line of a recording; `UsageError` when the file is not one."""
    path = _local(path)
    _, header = next(_iter_lines(path), (0, None))
    if header is None:
        raise UsageError(f"{path} is empty")
    if not isinstance(header, dict) or header.get("recording") != FORMAT:
        raise UsageError(f"{path} is not a bybitctl recording")
    return header


def iter_recording(path: Source) -> Iterator[dict[str, Any]]:
    """Yield the frame lines `{"recv_ns", "channel", "frame"}` of a recording, header skipped.

    A line cut short by a killed writer ends the iteration instead of failing it; a whole
    line of another shape is an error.
    """
    path = _local(path)
    lines = _iter_lines(path)
    _, header = next(lines, (0, None))
    if header is None:
        return
    if not isinstance(header, dict) or header.get("recording") != FORMAT:
        raise UsageError(f"{path} is not a bybitctl recording")
    if header.get("version") != VERSION:
        raise UsageError(f"{path}: unsupported recording version {header.get('version')}")
    for number, line in lines:
        if not (
            isinstance(line, dict)
            and type(line.get("recv_ns")) is int
            and isinstance(line.get("channel"), str)
            and isinstance(line.get("frame"), dict)
        ):
            raise UsageError(f"{path}: line {number} is not a recorded frame")
        yield line


def iter_recordings(paths: Iterable[Source]) -> Iterator[dict[str, Any]]:
    """The frame lines of several recordings read one after the other (in the order given,
    which should be time order), as one stream.

    A rotated recording starts with the books as they stood at the rotation (lines marked
    `"restated": true`, see `RotatingWriter`), so each file can be replayed alone; read after
    the file before it, such a line repeats what that file already built and is skipped.
    """
    seen: set[str] = set()
    for path in paths:
        topics: set[str] = set()
        for line in iter_recording(path):
            topic = line["frame"].get("topic")
            if line.get("restated") and topic in seen:
                continue
            if isinstance(topic, str):
                topics.add(topic)
            yield line
        seen |= topics


def _iter_lines(path: Source) -> Iterator[tuple[int, Any]]:
    """Each non-blank line, decoded, with its line number in the file (blank lines count, so
    an error names the line an editor shows); an undecodable line or a cut gzip stream ends
    it."""
    try:
        fh = _open(path)
    except FileNotFoundError:
        raise UsageError(f"no such recording: {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read the recording {path}: {exc.strerror}") from None
    with fh:
        first = True
        try:
            for number, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    value = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    if first:
                        raise UsageError(f"{path} is not a bybitctl recording") from None
                    return
                first = False
                yield number, value
        except _UNREADABLE:  # before OSError: BadGzipFile is one
            if first:
                raise UsageError(f"{path} is not a bybitctl recording") from None
            return
        except OSError as exc:
            raise UsageError(f"cannot read the recording {path}: {exc.strerror}") from None
