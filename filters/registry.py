"""One filter interface and the registry that makes a pipeline's filter stage a loop over a list.

A record filter is any callable `filter(record) -> Keep | Drop` over one record (a dict with the
fields its pipeline's records carry: `text` for text documents, `caption` for image-caption rows,
`text` and `nodes` for interleaved documents). A `Keep` may carry `updates`, fields set on the
record before the next filter sees it (a cleaned text, the language found). A filter whose model
wants batches also offers `batch(records) -> list[Keep | Drop]`; `apply_batch` uses it.

Filters are registered per pipeline, in stage order, in filters/record_filters.py, each with a
`build(pipeline_config)` that returns the configured filter, or None when the pipeline's config
switches it off. docs/ADDING_A_FILTER.md is the recipe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from filters.base import Drop, Keep

PIPELINES = ("text", "image_text", "interleaved")
Record = Mapping[str, Any]


@runtime_checkable
class RecordFilter(Protocol):
    """The one filter interface: one record in, Keep (optionally with field updates) or Drop out."""

    def __call__(self, record: Record) -> Keep | Drop: ...


@dataclass(frozen=True)
class Registration:
    """A filter of one pipeline: its name (unique within the pipeline) and how to build it."""

    pipeline: str
    name: str
    build: Callable[[Any], RecordFilter | None]


_REGISTRY: dict[str, list[Registration]] = {p: [] for p in PIPELINES}


def register(pipeline: str, name: str, build: Callable[[Any], RecordFilter | None]) -> None:
    """Append a filter to `pipeline`'s stage (registration order is the order filters run in)."""
    if pipeline not in _REGISTRY:
        raise ValueError(f"unknown pipeline {pipeline!r}; one of {PIPELINES}")
    if any(r.name == name for r in _REGISTRY[pipeline]):
        raise ValueError(f"a filter named {name!r} is already registered for {pipeline}")
    _REGISTRY[pipeline].append(Registration(pipeline, name, build))


def registered(pipeline: str) -> list[Registration]:
    """The filters registered for `pipeline`, in the order they run."""
    import filters.record_filters  # noqa: F401 - the registrations live there

    return list(_REGISTRY[pipeline])


def build_filters(pipeline: str, config: Any) -> list[tuple[str, RecordFilter]]:
    """(name, filter) for every registered filter of `pipeline` that `config` switches on."""
    built = ((r.name, r.build(config)) for r in registered(pipeline))
    return [(name, f) for name, f in built if f is not None]


def apply_filters(filters: Sequence[tuple[str, RecordFilter]], record: Record) -> dict[str, Any] | Drop:
    """Run the filters in order: the record with every Keep's updates merged in, or the first Drop."""
    current = dict(record)
    for _, f in filters:
        decision = f(current)
        if isinstance(decision, Drop):
            return decision
        if decision.updates:
            current.update(decision.updates)
    return current


def apply_batch(filters: Sequence[tuple[str, RecordFilter]], records: Sequence[Record]) -> list[Any]:
    """`apply_filters` over a batch: filters with a `batch` method see every surviving record at once."""
    current: list[dict[str, Any] | Drop] = [dict(r) for r in records]
    for _, f in filters:
        alive = [i for i, r in enumerate(current) if not isinstance(r, Drop)]
        batch = getattr(f, "batch", None)
        rows = [current[i] for i in alive]
        decisions = batch(rows) if batch is not None else [f(r) for r in rows]
        for i, decision in zip(alive, decisions, strict=True):
            if isinstance(decision, Drop):
                current[i] = decision
            elif decision.updates:
                current[i] = {**current[i], **decision.updates}
    return current
