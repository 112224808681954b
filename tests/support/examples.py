"""Example counts that follow the active Hypothesis profile (tests/conftest.py loads the one
`HYPOTHESIS_PROFILE` names): the default profile runs each count as written, `dev` a tenth
of it, for the inner loop. Explicit `max_examples=` settings and lists of worked cases
(seeds, configurations) both scale."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from hypothesis import settings

T = TypeVar("T")


def examples(count: int) -> int:
    """`count` scaled by the active profile's examples against the default profile's."""
    active, default = settings().max_examples, settings.get_profile("default").max_examples
    return max(1, count * active // default)


def cases(items: Sequence[T]) -> list[T]:
    """`examples(len(items))` of `items`, spread evenly from the first: all of them under the
    default profile."""
    step = -(-len(items) // examples(len(items)))
    return list(items[::step])
