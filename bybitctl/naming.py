"""The one naming rule of bybitctl: API and pybit names to kebab-case.

Command names (`get_orderbook`), option names (`orderType`, `add_position_percent`) and
path segments (`sellerCancelOrderApply`, `full_orderbook`) all go through `kebab`, so a
name users see is always derivable from the name Bybit or pybit uses. See docs/naming.md.
"""

from __future__ import annotations

import re

_LOWER_UPPER = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_ACRONYM_WORD = re.compile(r"(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")


def kebab(name: str) -> str:
    """Lower-case words joined by `-`: camelCase humps, `_`, spaces and punctuation split words.

    A run of capitals stays one word (`baseURL` -> `base-url`); digits stick to the word
    before them (`need30`, `categoryV2` -> `category-v2`).

    >>> kebab("get_orderbook")
    'get-orderbook'
    >>> kebab("orderType")
    'order-type'
    >>> kebab("sellerCancelOrderApply")
    'seller-cancel-order-apply'
    >>> kebab("baseURLPath")
    'base-url-path'
    >>> kebab("categoryV2")
    'category-v2'
    >>> kebab("full_orderbook")
    'full-orderbook'
    """
    words = _ACRONYM_WORD.sub("-", _LOWER_UPPER.sub("-", name))
    return _SEPARATORS.sub("-", words).strip("-").lower()
