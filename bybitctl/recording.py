"""Raw WebSocket recordings: what `stream --record` writes and `stream replay`, `mm backtest`
and `sim serve --replay` read.

A recording is JSONL (gzip when the name ends in `.gz`). The first line is a header
`{"recording": "bybitctl", "version": 1, "created_ns", "channel", "topics"}`; every other line
is one frame as received: `{"recv_ns", "channel", "frame"}`. Frames are stored undecoded in
meaning (the exchange's strings stay strings) so a replay sees exactly what the feed saw. One
recording may hold several topics, symbols and channels (books, trades and tickers together,
as a backtest needs), each line naming its channel. `RotatingWriter` cuts a long collection
into files by time or size; `iter_recordings` reads such files (or any) in sequence.

A recording is created readable by its owner only (0600): private streams carry orders,
executions and balances. Reading anything that is not a recording (a directory, a binary
file, a corrupt gzip, a line of the wrong shape) is a `UsageError` naming the file.
"""

from __future__ import annotations

import gzip
import re
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from bybitctl import parsing
from bybitctl.errors import UsageError
from bybitctl.private_files import private_opener

FORMAT = "bybitctl"
VERSION = 1
_UNREADABLE = (EOFError, gzip.BadGzipFile, zlib.error)
"""What reading a gzip recording raises when it is cut short or is not gzip at all."""


def _create(path: Path) -> IO[bytes]:
    """A new file with mode 0600, gzip-compressed when its name ends in .gz; an existing
    file is never overwritten (FileExistsError): a recording may be a week of data."""
    fh = open(path, "xb", opener=private_opener)  # noqa: SIM115 (returned, or wrapped)
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
        except FileExistsError:
            if self.path.is_dir():
                raise UsageError(f"cannot write the recording {path}: a directory") from None
            raise UsageError(
                f"{path} exists: a recording is never overwritten "
                "(remove it or choose another name)"
            ) from None
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

    def write(
        self,
        frame: dict[str, Any],
        recv_ns: int,
        channel: str | None = None,
        *,
        restated: bool = False,
    ) -> None:
        """Record one decoded frame with the local time it was received (`restated`: not
        received but the state a rotated file starts from; see `RotatingWriter`)."""
        line: dict[str, Any] = {"recv_ns": recv_ns, "channel": channel or self.channel}
        line["frame"] = frame
        if restated:
            line["restated"] = True
        self._fh.write(orjson.dumps(line) + b"\n")
        self._fh.flush()

    @property
    def size(self) -> int:
        """Bytes in the file so far (compressed, for gzip)."""
        inner = getattr(self._fh, "fileobj", None)
        return (inner or self._fh).tell()  # type: ignore[no-any-return]

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


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZES = {"KB": 1000, "MB": 1000**2, "GB": 1000**3}
_ROTATION = re.compile(r"([0-9]+)(s|m|h|d|KB|MB|GB)")


@dataclass(frozen=True)
class Rotation:
    """When a rotating recording starts its next file: every `seconds` (aligned to the
    clock: `1h` rotates on the hour) or once a file holds `size` bytes."""

    seconds: int | None = None
    size: int | None = None


def parse_rotation(text: str) -> Rotation:
    """`--rotate`: a whole number and a unit, time (`30s`, `15m`, `1h`, `1d`) or size
    (`500KB`, `100MB`, `1GB`, decimal units).

    >>> parse_rotation("1h"), parse_rotation("100MB")
    (Rotation(seconds=3600, size=None), Rotation(seconds=None, size=100000000))
    """
    found = _ROTATION.fullmatch(text)
    if found is None:
        raise UsageError(
            f"--rotate {text}: expected a period (30s, 15m, 1h, 1d) or a size (500KB, 100MB, 1GB)"
        )
    try:
        count = parsing.integer(found.group(1), parsing.NumberRule(positive=True))
    except parsing.InvalidValue as exc:
        raise UsageError(f"--rotate {text}: {exc}") from None
    unit = found.group(2)
    if unit in _UNITS:
        return Rotation(seconds=count * _UNITS[unit])
    return Rotation(size=count * _SIZES[unit])


Restate = Callable[[], list[tuple[str, dict[str, Any]]]]
"""The frames a new file of a rotating recording starts with: (channel, frame) per book."""


class RotatingWriter:
    """A recording cut into files for 24/7 collection: `PATH` `btc.jsonl.gz` becomes
    `btc-20250101T000000Z.jsonl.gz`, `btc-20250101T010000Z.jsonl.gz`, ... (the UTC time of
    each file's first frame), each a whole recording with its own header.

    A book stream sends its snapshot once, on subscribing, so each new file starts with the
    books as they stand (`restate`: one snapshot frame per book, marked `"restated": true`);
    a file replays alone, and `iter_recordings` skips those lines when it reads the files
    one after the other, so the sequence replays exactly as one unrotated recording would.
    """

    def __init__(
        self,
        path: str | Path,
        rotation: Rotation,
        *,
        channel: str = "",
        topics: list[str] | None = None,
        restate: Restate | None = None,
    ) -> None:
        self.template = Path(path)
        self.rotation = rotation
        self.channel = channel
        self.topics = list(topics or [])
        self.restate = restate
        self.paths: list[Path] = []
        self._writer: RecordingWriter | None = None
        self._period: int | None = None
        parent = self.template.absolute().parent
        if not parent.is_dir():
            raise UsageError(f"cannot write the recording {path}: no such directory {parent}")

    def write(self, frame: dict[str, Any], recv_ns: int, channel: str | None = None) -> None:
        """Record one frame, starting the next file first when this one is due."""
        writer = self._writer
        rotation = self.rotation
        period = recv_ns // (rotation.seconds * 10**9) if rotation.seconds else None
        if writer is None:
            self._open(recv_ns, period, restate=False)
        elif (period is not None and period != self._period) or (
            rotation.size is not None and writer.size >= rotation.size
        ):
            writer.close()
            self._open(recv_ns, period, restate=True)
        assert self._writer is not None
        self._writer.write(frame, recv_ns, channel)

    def _open(self, recv_ns: int, period: int | None, *, restate: bool) -> None:
        path = self._name(recv_ns)
        self._writer = RecordingWriter(path, channel=self.channel, topics=self.topics)
        self._period = period
        self.paths.append(path)
        if restate and self.restate is not None:
            for channel, frame in self.restate():
                self._writer.write(frame, recv_ns, channel, restated=True)

    def _name(self, recv_ns: int) -> Path:
        name = self.template.name
        suffix = "".join(s for s in self.template.suffixes if s in (".jsonl", ".gz", ".json"))
        stem = name[: len(name) - len(suffix)] if suffix else name
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(recv_ns / 1e9))
        path = self.template.with_name(f"{stem}-{stamp}{suffix}")
        n = 1
        while path in self.paths or path.exists():
            n += 1
            path = self.template.with_name(f"{stem}-{stamp}-{n}{suffix}")
        return path

    def close(self) -> None:
        """Finish the current file."""
        if self._writer is not None:
            self._writer.close()

    def __enter__(self) -> RotatingWriter:
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
