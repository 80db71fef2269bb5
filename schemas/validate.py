"""`kosmos-shards validate`: every way a corpus can break the contract, reported with shard and key.

Checks: tars readable to the end (with an end-of-archive marker), safe member names, members of
a sample contiguous, keys dot-free and unique across the corpus, required members per kind, JSON
valid against the kind's schema, images decode at the sizes the JSON states, interleaved lists
consistent, and the counts of tar, Parquet, stats and manifest equal, with sha256 and sizes equal
to the manifest's. A damaged file is a reported problem, never a crash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import pyarrow.parquet as pq

from schemas.arrow_schemas import METADATA_SCHEMAS, OPTIONAL_FIELDS
from schemas.foreign import NEEDS_MANIFEST, foreign_sample, foreign_shard_urls, is_foreign_target
from schemas.images import decode_problem
from schemas.keys import member_name_problem, split_member_name
from schemas.kinds import IMAGE_EXTENSIONS, Kind, SchemaError
from schemas.manifest import MANIFEST_NAME, Manifest, read_manifest
from schemas.reader import TAR_READ_ERRORS, iter_members
from schemas.samples import parse_sample_json, sample_problems
from schemas.storage import filesystem, join, open_regular, read_bytes
from schemas.writer import ShardStats, sidecar

TAR_BLOCK = 512
MAX_STATS_BYTES = 16 * 1024 * 1024  # a shard stats file is a few KB


@dataclass
class Problem:
    shard: str | None
    key: str | None
    message: str

    def __str__(self) -> str:
        where = self.shard or "corpus"
        return f"{where}: key {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


@dataclass
class ShardResult:
    name: str
    samples: int = 0
    bytes: int = 0
    sha256: str = ""
    keys: list[str] = field(default_factory=list)
    kinds: set[Kind] = field(default_factory=set)


@dataclass
class Report:
    target: str
    kind: Kind | None = None
    shards: list[ShardResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    mode: str = "corpus"  # "foreign": a webdataset folder without our manifest (img2dataset, LAION, ...)
    not_checked: list[str] = field(default_factory=list)  # checks that need our manifest and sidecars

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def samples(self) -> int:
        return sum(s.samples for s in self.shards)

    def add(self, shard: str | None, key: str | None, message: str) -> None:
        self.problems.append(Problem(shard, key, message))


class _HashingReader:
    """A read-through stream that hashes and counts every byte and keeps the last 1 KiB."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner, self.size, self.digest, self.tail = inner, 0, hashlib.sha256(), b""

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self.size += len(data)
        self.digest.update(data)
        self.tail = (self.tail + data)[-2 * TAR_BLOCK :]
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def _image_fields(kind: Kind | None, fields: dict[str, bytes]) -> list[str]:
    if kind is Kind.INTERLEAVED:
        return [f for f in fields if f != "json"]
    return [f for f in fields if f in IMAGE_EXTENSIONS]


def _declared_size(kind: Kind | None, fields: dict[str, bytes], field_name: str) -> tuple[int, int] | None:
    """The (width, height) the JSON states for an image member, when it states one."""
    try:
        meta = parse_sample_json(fields["json"])
    except (SchemaError, KeyError):
        return None
    if kind is Kind.IMAGE_TEXT:
        return meta.get("width"), meta.get("height")
    for entry in meta.get("images") or []:
        if isinstance(entry, dict) and entry.get("member") == field_name:
            return entry.get("width"), entry.get("height")
    return None


