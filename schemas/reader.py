"""Shard reader: typed samples from the shards a manifest lists.

Members are read with the standard library's `tarfile` in streaming mode rather than
webdataset's iterator, because the reader and the validator must see every member (also
non-regular ones) and report a fault at its exact shard and key; webdataset's iterator skips
such members and its errors do not name the key. Nothing is unpickled: JSON, UTF-8 text and
image bytes only.
"""

from __future__ import annotations

import hashlib
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from schemas.keys import split_member_name
from schemas.kinds import Kind, SchemaError
from schemas.manifest import Manifest, ShardEntry, read_manifest
from schemas.samples import Sample, sample_from_members
from schemas.storage import filesystem, join, open_binary

# Everything a damaged tar stream can raise while being read (RecursionError: JSON nested too deep).
TAR_READ_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, ValueError, RecursionError)
MAX_MEMBER_BYTES = 256 * 1024 * 1024
"""Largest member a reader loads into memory (stored images are a few hundred KB, documents a few MB);
a larger one (e.g. a 16 GiB sparse member in a 10 KB tar) is a reported fault, never a MemoryError."""


class ShardReadError(SchemaError):
    """A shard could not be read; the message names the shard and, when known, the key."""


@dataclass
class Member:
    name: str
    info: tarfile.TarInfo
    data: bytes | None  # None for non-regular, sparse or oversized members (see `problem`)
    problem: str | None = None


def member_problem(info: tarfile.TarInfo, max_bytes: int = MAX_MEMBER_BYTES) -> str | None:
    """Why a member's bytes are not loaded: not a regular file, sparse, or larger than `max_bytes`."""
    if not info.isreg():
        return f"member {info.name!r} is not a regular file"
    if info.issparse():
        return f"member {info.name!r} is a sparse file (shards never hold one)"
    if info.size > max_bytes:
        return f"member {info.name!r} claims {info.size} bytes, over the {max_bytes}-byte member limit"
    return None


def iter_members(stream: IO[bytes], max_bytes: int = MAX_MEMBER_BYTES) -> Iterator[Member]:
    """Every member of an uncompressed tar stream, in order, with its bytes (bounded by `max_bytes`)."""
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for info in tar:
            problem = member_problem(info, max_bytes)
            data = None
            if problem is None:
                extracted = tar.extractfile(info)
                data = extracted.read() if extracted is not None else b""
            yield Member(info.name, info, data, problem)
            if problem is not None and info.isreg() and not info.issparse():
                return  # the claimed size cannot be trusted to find the next member (nor skipped quickly)


def group_samples(members: Iterator[Member], shard: str) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, {field: bytes}) for runs of contiguous members sharing a key (WebDataset grouping)."""
    key: str | None = None
    fields: dict[str, bytes] = {}
    for member in members:
        if member.data is None:
            raise ShardReadError(
                f"{shard}: {member.problem or f'member {member.name!r} is not a regular file'}"
            )
        member_key, field = split_member_name(member.name)
        if member_key != key:
            if key is not None:
                yield key, fields
            key, fields = member_key, {}
        if field in fields:
            raise ShardReadError(f"{shard}: key {key!r}: member {member.name!r} appears twice")
        fields[field] = member.data
    if key is not None:
        yield key, fields


class _Verified:
    """A read-through stream that hashes and counts what is read, to compare with the manifest."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner, self.size, self.digest = inner, 0, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self.size += len(data)
        self.digest.update(data)
        return data

    def rest(self) -> None:
        while self.read(1 << 20):
            pass


def _check_size(url: str, entry: ShardEntry) -> None:
    fs, path = filesystem(url)
    size = fs.size(path)
    if size != entry.bytes:
        raise ShardReadError(
            f"{url}: {size} bytes but the manifest lists {entry.bytes}: not the shard the manifest describes"
        )


def iter_shard(url: str, kind: Kind | None = None, entry: ShardEntry | None = None) -> Iterator[Sample]:
    """Typed samples of one shard; ShardReadError (naming shard and key) on the first fault.

    With the manifest's `entry`, the file must have the listed size before anything is read and
    the listed sha256 once read (ShardReadError otherwise): a shard replaced behind the manifest's
    back (a killed rerun, a copy gone wrong) is never passed off as the listed one."""
    key = None
    try:
        with open_binary(url) as raw:  # regular files only: a FIFO or /dev/zero is refused unread
            if entry is not None:
                _check_size(url, entry)
            stream: Any = _Verified(raw)
            for key, fields in group_samples(iter_members(stream), url):
                sample = sample_from_members(key, fields)
                if kind is not None and sample.kind is not kind:
                    raise SchemaError(f"sample {key!r} is {sample.kind.value}, expected {kind.value}")
                yield sample
            stream.rest()
            if entry is not None and (stream.size, stream.digest.hexdigest()) != (entry.bytes, entry.sha256):
                raise ShardReadError(f"{url}: sha256 differs from the manifest's: the shard was changed")
    except ShardReadError:
        raise
    except SchemaError as e:
        raise ShardReadError(f"{url}: {e}") from None
    except TAR_READ_ERRORS as e:
        where = f"after key {key!r}" if key else "at the start"
        raise ShardReadError(f"{url}: corrupt or truncated tar {where}: {e}") from None


def shard_urls(root: str, manifest: Manifest) -> list[str]:
    """The URLs of exactly the shards the manifest lists."""
    return [join(root, entry.path) for entry in manifest.shards]


def iter_corpus(root: str) -> Iterator[Sample]:
    """Every sample of the corpus at `root`, shard by shard in manifest order; only the listed shards,
    each checked against its listed size and sha256."""
    manifest = read_manifest(root)
    for entry in manifest.shards:
        yield from iter_shard(join(root, entry.path), manifest.kind, entry)
