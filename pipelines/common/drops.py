"""Drop records: one dict per dropped input, with exactly the fields of the shared drops schema."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from filters.base import Drop
from schemas.arrow_schemas import DROPS

DROP_FIELDS: tuple[str, ...] = tuple(DROPS.names)  # key, id, url, reason, detail, duplicate_of, stage
T = TypeVar("T")
log = logging.getLogger(__name__)


def drop_of(
    record: Mapping[str, Any], reason: str, detail: str, stage: str, duplicate_of: str | None = None
) -> dict[str, Any]:
    """The drop record of `record` (a mapping with `key`, and optionally `id` and `url`)."""
    return {
        "key": record["key"],
        "id": record.get("id"),
        "url": record.get("url"),
        "reason": reason,
        "detail": detail,
        "duplicate_of": duplicate_of,
        "stage": stage,
    }


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
