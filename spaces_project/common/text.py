"""Text and JSON that PostgreSQL and UTF-8 can hold: no NUL, no unpaired UTF-16 surrogate, finite.

JSON can spell both (``"\\u0000"``, ``"\\ud800"``) and Python parses them into ``str``; PostgreSQL
refuses NUL in ``text`` and ``jsonb``, and a lone surrogate cannot even be encoded to send it.
``json`` also parses ``NaN`` and ``1e999`` (not JSON; ``jsonb`` refuses them) and raises
``RecursionError``, not ``ValueError``, on ``[[[[…`` nested a few thousand deep.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

BAD_CHARACTER = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


class TooDeep(ValueError):
    """A document nested deeper than allowed."""


def has_bad_character(text: str) -> bool:
    return BAD_CHARACTER.search(text) is not None


def scrub(text: str) -> str:
    """``text`` with every NUL and lone surrogate replaced by U+FFFD (the usual stand-in)."""
    return BAD_CHARACTER.sub(REPLACEMENT, text)


def scrub_json(value: Any, *, max_depth: int) -> Any:
    """A copy of a parsed JSON document whose keys and strings are all storable.

    Iterative (a deep document cannot exhaust the stack); raises ``TooDeep`` past ``max_depth``.
    """
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, int]] = [(value, root, 0, 0)]
    while stack:
        item, parent, key, depth = stack.pop()
        if depth > max_depth:
            raise TooDeep(f"nested deeper than {max_depth} levels")
        if isinstance(item, str):
            parent[key] = scrub(item) if has_bad_character(item) else item
        elif isinstance(item, Mapping):
            copy: dict[str, Any] = {}
            parent[key] = copy
            for child_key, child in item.items():
                safe_key = scrub(child_key) if isinstance(child_key, str) else child_key
                copy[safe_key] = None
                stack.append((child, copy, safe_key, depth + 1))
        elif isinstance(item, list):
            items: list[Any] = [None] * len(item)
            parent[key] = items
            stack.extend((child, items, index, depth + 1) for index, child in enumerate(item))
        else:
            parent[key] = item
    return root[0]


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number out of range: {text[:20]}")
    return number


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads_strict(raw: bytes | str) -> Any:
    """Parse JSON the strict way; ``ValueError`` for anything that is not plain, finite JSON."""
    try:
        return json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


BIGINT_MAX = 2**63 - 1


def decimal_id(text: str) -> int | None:
    """The id spelled by ``text`` in plain ASCII digits as ``str(id)`` would, within bigint; else None.

    ``str.isdigit`` and ``int`` accept far more: "٣" (Arabic-Indic three) is 3, "²" passes ``isdigit``
    and then fails ``int``, and 5,000 digits fail ``int`` too. Names made from ids are read back here.
    """
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or (len(text) > 1 and text[0] == "0"):
        return None
    value = int(text)
    return value if value <= BIGINT_MAX else None
