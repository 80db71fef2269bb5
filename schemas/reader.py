"""Shard reader: typed samples from the shards a manifest lists.

Members are read with the standard library's `tarfile` in streaming mode rather than
webdataset's iterator, because the reader and the validator must see every member (also
non-regular ones) and report a fault at its exact shard and key; webdataset's iterator skips
such members and its errors do not name the key. Nothing is unpickled: JSON, UTF-8 text and
image bytes only.
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from schemas.keys import split_member_name
from schemas.kinds import Kind, SchemaError
from schemas.manifest import Manifest, read_manifest
from schemas.samples import Sample, sample_from_members
from schemas.storage import join, open_binary

# Everything a damaged tar stream can raise while being read.
TAR_READ_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, ValueError)


class ShardReadError(SchemaError):
    """A shard could not be read; the message names the shard and, when known, the key."""


@dataclass
class Member:
    name: str
    info: tarfile.TarInfo
    data: bytes | None  # None for non-regular members (directories, links, devices)


def iter_members(stream: IO[bytes]) -> Iterator[Member]:
    """Every member of an uncompressed tar stream, in order, with its bytes."""
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for info in tar:
            data = None
            if info.isreg():
                extracted = tar.extractfile(info)
                data = extracted.read() if extracted is not None else b""
            yield Member(info.name, info, data)


def group_samples(members: Iterator[Member], shard: str) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, {field: bytes}) for runs of contiguous members sharing a key (WebDataset grouping)."""
    key: str | None = None
    fields: dict[str, bytes] = {}
    for member in members:
        if member.data is None:
            raise ShardReadError(f"{shard}: member {member.name!r} is not a regular file")
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


def iter_shard(url: str, kind: Kind | None = None) -> Iterator[Sample]:
    """Typed samples of one shard; ShardReadError (naming shard and key) on the first fault."""
    key = None
    try:
        with open_binary(url) as stream:
            for key, fields in group_samples(iter_members(stream), url):
                sample = sample_from_members(key, fields)
                if kind is not None and sample.kind is not kind:
                    raise SchemaError(f"sample {key!r} is {sample.kind.value}, expected {kind.value}")
                yield sample
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
    """Every sample of the corpus at `root`, shard by shard in manifest order."""
    manifest = read_manifest(root)
    for url in shard_urls(root, manifest):
        yield from iter_shard(url, manifest.kind)
