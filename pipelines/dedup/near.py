"""MinHash LSH near-dedup: signatures -> band buckets -> star edges -> components -> verdict (see pipelines/dedup/__init__.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from filters.minhash import (
    DEFAULT_THRESHOLD,
    LSHParams,
    MinHashConfig,
    MinHasher,
    band_keys,
    estimated_jaccard,
    lsh_params,
)
from pipelines.dedup.components import ConnectedComponents
from pipelines.dedup.records import DROPPED, KEPT, DedupResult, RecordFields, drop_record


@dataclass(frozen=True)
class NearDedupConfig:
    """MinHash LSH near-dedup settings (defaults: 5-gram words, 128 perms, Jaccard 0.8)."""

    minhash: MinHashConfig = field(default_factory=MinHashConfig)
    threshold: float = DEFAULT_THRESHOLD  # Jaccard that makes two documents near-duplicates
    # datasketch's (false-positive, false-negative) weights for the banding search. None: (0.1, 0.9)
    # when verifying (verification removes false candidates, so buy recall: 14x9 for 0.8/128;
    # F1 0.92 -> 0.95-0.96 in benchmarks/dedup_quality.py), else datasketch's default (0.5, 0.5).
    lsh_weights: tuple[float, float] | None = None
    bands: int | None = None  # override datasketch's optimal banding (give both or neither)
    rows: int | None = None
    verify: bool = True  # check each candidate edge: estimated Jaccard >= threshold
    cc_rounds: int = 8
    batch_size: int = 512  # documents per signature batch

    def weights(self) -> tuple[float, float]:
        """The (false-positive, false-negative) weights in use."""
        if self.lsh_weights is not None:
            return self.lsh_weights
        return (0.1, 0.9) if self.verify else (0.5, 0.5)

    def lsh(self) -> LSHParams:
        """The banding in use."""
        return lsh_params(self.threshold, self.minhash.num_perm, self.weights(), self.bands, self.rows)


class _Sign(beam.DoFn):
    """(key, text) batches -> (key, signature bytes); texts without words are left out of LSH."""

    def __init__(self, config: MinHashConfig, stage: str) -> None:
        self.config = config
        self.hasher: MinHasher | None = None
        self.empty = Metrics.counter(stage, "no_shingles")

    def setup(self) -> None:
        self.hasher = MinHasher(self.config)

    def process(self, batch: list[tuple[str, str]]):
        sigs = self.hasher.signatures(text for _, text in batch)
        for (key, _), sig in zip(batch, sigs, strict=True):
            if self.hasher.is_empty(sig):
                self.empty.inc()
                continue
            yield key, self.hasher.to_bytes(sig)


class _StarEdges(beam.DoFn):
    """One LSH bucket -> edges (member, bucket's smallest key), verified if asked."""

    def __init__(self, config: NearDedupConfig, stage: str) -> None:
        self.config = config
        self.hasher: MinHasher | None = None
        self.rejected = Metrics.counter(stage, "candidates_rejected")
        self.accepted = Metrics.counter(stage, "candidates_accepted")

    def setup(self) -> None:
        self.hasher = MinHasher(self.config.minhash)

    def process(self, element: tuple[bytes, Iterable[tuple[str, bytes | None]]]):
        _, members = element
        root_key, root_sig = min(members, key=itemgetter(0))
        root = self.hasher.from_bytes(root_sig) if self.config.verify else None
        for key, sig in members:
            if key == root_key:
                continue
            if (
                root is not None
                and estimated_jaccard(self.hasher.from_bytes(sig), root) < self.config.threshold
            ):
                self.rejected.inc()
                continue
            self.accepted.inc()
            yield root_key, key


class _ApplyVerdict(beam.DoFn):
    """Record joined with its component label: kept, or dropped as near_duplicate of the label."""

    def __init__(self, fields: RecordFields, detail: str, stage: str) -> None:
        self.fields = fields
        self.detail = detail
        self.stage = stage
        self.dropped = Metrics.counter(stage, "near_duplicate")

    def process(self, element: tuple[str, Iterable[tuple[str, Any]]]):
        key, values = element
        label = None
        records = []
        for tag, v in values:
            if tag == "dup":
                label = v
            else:
                records.append(v)
        for rec in records:
            if label is None:
                yield rec
            else:
                self.dropped.inc()
                yield pvalue.TaggedOutput(
                    DROPPED, drop_record(rec, self.fields, "near_duplicate", self.detail, label, self.stage)
                )


class NearDedup(beam.PTransform):
    """MinHash LSH near-duplicate removal (see the module doc for the steps)."""

    def __init__(
        self,
        fields: RecordFields = RecordFields(),
        config: NearDedupConfig = NearDedupConfig(),
        stage: str = "near_dedup",
    ) -> None:
        super().__init__()
        self.fields = fields
        self.config = config
        self.stage = stage
        self.params = config.lsh()  # validates the banding now, not inside a worker

    def expand(self, records: pvalue.PCollection) -> DedupResult:
        cfg, fields, params = self.config, self.fields, self.params
        verify = cfg.verify
        key_of, text_of = fields.key, fields.text

        sig_dtype = "<u4" if cfg.minhash.scheme == "affine32" else "<u8"  # MinHasher.to_bytes layout

        def buckets(ks: tuple[str, bytes]):
            key, sig_bytes = ks
            sig = np.frombuffer(sig_bytes, dtype=sig_dtype)
            value = (key, sig_bytes if verify else None)
            return [(bk, value) for bk in band_keys(sig, params)]

        signatures = (
            records
            | "KeyText" >> beam.Map(lambda r: (key_of(r), text_of(r) or ""))  # None text: no shingles
            | "Batch"
            >> beam.BatchElements(min_batch_size=min(32, cfg.batch_size), max_batch_size=cfg.batch_size)
            | "Sign" >> beam.ParDo(_Sign(cfg.minhash, self.stage))
        )
        edges = (
            signatures
            | "Bands" >> beam.FlatMap(buckets)
            | "GroupByBucket" >> beam.GroupByKey()
            | "StarEdges" >> beam.ParDo(_StarEdges(cfg, self.stage))
        )
        labels, unconverged = edges | "Components" >> ConnectedComponents(cfg.cc_rounds, self.stage)
        duplicates = (
            labels
            | "NotRoot" >> beam.Filter(lambda kv: kv[0] != kv[1])
            | "TagDup" >> beam.MapTuple(lambda k, root: (k, ("dup", root)))
        )
        tagged_records = records | "TagRecord" >> beam.Map(lambda r: (key_of(r), ("rec", r)))
        detail = (
            f"MinHash LSH {cfg.minhash.ngram}-gram Jaccard >= {cfg.threshold} "
            f"({params.bands}x{params.rows}, {'verified' if verify else 'unverified'}); kept the smallest key"
        )
        out = (
            (tagged_records, duplicates)
            | "FlattenVerdict" >> beam.Flatten()
            | "GroupByKey" >> beam.GroupByKey()
            | "ApplyVerdict"
            >> beam.ParDo(_ApplyVerdict(fields, detail, self.stage)).with_outputs(DROPPED, main=KEPT)
        )
        return DedupResult(out[KEPT], out[DROPPED], unconverged)
