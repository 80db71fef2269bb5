"""Shard writer: `<prefix>-NNNNNN.tar` + `.parquet` + `.stats.json`, each written atomically.

Order of appearance: the tar, then its Parquet, then `.stats.json` last. A shard whose
`.stats.json` exists is complete; a killed writer leaves only hidden temporary files, never a
file under a final name. Tar members are written by schemas/tar_members.TarWriter (standard-library
tarfile, byte-identical to webdataset's TarWriter without importing webdataset and torch) with a
fixed mtime, so the same samples give byte-identical shards.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.arrow_schemas import parquet_schema, schema_with_columns
from schemas.keys import key_problem
from schemas.kinds import STATS_SCHEMA, Kind, SchemaError
from schemas.manifest import MANIFEST_NAME, Counts, Manifest, ShardEntry, utc_now
from schemas.samples import Sample, parquet_row
from schemas.storage import (
    abandoned_temporary,
    age_seconds,
    filesystem,
    is_temporary,
    join,
    publish,
    remove_quietly,
    temporary_name,
    write_temporary,
)
from schemas.tar_members import TarWriter

DEFAULT_SAMPLES_PER_SHARD = 10_000
# A run's work files (e.g. the image pipeline's candidates) live here, below the corpus root, so
# readers never see them and a `<corpus>/*.parquet` glob yields exactly the samples' metadata.
WORK_DIR = "_work"
# Drop reasons img2dataset counts as failed_to_download / failed_to_resize in its stats.
DOWNLOAD_FAILURES = frozenset(
    {
        "blocked_address",
        "invalid_url",
        "robots_disallowed",
        "opted_out",
        "http_error",
        "timeout",
        "connection_error",
        "too_many_redirects",
        "too_large",
        "bad_content_type",
        "hash_mismatch",
    }
)
RESIZE_FAILURES = frozenset(
    {
        "undecodable_image",
        "decompression_bomb",
        "image_too_small",
        "image_too_large",
        "bad_aspect_ratio",
        "image_too_costly",
        "single_color",
    }
)


def shard_name(prefix: str, index: int) -> str:
    """`<prefix>-000042.tar`: the WebDataset brace-expandable naming."""
    if "." in prefix or "/" in prefix:
        raise ValueError(f"shard prefix {prefix!r} must not contain '.' or '/'")
    return f"{prefix}-{index:06d}.tar"


def sidecar(tar_name: str, suffix: str) -> str:
    """`shard-000001.tar` -> `shard-000001.parquet` / `shard-000001.stats.json`."""
    return tar_name[: -len(".tar")] + suffix


@dataclass
class ShardStats:
    """The `.stats.json` of one shard (same fields as schemas.arrow_schemas.SHARD_STATS)."""

    kind: str
    shard: str
    samples: int
    bytes: int
    sha256: str
    input: int | None = None
    kept: int | None = None
    dropped: dict[str, int] | None = None
    extra_counts: dict[str, int] = field(default_factory=dict)
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None
    # What the shard was made from (e.g. a hash of its input keys and settings): a resumed run
    # reuses a complete shard only when its source is unchanged.
    source: str | None = None
    # img2dataset's stats fields, so its and DataComp's tools read our shards (from the counts).
    count: int | None = None
    successes: int | None = None
    failed_to_download: int | None = None
    failed_to_resize: int | None = None
    status_dict: dict[str, int] | None = None
    schema: str = STATS_SCHEMA

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> ShardStats:
        try:
            d = json.loads(raw)
            if d.get("schema") != STATS_SCHEMA:
                raise SchemaError(f"stats schema {d.get('schema')!r} is not {STATS_SCHEMA!r}")
            return cls(**d)
        except (ValueError, RecursionError, TypeError, AttributeError) as e:
            if isinstance(e, SchemaError):
                raise
            raise SchemaError(f"malformed shard stats: {e}") from None

    def entry(self, relative_path: str) -> ShardEntry:
        return ShardEntry(relative_path, self.samples, self.bytes, self.sha256)


class _HashingFile(io.RawIOBase):
    """Passes writes through to `inner` while counting bytes and hashing them (one pass)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.size, self.digest = inner, 0, hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        view = memoryview(b)
        self.inner.write(view)
        self.size += len(view)
        self.digest.update(view)
        return len(view)


