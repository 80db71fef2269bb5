"""The one check every input row passes before a pipeline sees it: values any later step can handle.

A reader can produce values that crash a step far downstream (and with it the whole job): a lone
surrogate ('\\ud800' is valid JSON) cannot be encoded to UTF-8 by the Parquet or tar writers, an
integer of 5,000 digits cannot be turned into a string, JSON nested 100,000 deep overflows the
stack of any recursive walk. Such a row becomes a `malformed_row` with its file and row instead.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64
"""Deepest nesting of lists/objects accepted in one row (real metadata is a few levels)."""
INT_BITS = 63
"""Integers must fit a signed 64-bit column (Parquet, Arrow)."""


def value_problem(row: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """Why a row's values cannot be carried safely, or None. Iterative: no recursion on deep input."""
    stack: list[tuple[Any, int, str]] = [(row, 0, "")]
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, str):
            if not _utf8_ok(value):
                return f"{where or 'value'}: a lone surrogate (not encodable as UTF-8)"
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if value.bit_length() > INT_BITS:
                return f"{where or 'value'}: an integer beyond 64 bits ({value.bit_length()} bits)"
        elif isinstance(value, (dict, list, tuple)):
            if depth >= max_depth:
                return f"{where or 'value'}: nested deeper than {max_depth} levels"
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and not _utf8_ok(key):
                    return f"{where or 'value'}: a key with a lone surrogate"
                stack.append((item, depth + 1, f"{where}.{key}" if where else str(key)))
    return None


def load_json(text: str) -> Any:
    """json.loads with the failures of hostile input (deep nesting, huge integers) as ValueError.

    JSONDecodeError is a ValueError too, so one `except ValueError` covers every bad line."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply to parse") from None


def _utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
