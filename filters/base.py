"""What every filter returns: keep the record, or drop it with a reason from the closed set."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.drop_reasons import DROP_REASONS


@dataclass(frozen=True)
class Keep:
    """The record passes; `score` carries an optional measured value (e.g. a language score).

    `updates` are fields a record-level filter sets on the kept record (a cleaned text, the
    language found); filters/registry.py merges them in before the next filter runs."""

    score: float | None = None
    updates: Mapping[str, Any] | None = None

    def __bool__(self) -> bool:
        return True


@dataclass(frozen=True)
class Drop:
    """The record is dropped for `reason` (one of schemas.drop_reasons), `detail` says why in words."""

    reason: str
    detail: str = ""

    def __post_init__(self) -> None:
        if self.reason not in DROP_REASONS:
            raise ValueError(f"unknown drop reason {self.reason!r}; add it to schemas/drop_reasons.py")

    def __bool__(self) -> bool:
        return False


Decision = Keep | Drop
