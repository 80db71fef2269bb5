"""What makes a finished shard reusable by a rerun: the content it was made from, and the settings.

A shard is reused only when the rows that went into it are the same rows (the same bytes of
every field, after corpus-wide URL and document dedup decided which rows a shard gets) and every
setting is the same. Paths and row numbers are not enough: a URL list edited in place keeps its
paths and row numbers, and a WARC added beside a finished one can change which of its pages
survive dedup; in both cases the content differs, the source differs, and the shard is rebuilt.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from typing import Any


def _plain(value: Any) -> Any:
    """A JSON-ready, deterministic form of a row value (bytes by their sha256, dataclasses as dicts)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"sha256": hashlib.sha256(value).hexdigest()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {type(value).__name__: {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}}
    if isinstance(value, (set, frozenset)):
        return sorted(map(repr, value))
    return repr(value)


def content_digest(rows: Iterable[Any]) -> str:
    """sha256 over the rows' content, in the given order (sort them first for an order-free digest)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(
            json.dumps(row, sort_keys=True, default=_plain, ensure_ascii=False).encode("utf-8", "replace")
        )
        digest.update(b"\n")
    return digest.hexdigest()


def shard_source(rows: Iterable[Any], cfg: Any) -> str:
    """A shard's identity for resuming: the content of its input rows and every setting that shapes it.

    `rows` are what the shard is built from (row dicts, ready drop records, documents), sorted by
    key by the caller. Another --samples-per-shard (other rows), an edited row, a row that dedup now
    assigns elsewhere or other filters give another source, so stale shards are rebuilt."""
    from pipelines.common.output_dir import corpus_settings
    from pipelines.common.sink import config_dict

    # Only what shapes the corpus: an added input, an output path or a faster fetch reuses the shard.
    settings = json.dumps(corpus_settings(config_dict(cfg)), sort_keys=True, default=str)
    return hashlib.sha256(settings.encode() + b"\n" + content_digest(rows).encode()).hexdigest()
