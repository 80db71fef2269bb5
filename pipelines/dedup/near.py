"""MinHash LSH near-dedup: signatures -> band buckets -> star candidates -> verified edges -> components
-> verdicts (see pipelines/dedup/__init__.py). Only keys, band values and signatures are shuffled."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
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
from pipelines.dedup.records import DedupResult, RecordFields
from pipelines.dedup.spill import SpillAndApply, shuffle_counter


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


BUCKET_GROUP_BYTES = 4
"""Band keys are grouped by their first 4 bytes (2-byte band index + 2 bytes of the band hash), and
the buckets are split apart inside the group: 65,536 groups per band instead of one per distinct
band value, so a shuffle (and the DirectRunner's grouping table) holds a few entries per group, not
14 keyed entries per document. The bytes shuffled are the same."""


def _candidates(element: tuple[bytes, Iterable[tuple[bytes, str]]], verify: bool):
    """One group of LSH buckets -> star candidates (member, bucket's smallest key), never all pairs.

    Unverified: the edges themselves. Verified: routing marks for the signature join, (member,
    ("root", root)) and (root, ("is_root", "")).
    """
    _, members = element
    buckets: dict[bytes, set[str]] = {}
    for rest, key in members:
        buckets.setdefault(rest, set()).add(key)
    for rest in sorted(buckets):
        keys = sorted(buckets[rest])
        if len(keys) < 2:
            continue
        root = keys[0]
        if not verify:
            for key in keys[1:]:
                yield root, key
            continue
        yield root, ("is_root", "")
        for key in keys[1:]:
            yield key, ("root", root)


def _route_signature(element: tuple[str, Iterable[tuple[str, Any]]]):
    """At one key: its signature and marks -> the signature sent to each star it is in."""
    key, values = element
    sig, roots, is_root = None, set(), False
    for tag, value in values:
        if tag == "sig":
            sig = value
        elif tag == "root":
            roots.add(value)
        else:
            is_root = True
    if sig is None:  # marks only come from signed keys
        return
    if is_root:
        yield key, ("root_sig", key, sig)
    for root in roots:
        yield root, ("member", key, sig)


class _VerifyStar(beam.DoFn):
    """One star (its root's signature and its members') -> edges whose estimated Jaccard passes."""

    def __init__(self, config: NearDedupConfig, stage: str) -> None:
        self.config = config
        self.hasher: MinHasher | None = None
        self.rejected = Metrics.counter(stage, "candidates_rejected")
        self.accepted = Metrics.counter(stage, "candidates_accepted")

    def setup(self) -> None:
        self.hasher = MinHasher(self.config.minhash)

    def process(self, element: tuple[str, Iterable[tuple[str, str, bytes]]]):
        root_key, values = element
        root, members = None, {}
        for tag, key, sig in values:
            if tag == "root_sig":
                root = self.hasher.from_bytes(sig)
            else:
                members[key] = sig
        if root is None:
            return
        for key in sorted(members):
            if estimated_jaccard(self.hasher.from_bytes(members[key]), root) < self.config.threshold:
                self.rejected.inc()
                continue
            self.accepted.inc()
            yield root_key, key


class NearVerdicts(beam.PTransform):
    """records -> (PCollection[(key, ("near", reason, label, detail, stage))], cc_unconverged).

    Shuffled per document: its key in each band bucket (band index + 8-byte band hash + key) and,
    when verifying, its signature once; per candidate pair a routing mark, the two signatures and
    the edge; the component rounds move only edges.
    """

    def __init__(self, fields: RecordFields, config: NearDedupConfig, stage: str) -> None:
        super().__init__()
        self.fields, self.config, self.stage = fields, config, stage
        self.params = config.lsh()  # validates the banding now, not inside a worker

    def expand(self, records: pvalue.PCollection):
        cfg, params, stage = self.config, self.params, self.stage
        verify = cfg.verify
        key_of, text_of = self.fields.key, self.fields.text
        sig_dtype = np.dtype(MinHasher(cfg.minhash).dtype).newbyteorder("<")  # MinHasher.to_bytes layout
        counter = shuffle_counter(stage)

        def buckets(ks: tuple[str, bytes]):
            key, sig_bytes = ks
            keys = band_keys(np.frombuffer(sig_bytes, dtype=sig_dtype), params)
            counter.inc(sum(len(bk) for bk in keys) + len(keys) * len(key))
            return [(bk[:BUCKET_GROUP_BYTES], (bk[BUCKET_GROUP_BYTES:], key)) for bk in keys]

        def counted(kv: tuple[str, Any]) -> tuple[str, Any]:
            counter.inc(len(kv[0]) + sum(len(v) for v in kv[1] if isinstance(v, (str, bytes))))
            return kv

        signatures = (
            records
            | "KeyText" >> beam.Map(lambda r: (key_of(r), text_of(r) or ""))  # None text: no shingles
            | "Batch"
            >> beam.BatchElements(min_batch_size=min(32, cfg.batch_size), max_batch_size=cfg.batch_size)
            | "Sign" >> beam.ParDo(_Sign(cfg.minhash, stage))
        )
        candidates = (
            signatures
            | "Bands" >> beam.FlatMap(buckets)
            | "GroupByBucket" >> beam.GroupByKey()
            | "Candidates" >> beam.FlatMap(_candidates, verify)
        )
        if verify:
            tagged_sigs = signatures | "TagSig" >> beam.MapTuple(lambda k, s: (k, ("sig", s)))
            edges = (
                [tagged_sigs, candidates]
                | "SigsAndMarks" >> beam.Flatten()
                | "CountSigs" >> beam.Map(counted)
                | "GroupByDoc" >> beam.GroupByKey()
                | "RouteSignatures" >> beam.FlatMap(_route_signature)
                | "CountRouted" >> beam.Map(counted)
                | "GroupByStar" >> beam.GroupByKey()
                | "Verify" >> beam.ParDo(_VerifyStar(cfg, stage))
            )
        else:
            edges = candidates
        labels, unconverged = edges | "Components" >> ConnectedComponents(cfg.cc_rounds, stage)
        detail = (
            f"MinHash LSH {cfg.minhash.ngram}-gram Jaccard >= {cfg.threshold} "
            f"({params.bands}x{params.rows}, {'verified' if verify else 'unverified'}); kept the smallest key"
        )
        verdicts = (
            labels
            | "NotRoot" >> beam.Filter(lambda kv: kv[0] != kv[1])
            | "Verdict" >> beam.MapTuple(lambda k, root: (k, ("near", "near_duplicate", root, detail, stage)))
        )
        return verdicts, unconverged


class NearDedup(beam.PTransform):
    """MinHash LSH near-duplicate removal (see the package doc for the steps)."""

    def __init__(
        self,
        fields: RecordFields = RecordFields(),
        config: NearDedupConfig = NearDedupConfig(),
        stage: str = "near_dedup",
        temp_dir: str | None = None,
    ) -> None:
        super().__init__()
        self.fields = fields
        self.config = config
        self.stage = stage
        self.temp_dir = temp_dir
        self.params = config.lsh()  # validates the banding now, not inside a worker

    def expand(self, records: pvalue.PCollection) -> DedupResult:
        def verdicts(in_memory: pvalue.PCollection):
            near, unconverged = in_memory | "Near" >> NearVerdicts(self.fields, self.config, self.stage)
            return [near], unconverged

        return records | SpillAndApply(self.fields, verdicts, self.stage, self.temp_dir)
