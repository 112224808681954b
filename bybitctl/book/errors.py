"""What can go wrong with a local book: each error means it no longer matches the
exchange's and must be rebuilt from a snapshot (the book empties itself first)."""

from __future__ import annotations

from bybitctl.errors import NETWORK, BybitctlError


class BookError(BybitctlError):
    """The local book no longer matches the exchange's and must be rebuilt from a snapshot."""

    exit_code = NETWORK


class BookGap(BookError):
    """A delta arrived out of sequence (an update id was skipped) or before any snapshot."""


class CrossedBook(BookError):
    """A message left the best bid at or above the best ask."""