def read_shard_stats(output_dir: str, name: str) -> ShardStats:
    """The `.stats.json` of a complete shard."""
    fs, root = filesystem(output_dir)
    with fs.open(join(root, sidecar(name, ".stats.json")), "rb") as f:
        return ShardStats.from_json(f.read())


def reusable_shard_stats(output_dir: str, name: str, source: str) -> ShardStats | None:
    """The stats of a complete shard made from the same source (safe for a resumed run to keep), else None."""
    if not shard_is_complete(output_dir, name):
        return None
    stats = read_shard_stats(output_dir, name)
    return stats if stats.source == source else None


def shard_is_complete(output_dir: str, name: str) -> bool:
    """A shard is complete once its `.stats.json` exists (it is renamed into place last)."""
    fs, root = filesystem(output_dir)
    return fs.exists(join(root, sidecar(name, ".stats.json")))


def _set_img2dataset_fields(stats: ShardStats, counts: Counts) -> None:
    """count / successes / failed_to_download / failed_to_resize / status_dict as img2dataset writes them."""
    stats.count, stats.successes = counts.input, counts.kept
    stats.failed_to_download = sum(n for r, n in counts.dropped.items() if r in DOWNLOAD_FAILURES)
    stats.failed_to_resize = sum(n for r, n in counts.dropped.items() if r in RESIZE_FAILURES)
    stats.status_dict = {"success": counts.kept, **dict(sorted(counts.dropped.items()))}


def _fit_columns(rows: list[dict[str, Any]], schema: pa.Schema) -> list[dict[str, Any]]:
    """Input columns of mixed types are string columns: their non-string values go in as JSON text."""
    mixed = [
        f.name
        for f in schema
        if pa.types.is_string(f.type)
        and any(r.get(f.name) is not None and not isinstance(r.get(f.name), str) for r in rows)
    ]
    if not mixed:
        return rows
    fit = lambda v: v if v is None or isinstance(v, str) else json.dumps(v, sort_keys=True)  # noqa: E731
    return [{**r, **{n: fit(r.get(n)) for n in mixed}} for r in rows]