def _check_foreign_sample(
    report: Report, shard: str, key: str, fields: dict[str, bytes], decode: bool
) -> Kind | None:
    """A foreign sample: one image member, a UTF-8 caption, valid JSON if any; the image decodes
    at the size its JSON states (img2dataset's width/height)."""
    try:
        sample = foreign_sample(key, fields)
    except SchemaError as e:
        report.add(shard, key, str(e))
        return None
    if decode:
        size, problem = decode_problem(sample.image)
        if problem:
            report.add(shard, key, f"image member: {problem}")
            return Kind.IMAGE_TEXT
        declared = _declared_size(Kind.IMAGE_TEXT, fields, "") if "json" in fields else None
        if declared is not None and None not in declared and tuple(declared) != size:
            report.add(
                shard, key, f"image is {size[0]}x{size[1]} but the JSON says {declared[0]}x{declared[1]}"
            )
    return Kind.IMAGE_TEXT


def _check_sample(
    report: Report, shard: str, key: str, fields: dict[str, bytes], decode: bool, foreign: bool = False
) -> Kind | None:
    if foreign:
        return _check_foreign_sample(report, shard, key, fields, decode)
    kind, problems = sample_problems(key, fields)
    for p in problems:
        report.add(shard, key, p)
    if not decode:
        return kind
    for name in _image_fields(kind, fields):
        size, problem = decode_problem(fields[name])
        if problem:
            report.add(shard, key, f"member '{name}': {problem}")
            continue
        declared = _declared_size(kind, fields, name)
        if declared is not None and tuple(declared) != size:
            report.add(
                shard,
                key,
                f"member '{name}' is {size[0]}x{size[1]} but the JSON says {declared[0]}x{declared[1]}",
            )
    return kind


def _grouped(
    members: Iterator[Any], report: Report, shard: str, position: dict[str, str]
) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Contiguous groups, reporting unsafe names, non-regular members and non-contiguous keys.

    `position["member"]` names the last member read, so a read error can say where it happened.
    """
    finished: set[str] = set()
    key: str | None = None
    fields: dict[str, bytes] = {}
    for m in members:
        position["member"] = m.name
        name_problem = member_name_problem(m.name)
        if name_problem or m.data is None:
            report.add(shard, None, name_problem or m.problem or f"member {m.name!r} is not a regular file")
            continue
        member_key, field_name = split_member_name(m.name)
        if member_key != key:
            if key is not None:
                finished.add(key)
                yield key, fields
            if member_key in finished:
                report.add(shard, member_key, "members of this sample are not contiguous in the tar")
            key, fields = member_key, {}
        if field_name in fields:
            report.add(shard, key, f"member {m.name!r} appears twice")
        fields[field_name] = m.data
    if key is not None:
        yield key, fields


def check_shard(
    report: Report, url: str, name: str, seen: dict[str, str], decode: bool = True, foreign: bool = False
) -> ShardResult:
    """Read one tar to its end, checking every sample; returns what it holds."""
    result = ShardResult(name)
    try:
        stream = open_regular(url)  # a FIFO or /dev/zero named like a shard is a problem, not a hang
    except (FileNotFoundError, OSError) as e:
        report.add(name, None, f"cannot open shard: {e}")
        return result
    with stream:
        reader = _HashingReader(stream)
        position: dict[str, str] = {}
        try:
            for key, fields in _grouped(iter_members(reader), report, name, position):
                if key in seen and seen[key] != name:
                    report.add(name, key, f"duplicate key: also in shard {seen[key]}")
                elif key in result.keys:
                    report.add(name, key, "duplicate key within the shard")
                seen.setdefault(key, name)
                kind = _check_sample(report, name, key, fields, decode, foreign)
                if kind is not None:
                    result.kinds.add(kind)
                result.keys.append(key)
            reader.drain()
            if reader.size % TAR_BLOCK or reader.tail != bytes(2 * TAR_BLOCK):
                report.add(name, None, "tar has no end-of-archive marker: the file is truncated")
        except TAR_READ_ERRORS as e:
            last = position.get("member")
            where = f"after member {last!r}" if last else "at the start"
            report.add(
                name,
                last.split(".")[0] if last else None,
                f"corrupt or truncated tar {where}: {type(e).__name__}: {e}",
            )
            reader.drain()
    result.samples, result.bytes, result.sha256 = len(result.keys), reader.size, reader.digest.hexdigest()
    return result


def check_sidecars(report: Report, shard_url: str, result: ShardResult) -> None:
    """The shard's Parquet and stats must agree with the tar."""
    name = result.name
    parquet_url = sidecar(shard_url, ".parquet")
    try:
        fs, path = filesystem(parquet_url)  # any fsspec URL (memory://, gs://), not only those Arrow knows
        table = pq.read_table(path, filesystem=fs)
        keys = table.column("key").to_pylist()
        if len(keys) != result.samples or sorted(keys) != sorted(result.keys):
            report.add(
                name,
                None,
                f"parquet has {len(keys)} rows / keys that differ from the tar's {result.samples} samples",
            )
        for kind in result.kinds:
            missing = set(METADATA_SCHEMAS[kind].names) - set(table.column_names) - OPTIONAL_FIELDS
            if missing:
                report.add(name, None, f"parquet lacks columns {sorted(missing)}")
    except (OSError, KeyError, ValueError) as e:
        report.add(name, None, f"parquet metadata unreadable or missing: {type(e).__name__}: {e}")
    try:
        stats = ShardStats.from_json(read_bytes(sidecar(shard_url, ".stats.json"), limit=MAX_STATS_BYTES))
    except (OSError, SchemaError) as e:
        report.add(name, None, f"stats unreadable or missing (shard incomplete?): {e}")
        return
    if stats.samples != result.samples:
        report.add(name, None, f"stats say {stats.samples} samples, the tar holds {result.samples}")
    if (stats.bytes, stats.sha256) != (result.bytes, result.sha256):
        report.add(name, None, "stats size/sha256 differ from the tar's")
    if stats.kept is not None:
        if stats.kept != result.samples:
            report.add(name, None, f"stats kept {stats.kept} != samples {result.samples}")
        dropped = sum((stats.dropped or {}).values())
        if stats.input != stats.kept + dropped:
            report.add(name, None, f"stats counts do not add up: {stats.input} != {stats.kept} + {dropped}")


