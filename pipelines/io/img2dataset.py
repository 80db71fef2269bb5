"""What an input row from img2dataset, LAION, COYO or DataComp carries beyond URL and caption.

Beam-free. img2dataset's output (webdataset `.json` members, or its `--output_format parquet` with
the image bytes in a `jpg` column) already holds the image, its true original size and the sha256
of the downloaded bytes; URL lists carry extra columns (LAION's similarity, DataComp's uid and
expected hashes). These helpers turn such a row into the facts and top-level columns a sample keeps,
so nothing is fetched again and nothing is buried in one JSON string.
"""

from __future__ import annotations

import math
from typing import Any

from schemas.samples import IMAGE_TEXT_FIELDS

IMAGE_FIELDS = ("image", "jpg", "jpeg", "png", "webp")
# img2dataset fields about the stored (resized) image: they are recomputed, not carried over.
STORED_IMAGE_FIELDS = frozenset({"width", "height"})
_HEX = frozenset("0123456789abcdef")


def carried_image(row: dict[str, Any]) -> bytes | None:
    """The image bytes a row carries (webdataset re-ingest, img2dataset parquet `jpg`), else None."""
    for name in IMAGE_FIELDS:
        value = row.get(name)
        if isinstance(value, (bytes, bytearray, memoryview)) and len(value):
            return bytes(value)
    return None


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and (math.isnan(value) or not value.is_integer()):
        return None
    return int(value) if value > 0 else None


def _hex_digest(value: Any, length: int = 64) -> str | None:
    if isinstance(value, str) and len(value.strip()) == length and set(value.strip().lower()) <= _HEX:
        return value.strip().lower()
    return None


def carried_facts(row: dict[str, Any], carries_image: bool) -> dict[str, Any]:
    """original_width/height, original_sha256 and uid when the row states them (img2dataset, DataComp).

    img2dataset's `sha256` hashes the downloaded bytes, so it is the original's only when the row
    carries img2dataset's output; in a URL list a `sha256` column is an expected hash (verify_hash)."""
    facts: dict[str, Any] = {}
    width, height = _positive_int(row.get("original_width")), _positive_int(row.get("original_height"))
    if width and height:
        facts["original_width"], facts["original_height"] = width, height
    # Our own shards state original_sha256; img2dataset's `sha256` is its hash of what it downloaded.
    original = _hex_digest(row.get("original_sha256")) or _hex_digest(row.get("sha256"))
    if carries_image and original:
        facts["original_sha256"] = original
    uid = row.get("uid")
    if isinstance(uid, str) and uid.strip():
        facts["uid"] = uid.strip()
    return facts


def jsonable(value: Any) -> Any:
    """A value as JSON can hold it (Parquet timestamps, decimals, ... become strings)."""
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


def input_columns(row: dict[str, Any], used: set[str | None], carries_image: bool) -> dict[str, Any]:
    """The row's other columns, kept as top-level sample fields.

    A name that is one of our own fields gets a `source_` prefix (img2dataset's `key` becomes
    `source_key`); byte values (the image itself) and the stored image's size are left out."""
    skip = set(IMAGE_FIELDS) | {"original_width", "original_height", "uid", "source_key"} | used
    if carries_image:
        skip |= STORED_IMAGE_FIELDS | {"sha256", "original_sha256"}
    out: dict[str, Any] = {}
    for name, value in row.items():
        # None values stay (every sample of an input then has the same fields: one Parquet schema,
        # and one JSON layout for Hugging Face's webdataset loader); bytes are the image itself.
        if name in skip or isinstance(value, (bytes, bytearray, memoryview)):
            continue
        out[f"source_{name}" if name in IMAGE_TEXT_FIELDS else name] = jsonable(value)
    if carries_image and isinstance(row.get("source_key"), str) and "source_key" not in out:
        out["source_key"] = row["source_key"]
    return out


def without_sidecars(files: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Input files minus img2dataset's per-shard sidecars: `<shard>_stats.json`, and `<shard>.parquet`
    when `<shard>.tar` is an input too (its metadata, not more rows: reading it would fetch every
    URL again)."""
    tars = {url[: -len(".tar")] for url, _ in files if url.endswith(".tar")}
    return [
        (url, rel)
        for url, rel in files
        if not url.endswith("_stats.json")
        and not (url.endswith(".parquet") and url[: -len(".parquet")] in tars)
    ]
