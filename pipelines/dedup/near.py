"""MinHash LSH near-dedup: signatures -> band buckets -> star candidates -> verified edges -> components
-> verdicts (see pipelines/dedup/__init__.py). Only keys, band values and signatures are shuffled."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

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


SIGS = "sigs"
"""The tagged output of the signing step that carries each signature to the verification join."""

BUCKET_GROUP_BYTES = 4
"""Band keys are grouped by their first 4 bytes (2-byte band index + 2 bytes of the band hash), and
the buckets are split apart inside the group: 65,536 groups per band instead of one per distinct
band value, so a shuffle (and the DirectRunner's grouping table) holds a few entries per group, not
14 keyed entries per document. The bytes shuffled are the same."""


def _counted(counter: Any, kv: tuple[str, tuple]) -> tuple[str, tuple]:
    """kv, its bytes added to the shuffle counter: the key and every str/bytes part of the value."""
    counter.inc(len(kv[0]) + sum(len(v) for v in kv[1] if isinstance(v, (str, bytes))))
    return kv


class _SignAndBand(beam.DoFn):
    """records -> LSH band entries (bucket group, (rest of the band key, key)); when verifying, also
    (key, ("sig", signature bytes)) on SIGS for the star join. One step instead of key/text, batch,
    sign, band and tag steps: records are signed `batch_size` at a time within a bundle (a signature
    does not depend on its batch); texts without words are left out of LSH."""

    def __init__(self, fields: RecordFields, config: NearDedupConfig, params: LSHParams, stage: str) -> None:
        self.key_of, self.text_of = fields.key, fields.text
        self.minhash, self.batch_size, self.verify = config.minhash, config.batch_size, config.verify
        self.params = params
        self.hasher: MinHasher | None = None
        self.empty = Metrics.counter(stage, "no_shingles")
        self.shuffled = shuffle_counter(stage)

    def setup(self) -> None:
        self.hasher = MinHasher(self.minhash)

    def start_bundle(self) -> None:
        self._batch: list[tuple[str, str]] = []

    def process(self, record: Any):
        self._batch.append((self.key_of(record), self.text_of(record) or ""))  # None text: no shingles
        if len(self._batch) >= self.batch_size:
            yield from self._flush(lambda v: v)

    def finish_bundle(self):
        yield from self._flush(lambda v: WindowedValue(v, MIN_TIMESTAMP, [GlobalWindow()]))

    def _flush(self, window: Any):
        batch, self._batch = self._batch, []
        if not batch:
            return
        hasher, params, counter = self.hasher, self.params, self.shuffled
        for (key, _), sig in zip(batch, hasher.signatures(text for _, text in batch), strict=True):
            if hasher.is_empty(sig):
                self.empty.inc()
                continue
            bands = band_keys(sig, params)
            counter.inc(sum(len(bk) for bk in bands) + len(bands) * len(key))
            for bk in bands:
                yield window((bk[:BUCKET_GROUP_BYTES], (bk[BUCKET_GROUP_BYTES:], key)))
            if self.verify:
                tagged = _counted(counter, (key, ("sig", hasher.to_bytes(sig))))
                yield pvalue.TaggedOutput(SIGS, window(tagged))


def _candidates(element: tuple[bytes, Iterable[tuple[bytes, str]]], verify: bool, counter: Any):
    """One group of LSH buckets -> star candidates (member, bucket's smallest key), never all pairs.

    Unverified: the edges themselves. Verified: routing marks for the signature join, (member,
    ("root", root)) and (root, ("is_root", "")), counted as shuffled.
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
        yield _counted(counter, (root, ("is_root", "")))
        for key in keys[1:]:
            yield _counted(counter, (key, ("root", root)))


def _route_signature(element: tuple[str, Iterable[tuple[str, Any]]], counter: Any):
    """At one key: its signature and marks -> the signature sent to each star it is in (counted)."""
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
        yield _counted(counter, (key, ("root_sig", key, sig)))
    for root in roots:
        yield _counted(counter, (root, ("member", key, sig)))


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


def _near_verdict(label: tuple[str, str], detail: str, stage: str):
    """A node labelled by another (its component's smallest key) is that one's near duplicate."""
    key, root = label
    if key != root:
        yield key, ("near", "near_duplicate", root, detail, stage)


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
        counter = shuffle_counter(stage)
        sign = beam.ParDo(_SignAndBand(self.fields, cfg, params, stage))
        if verify:
            signed = records | "SignAndBand" >> sign.with_outputs(SIGS, main="bands")
            bands = signed.bands
        else:
            bands = records | "SignAndBand" >> sign
        candidates = (
            bands
            | "GroupByBucket" >> beam.GroupByKey()
            | "Candidates" >> beam.FlatMap(_candidates, verify, counter)
        )
        if verify:
            edges = (
                [signed[SIGS], candidates]
                | "SigsAndMarks" >> beam.Flatten()
                | "GroupByDoc" >> beam.GroupByKey()
                | "RouteSignatures" >> beam.FlatMap(_route_signature, counter)
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
        verdicts = labels | "Verdicts" >> beam.FlatMap(_near_verdict, detail, stage)
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