class ShardWriter:
    """Writes one shard of one kind. Use as a context manager: an exception leaves no final file."""

    def __init__(self, output_dir: str, kind: Kind, index: int, prefix: str = "shard") -> None:
        self.kind, self.name = kind, shard_name(prefix, index)
        self.fs, self.root = filesystem(output_dir)
        self.fs.makedirs(self.root, exist_ok=True)
        self._final = join(self.root, self.name)
        self._tmp = temporary_name(self._final)
        self._file = self.fs.open(self._tmp, "wb")
        self._hashing = _HashingFile(self._file)
        self._tar = TarWriter(self._hashing, mtime=0.0)  # webdataset's bytes, without importing torch
        self._rows: list[dict[str, Any]] = []
        self._keys: set[str] = set()
        self._started, self._t0 = utc_now(), time.monotonic()
        self._done = False

    @property
    def samples(self) -> int:
        return len(self._rows)

    def write(self, sample: Sample) -> None:
        if sample.kind is not self.kind:
            raise SchemaError(f"a {self.kind.value} shard cannot hold a {sample.kind.value} sample")
        problem = key_problem(sample.key)
        if problem:
            raise SchemaError(problem)
        if sample.key in self._keys:
            raise SchemaError(f"duplicate key {sample.key!r} in shard {self.name}")
        self._keys.add(sample.key)
        self._tar.write({"__key__": sample.key, **sample.members()})
        self._rows.append(parquet_row(sample))

    def close(
        self,
        counts: Counts | None = None,
        extra_counts: dict[str, int] | None = None,
        source: str | None = None,
    ) -> ShardStats:
        """Finish the tar, write Parquet and stats, then move all three into place (stats last)."""
        self._tar.close()  # closes the hashing wrapper's tar stream, not our file
        self._file.close()
        stats = ShardStats(
            kind=self.kind.value,
            shard=self.name,
            samples=len(self._rows),
            bytes=self._hashing.size,
            sha256=self._hashing.digest.hexdigest(),
            extra_counts=dict(extra_counts or {}),
            source=source,
            started_at=self._started,
            finished_at=utc_now(),
            duration_s=round(time.monotonic() - self._t0, 3),
        )
        if counts is not None:
            if counts.kept != stats.samples:
                self.abort()
                raise SchemaError(
                    f"shard {self.name}: counts say kept {counts.kept} but {stats.samples} were written"
                )
            stats.input, stats.kept, stats.dropped = counts.input, counts.kept, dict(counts.dropped)
            _set_img2dataset_fields(stats, counts)
        schema = schema_with_columns(parquet_schema(self.kind), self._rows)
        table = pa.Table.from_pylist(_fit_columns(self._rows, schema), schema=schema)
        parquet = io.BytesIO()
        pq.write_table(table, parquet)
        parquet_path = join(self.root, sidecar(self.name, ".parquet"))
        stats_path = join(self.root, sidecar(self.name, ".stats.json"))
        temporaries: list[str] = []
        try:
            # Every byte is written before any rename: a full disk fails here, with no final name touched.
            temporaries.append(write_temporary(self.fs, parquet_path, parquet.getvalue()))
            temporaries.append(write_temporary(self.fs, stats_path, stats.to_json()))
            # Rewriting a complete shard: withdraw its completion marker first, so no crash between
            # the moves below can leave a marker (and counts) describing the old tar beside the new one.
            remove_quietly(self.fs, stats_path)
            publish(self.fs, self._tmp, self._final)
            publish(self.fs, temporaries[0], parquet_path)
            publish(self.fs, temporaries[1], stats_path)  # the completion marker, last
        except BaseException:
            for tmp in temporaries:
                remove_quietly(self.fs, tmp)
            self.abort()
            raise
        self._done = True
        return stats

    def abort(self) -> None:
        """Drop everything written so far; no final name is left behind."""
        if self._done:
            return
        self._done = True
        for close in (self._tar.close, self._file.close):  # tar first, so it never flushes into a closed file
            try:
                close()
            except Exception:  # noqa: BLE001 - closing a broken stream may fail; we delete it anyway
                pass
        remove_quietly(self.fs, self._tmp)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._done:
            self.close()


class CorpusWriter:
    """Rolls samples of one kind into shards of `samples_per_shard` and writes the manifest."""

    def __init__(
        self,
        output_dir: str,
        kind: Kind,
        samples_per_shard: int = DEFAULT_SAMPLES_PER_SHARD,
        prefix: str = "shard",
        start_index: int = 0,
    ) -> None:
        if samples_per_shard < 1:
            raise ValueError("samples_per_shard must be at least 1")
        self.output_dir, self.kind, self.prefix = output_dir, kind, prefix
        self.samples_per_shard, self._next_index = samples_per_shard, start_index
        self._current: ShardWriter | None = None
        self.stats: list[ShardStats] = []

    def write(self, sample: Sample) -> None:
        if self._current is None:
            self._current = ShardWriter(self.output_dir, self.kind, self._next_index, self.prefix)
            self._next_index += 1
        self._current.write(sample)
        if self._current.samples >= self.samples_per_shard:
            self._flush()

    def write_all(self, samples: Iterable[Sample]) -> None:
        for sample in samples:
            self.write(sample)

    def _flush(self) -> None:
        if self._current is not None:
            self.stats.append(self._current.close())
            self._current = None

    def close(self) -> list[ShardStats]:
        self._flush()
        return self.stats

    def abort(self) -> None:
        if self._current is not None:
            self._current.abort()
            self._current = None


