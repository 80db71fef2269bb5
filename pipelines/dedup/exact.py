"""Exact dedup: records with the same content hash keep only the smallest key.

Only (16-byte hash, key) pairs are grouped; the records wait in spill files (pipelines/dedup/spill.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from pipelines.dedup.records import DedupResult, RecordFields
from pipelines.dedup.spill import SpillAndApply, shuffle_counter

HASH_BYTES = 16  # 128-bit content hash in the shuffle: a chance collision in 1e12 records is ~1e-15


def hash_of(fields: RecordFields) -> Callable[[Any], bytes]:
    """record -> the 16 bytes it is grouped by: of the ready hash if `fields.hash`, else of the text
    (SHA-256 of the UTF-8 text with surrounding whitespace stripped, as `content_hash`)."""
    if fields.hash is not None:
        ready = fields.hash
        return lambda r: _compact(str(ready(r)))
    text = fields.text
    return lambda r: hashlib.sha256((text(r) or "").strip().encode("utf-8", "surrogatepass")).digest()[
        :HASH_BYTES
    ]


def _compact(ready: str) -> bytes:
    """A ready hex hash as its first 16 bytes (so the detail shows its hex prefix); else BLAKE2b of it."""
    try:
        return bytes.fromhex(ready)[:HASH_BYTES]
    except ValueError:
        return hashlib.blake2b(ready.encode("utf-8", "surrogatepass"), digest_size=HASH_BYTES).digest()


def _exact_verdicts(element: tuple[bytes, Iterable[str]], reason: str, stage: str):
    """For one hash: every key but the smallest gets a verdict naming the smallest."""
    digest, keys = element
    ordered = sorted(set(keys))
    best = ordered[0]
    for key in ordered[1:]:
        yield key, ("exact", reason, best, f"same hash {digest.hex()[:16]} as {best}", stage)


class ExactVerdicts(beam.PTransform):
    """records -> PCollection[(key, ("exact", reason, duplicate_of, detail, stage))]."""

    def __init__(self, fields: RecordFields, stage: str, reason: str) -> None:
        super().__init__()
        self.fields, self.stage, self.reason = fields, stage, reason

    def expand(self, records: pvalue.PCollection) -> pvalue.PCollection:
        key_of, digest_of = self.fields.key, hash_of(self.fields)
        counter = shuffle_counter(self.stage)

        def keyed(r: Any) -> tuple[bytes, str]:
            digest, key = digest_of(r), key_of(r)
            counter.inc(len(digest) + len(key))
            return digest, key

        return (
            records
            | "HashKey" >> beam.Map(keyed)
            | "GroupByHash" >> beam.GroupByKey()
            | "KeepSmallestKey" >> beam.FlatMap(_exact_verdicts, self.reason, self.stage)
        )


class ExactDedup(beam.PTransform):
    """Exact duplicates by content hash: the smallest key of each hash wins."""

    def __init__(
        self,
        fields: RecordFields = RecordFields(),
        stage: str = "exact_dedup",
        reason: str = "exact_duplicate",
        temp_dir: str | None = None,
    ) -> None:
        """`reason` names the drops: exact_duplicate for content, duplicate_url for URLs, duplicate_image
        for images. `temp_dir`: where records wait meanwhile (default: --temp_location, else local)."""
        super().__init__()
        self.fields, self.stage, self.reason, self.temp_dir = fields, stage, reason, temp_dir

    def expand(self, records: pvalue.PCollection) -> DedupResult:
        def verdicts(in_memory: pvalue.PCollection):
            return [in_memory | "Exact" >> ExactVerdicts(self.fields, self.stage, self.reason)], None

        return records | SpillAndApply(self.fields, verdicts, self.stage, self.temp_dir)
