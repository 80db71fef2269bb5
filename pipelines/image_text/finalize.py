"""The image-caption pipeline's finalize phase: corpus-wide decisions taken after every shard is
downloaded, from the shards' candidate files (which the download phase writes and nothing changes):

- image sha256 dedup (the smallest key keeps the image),
- optional pHash near-duplicate images (chunk buckets -> verified star edges -> Beam components),
- optional CLIP top fraction (DataComp's rule; threshold from a Beam quantile combiner).

Only shards that lose samples are rewritten; decisions depend on the candidates alone, so a rerun
repeats them exactly.
"""

from __future__ import annotations

import logging
import math
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam import pvalue

from filters.phash import hamming, hash_chunks
from pipelines.common.drops import drop_of
from pipelines.dedup import ConnectedComponents
from pipelines.image_text.shard import read_candidates, read_parquet
from schemas.kinds import Kind
from schemas.manifest import Counts
from schemas.reader import iter_shard
from schemas.storage import join
from schemas.writer import WORK_DIR, ShardStats, ShardWriter, shard_is_complete, sidecar

log = logging.getLogger(__name__)


def _candidates(stats: ShardStats, output: str):
    rows, _ = read_candidates(output, stats.shard)
    for row in rows:
        yield {**row, "shard": stats.shard}


def _image_verdicts(element: tuple[str, Any]):
    """One image sha256: the smallest key keeps it; the others are duplicate_image drops."""
    digest, rows = element
    rows = sorted(rows, key=lambda r: r["key"])
    for row in rows[1:]:
        yield (
            row["shard"],
            (row["key"], "duplicate_image", f"sha256 {digest[:16]} as {rows[0]['key']}", rows[0]["key"]),
        )


SCORE_BINS_PER_UNIT = 10_000  # cosine scores counted in bins of 1e-4


def score_bin(score: float) -> int:
    return math.floor(score * SCORE_BINS_PER_UNIT)


def top_fraction_threshold(bin_counts: list[tuple[int, int]], keep: float) -> float:
    """The lowest score bin that keeps `keep` of all scores, counting down from the top.

    Exact counts per 1e-4 bin instead of an approximate quantile sketch: Beam's sketches depend on
    how the data was split among workers, and the survivors must not."""
    total = sum(n for _, n in bin_counts)
    kept = 0
    for b, n in sorted(bin_counts, reverse=True):
        kept += n
        if kept >= keep * total:
            return b / SCORE_BINS_PER_UNIT
    return float("-inf")


def _score_verdict(row: dict[str, Any], threshold: float):
    score = row["clip_score"]
    if score is not None and score < threshold:
        yield (
            row["shard"],
            (row["key"], "clip_score", f"{score:.4f} below the top-fraction threshold {threshold:.4f}", None),
        )


def _phash_buckets(row: dict[str, Any], max_distance: int):
    if row.get("phash") is not None:
        for chunk in hash_chunks(row["phash"], max_distance):
            yield chunk, (row["key"], row["phash"])


def _phash_star_edges(element: tuple[Any, Any], max_distance: int):
    """One chunk bucket -> edges to its smallest key, kept only within `max_distance` bits."""
    _, members = element
    root_key, root_hash = min(members)
    for key, value in members:
        if key != root_key and hamming(value, root_hash) <= max_distance:
            yield root_key, key


def _near_image_verdict(element: tuple[str, dict[str, list[Any]]], max_distance: int):
    key, grouped = element
    for root in grouped["label"]:
        if root != key:
            for row in grouped["row"]:
                yield (
                    row["shard"],
                    (key, "near_duplicate_image", f"pHash within {max_distance} bits of {root}", root),
                )


class NearDuplicateImages(beam.PTransform):
    """Candidate rows -> (shard, verdict) for images within `max_distance` pHash bits of a smaller key.

    Chunk buckets (pigeonhole) find candidate pairs, star edges are checked by Hamming distance,
    and the project's Beam connected components keep the smallest key of each group."""

    def __init__(self, max_distance: int, rounds: int = 8) -> None:
        super().__init__()
        self.max_distance, self.rounds = max_distance, rounds

    def expand(self, candidates: pvalue.PCollection) -> pvalue.PCollection:
        d = self.max_distance
        edges = (
            candidates
            | "Buckets" >> beam.FlatMap(_phash_buckets, d)
            | "GroupBucket" >> beam.GroupByKey()
            | "StarEdges" >> beam.FlatMap(_phash_star_edges, d)
        )
        labels, _ = edges | "Components" >> ConnectedComponents(self.rounds, stage="phash_dedup")
        return (
            {"label": labels, "row": candidates | "RowByKey" >> beam.Map(lambda r: (r["key"], r))}
            | "JoinLabels" >> beam.CoGroupByKey()
            | "Verdicts" >> beam.FlatMap(_near_image_verdict, d)
        )


