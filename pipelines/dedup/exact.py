"""Exact dedup: records with the same content hash keep only the smallest key."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from pipelines.dedup.records import DROPPED, KEPT, DedupResult, RecordFields, content_hash, drop_record


class _KeepSmallestKey(beam.DoFn):
    """For one content hash: keep the record with the smallest key, drop the others."""

    def __init__(self, fields: RecordFields, stage: str, reason: str = "exact_duplicate") -> None:
        self.fields = fields
        self.stage = stage
        self.reason = reason
        self.dropped = Metrics.counter(stage, reason)

    def process(self, element: tuple[str, Iterable[Any]]):
        digest, records = element
        key_of = self.fields.key
        best = min(records, key=key_of)  # first pass over the (re-iterable) group
        best_key = key_of(best)
        yield best
        skipped = False
        for rec in records:  # second pass (may decode afresh: compare keys, not identity)
            if not skipped and key_of(rec) == best_key:
                skipped = True
                continue
            self.dropped.inc()
            yield pvalue.TaggedOutput(
                DROPPED,
                drop_record(
                    rec,
                    self.fields,
                    self.reason,
                    f"same hash {digest[:16]} as {best_key}",
                    best_key,
                    self.stage,
                ),
            )


class ExactDedup(beam.PTransform):
    """Exact duplicates by content hash: one GroupByKey, the smallest key of each hash wins."""

    def __init__(
        self,
        fields: RecordFields = RecordFields(),
        stage: str = "exact_dedup",
        reason: str = "exact_duplicate",
    ) -> None:
        """`reason` names the drops: exact_duplicate for content, duplicate_url for URLs, duplicate_image for images."""
        super().__init__()
        self.fields = fields
        self.stage = stage
        self.reason = reason

    def expand(self, records: pvalue.PCollection) -> DedupResult:
        fields = self.fields
        hash_of = fields.hash or (lambda r: content_hash(fields.text(r) or ""))
        out = (
            records
            | "ByHash" >> beam.Map(lambda r: (hash_of(r), r))
            | "GroupByHash" >> beam.GroupByKey()
            | "KeepSmallestKey"
            >> beam.ParDo(_KeepSmallestKey(fields, self.stage, self.reason)).with_outputs(DROPPED, main=KEPT)
        )
        return DedupResult(out[KEPT], out[DROPPED], None)
