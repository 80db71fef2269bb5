"""`kosmos-shards inspect`: what a corpus holds, as a readable table or JSON."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from typing import Any

from schemas.foreign import foreign_shard_urls, foreign_stats, is_foreign_target, iter_foreign_samples
from schemas.manifest import Manifest, read_manifest
from schemas.reader import iter_shard
from schemas.samples import ImageTextSample, InterleavedSample, Sample, TextSample
from schemas.storage import filesystem, join

SIDE_BUCKETS = (64, 128, 256, 512, 1024)


def side_bucket(width: int, height: int) -> str:
    """The histogram bucket of an image's shorter side, e.g. '256-511'."""
    side = min(width, height)
    lower = 0
    for edge in SIDE_BUCKETS:
        if side < edge:
            return f"<{edge}" if lower == 0 else f"{lower}-{edge - 1}"
        lower = edge
    return f">={SIDE_BUCKETS[-1]}"


def summary_stats(values: list[int]) -> dict[str, float]:
    """min / mean / median / p90 / max of a list (zeros when empty)."""
    if not values:
        return {"min": 0, "mean": 0, "median": 0, "p90": 0, "max": 0}
    ordered = sorted(values)
    return {
        "min": ordered[0],
        "mean": round(statistics.fmean(ordered), 1),
        "median": statistics.median(ordered),
        "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
        "max": ordered[-1],
    }


def _text_and_images(sample: Sample) -> tuple[list[str], list[tuple[int, int]]]:
    if isinstance(sample, TextSample):
        return [sample.text], []
    if isinstance(sample, ImageTextSample):
        return [sample.caption], [(sample.width, sample.height)]
    assert isinstance(sample, InterleavedSample)
    return [t for t in sample.texts if t is not None], [(i.width, i.height) for i in sample.stored_images]


def describe_samples(samples: Iterable[Sample]) -> dict[str, Any]:
    """Length, image-size and images-per-sample statistics over samples."""
    chars, words, images_per_sample = [], [], Counter()
    sides: Counter[str] = Counter()
    n = 0
    for sample in samples:
        n += 1
        texts, sizes = _text_and_images(sample)
        joined = "\n".join(texts)
        chars.append(len(joined))
        words.append(len(joined.split()))
        images_per_sample[len(sizes)] += 1
        sides.update(side_bucket(w, h) for w, h in sizes)
    return {
        "samples": n,
        "text_chars": summary_stats(chars),
        "text_words": summary_stats(words),
        "images_per_sample": dict(sorted(images_per_sample.items())),
        "image_shorter_side": dict(sorted(sides.items(), key=lambda kv: _bucket_order(kv[0]))),
    }


def _bucket_order(bucket: str) -> int:
    digits = "".join(c if c.isdigit() else " " for c in bucket).split()
    return int(digits[0]) if digits else 0


def _limited(samples: Iterable[Sample], limit: int | None) -> Iterable[Sample]:
    for n, sample in enumerate(samples):
        if limit is not None and n >= limit:
            return
        yield sample


def inspect_foreign(root: str, limit: int | None = None) -> dict[str, Any]:
    """A foreign webdataset folder: its shards and samples; img2dataset's `_stats.json` counts when present
    (their status names are img2dataset's, not our drop reasons)."""
    urls = foreign_shard_urls(root)
    count, statuses = 0, Counter()
    for url in urls:
        stats = foreign_stats(url)
        count += int(stats.get("count") or 0)
        statuses.update(
            {str(k): int(v) for k, v in (stats.get("status_dict") or {}).items() if k != "success"}
        )
    stats = describe_samples(_limited(iter_foreign_samples(root), limit))
    kept = stats["samples"] if limit is None else sum(1 for _ in iter_foreign_samples(root))
    return {
        "root": root,
        "kind": "image_text",
        "schema": "foreign webdataset (no manifest.json: drop reasons and counts need one)",
        "shards": len(urls),
        "bytes": sum(filesystem(u)[0].size(filesystem(u)[1]) for u in urls),
        "counts": {"input": max(count, kept), "kept": kept, "dropped": dict(sorted(statuses.items()))},
        "config": {},
        "stats": stats,
    }


def inspect_corpus(root: str, limit: int | None = None) -> dict[str, Any]:
    """Manifest facts plus statistics over the samples (the first `limit` when given)."""
    if is_foreign_target(root):
        return inspect_foreign(root, limit)
    manifest: Manifest = read_manifest(root)

    def samples() -> Iterable[Sample]:
        count = 0
        for entry in manifest.shards:  # only the listed shards, at their listed size and sha256
            for sample in iter_shard(join(root, entry.path), manifest.kind, entry):
                if limit is not None and count >= limit:
                    return
                count += 1
                yield sample

    counts = manifest.counts
    return {
        "root": root,
        "kind": manifest.kind.value,
        "schema": manifest.kind.schema_id,
        "shards": len(manifest.shards),
        "bytes": sum(s.bytes for s in manifest.shards),
        "counts": {
            "input": counts.input,
            "kept": counts.kept,
            "dropped": dict(sorted(counts.dropped.items())),
        },
        "config": manifest.config,
        "stats": describe_samples(samples()),
    }


def format_table(info: dict[str, Any]) -> str:
    """The inspect result as aligned text tables."""
    lines = [f"corpus {info['root']}  kind={info['kind']}  schema={info['schema']}"]
    counts, stats = info["counts"], info["stats"]
    mb = info["bytes"] / 1e6
    lines += [
        f"  shards {info['shards']}   samples {counts['kept']}   size {mb:.1f} MB"
        f"   ({info['bytes'] / max(counts['kept'], 1) / 1e3:.1f} kB/sample)",
        "",
        format_counts(counts["input"], counts["kept"], counts["dropped"]),
    ]
    lines += ["", f"  {'length':<14}" + "".join(f"{k:>9}" for k in ("min", "mean", "median", "p90", "max"))]
    for label in ("text_chars", "text_words"):
        lines.append(
            f"  {label:<14}"
            + "".join(f"{stats[label][k]:>9}" for k in ("min", "mean", "median", "p90", "max"))
        )
    if stats["image_shorter_side"]:
        lines += ["", "  images by shorter side (px)"]
        lines += [f"    {bucket:<12}{n:>8}" for bucket, n in stats["image_shorter_side"].items()]
    lines += ["", "  images per sample"]
    lines += [f"    {k:<12}{n:>8}" for k, n in stats["images_per_sample"].items()]
    if stats["samples"] != counts["kept"]:
        lines.append(f"\n  (statistics over the first {stats['samples']} samples)")
    return "\n".join(lines)


def format_counts(input_count: int, kept: int, dropped: dict[str, int]) -> str:
    """The counts table: input, kept and each drop reason with its share of the input."""
    lines = [
        f"  {'counts':<28}{'n':>10}{'share':>9}",
        f"  {'input':<28}{input_count:>10}{'':>9}",
        f"  {'kept':<28}{kept:>10}{_share(kept, input_count):>9}",
    ]
    for reason, n in sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {'dropped: ' + reason:<28}{n:>10}{_share(n, input_count):>9}")
    return "\n".join(lines)


def _share(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total else "-"