class FinalizeShard(beam.DoFn):
    """(shard name, {stats, verdicts}) -> final ShardStats; rewrites the shard only if it loses samples."""

    PRIORITY = ("duplicate_image", "near_duplicate_image", "clip_score")

    def __init__(self, output: str, prefix: str) -> None:
        self.output, self.prefix = output, prefix

    def process(self, element: tuple[str, dict[str, list[Any]]]):
        name, grouped = element
        if not grouped["stats"]:
            return
        verdicts: dict[str, tuple[str, str, str | None]] = {}
        for key, reason, detail, dup_of in sorted(
            grouped["verdicts"], key=lambda v: (v[0], self.PRIORITY.index(v[1]))
        ):
            verdicts.setdefault(key, (reason, detail, dup_of))
        candidates, download_counts = read_candidates(self.output, name)
        final = Counts(download_counts.input, download_counts.kept, dict(download_counts.dropped))
        for reason, _, _ in verdicts.values():
            final.kept -= 1
            final.drop(reason)
        current = grouped["stats"][0]
        held = (current.dropped or {}).get("held_out", 0)  # moved out by an earlier --holdout-fraction
        if held:
            final.kept -= held
            final.drop("held_out", held)
        allowed = {row["key"] for row in candidates} - set(verdicts)
        if (
            current.samples == final.kept
            and (current.dropped or {}) == final.dropped
            and _shard_keys(self.output, name) <= allowed
        ):
            yield current, []
            return
        index = int(name[len(self.prefix) + 1 : -len(".tar")])
        # Every download-phase sample of the shard: the ones it holds and the ones an earlier finalize
        # set aside. A verdict that no longer holds on a rerun (its winner was edited away) brings the
        # sample back, so a resumed run keeps exactly what a fresh run keeps.
        pool = {s.key: s for s in _set_aside(self.output, name)}
        pool.update((s.key, s) for s in iter_shard(join(self.output, name), Kind.IMAGE_TEXT))
        removed = [s for k, s in sorted(pool.items()) if k in verdicts]
        drops = []
        # The set-aside samples are written first: a kill between the two writes loses nothing.
        with ShardWriter(_set_aside_dir(self.output), Kind.IMAGE_TEXT, index, self.prefix) as aside:
            for sample in removed:
                aside.write(sample)
        with ShardWriter(self.output, Kind.IMAGE_TEXT, index, self.prefix) as writer:
            for key, sample in sorted(pool.items()):
                verdict = verdicts.get(key)
                if verdict is None:
                    writer.write(sample)
                else:
                    reason, detail, dup_of = verdict
                    record = {"key": sample.key, "id": sample.id, "url": sample.url}
                    drops.append(drop_of(record, reason, detail, "finalize", duplicate_of=dup_of))
            stats = writer.close(final, extra_counts=current.extra_counts, source=current.source)
        log.info("%s rewritten: %d samples left", name, stats.samples)
        yield stats, drops


def _set_aside_dir(output: str) -> str:
    """Where the finalize phase keeps the samples it removed (a reader never looks there)."""
    return join(output, WORK_DIR, "finalize-removed")


def _set_aside(output: str, name: str) -> list[Any]:
    folder = _set_aside_dir(output)
    if not shard_is_complete(folder, name):
        return []
    return list(iter_shard(join(folder, name), Kind.IMAGE_TEXT))


def _shard_keys(output: str, name: str) -> set[str]:
    """The keys a complete shard holds, from its Parquet (no tar read)."""
    return set(read_parquet(join(output, sidecar(name, ".parquet")), ["key"]).column("key").to_pylist())


class FinalizeResult(NamedTuple):
    stats: pvalue.PCollection  # final ShardStats of every shard
    drops: pvalue.PCollection  # drop records of the samples the finalize phase removed


class Finalize(beam.PTransform):
    """Download-phase ShardStats -> final ShardStats and the finalize drops."""

    def __init__(
        self,
        output: str,
        prefix: str,
        dedup_images: bool,
        clip_top_fraction: float | None,
        phash_distance: int | None,
    ) -> None:
        super().__init__()
        self.output, self.prefix = output, prefix
        self.dedup_images, self.clip_top_fraction, self.phash_distance = (
            dedup_images,
            clip_top_fraction,
            phash_distance,
        )

    def expand(self, stats: pvalue.PCollection) -> FinalizeResult:
        candidates = stats | "Candidates" >> beam.FlatMap(_candidates, self.output)
        verdicts = []
        if self.dedup_images:
            verdicts.append(
                candidates
                | "BySha" >> beam.Map(lambda r: (r["sha256"], r))
                | "GroupBySha" >> beam.GroupByKey()
                | "ImageVerdicts" >> beam.FlatMap(_image_verdicts)
            )
        if self.clip_top_fraction:
            keep = self.clip_top_fraction
            threshold = (
                candidates
                | "ScoreBins"
                >> beam.FlatMap(lambda r: [score_bin(r["clip_score"])] if r["clip_score"] is not None else [])
                | "CountPerBin" >> beam.combiners.Count.PerElement()
                | "AllBins" >> beam.combiners.ToList()
                | "Threshold" >> beam.Map(top_fraction_threshold, keep)
            )
            verdicts.append(
                candidates | "ScoreVerdicts" >> beam.FlatMap(_score_verdict, pvalue.AsSingleton(threshold))
            )
        if self.phash_distance is not None:
            verdicts.append(candidates | "NearImages" >> NearDuplicateImages(self.phash_distance))
        all_verdicts = verdicts | "AllVerdicts" >> beam.Flatten()
        finalized = (
            {"stats": stats | "StatsByName" >> beam.Map(lambda s: (s.shard, s)), "verdicts": all_verdicts}
            | "ByShard" >> beam.CoGroupByKey()
            | "Finalize" >> beam.ParDo(FinalizeShard(self.output, self.prefix))
        )
        return FinalizeResult(
            finalized | "FinalStats" >> beam.Map(lambda sd: sd[0]),
            finalized | "FinalDrops" >> beam.FlatMap(lambda sd: sd[1]),
        )
