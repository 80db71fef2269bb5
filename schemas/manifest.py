"""The corpus manifest (`manifest.json` at the output root) and the run's counts.

Readers (the validator, the trainer) read exactly the shards the manifest lists, so a shard
left behind by a killed run can never leak into training.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemas.drop_reasons import unknown_reasons
from schemas.kinds import MANIFEST_SCHEMA, Kind, SchemaError, parse_kind
from schemas.storage import atomic_write_bytes, filesystem, join, read_bytes

MANIFEST_NAME = "manifest.json"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Counts:
    """Every record that entered a run left either kept or dropped with one reason."""

    input: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + n

    def merge(self, other: Counts) -> Counts:
        merged = Counts(self.input + other.input, self.kept + other.kept, dict(self.dropped))
        for reason, n in other.dropped.items():
            merged.drop(reason, n)
        return merged

    def problems(self) -> list[str]:
        """Broken invariants: input == kept + sum(dropped), no negative or unknown entries."""
        out = []
        if self.input != self.kept + self.total_dropped:
            out.append(
                f"counts do not add up: input {self.input} != kept {self.kept} + dropped {self.total_dropped}"
            )
        if min([self.input, self.kept, *self.dropped.values()]) < 0:
            out.append("counts must not be negative")
        for reason in unknown_reasons(self.dropped):
            out.append(f"unknown drop reason {reason!r} (see schemas/drop_reasons.py)")
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Counts:
        return cls(int(d["input"]), int(d["kept"]), {str(k): int(v) for k, v in d.get("dropped", {}).items()})


@dataclass
class ShardEntry:
    """One shard as the manifest lists it; `path` is relative to manifest.json."""

    path: str
    samples: int
    bytes: int
    sha256: str


@dataclass
class Manifest:
    kind: Kind
    shards: list[ShardEntry]
    counts: Counts
    config: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=utc_now)

    @property
    def samples(self) -> int:
        return sum(s.samples for s in self.shards)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": MANIFEST_SCHEMA,
            "kind": self.kind.value,
            "sample_schema": self.kind.schema_id,
            "created_at": self.created_at,
            "shards": [asdict(s) for s in self.shards],
            "counts": asdict(self.counts),
            "config": self.config,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        if not isinstance(d, dict):
            raise SchemaError(f"manifest is a JSON {type(d).__name__}, expected an object")
        if d.get("schema") != MANIFEST_SCHEMA:
            raise SchemaError(f"manifest schema {d.get('schema')!r} is not {MANIFEST_SCHEMA!r}")
        try:
            kind = parse_kind(d["kind"])
            if d.get("sample_schema", kind.schema_id) != kind.schema_id:
                raise SchemaError(f"manifest sample_schema {d['sample_schema']!r} is not {kind.schema_id!r}")
            shards = [
                ShardEntry(str(s["path"]), int(s["samples"]), int(s["bytes"]), str(s["sha256"]))
                for s in d["shards"]
            ]
            for entry in shards:
                problem = shard_path_problem(entry.path)
                if problem:
                    raise SchemaError(f"manifest lists {entry.path!r}: {problem}")
            return cls(
                kind=kind,
                shards=shards,
                counts=Counts.from_dict(d["counts"]),
                config=dict(d.get("config", {})),
                extra=dict(d.get("extra", {})),
                created_at=str(d.get("created_at", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            if isinstance(e, SchemaError):
                raise
            raise SchemaError(f"malformed manifest: {type(e).__name__}: {e}") from None

    def write(self, root: str) -> str:
        """Write `<root>/manifest.json` atomically; returns its URL."""
        fs, path = filesystem(join(root, MANIFEST_NAME))
        fs.makedirs(posixpath.dirname(path), exist_ok=True)  # a run that kept nothing wrote no shard
        atomic_write_bytes(fs, path, json.dumps(self.to_dict(), indent=2, sort_keys=True).encode())
        return join(root, MANIFEST_NAME)


MAX_MANIFEST_BYTES = 1 << 30
"""A manifest larger than this is refused (a million shards take about 200 MB)."""


def shard_path_problem(path: str) -> str | None:
    """Why a manifest's shard path is unsafe, or None: shards are plain `.tar` names beside the manifest
    (an absolute path such as /dev/zero, `..` or a folder would send readers outside the corpus)."""
    if not path or "/" in path or "\\" in path or path in (".", "..") or path.startswith("."):
        return "a shard path must be a plain file name in the corpus folder"
    if not path.endswith(".tar"):
        return "a shard path must end in .tar"
    return None


def read_manifest(root: str) -> Manifest:
    """The manifest of the corpus at `root` (a directory URL); SchemaError if absent or broken."""
    url = join(root, MANIFEST_NAME)
    try:
        raw = read_bytes(url, limit=MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        raise SchemaError(
            f"no {MANIFEST_NAME} in {root}: not a corpus directory (or the run has not finished)"
        ) from None
    except OSError as e:  # not a regular file (FIFO, device), too large, unreadable
        raise SchemaError(f"{url} cannot be read: {e}") from None
    try:
        return Manifest.from_dict(json.loads(raw))
    except (ValueError, RecursionError) as e:  # JSONDecodeError, 5000-digit integers, deep nesting
        raise SchemaError(f"{url} is not valid JSON: {type(e).__name__}: {e}") from None
