"""Webdataset image-text folders written by other tools (img2dataset, LAION, COYO, DataComp), read as they are.

A foreign sample is `<key>.jpg|jpeg|png|webp` + `<key>.txt` [+ `<key>.json`] with no manifest and
no `schema` field; img2dataset's `_stats.json` and `.parquet` files beside the tars are optional.
`foreign_shard_urls` resolves a folder, a glob or a brace pattern (`shards/{00000..00099}.tar`);
`foreign_sample` turns one key's members into the same `ImageTextSample` our own shards give, so
the trainer, the tokenizer and `kosmos-shards` read both alike. A broken sample is a `SchemaError`
(the reader counts and skips it); only a damaged tar stream ends a shard.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

from PIL import Image

from schemas.images import IMAGE_FORMATS
from schemas.kinds import SchemaError
from schemas.manifest import MANIFEST_NAME
from schemas.reader import TAR_READ_ERRORS, ShardReadError, group_samples, iter_members
from schemas.samples import ImageTextSample
from schemas.storage import filesystem, join, open_binary, read_bytes

FOREIGN_IMAGE_FIELDS = ("jpg", "jpeg", "png", "webp")
# What `kosmos-shards validate` can check only with our manifest and sidecars.
NEEDS_MANIFEST = (
    "counts: input == kept + sum(dropped) with drop reasons (manifest.json)",
    "shard sizes and sha256 against the manifest",
    "per-shard Parquet and .stats.json agree with the tar (img2dataset's are compared when present)",
    "JSON metadata against the kosmos.image_text/1 schema (width, height, sha256, lang, ...)",
)


def _with_protocol(target: str, path: str) -> str:
    protocol = target.split("://", 1)[0] + "://" if "://" in target else ""
    return path if not protocol or path.startswith(protocol) else protocol + path


def has_manifest(target: str) -> bool:
    """True when `target` is a folder holding our manifest.json."""
    fs, path = filesystem(target)
    return fs.isdir(path) and fs.exists(join(path, MANIFEST_NAME))


def foreign_shard_urls(target: str, missing: list[str] | None = None) -> list[str]:
    """The tars of a folder (sorted, hidden and temporary files left out), a glob, or a brace pattern.

    Paths a brace pattern names that do not exist are appended to `missing` when it is given."""
    urls: list[str] = []
    from webdataset.shardlists import expand_urls  # webdataset imports torch: only for a foreign target

    for pattern in expand_urls(target) if "{" in target else [target]:
        fs, path = filesystem(pattern)
        if fs.isdir(path):
            found = [p for p in fs.find(path) if p.endswith(".tar")]
        elif any(c in path for c in "*?["):
            found = fs.glob(path)
        else:
            found = [path] if fs.exists(path) else []
            if not found and missing is not None:
                missing.append(pattern)
        found = [p for p in found if not p.rsplit("/", 1)[-1].startswith((".", "_"))]
        urls += [_with_protocol(pattern, p) for p in sorted(found) if p.endswith(".tar")]
    return urls


def _caption(fields: dict[str, bytes], meta: dict[str, Any]) -> str:
    if "txt" in fields:
        try:
            return fields["txt"].decode("utf-8").strip()
        except UnicodeDecodeError:
            raise SchemaError("member 'txt' is not valid UTF-8") from None
    caption = meta.get("caption")
    if not isinstance(caption, str):
        raise SchemaError("no 'txt' member and no caption in the JSON")
    return caption.strip()


def _meta(fields: dict[str, bytes]) -> dict[str, Any]:
    if "json" not in fields:
        return {}
    try:
        meta = json.loads(fields["json"].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SchemaError(f"member 'json' is not valid JSON: {e}") from None
    if not isinstance(meta, dict):
        raise SchemaError(f"member 'json' is a {type(meta).__name__}, expected an object")
    return meta


def _header_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the image header (no pixels decoded); SchemaError when it is no image."""
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as img:
            return img.size
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for bad bytes; each is a finding
        raise SchemaError(f"image member is not an image: {type(e).__name__}: {e}") from None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def foreign_sample(key: str, fields: dict[str, bytes]) -> ImageTextSample:
    """The ImageTextSample of one foreign key's members; SchemaError naming the problem otherwise."""
    images = [f for f in FOREIGN_IMAGE_FIELDS if f in fields]
    if len(images) != 1:
        raise SchemaError(
            f"expected exactly one image member ({'/'.join(FOREIGN_IMAGE_FIELDS)}), found {images}"
        )
    meta = _meta(fields)
    caption = _caption(fields, meta)
    data = fields[images[0]]
    width, height = _header_size(data)
    known = {"url", "caption", "key", "width", "height", "original_width", "original_height", "uid"}
    extra = {k: v for k, v in meta.items() if k not in known and v is not None}
    uid = meta.get("uid")
    return ImageTextSample(
        key=key,
        image=data,
        image_ext="jpg" if images[0] == "jpeg" else images[0],
        caption=caption,
        width=width,
        height=height,
        url=meta.get("url") if isinstance(meta.get("url"), str) else None,
        id=str(uid) if uid is not None else None,
        original_width=_int_or_none(meta.get("original_width")),
        original_height=_int_or_none(meta.get("original_height")),
        extra=extra or None,
    )


def iter_foreign_items(
    url: str, start: int = 0, keep: Callable[[int], bool] | None = None
) -> Iterator[tuple[int, str, ImageTextSample | Exception]]:
    """(index, key, sample or the error that spoiled it) for the samples of one foreign tar from
    `start` on (and only those `keep` accepts, without parsing the others)."""
    index, key = -1, ""
    try:
        with open_binary(url) as stream:
            for index, (key, fields) in enumerate(group_samples(iter_members(stream), url)):
                if index < start or (keep is not None and not keep(index)):
                    continue
                try:
                    yield index, key, foreign_sample(key, fields)
                except SchemaError as e:
                    yield index, key, ShardReadError(f"{url}: sample {key!r}: {e}")
    except ShardReadError as e:
        yield index + 1, key, e
    except TAR_READ_ERRORS as e:
        where = f"after key {key!r}" if key else "at the start"
        yield index + 1, key, ShardReadError(f"{url}: corrupt or truncated tar {where}: {e}")


def iter_foreign_samples(target: str) -> Iterator[ImageTextSample]:
    """Every readable sample of a foreign folder, glob or brace pattern (broken samples skipped)."""
    for url in foreign_shard_urls(target):
        for _, _, sample in iter_foreign_items(url):
            if isinstance(sample, ImageTextSample):
                yield sample


STATS_LIMIT = 16 << 20
"""Largest `_stats.json` read (img2dataset's are a few KB)."""


def foreign_stats(url: str) -> dict[str, Any]:
    """img2dataset's `<shard>_stats.json` beside a tar (count, successes, status_dict, ...), or {}."""
    try:  # a regular file of bounded size: a FIFO or /dev/zero beside the tar must not hang us
        stats = json.loads(read_bytes(url[: -len(".tar")] + "_stats.json", limit=STATS_LIMIT))
    except (OSError, ValueError):
        return {}
    return stats if isinstance(stats, dict) else {}


def is_foreign_target(target: str) -> bool:
    """True for a folder without our manifest whose first sample is not ours, or a glob/brace pattern of such tars."""
    if has_manifest(target):
        return False
    urls = foreign_shard_urls(target)
    if not urls:
        return False
    try:
        with open_binary(urls[0]) as stream:
            for _, fields in group_samples(iter_members(stream), urls[0]):
                meta = _meta(fields) if "json" in fields else {}
                return "schema" not in meta
    except (SchemaError, *TAR_READ_ERRORS):
        return True
    return True
