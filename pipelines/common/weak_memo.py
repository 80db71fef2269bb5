"""Answers computed from an object, remembered while the object lives.

Beam recomputes some answers on every call that depend only on an object that does not change once
built (an options object's views, a DoFn's state and timer specs). `WeakMemo` keeps them keyed
weakly by that object, so an object that is gone frees its entries; an object that cannot be weakly
keyed (unhashable, no weak references) gets a fresh answer every time, as without the memo.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class WeakMemo(Generic[V]):
    """`get(obj, key, make)`: make() once per live object and key, then the same value again
    (make() never returns None: None means not yet made)."""

    def __init__(self) -> None:
        self._entries: weakref.WeakKeyDictionary[Any, dict[Hashable, V]] = weakref.WeakKeyDictionary()

    def get(
        self, obj: Any, key: Hashable, make: Callable[[], V], still_valid: Callable[[V], bool] | None = None
    ) -> V:
        """The remembered value, or make()'s (remembered) when there is none or it is no longer valid."""
        try:
            entries = self._entries.setdefault(obj, {})
        except TypeError:  # unhashable or not weakly referenceable: nothing is remembered
            return make()
        value = entries.get(key)
        if value is None or (still_valid is not None and not still_valid(value)):
            value = entries[key] = make()
        return value

    def __contains__(self, obj: Any) -> bool:
        try:
            return obj in self._entries
        except TypeError:
            return False