def write_manifest(
    output_dir: str,
    kind: Kind,
    stats: Iterable[ShardStats],
    counts: Counts,
    config: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Manifest:
    """Write manifest.json listing `stats`' shards (paths relative to the output root)."""
    shards = sorted((s.entry(s.shard) for s in stats), key=lambda e: e.path)
    problems = counts.problems()
    if sum(s.samples for s in shards) != counts.kept:
        problems.append(f"counts say kept {counts.kept} but the shards hold {sum(s.samples for s in shards)}")
    if problems:
        raise SchemaError("refusing to write an inconsistent manifest: " + "; ".join(problems))
    manifest = Manifest(
        kind=kind, shards=shards, counts=counts, config=dict(config or {}), extra=dict(extra or {})
    )
    manifest.write(output_dir)  # atomic, and the last file a run writes ...
    remove_unlisted(output_dir, manifest)  # ... but for removing what it does not list
    return manifest


_SHARD_FILE = re.compile(r"^(?P<stem>[^./]+-\d{6})\.(tar|parquet|stats\.json|candidates\.parquet)$")


def _stem(name: str) -> str | None:
    m = _SHARD_FILE.match(name)
    return m.group("stem") if m else None


STALE_SHARD_SECONDS = 600.0
"""A shard file without its stats this old is a killed run's leftover, not a concurrent writer's."""


def prepare_output(output_dir: str) -> list[str]:
    """Before a run writes: withdraw the manifest and remove leftovers of killed runs; returns what went.

    Leftovers are hidden temporaries and the files of shards without their completion marker (a
    tar renamed into place whose stats never followed). Complete shards stay: a resumed run reuses
    those whose source is unchanged. The manifest goes first, so that a run killed from here on
    leaves no manifest describing files it has begun to replace; the new one is written last."""
    fs, root = filesystem(output_dir)
    if not fs.isdir(root):
        return []
    names = [p.rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)]
    complete = {n[: -len(".stats.json")] for n in names if n.endswith(".stats.json") and not is_temporary(n)}
    doomed = [n for n in names if n == MANIFEST_NAME]
    # A concurrent run's temporaries and its shard between two renames are not leftovers: only a dead
    # writer's temporaries go, and stat-less shard files once they are old (the rest are overwritten
    # by this run or removed as unlisted after its manifest).
    doomed += [n for n in names if is_temporary(n) and abandoned_temporary(fs, join(root, n))]
    doomed += [
        n
        for n in names
        if (stem := _stem(n)) is not None
        and stem not in complete
        and (age_seconds(fs, join(root, n)) or 0) > STALE_SHARD_SECONDS
    ]
    for name in sorted(doomed, key=lambda n: n != MANIFEST_NAME):  # the manifest first
        remove_quietly(fs, join(root, name))
    return sorted(doomed)


def remove_corpus(output_dir: str) -> list[str]:
    """Remove a corpus's own files (manifest, shard files, temporaries, the work folder) and nothing
    else: `--overwrite` on a folder that also holds a user's other files must leave those alone."""
    fs, root = filesystem(output_dir)
    if not fs.isdir(root):
        return []
    names = [p.rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)]
    doomed = sorted(n for n in names if n == MANIFEST_NAME or _stem(n) is not None or is_temporary(n))
    for name in sorted(doomed, key=lambda n: n != MANIFEST_NAME):  # the manifest first
        remove_quietly(fs, join(root, name))
    if WORK_DIR in names:
        fs.rm(join(root, WORK_DIR), recursive=True)
        doomed.append(WORK_DIR + "/")
    return doomed


def remove_unlisted(output_dir: str, manifest: Manifest) -> list[str]:
    """After the manifest is written: remove shard files it does not list (an earlier run's extra shards)."""
    fs, root = filesystem(output_dir)
    listed = {e.path[: -len(".tar")] for e in manifest.shards}
    names = [p.rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)] if fs.isdir(root) else []
    doomed = sorted(n for n in names if (stem := _stem(n)) is not None and stem not in listed)
    for name in doomed:
        remove_quietly(fs, join(root, name))
    return doomed
