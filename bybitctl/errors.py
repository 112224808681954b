"""Expected failures as typed exceptions, each carrying the exit code users script against.

One top-level handler in `bybitctl.cli` maps any `BybitctlError` to its message on stderr
and its exit code; nothing else in the package calls `sys.exit` for an expected error.
"""

from __future__ import annotations

OK = 0
EXCHANGE_REJECTED = 1
BAD_INPUT = 2
CONFIG = 3
NETWORK = 4
INTERRUPTED = 130


class BybitctlError(Exception):
    """Base of every expected error: a one-line message and an exit code."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def show(self) -> str:
        """The text printed on stderr (one line, plus an optional hint line), with anything
        a terminal would not show as typed escaped (`visible`)."""
        text = f"error: {visible(self.message)}"
        if self.hint:
            text += f"\n{visible(self.hint)}"
        return text


class ExchangeError(BybitctlError):
    """The exchange answered with a non-zero retCode.

    `envelope` is the answer as sent, when it is known (`-o raw` prints it on stdout);
    `machine` asks for the error as one JSON object, for `-o json`/`jsonl`, so a script tells
    one retCode from another without reading English.
    """

    exit_code = EXCHANGE_REJECTED

    def __init__(self, ret_code: int, ret_msg: str, meaning: str | None = None) -> None:
        # The documented meaning adds a line only when it says more than retMsg already did.
        if meaning is not None and _words(meaning) == _words(ret_msg):
            meaning = None
        super().__init__(f"{ret_msg} (retCode {ret_code})", hint=meaning)
        self.ret_code = ret_code
        self.ret_msg = ret_msg
        self.envelope: dict | None = None
        self.machine = False

    def show(self) -> str:
        """The stderr text: `error: ...` lines, or `{"retCode", "retMsg", "hint"}` on one line."""
        if not self.machine:
            return super().show()
        import json

        return json.dumps({"retCode": self.ret_code, "retMsg": self.ret_msg, "hint": self.hint})


class ItemsRefused(BybitctlError):
    """The exchange took a batch but refused some of its items (`retExtInfo.list`): each
    one is a line naming its index, retCode and retMsg, and the run exits 1, so a script
    never reads blank orderIds as success. `machine` gives one JSON object a line."""

    exit_code = EXCHANGE_REJECTED

    def __init__(self, items: list[tuple[int, int, str]], total: int) -> None:
        super().__init__(f"{len(items)} of {total} items refused")
        self.items = items
        self.machine = False

    def show(self) -> str:
        import json

        if self.machine:
            return "\n".join(
                json.dumps({"item": i, "retCode": code, "retMsg": msg})
                for i, code, msg in self.items
            )
        return "\n".join(
            f"error: item {i} refused: {visible(msg)} (retCode {code})"
            for i, code, msg in self.items
        )


class UsageError(BybitctlError):
    """Bad input, caught before any request is sent."""

    exit_code = BAD_INPUT


class ConfigError(BybitctlError):
    """Missing or unusable credentials or configuration."""

    exit_code = CONFIG


class NetworkError(BybitctlError):
    """Connection failure, timeout or a non-200 HTTP status."""

    exit_code = NETWORK


def visible(text: str) -> str:
    """`text` with every character a terminal would not print as itself escaped the way
    Python writes it (`\\x1b`, `\\n`, `\\u202e`): control characters, bidi overrides and
    other format characters, separators but the space, lone surrogates. A value a user or
    an exchange supplied can then never recolour, rewrite or reorder the line it is shown in.

    >>> visible("0xABC\\u202eFDP\\x1b[2K")
    '0xABC\\\\u202eFDP\\\\x1b[2K'
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(char: str) -> str:
    return char.encode("unicode_escape", "backslashreplace").decode("ascii")


def _words(text: str) -> str:
    """`text` lower-cased without punctuation, to compare two messages."""
    return " ".join("".join(c if c.isalnum() else " " for c in text.lower()).split())
