"""The image-caption pipeline: URL lists -> download phase -> finalize phase -> shards + manifest.

    kosmos-corpus image-text --input urls.parquet --output out/pairs [--clip-model ViT-B-32 ...]

Download phase (per shard, resumable): input rows are numbered across the sorted input files and
cut into shards of `samples_per_shard` rows, as img2dataset does; duplicate URLs are dropped
before anything is fetched; each shard is then captioned-filtered, fetched, decoded, filtered,
resized, optionally CLIP-scored and written. A shard whose `.stats.json` exists is complete and
is not fetched again on a rerun.

Finalize phase (corpus-wide): image-sha256 dedup (smallest key wins) and the CLIP top fraction
(DataComp's rule, threshold from a Beam quantile combiner) are decided from the shards'
candidate files, and only the shards that lose samples are rewritten. Then the manifest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from filters.base import Drop
from filters.caption import CaptionConfig
from filters.clip_score import LAION_THRESHOLD, ClipConfig
from filters.image import ImageConfig
from filters.registry import RecordFilter, apply_filters, build_filters
from pipelines.common.drops import drop_of, is_drop
from pipelines.common.inputs import expand_inputs, is_warc_file, open_input
from pipelines.common.progress import count, count_shard
from pipelines.common.resume import shard_source
from pipelines.common.sink import WriteDrops, WriteManifestFromStats, config_dict, with_accelerator
from pipelines.common.urls import normalized_url
from pipelines.image_text.finalize import Finalize
from pipelines.image_text.shard import DownloadConfig, ShardDownloader
from pipelines.io.fetch import FetchConfig
from pipelines.io.img2dataset import carried_facts, carried_image, input_columns, without_sidecars
from pipelines.io.input_rows import RowError, iter_rows
from schemas.keys import make_key, row_identity
from schemas.kinds import Kind
from schemas.writer import (
    DEFAULT_SAMPLES_PER_SHARD,
    reusable_shard_stats,
    shard_name,
)

log = logging.getLogger(__name__)
DROPPED = "dropped"


@dataclass(frozen=True)
class ImageTextConfig:
    """Every setting of an image-caption run; written whole into the manifest's `config`."""

    inputs: tuple[str, ...]
    output: str
    warcs: tuple[str, ...] = ()  # WARC files whose (image URL, alt text) pairs are the input rows
    url_col: str = "url"
    caption_col: str = "caption"
    id_col: str | None = "id"
    fetch: FetchConfig = field(default_factory=FetchConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    caption: CaptionConfig = field(default_factory=CaptionConfig)
    clip: ClipConfig | None = None  # None = `--clip-model none`: no scoring
    clip_threshold: float | None = LAION_THRESHOLD
    clip_top_fraction: float | None = None
    dedup_urls: bool = True
    dedup_images: bool = True
    phash_distance: int | None = None  # near-duplicate images within this many pHash bits; None = off
    clip_accelerator: str | None = None  # Beam accelerator hint for the download + CLIP step only
    samples_per_shard: int = DEFAULT_SAMPLES_PER_SHARD
    prefix: str = "shard"
    fetch_batch: int = 256
    drops_dir: str | None = None
    reencode: str = "needed"  # never | needed | always: keep downloaded bytes that meet the image rules
    verify_hash: str | None = None  # COLUMN[:TYPE] of expected hashes of the downloaded bytes (img2dataset)

    def download(self) -> DownloadConfig:
        return DownloadConfig(
            output=self.output,
            prefix=self.prefix,
            fetch=self.fetch,
            image=self.image,
            clip=self.clip,
            clip_threshold=self.clip_threshold if self.clip is not None else None,
            fetch_batch=self.fetch_batch,
            phash=self.phash_distance is not None,
            reencode=self.reencode,
        )

    def manifest_config(self) -> dict[str, Any]:
        return config_dict(self)


# --- rows ----------------------------------------------------------------------------------------


def row_item(
    row: dict[str, Any] | RowError,
    key: str,
    where: str,
    cfg: ImageTextConfig,
    filters: list[tuple[str, RecordFilter]],
) -> dict[str, Any]:
    """A row as the download phase wants it (caption cleaned), or a ready drop dict (it has a `reason`).

    The caption is checked here, before URL dedup, so that a duplicate URL with a usable
    caption is not lost to a copy whose caption is rejected."""
    if isinstance(row, RowError):
        return drop_of({"key": key}, row.reason, row.detail, "read")
    url_col = cfg.url_col if cfg.url_col in row or "text" not in row else "text"  # .txt URL lists
    url = row.get(url_col)
    url = url.strip() if isinstance(url, str) and url.strip() else None
    image = carried_image(row)  # img2dataset output (webdataset or parquet `jpg`): nothing to download
    ident = row.get(cfg.id_col) if cfg.id_col else None
    base = {"key": key, "id": None if ident is None else str(ident), "url": url}
    if url is None and image is None:
        return drop_of(base, "malformed_row", f"{where}: no URL in column {cfg.url_col!r}", "read")
    caption = apply_filters(
        filters, {**base, "caption": row.get(cfg.caption_col), "lang": None, "lang_score": None}
    )
    if isinstance(caption, Drop):  # the row filters registered in filters/record_filters.py
        return drop_of(base, caption.reason, caption.detail, "caption")
    hash_col, _, hash_type = (cfg.verify_hash or "").partition(":")
    expected = row.get(hash_col) if hash_col and image is None else None
    used = {url_col, cfg.caption_col, cfg.id_col, hash_col or None}
    return {
        **base,
        "caption": caption["caption"],
        "lang": caption["lang"],
        "image": image,
        "lang_score": caption["lang_score"],
        "extra": None,
        "columns": input_columns(row, used, image is not None) or None,
        "expected_hash": (hash_type or "sha256", str(expected).strip().lower()) if expected else None,
        **carried_facts(row, image is not None),
    }


class ReadUrlRows(beam.DoFn):
    """(file index, URL, relative path, is WARC) -> (file index, row index, row item)."""

    def __init__(self, cfg: ImageTextConfig) -> None:
        self.cfg = cfg
        self.filters = build_filters("image_text", cfg)

    def process(self, element: tuple[int, str, str, bool]):
        file_index, url, relpath, is_warc = element
        n = 0
        with open_input(url) as stream:
            for index, (identity, row) in enumerate(_identified_rows(stream, relpath, is_warc)):
                key = make_key(Kind.IMAGE_TEXT.value, identity)
                yield file_index, index, row_item(row, key, f"{relpath} row {index}", self.cfg, self.filters)
                n += 1
                count("read", "rows")
        count("read", "files")
        log.info("read %d rows from %s", n, relpath)


def _identified_rows(stream: Any, relpath: str, is_warc: bool):
    """(source identity, row) from a URL list, an img2dataset shard, or a WARC file's alt texts."""
    if is_warc:
        from pipelines.io.alt_text import iter_alt_text_rows  # WARC parsing and HTML rules: --warc runs only

        yield from iter_alt_text_rows(stream, relpath)
        return
    for index, row in iter_rows(stream, relpath, txt_mode="lines"):
        yield row_identity(relpath, index), row


def _assign_shard(
    element: tuple[int, int, dict[str, Any]], per_shard: int, offsets: dict[int, int]
) -> tuple[int, dict[str, Any]]:
    file_index, row_index, item = element
    return (offsets[file_index] + row_index) // per_shard, item


def _offsets(counts: dict[int, int]) -> dict[int, int]:
    """Global row number of each file's first row (files in sorted order)."""
    out, total = {}, 0
    for file_index in sorted(counts):
        out[file_index] = total
        total += counts[file_index]
    return out


def _url_verdicts(element: tuple[str, list[tuple[int, dict[str, Any]]]]):
    """One normalised URL: the smallest key is kept, the others become duplicate_url drops."""
    _, items = element
    items = sorted(items, key=lambda si: si[1]["key"])
    keep = items[0][1]["key"]
    yield items[0]
    for shard, item in items[1:]:
        yield shard, drop_of(item, "duplicate_url", f"same URL as {keep}", "url_dedup", duplicate_of=keep)


# --- download phase -----------------------------------------------------------------------------------


class DownloadShard(beam.DoFn):
    """(shard index, items) -> ShardStats; drop records on the `dropped` output."""

    def __init__(self, cfg: DownloadConfig) -> None:
        self.cfg = cfg
        self.downloader: ShardDownloader | None = None

    def setup(self) -> None:
        self.downloader = ShardDownloader(self.cfg)

    def teardown(self) -> None:
        if self.downloader is not None:
            self.downloader.close()

    def process(self, element: tuple[int, Any]):
        index, items = element
        items = list(items)
        name = shard_name(self.cfg.prefix, index)
        # The rows' content (URL, caption, stored bytes, columns; drops with their reasons), not their
        # paths and row numbers: a URL list edited in place changes the source and the shard is rebuilt.
        source = shard_source(sorted(items, key=lambda item: item["key"]), self.cfg)
        done = reusable_shard_stats(self.cfg.output, name, source)
        if done is not None:
            log.info("%s is complete; not fetched again", name)
            count_shard(done)
            yield done
            return
        stats, drops = self.downloader.run(index, items, source)
        log.info("%s: %d of %d rows kept", name, stats.samples, stats.input)
        count_shard(stats)
        yield stats
        for d in drops:
            yield pvalue.TaggedOutput(DROPPED, d)


# --- the graph --------------------------------------------------------------------------------------------


def build_image_text_pipeline(p: beam.Pipeline, cfg: ImageTextConfig) -> None:
    inputs = without_sidecars(expand_inputs(cfg.inputs)) if cfg.inputs else []
    sources = [(url, rel, False) for url, rel in inputs]
    sources += [(url, rel, True) for url, rel in expand_inputs(cfg.warcs, is_warc_file)] if cfg.warcs else []
    files = [(i, url, rel, is_warc) for i, (url, rel, is_warc) in enumerate(sources)]
    rows = (
        p
        | "Files" >> beam.Create(files)
        | "SpreadFiles" >> beam.Reshuffle()
        | "ReadRows" >> beam.ParDo(ReadUrlRows(cfg))
    )
    per_file = rows | "PerFile" >> beam.Map(lambda r: (r[0], 1)) | "CountPerFile" >> beam.CombinePerKey(sum)
    offsets = per_file | "AllCounts" >> beam.combiners.ToDict() | "Offsets" >> beam.Map(_offsets)
    items = rows | "AssignShard" >> beam.Map(
        _assign_shard, cfg.samples_per_shard, pvalue.AsSingleton(offsets)
    )
    if cfg.dedup_urls:
        is_row = items | "Split" >> beam.Partition(lambda si, _n: 0 if is_drop(si[1]) else 1, 2)
        deduped = (
            is_row[1]
            | "ByUrl"
            >> beam.Map(
                lambda si: (normalized_url(si[1]["url"]) if si[1]["url"] else "key:" + si[1]["key"], si)
            )
            | "GroupByUrl" >> beam.GroupByKey()
            | "UrlVerdicts" >> beam.FlatMap(_url_verdicts)
        )
        items = (is_row[0], deduped) | "Rejoin" >> beam.Flatten()
    downloaded = (
        items
        | "GroupByShard" >> beam.GroupByKey()
        | "Download"
        >> with_accelerator(beam.ParDo(DownloadShard(cfg.download())), cfg.clip_accelerator).with_outputs(
            DROPPED, main="stats"
        )
    )
    stats = downloaded.stats
    drops = [downloaded[DROPPED]]
    if cfg.dedup_images or cfg.clip_top_fraction or cfg.phash_distance is not None:
        finalized = stats | "Finalize" >> Finalize(
            cfg.output, cfg.prefix, cfg.dedup_images, cfg.clip_top_fraction, cfg.phash_distance
        )
        stats = finalized.stats
        drops.append(finalized.drops)
    _ = stats | "Manifest" >> WriteManifestFromStats(cfg.output, Kind.IMAGE_TEXT, cfg.manifest_config())
    if cfg.drops_dir:
        _ = drops | "AllDrops" >> beam.Flatten() | "Drops" >> WriteDrops(cfg.drops_dir)
