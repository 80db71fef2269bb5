"""The CLI's garbage-collector policy: only a process the CLI owns changes the collector."""

from __future__ import annotations

import gc
import weakref

import pytest

from pipelines.common import gc_policy


@pytest.fixture
def restore_gc():
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    gc.enable() if enabled else gc.disable()
    gc_policy._owned = False


def test_a_library_caller_keeps_the_default_collector(restore_gc) -> None:
    gc_policy._owned = False
    frozen = gc.get_freeze_count()
    gc_policy.graph_built()
    gc_policy.exiting()
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_an_owned_process_collects_after_the_graph_with_start_up_frozen(restore_gc) -> None:
    gc_policy.own_process()
    assert not gc.isenabled()
    cycle = _Node()
    cycle.self = cycle  # start-up garbage in a cycle: freed by the one collection, not frozen
    gone = weakref.ref(cycle)
    del cycle
    assert gone() is not None  # the collector is off
    gc_policy.graph_built()
    assert gone() is None
    assert gc.isenabled() and gc.get_freeze_count() > 0


class _Node:
    self: object = None
