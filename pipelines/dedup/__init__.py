"""Beam transforms for exact and MinHash-LSH near-duplicate removal, shared by every pipeline.

Input: a PCollection of records of any type; `RecordFields` says how to read a record's key
(str, unique, stable), text (or a ready content hash), id and url. Output: a `DedupResult`
(kept records unchanged, drop-record dicts, and for near-dedup the connected-components
convergence count).

    result = records | "Dedup" >> Dedup(RecordFields(key=..., text=...), NearDedupConfig())
    result.kept / result.dropped / result.cc_unconverged

Scale: cost follows the keys, not the text. The records wait in temporary spill files
(pipelines/dedup/spill.py) while only small things are shuffled: (16-byte hash, key) for exact
dedup; per band (10-byte band key, key), each signature once for verification, and per candidate
pair a mark, two signatures and an edge for near dedup; (key, spill file id) and the verdicts to
apply them. Each spill file is then read back once by one worker, which emits the kept records and
the drop records. Nothing holds all signatures, keys or edges in one process. The counter
`<stage>:shuffle_bytes` adds up the bytes put into shuffles (docs/SCALING.md has the per-document
figures), `<stage>:spill_bytes` the bytes written to spill files.

Determinism: survivors depend only on the input, never on bundling, runner or worker count:
the kept record is always the smallest key (of its hash group, of its LSH component), the
signatures are pinned (scheme, seed, hash), and every tie is broken by key.

Near-dup algorithm:
  signatures -> (band index, band hash) buckets of keys -> GroupByKey -> star candidates from each
  member to the bucket's smallest key (never all pairs) -> optional check: the signatures of the
  star's members and root meet in one group (each signature is shuffled once to the stars it is
  in), estimated Jaccard with the root >= threshold -> connected components by `cc_rounds` rounds of
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
from pipelines.dedup.exact import ExactDedup, ExactVerdicts
from pipelines.dedup.near import NearDedup, NearDedupConfig, NearVerdicts
from pipelines.dedup.records import DROPPED, KEPT, DedupResult, RecordFields, content_hash, drop_record
from pipelines.dedup.spill import SpillAndApply

__all__ = [
    "DROPPED",
    "KEPT",
    "ConnectedComponents",
    "Dedup",
    "DedupResult",
    "ExactDedup",
    "ExactVerdicts",
    "NearDedup",
    "NearDedupConfig",
    "NearVerdicts",
    "RecordFields",
    "cc_unconverged_from_metrics",
    "content_hash",
    "drop_record",
]


class Dedup(beam.PTransform):
    """Exact dedup, then near dedup of the survivors; drops of both in one PCollection.

    Both stages read the same spilled records. Near dedup sees every record, including exact
    duplicates: an exact duplicate has its original's signature, so it joins its original's
    component without connecting any others, and the exact verdict wins where both apply. The
    survivors are therefore those of exact dedup followed by near dedup of what is left.
    """

    def __init__(
        self,
        fields: RecordFields = RecordFields(),
        config: NearDedupConfig | None = NearDedupConfig(),
        exact_stage: str = "exact_dedup",
        near_stage: str = "near_dedup",
        temp_dir: str | None = None,
    ) -> None:
        super().__init__()
        self.fields = fields
        self.config = config
        self.exact_stage = exact_stage
        self.near_stage = near_stage
        self.temp_dir = temp_dir
        if config is not None:
            config.lsh()  # validates the banding now, not inside a worker

    def expand(self, records: pvalue.PCollection) -> DedupResult:
        fields, config = self.fields, self.config

        def verdicts(in_memory: pvalue.PCollection):
            exact = in_memory | "Exact" >> ExactVerdicts(fields, self.exact_stage, "exact_duplicate")
            if config is None:  # near dedup switched off
                return [exact], None
            near, unconverged = in_memory | "Near" >> NearVerdicts(fields, config, self.near_stage)
            return [exact, near], unconverged

        return records | SpillAndApply(fields, verdicts, self.exact_stage, self.temp_dir)
