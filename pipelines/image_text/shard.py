"""One shard of the image-caption download phase, Beam-free: rows in, shard + counts + drops out.

    rows (assigned to this shard, captions already cleaned) -> fetch (concurrent, in batches) ->
    image decode/filter/resize -> CLIP score (optional) -> ShardWriter

Every row leaves as a sample or a drop with its reason; the shard's stats carry the counts.
The candidates file (`_work/<shard>.candidates.parquet`) records the fate of every row of this
phase, unchanged by the finalize phase: a kept sample (sha256, CLIP score, pHash) or the reason it
was dropped. Corpus-wide decisions are recomputed from it identically on a rerun, and the phase's
counts are the rows counted by fate (pipelines/common/drops.py's rule), not numbers stored apart.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from filters.base import Drop
from filters.clip_score import LAION_THRESHOLD, ClipConfig, ClipScorer
from filters.image import ImageConfig, ProcessedImage, process_image
from filters.phash import phash
from pipelines.common.drops import counts_of, drop_of, is_drop
from pipelines.common.progress import count_fetched
from pipelines.image_text.originals import hash_problem, keep_original, with_original_sha256
from pipelines.io.fetch import FetchConfig, Fetched, Fetcher
from schemas.kinds import Kind
from schemas.manifest import Counts
from schemas.samples import ImageTextSample
from schemas.storage import atomic_write_bytes, filesystem, join, open_binary
from schemas.writer import WORK_DIR, ShardStats, ShardWriter, shard_name, sidecar

CANDIDATES = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("reason", pa.string()),  # null for a kept sample, else the drop reason
        pa.field("sha256", pa.string()),  # null for a dropped row
        pa.field("clip_score", pa.float64()),
        pa.field("phash", pa.uint64()),  # null unless near-duplicate images are looked for
    ]
)


@dataclass(frozen=True)
class DownloadConfig:
    """What the download phase of one shard needs."""

    output: str
    prefix: str = "shard"
    fetch: FetchConfig = field(default_factory=FetchConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    clip: ClipConfig | None = None  # None: no scoring (`--clip-model none`)
    clip_threshold: float | None = LAION_THRESHOLD  # None: no per-sample threshold (e.g. top-fraction only)
    fetch_batch: int = 256  # URLs fetched concurrently per round; bounds memory per worker
    phash: bool = False  # record each image's perceptual hash for near-duplicate removal
    reencode: str = "needed"  # never | needed | always (filters.stored_form)


Prepared = tuple[ProcessedImage | Drop | None, dict[str, Any]]
"""An image thread's work on one row: its processed image (or why not) and the row with its hash."""


def candidates_path(output: str, name: str) -> str:
    return join(output, WORK_DIR, sidecar(name, ".candidates.parquet"))