def _check_manifest(report: Report, manifest: Manifest) -> None:
    for problem in manifest.counts.problems():
        report.add(MANIFEST_NAME, None, problem)
    by_name = {s.name: s for s in report.shards}
    for entry in manifest.shards:
        shard = by_name.get(entry.path)
        if shard is None:
            continue
        if shard.samples != entry.samples:
            report.add(
                entry.path, None, f"manifest says {entry.samples} samples, the tar holds {shard.samples}"
            )
        if (shard.bytes, shard.sha256) != (entry.bytes, entry.sha256):
            report.add(entry.path, None, "size/sha256 differ from the manifest (file changed or truncated)")
        for kind in shard.kinds - {manifest.kind}:
            report.add(entry.path, None, f"holds {kind.value} samples in a {manifest.kind.value} corpus")
    if manifest.samples != manifest.counts.kept:
        report.add(
            MANIFEST_NAME,
            None,
            f"shards list {manifest.samples} samples but counts.kept is {manifest.counts.kept}",
        )


def _list_tars(fs: Any, folder: str) -> list[str]:
    return sorted(
        p.rsplit("/", 1)[-1]
        for p in fs.ls(folder, detail=False)
        if p.endswith(".tar") and not p.rsplit("/", 1)[-1].startswith(".")
    )


