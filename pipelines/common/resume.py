"""What makes a finished shard reusable by a rerun: its source identity."""

from __future__ import annotations

import hashlib
from typing import Any


def shard_source(keys: list[str], cfg: Any) -> str:
    """A shard's identity for resuming: the keys of its input rows and every setting that shapes it.

    A rerun with another --samples-per-shard, more input files or other filters gives other
    sources, so stale shards are rebuilt instead of silently reused."""
    digest = hashlib.sha256(repr(cfg).encode())
    for key in keys:
        digest.update(key.encode() + b"\n")
    return digest.hexdigest()
