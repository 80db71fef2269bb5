"""Beam transforms for exact and MinHash-LSH near-duplicate removal, shared by every pipeline.

Input: a PCollection of records of any type; `RecordFields` says how to read a record's key
(str, unique, stable), text (or a ready content hash), id and url. Output: a `DedupResult`
(kept records unchanged, drop-record dicts, and for near-dedup the connected-components
convergence count).

    result = records | "Dedup" >> Dedup(RecordFields(key=..., text=...), NearDedupConfig())
    result.kept / result.dropped / result.cc_unconverged

Scale: every step is keyed and distributed; nothing holds all signatures, keys or edges in one
process. The record itself is shuffled twice (by content hash, then by key to apply the near-dup
verdict); signatures are shuffled once per band; the component rounds shuffle only keys of
documents that have a candidate edge.

Determinism: survivors depend only on the input, never on bundling, runner or worker count:
the kept record is always the smallest key (of its hash group, of its LSH component), the
signatures are pinned (scheme, seed, hash), and every tie is broken by key.

Near-dup algorithm:
  signatures -> (band index, band hash) buckets -> GroupByKey -> star edges from each member to
  the bucket's smallest key (never all pairs) -> optional check: signature-estimated Jaccard
  with that smallest member >= threshold -> connected components by `cc_rounds` rounds of
  large-star/small-star (each round two GroupByKeys over the edges only) -> every node whose
  final label is not itself is dropped as `near_duplicate` of that label (its component's
  smallest key). If the last round still changed the edge set, the components are not final:
  `cc_unconverged` (one int: edges changed by the last round) is > 0, the counter
  `<stage>:cc_last_round_changed` says the same, and the caller must report it and fail
  (advising a higher `cc_rounds`). Even then no component loses all its documents: a
  component's smallest key is always kept.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam import pvalue

from pipelines.dedup.components import ConnectedComponents, cc_unconverged_from_metrics
from pipelines.dedup.exact import ExactDedup
from pipelines.dedup.near import NearDedup, NearDedupConfig
from pipelines.dedup.records import DROPPED, KEPT, DedupResult, RecordFields, content_hash, drop_record

__all__ = [
    "DROPPED",
    "KEPT",
    "ConnectedComponents",
    "Dedup",
    "DedupResult",
    "ExactDedup",
    "NearDedup",
    "NearDedupConfig",
    "RecordFields",
    "cc_unconverged_from_metrics",
    "content_hash",
    "drop_record",
]


class Dedup(beam.PTransform):
    """Exact dedup, then near dedup of the survivors; drops of both in one PCollection."""

    def __init__(
        self,
        fields: RecordFields = RecordFields(),
        config: NearDedupConfig | None = NearDedupConfig(),
        exact_stage: str = "exact_dedup",
        near_stage: str = "near_dedup",
    ) -> None:
        super().__init__()
        self.fields = fields
        self.config = config
        self.exact_stage = exact_stage
        self.near_stage = near_stage

    def expand(self, records: pvalue.PCollection) -> DedupResult:
        exact = records | "Exact" >> ExactDedup(self.fields, self.exact_stage)
        if self.config is None:  # near dedup switched off
            return exact
        near = exact.kept | "Near" >> NearDedup(self.fields, self.config, self.near_stage)
        dropped = (exact.dropped, near.dropped) | "AllDrops" >> beam.Flatten()
        return DedupResult(near.kept, dropped, near.cc_unconverged)