class ShardDownloader:
    """Holds the per-worker resources (fetcher, caption filter, CLIP model) across shards."""

    def __init__(self, config: DownloadConfig) -> None:
        self.cfg = config
        self.fetcher = Fetcher(config.fetch)
        self.clip = ClipScorer(config.clip) if config.clip is not None else None
        # The next batch downloads (one thread: the Fetcher is not thread safe) while this one is
        # decoded and resized on every core (Pillow releases the GIL in decode, resize, encode).
        self._fetch_thread = ThreadPoolExecutor(1, thread_name_prefix="kosmos-fetch")
        self._image_threads = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="kosmos-image")

    def close(self) -> None:
        self._fetch_thread.submit(self.fetcher.close).result()
        self._fetch_thread.shutdown()
        self._image_threads.shutdown()

    def run(
        self, index: int, rows: list[dict[str, Any]], source: str | None = None
    ) -> tuple[ShardStats, list[dict[str, Any]]]:
        """Download and write shard `index` from its rows (each row dict or a ready drop dict)."""
        drops: list[dict[str, Any]] = []
        todo: list[dict[str, Any]] = []
        for row in sorted(rows, key=lambda r: r["key"]):
            if is_drop(row):  # dropped before this shard (unreadable row, caption, duplicate URL)
                drops.append(row)
            else:
                todo.append(row)
        candidates: list[dict[str, Any]] = []
        writer = ShardWriter(self.cfg.output, Kind.IMAGE_TEXT, index, self.cfg.prefix)
        try:
            batches = [todo[i : i + self.cfg.fetch_batch] for i in range(0, len(todo), self.cfg.fetch_batch)]
            pending = self._fetch_thread.submit(self._fetch, batches[0]) if batches else None
            for i, batch in enumerate(batches):
                fetched, images = pending.result()
                count_fetched([f for f in fetched if f is not None])  # here: Beam counts in the DoFn's thread
                if i + 1 < len(batches):
                    pending = self._fetch_thread.submit(self._fetch, batches[i + 1])
                for sample, image_hash in self._process_batch(batch, fetched, images, drops):
                    writer.write(sample)
                    candidates.append(
                        {
                            "key": sample.key,
                            "reason": None,
                            "sha256": sample.sha256,
                            "clip_score": sample.clip_score,
                            "phash": image_hash,
                        }
                    )
            counts = counts_of(writer.samples, drops, input_count=len(rows))
            fates = candidates + [{"key": d["key"], "reason": d["reason"]} for d in drops]
            self._write_candidates(shard_name(self.cfg.prefix, index), fates)
            stats = writer.close(counts, source=source)
        except BaseException:
            writer.abort()
            raise
        return stats, drops

    def _fetch(
        self, batch: list[dict[str, Any]]
    ) -> tuple[list[Fetched | Drop | None], list[Future[Prepared]]]:
        """Runs on the fetch thread: one fetch result per row (None for a row that carries its image
        bytes, e.g. re-filtering a shard) and one future of its prepared image. Each body goes to the
        image threads the moment it lands, so decoding starts while the rest of the batch downloads."""
        fetched: list[Fetched | Drop | None] = [None] * len(batch)
        images: list[Future[Prepared] | None] = [None] * len(batch)
        wanted = [i for i, row in enumerate(batch) if row.get("image") is None]
        for i, row in enumerate(batch):
            if row.get("image") is not None:
                images[i] = self._image_threads.submit(self._prepare, row, row["image"])

        def landed(j: int, result: Fetched | Drop) -> None:
            i = wanted[j]
            fetched[i] = result
            images[i] = self._image_threads.submit(self._prepare, batch[i], getattr(result, "content", None))

        if wanted:
            self.fetcher.fetch([batch[i]["url"] for i in wanted], on_result=landed)
        return fetched, images  # type: ignore[return-value]  # every slot is filled by now

    def _prepare(self, row: dict[str, Any], data: bytes | None) -> Prepared:
        """On an image thread: the processed image (the downloaded bytes kept where allowed) and the row
        with its `original_sha256`; (None, row) for a row without bytes. Whether the row is kept is
        decided in order by _process_batch (a fetch drop or a hash mismatch comes first)."""
        if data is None:
            return None, row
        image = process_image(data, self.cfg.image)
        if isinstance(image, Drop):
            return image, row
        return keep_original(data, image, self.cfg.reencode, self.cfg.image), with_original_sha256(row, data)

    def _process_batch(
        self,
        batch: list[dict[str, Any]],
        fetched: list[Fetched | Drop | None],
        images: list[Future[Prepared]],
        drops: list[dict[str, Any]],
    ) -> list[tuple[ImageTextSample, int | None]]:
        ready: list[tuple[dict[str, Any], ProcessedImage]] = []
        for row, result, pending in zip(batch, fetched, images, strict=True):
            image, hashed = pending.result()
            if isinstance(result, Drop):
                drops.append(drop_of(row, result.reason, result.detail, "fetch"))
                continue
            mismatch = hash_problem(row, row["image"] if result is None else result.content)
            if mismatch:
                drops.append(drop_of(row, "hash_mismatch", mismatch, "fetch"))
                continue
            if isinstance(image, Drop):
                drops.append(drop_of(row, image.reason, image.detail, "image"))
                continue
            ready.append((hashed, image))
        scores: list[float | None] = [None] * len(ready)
        if self.clip is not None and ready:
            scores = [
                float(s)
                for s in self.clip.score([im.image for _, im in ready], [r["caption"] for r, _ in ready])
            ]
        samples = []
        for (row, image), score in zip(ready, scores, strict=True):
            threshold = self.cfg.clip_threshold
            if score is not None and threshold is not None and score < threshold:
                drops.append(drop_of(row, "clip_score", f"{score:.4f} < {threshold}", "clip"))
                continue
            samples.append(
                (
                    ImageTextSample(
                        key=row["key"],
                        image=image.data,
                        image_ext=image.ext,
                        caption=row["caption"],
                        width=image.width,
                        height=image.height,
                        original_width=row.get("original_width") or image.original_width,
                        original_height=row.get("original_height") or image.original_height,
                        sha256=image.sha256,
                        original_sha256=row["original_sha256"],
                        uid=row.get("uid"),
                        columns=row.get("columns"),
                        url=row["url"],
                        id=row.get("id"),
                        lang=row.get("lang"),
                        lang_score=row.get("lang_score"),
                        clip_score=score,
                        clip_model=self.cfg.clip.model_id if self.cfg.clip is not None else "none",
                        extra=row.get("extra"),
                    ),
                    phash(image.image) if self.cfg.phash and image.image is not None else None,
                )
            )
        return samples

    def _write_candidates(self, name: str, fates: list[dict[str, Any]]) -> None:
        table = pa.Table.from_pylist(sorted(fates, key=lambda r: r["key"]), schema=CANDIDATES)
        buf = io.BytesIO()
        pq.write_table(table, buf)
        fs, path = filesystem(candidates_path(self.cfg.output, name))
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        atomic_write_bytes(fs, path, buf.getvalue())


def read_parquet(url: str, columns: list[str] | None = None) -> pa.Table:
    """One Parquet file as a table. pq.ParquetFile, not pq.read_table: the latter imports
    pyarrow.dataset on first use, about 0.35 s of every run for two small files."""
    with open_binary(url) as f:
        return pq.ParquetFile(f).read(columns=columns)


def read_candidates(output: str, name: str) -> tuple[list[dict[str, Any]], Counts]:
    """The download phase's kept samples (key, sha256, clip_score, phash) and its counts for one shard
    (the kept samples plus the dropped rows counted per reason)."""
    rows = read_parquet(candidates_path(output, name)).to_pylist()
    kept = [{k: v for k, v in r.items() if k != "reason"} for r in rows if r["reason"] is None]
    return kept, counts_of(len(kept), [r for r in rows if r["reason"] is not None])
