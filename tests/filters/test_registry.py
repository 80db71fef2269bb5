"""filters.registry: one interface, per-pipeline registrations in order, updates merged, batches."""

from __future__ import annotations

import pytest

from filters.base import Drop, Keep
from filters.registry import PIPELINES, apply_batch, apply_filters, register, registered


class Upper:
    def __call__(self, record):
        return Keep(updates={"text": record["text"].upper()})


class NoDigits:
    def __call__(self, record):
        return Drop("alpha_words", "has a digit") if any(c.isdigit() for c in record["text"]) else Keep()


class BatchLength:
    """A filter with a batch method (as a model would have): called once for the whole batch."""

    calls = 0

    def __call__(self, record):  # pragma: no cover - the batch path is the one under test
        raise AssertionError("apply_batch must use batch()")

    def batch(self, records):
        BatchLength.calls += 1
        return [Keep(float(len(r["text"])), updates={"n": len(r["text"])}) for r in records]


def test_filters_run_in_order_updates_flow_and_the_first_drop_wins() -> None:
    filters = [("upper", Upper()), ("digits", NoDigits())]
    assert apply_filters(filters, {"key": "k", "text": "abc"}) == {"key": "k", "text": "ABC"}
    d = apply_filters(filters, {"key": "k", "text": "a1"})
    assert isinstance(d, Drop) and d.reason == "alpha_words"


def test_batch_filters_see_only_survivors_at_once() -> None:
    out = apply_batch(
        [("digits", NoDigits()), ("len", BatchLength()), ("upper", Upper())],
        [{"text": "ab"}, {"text": "c3"}, {"text": "def"}],
    )
    assert out[0] == {"text": "AB", "n": 2} and out[2] == {"text": "DEF", "n": 3}
    assert isinstance(out[1], Drop)
    assert BatchLength.calls == 1


def test_every_pipeline_has_its_stage_and_names_are_unique() -> None:
    for pipeline in PIPELINES:
        names = [r.name for r in registered(pipeline)]
        assert names and len(names) == len(set(names)), pipeline
    assert [r.name for r in registered("text")][:2] == ["max_doc_chars", "normalize"]
    with pytest.raises(ValueError, match="already registered"):
        register("text", "language", lambda c: None)
    with pytest.raises(ValueError, match="unknown pipeline"):
        register("video", "x", lambda c: None)
