"""WeakMemo (pipelines/common/weak_memo.py): remembered while the object lives, never stale."""

from __future__ import annotations

import gc

from pipelines.common.weak_memo import WeakMemo


class Thing:
    pass


def test_made_once_per_object_and_key_and_freed_with_the_object() -> None:
    memo: WeakMemo[list[int]] = WeakMemo()
    calls: list[str] = []

    def make(tag: str) -> list[int]:
        calls.append(tag)
        return [len(calls)]

    a, b = Thing(), Thing()
    first = memo.get(a, "k", lambda: make("a"))
    assert memo.get(a, "k", lambda: make("a")) is first
    assert memo.get(a, "other", lambda: make("a2")) is not first
    assert memo.get(b, "k", lambda: make("b")) is not first
    assert calls == ["a", "a2", "b"] and a in memo
    del a
    gc.collect()
    assert len(memo._entries) == 1  # only b's entries are left


def test_a_value_no_longer_valid_is_made_again() -> None:
    memo: WeakMemo[dict[str, int]] = WeakMemo()
    obj = Thing()
    stale = memo.get(obj, 1, lambda: {"version": 1})
    fresh = memo.get(obj, 1, lambda: {"version": 2}, still_valid=lambda v: v["version"] == 2)
    assert stale["version"] == 1 and fresh["version"] == 2
    assert memo.get(obj, 1, lambda: {"version": 3}) is fresh


def test_objects_that_cannot_be_weakly_keyed_get_a_fresh_value_each_time() -> None:
    memo: WeakMemo[list[int]] = WeakMemo()
    for obj in ([1, 2], 7):  # unhashable; hashable but not weakly referenceable
        assert memo.get(obj, "k", lambda: [1]) is not memo.get(obj, "k", lambda: [1])
        assert obj not in memo