def _check_img2dataset_sidecars(report: Report, url: str, result: ShardResult) -> None:
    """img2dataset's `<shard>_stats.json` successes and `<shard>.parquet` success rows, when present."""
    stem = url[: -len(".tar")]
    fs, path = filesystem(stem + "_stats.json")
    if fs.exists(path):
        try:
            successes = json.loads(fs.cat_file(path)).get("successes")
        except (OSError, ValueError, AttributeError) as e:
            report.add(result.name, None, f"img2dataset stats unreadable: {e}")
            successes = None
        if isinstance(successes, int) and successes != result.samples:
            report.add(
                result.name, None, f"_stats.json says {successes} successes, the tar holds {result.samples}"
            )
    fs, path = filesystem(stem + ".parquet")
    if fs.exists(path):
        try:
            table = pq.read_table(path, filesystem=fs, columns=["status"])
            ok = sum(1 for s in table.column("status").to_pylist() if s == "success")
        except (OSError, KeyError, ValueError) as e:
            report.add(result.name, None, f"img2dataset parquet unreadable: {type(e).__name__}: {e}")
            return
        if ok != result.samples:
            report.add(result.name, None, f"parquet has {ok} success rows, the tar holds {result.samples}")


def validate_foreign(target: str, decode_images: bool = True) -> Report:
    """Webdataset-level checks and image decoding for a folder, glob or brace pattern of foreign tars."""
    report = Report(target, kind=Kind.IMAGE_TEXT, mode="foreign", not_checked=list(NEEDS_MANIFEST))
    seen: dict[str, str] = {}
    missing: list[str] = []
    urls = foreign_shard_urls(target, missing)
    for path in missing:
        report.add(path.rsplit("/", 1)[-1], None, "the pattern names this shard but it does not exist")
    if not urls:
        report.add(None, None, f"no shards found at {target}")
    for url in urls:
        result = check_shard(report, url, url.rsplit("/", 1)[-1], seen, decode_images, foreign=True)
        report.shards.append(result)
        _check_img2dataset_sidecars(report, url, result)
    return report


def validate(target: str, decode_images: bool = True) -> Report:
    """Validate a corpus directory (via its manifest) or the tars a glob matches; a folder of
    foreign tars (img2dataset, LAION, ...) gets the checks that need no manifest."""
    if is_foreign_target(target):
        return validate_foreign(target, decode_images)
    report = Report(target)
    fs, path = filesystem(target)
    seen: dict[str, str] = {}
    if fs.isdir(path):
        manifest = None
        try:
            manifest = read_manifest(target)
            report.kind = manifest.kind
            names = [e.path for e in manifest.shards]
            unlisted = sorted(set(_list_tars(fs, path)) - set(names))
            report.warnings += [f"{n}: not listed in the manifest (ignored by readers)" for n in unlisted]
        except SchemaError as e:
            report.add(MANIFEST_NAME, None, str(e))
            names = _list_tars(fs, path)
        urls = [(join(target, n), n) for n in names]
    else:
        protocol = target.split("://", 1)[0] + "://" if "://" in target else ""
        urls = [
            (protocol + p if protocol and not p.startswith(protocol) else p, p.rsplit("/", 1)[-1])
            for p in sorted(fs.glob(path))
        ]
        urls = [(u, n) for u, n in urls if n.endswith(".tar")]
        manifest = None
        if not urls:
            report.add(None, None, f"no shards found at {target}")
    for url, name in urls:
        result = check_shard(report, url, name, seen, decode_images)
        report.shards.append(result)
        if result.bytes:
            check_sidecars(report, url, result)
    if manifest is not None:
        _check_manifest(report, manifest)
    elif report.kind is None:
        kinds = set().union(*(s.kinds for s in report.shards)) if report.shards else set()
        report.kind = next(iter(kinds)) if len(kinds) == 1 else None
        if len(kinds) > 1:
            report.add(None, None, f"shards mix kinds {sorted(k.value for k in kinds)}")
    return report


def report_json(report: Report) -> str:
    return json.dumps(
        {
            "target": report.target,
            "ok": report.ok,
            "mode": report.mode,
            "not_checked": report.not_checked,
            "kind": report.kind.value if report.kind else None,
            "shards": len(report.shards),
            "samples": report.samples,
            "problems": [str(p) for p in report.problems],
            "warnings": report.warnings,
        },
        indent=2,
    )
