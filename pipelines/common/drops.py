"""Drop records and the one counting rule every pipeline uses.

A drop record is one dropped input with exactly the fields of the shared drops schema (key, id,
url, reason, detail, duplicate_of, stage). It is built in one place, `drop_of`, which validates it
(`DropRecord`), and travels through Beam and into `--drops` Parquet as a plain dict.

Counting rule (the same for text, image-text and interleaved, per shard or per run): counts are
the kept samples plus the drop records counted per reason (`counts_of`); the input count, taken
where records are read, must equal that sum or the run fails (`check_counts`). Counts are never
stored apart from the records they count (no counts in Parquet schema metadata).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from filters.base import Drop
from schemas.arrow_schemas import DROPS
from schemas.drop_reasons import DROP_REASONS
from schemas.manifest import Counts

DROP_FIELDS: tuple[str, ...] = tuple(DROPS.names)  # key, id, url, reason, detail, duplicate_of, stage
MAX_DETAIL_CHARS = 2000
_STAGE = re.compile(r"[a-z][a-z0-9_]*")
T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DropRecord:
    """One dropped input. Validated when made: a reason from the closed set, a key, a stage name."""

    key: str
    id: str | None
    url: str | None
    reason: str
    detail: str
    duplicate_of: str | None
    stage: str

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(f"a drop record needs a key, got {self.key!r}")
        if self.reason not in DROP_REASONS:
            raise ValueError(f"unknown drop reason {self.reason!r}; add it to schemas/drop_reasons.py")
        if not isinstance(self.stage, str) or not _STAGE.fullmatch(self.stage):
            raise ValueError(f"drop stage {self.stage!r} is not a lower-case name")
        for name in ("id", "url", "duplicate_of"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"drop field {name} must be a string or None, got {type(value).__name__}")
        if not isinstance(self.detail, str):
            raise ValueError(f"drop detail must be a string, got {type(self.detail).__name__}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def drop_of(
    record: Mapping[str, Any], reason: str, detail: str, stage: str, duplicate_of: str | None = None
) -> dict[str, Any]:
    """The (validated) drop record of `record`, a mapping with `key` and optionally `id` and `url`."""
    return DropRecord(
        key=record["key"],
        id=record.get("id"),
        url=record.get("url"),
        reason=reason,
        detail=detail[:MAX_DETAIL_CHARS],
        duplicate_of=duplicate_of,
        stage=stage,
    ).as_dict()


def counts_of(kept: int, drops: Iterable[Mapping[str, Any]], input_count: int | None = None) -> Counts:
    """The counting rule: `kept` plus the drop records per reason; input is their sum.

    `input_count`, when given, is the number of records read, counted independently: a mismatch
    means a record was lost or counted twice, and is an error, not a corpus."""
    dropped = Counter(d["reason"] for d in drops)
    counts = Counts(kept + sum(dropped.values()), kept, dict(sorted(dropped.items())))
    if input_count is not None:
        check_counts(counts, input_count)
    return counts


def check_counts(counts: Counts, input_count: int) -> None:
    """Raise if `input_count` records went in but the counts account for another number."""
    if counts.input != input_count:
        raise RuntimeError(
            f"{input_count} records read but kept {counts.kept} + dropped {counts.total_dropped} "
            f"= {counts.input}: a record was lost or counted twice"
        )


def guarded(work: Callable[[], T], where: str) -> T | Drop:
    """Run one record's work; an unexpected exception becomes an `internal_error` drop naming it.

    The job goes on and the record is counted: one bad record must never take a whole shard or
    job down with it. The traceback is logged for the bug report."""
    try:
        return work()
    except Exception as e:  # noqa: BLE001 - any bug in a per-record step is contained and counted
        log.exception("internal error in %s", where)
        return Drop("internal_error", f"{where}: {type(e).__name__}: {e}"[:500])


def is_drop(item: Mapping[str, Any]) -> bool:
    """True for a drop record travelling among rows (rows never carry a `reason`)."""
    return "reason" in item


def read_drops(folder: str) -> dict[str, dict[str, Any]]:
    """Every drop record a run wrote with `--drops DIR`, by key (for inspection and tests)."""
    import pyarrow.parquet as pq

    from schemas.storage import filesystem

    fs, path = filesystem(folder)
    out: dict[str, dict[str, Any]] = {}
    for file in sorted(fs.glob(path.rstrip("/") + "/*.parquet")):
        with fs.open(file, "rb") as f:
            for row in pq.read_table(f).to_pylist():
                out[row["key"]] = row
    return out
