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

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, NamedTuple

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
from pipelines.drops import DROP_FIELDS, drop_of  # noqa: F401 - DROP_FIELDS re-exported

KEPT = "kept"
DROPPED = "dropped"


# --- how to read a record ------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordFields:
    """Accessors from a record to what dedup needs. Defaults fit `(key, text)` tuples.

    `hash` (optional) returns a ready content hash (e.g. an image sha256) for exact dedup;
    without it exact dedup hashes `text`. `id` and `url` only fill the drop records.
    Accessors must be picklable (module-level functions, itemgetter, or lambdas, which Beam
    pickles with cloudpickle).
    """

    key: Callable[[Any], str] = itemgetter(0)
    text: Callable[[Any], str] = itemgetter(1)
    hash: Callable[[Any], str] | None = None
    id: Callable[[Any], str | None] | None = None
    url: Callable[[Any], str | None] | None = None


def content_hash(text: str) -> str:
    """SHA-256 of the UTF-8 text with surrounding whitespace stripped (hex)."""
    return hashlib.sha256(text.strip().encode("utf-8", "surrogatepass")).hexdigest()


def drop_record(
    record: Any, fields: RecordFields, reason: str, detail: str, duplicate_of: str | None, stage: str
) -> dict[str, Any]:
    """A drop record with exactly DROP_FIELDS, read from any record through `fields`."""
    ident = {
        "key": fields.key(record),
        "id": fields.id(record) if fields.id else None,
        "url": fields.url(record) if fields.url else None,
    }
    return drop_of(ident, reason, detail, stage, duplicate_of=duplicate_of)


class DedupResult(NamedTuple):
    """What the dedup transforms return.

    kept: the input records that survive, unchanged.
    dropped: one dict per removed record, with DROP_FIELDS.
    cc_unconverged: (near-dedup only, else None) a one-element PCollection[int], the number of
        edges the last connected-components round still changed; 0 means converged.
    """

    kept: pvalue.PCollection
    dropped: pvalue.PCollection
    cc_unconverged: pvalue.PCollection | None = None


# --- exact dedup ---------------------------------------------------------------------------------


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


# --- near dedup: signatures and candidate edges --------------------------------------------------


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


# --- near dedup: connected components ------------------------------------------------------------


def _canonical(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def _large_star(element: tuple[str, Iterable[str]]):
    """Large-star at node u: link every larger neighbour to the smallest of u's closed neighbourhood."""
    u, neighbours = element
    nbrs = set(neighbours)  # duplicates from the previous step collapse here (no Distinct shuffle)
    m = min(min(nbrs), u)
    for v in nbrs:
        if v > u:
            yield (m, v)


def _small_star(element: tuple[str, Iterable[str]]):
    """Small-star at node u: link u and its smaller neighbours to the smallest of them."""
    u, smaller = element
    nbrs = set(smaller)
    m = min(nbrs)
    for v in nbrs | {u}:
        if v != m:
            yield _canonical(m, v)


def _edge_changed(element: tuple[tuple[str, str], Iterable[str]]) -> int:
    """1 if the edge is in only one of the two edge sets being compared."""
    _, tags = element
    return int(len(set(tags)) == 1)


class ConnectedComponents(beam.PTransform):
    """Undirected edges (a, b) -> (node, smallest node of its component) for nodes with an edge.

    Runs `rounds` rounds of large-star then small-star (Kiveris et al. 2014, "Connected
    components in MapReduce and beyond"): each round is two GroupByKeys over edges, the edge set
    shrinks to one star per component centred on its smallest key, and in practice a random
    path of n nodes needs about log2(n) rounds (100 nodes: 6; 100k nodes: 13). Returns
    (labels, unconverged): unconverged is a one-element PCollection[int], the number of edges
    the last round still changed; 0 means the edge set is a fixed point, i.e. the components
    are final. The same number goes to the counter `<stage>:cc_last_round_changed`.

    Labels: every node with a smaller neighbour gets the smallest such neighbour (its component's
    smallest key once converged); the smallest key of a component is labelled by itself.
    """

    def __init__(self, rounds: int = 8, stage: str = "near_dedup") -> None:
        super().__init__()
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")
        self.rounds = rounds
        self.stage = stage

    def expand(self, edges: pvalue.PCollection):
        current = (
            edges
            | "NoSelfLoops" >> beam.Filter(lambda e: e[0] != e[1])
            | "Canonical" >> beam.Map(lambda e: _canonical(e[0], e[1]))
            | "DistinctEdges" >> beam.Distinct()
        )
        previous = current
        for r in range(self.rounds):
            previous = current
            large = (
                current
                | f"BothEnds{r}" >> beam.FlatMap(lambda e: [(e[0], e[1]), (e[1], e[0])])
                | f"GroupLarge{r}" >> beam.GroupByKey()
                | f"LargeStar{r}" >> beam.FlatMap(_large_star)
            )
            current = (
                large
                | f"AtLargerEnd{r}" >> beam.Map(lambda e: (e[1], e[0]))
                | f"GroupSmall{r}" >> beam.GroupByKey()
                | f"SmallStar{r}" >> beam.FlatMap(_small_star)
            )
        stage = self.stage

        def _report(n: int) -> int:
            Metrics.counter(stage, "cc_last_round_changed").inc(n)
            return n

        unconverged = (
            (
                previous | "TagBefore" >> beam.Map(lambda e: (e, "before")),
                current | "TagAfter" >> beam.Map(lambda e: (e, "after")),
            )
            | "FlattenLastRound" >> beam.Flatten()
            | "GroupEdge" >> beam.GroupByKey()
            | "EdgeChanged" >> beam.Map(_edge_changed)
            | "SumChanged" >> beam.CombineGlobally(sum)
            | "ReportChanged" >> beam.Map(_report)
        )
        labels = (
            current
            | "LargerToSmaller" >> beam.FlatMap(lambda e: [(e[1], e[0]), (e[0], e[0])])
            | "SmallestLabel" >> beam.CombinePerKey(min)
        )
        return labels, unconverged


# --- near dedup: the transform ------------------------------------------------------------------


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


def cc_unconverged_from_metrics(pipeline_result: Any, stage: str = "near_dedup") -> int | None:
    """The `cc_last_round_changed` counter after a run (None if the runner reports no metrics)."""
    from apache_beam.metrics.metric import MetricsFilter

    try:
        counters = pipeline_result.metrics().query(
            MetricsFilter().with_namespace(stage).with_name("cc_last_round_changed")
        )["counters"]
    except Exception:  # noqa: BLE001 - a runner without metrics support
        return None
    if not counters:
        return None
    return sum(c.committed if c.committed is not None else c.attempted for c in counters)
