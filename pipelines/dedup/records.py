"""How dedup reads a record (key, text or ready hash, id, url), the drop records it emits and its result type."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple

from apache_beam import pvalue

from pipelines.common.drops import drop_of

KEPT = "kept"
DROPPED = "dropped"


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
