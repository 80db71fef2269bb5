"""What the trainer reads: corpus directories (through `schemas`) and instruction jsonl files.

Everything that can be wrong with a corpus as a whole (no manifest, the wrong kind, an unknown
schema version, no shards, a missing shard) is found here, at start-up, with a message naming the
path; per-sample faults are left to the readers, which skip and count them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.kinds import Kind, SchemaError
from schemas.manifest import MANIFEST_NAME, read_manifest
from schemas.reader import TAR_READ_ERRORS, ShardReadError, group_samples, iter_members, shard_urls
from schemas.samples import sample_from_members
from schemas.storage import filesystem, open_binary

INSTRUCTION = "instruction"
STREAM_KINDS = (Kind.TEXT.value, Kind.IMAGE_TEXT.value, Kind.INTERLEAVED.value, INSTRUCTION)


class DataError(ValueError):
    """A corpus the trainer cannot use; raised at start-up with the path and the reason."""


@dataclass
class SourceSpec:
    """One corpus (a directory with manifest.json, or an instruction .jsonl file/folder) and its weight."""

    kind: str
    path: str
    weight: float = 1.0

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.path}"


@dataclass
class StreamSpec:
    """One training stream: its sources and how many tokens it contributes per step."""

    kind: str
    sources: list[SourceSpec]
    tokens_per_step: int  # global, over all ranks (KOSMOS-1: 0.5M text, 0.5M image-caption, 0.2M interleaved)
    micro_batch_tokens: int  # per rank and micro-batch: padded positions (rows x longest row) at most
    max_len: int  # longest row (2048 for documents; captions are short)
    shuffle_buffer: int = 512
    max_images: int = 5  # interleaved documents keep at most this many images
    bucket_pool: int = 8  # captions/instructions: micro-batches' worth of rows sorted by length together
    extra: dict[str, Any] = field(default_factory=dict)

    def micro_batches(self, world_size: int) -> int:
        """Micro-batches per rank and step that cover this stream's token budget (rounded up, so no
        micro-batch needs more than `micro_batch_tokens`)."""
        return max(1, math.ceil(self.tokens_per_step / (world_size * self.micro_batch_tokens)))

    def fitted(self, world_size: int) -> StreamSpec:
        """This stream with its micro-batch size adjusted so the step's tokens match the budget.

        Rounding to whole micro-batches alone would drift with the number of ranks (kosmos1 on 64
        GPUs would take 1.05M interleaved tokens instead of 0.2M): the micro-batch count stays the
        rounded one and each micro-batch closes at budget / (ranks x micro-batches) tokens."""
        k = self.micro_batches(world_size)
        return dataclasses.replace(
            self, micro_batch_tokens=max(1, math.ceil(self.tokens_per_step / (world_size * k)))
        )


def parse_data_args(values: Sequence[str]) -> list[SourceSpec]:
    """`KIND=PATH[@WEIGHT]` strings (the CLI's --data) -> SourceSpecs."""
    out = []
    for value in values:
        kind, sep, rest = value.partition("=")
        if not sep or kind not in STREAM_KINDS:
            raise DataError(
                f"--data {value!r}: expected KIND=PATH[@WEIGHT] with KIND one of {', '.join(STREAM_KINDS)}"
            )
        path, _, weight = rest.rpartition("@") if "@" in rest else (rest, "", "")
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            raise DataError(f"--data {value!r}: weight {weight!r} is not a number") from None
        if w <= 0:
            raise DataError(f"--data {value!r}: weight must be positive")
        out.append(SourceSpec(kind, path, w))
    return out


def stable_hash(text: str) -> int:
    """A hash that is the same in every process and run (Python's hash() is salted)."""
    return zlib.crc32(text.encode())


Entry = tuple[int, str, Any]  # (index within its shard, key, sample or the Exception that spoiled it)


class ShardSet:
    """A source's shards and how to read the items of one of them."""

    name: str
    kind: str
    urls: list[str]

    def items(self, url: str, start: int = 0, keep: Callable[[int], bool] | None = None) -> Iterator[Entry]:
        raise NotImplementedError


class CorpusShards(ShardSet):
    """A `schemas` corpus: the shards its manifest lists, read member by member.

    Unlike `schemas.reader.iter_shard`, a sample that breaks the contract is yielded as an error
    item and reading continues with the next key; only a damaged tar stream ends the shard.
    """

    def __init__(self, spec: SourceSpec) -> None:
        self.name, self.kind = spec.name, spec.kind
        try:
            manifest = read_manifest(spec.path)
        except SchemaError as e:
            raise DataError(f"{spec.kind}={spec.path}: {e}") from None
        if manifest.kind.value != spec.kind:
            raise DataError(
                f"{spec.kind}={spec.path}: the corpus holds {manifest.kind.value} samples "
                f"(its {MANIFEST_NAME} says so); pass it as {manifest.kind.value}={spec.path}"
            )
        self.urls = shard_urls(spec.path, manifest)
        if not self.urls or manifest.samples == 0:
            raise DataError(f"corpus {spec.path} has 0 samples ({spec.kind}: its run kept nothing)")
        fs, path = filesystem(self.urls[0])
        if not fs.exists(path):
            raise DataError(
                f"{spec.kind}={spec.path}: shard {self.urls[0]} listed in the manifest is missing"
            )
        self.kind_enum = manifest.kind
        self.samples = manifest.samples

    def items(self, url: str, start: int = 0, keep: Callable[[int], bool] | None = None) -> Iterator[Entry]:
        index, key = -1, ""
        try:
            with open_binary(url) as stream:
                for index, (key, fields) in enumerate(group_samples(iter_members(stream), url)):
                    if index < start or (keep is not None and not keep(index)):
                        continue
                    try:
                        sample = sample_from_members(key, fields)
                        if sample.kind is not self.kind_enum:
                            raise SchemaError(f"sample {key!r} is {sample.kind.value}, expected {self.kind}")
                    except SchemaError as e:
                        yield index, key, ShardReadError(f"{url}: {e}")
                        continue
                    yield index, key, sample
        except ShardReadError as e:
            yield index + 1, key, e
        except TAR_READ_ERRORS as e:
            where = f"after key {key!r}" if key else "at the start"
            yield index + 1, key, ShardReadError(f"{url}: corrupt or truncated tar {where}: {e}")


class JsonlShards(ShardSet):
    """Instruction data: `.jsonl` files (one, or every one in a folder), each file a shard.

    A line is `{"instruction": str, "input": str (optional), "output": str}`.
    """

    def __init__(self, spec: SourceSpec) -> None:
        self.name, self.kind = spec.name, spec.kind
        fs, path = filesystem(spec.path)
        if not fs.exists(path):
            raise DataError(f"{spec.kind}={spec.path}: no such file or folder")
        if fs.isdir(path):
            files = sorted(p for p in fs.ls(path, detail=False) if p.endswith(".jsonl"))
            protocol = spec.path.split("://")[0] + "://" if "://" in spec.path else ""
            self.urls = [protocol + p if protocol and "://" not in p else p for p in files]
        else:
            self.urls = [spec.path]
        if not self.urls:
            raise DataError(f"{spec.kind}={spec.path}: no .jsonl files")

    def items(self, url: str, start: int = 0, keep: Callable[[int], bool] | None = None) -> Iterator[Entry]:
        with open_binary(url) as f:
            for index, raw in enumerate(f):
                if index < start or (keep is not None and not keep(index)):
                    continue
                key = f"line{index + 1}"
                try:
                    row = json.loads(raw)
                    if (
                        not isinstance(row, dict)
                        or not isinstance(row.get("instruction"), str)
                        or not isinstance(row.get("output"), str)
                        or not isinstance(row.get("input", ""), str)
                    ):
                        raise ValueError(
                            "expected an object with string 'instruction', 'output' and optional 'input'"
                        )
                except ValueError as e:
                    yield index, key, ShardReadError(f"{url}: {key}: {e}")
                    continue
                yield index, key, row


def open_source(spec: SourceSpec) -> ShardSet:
    """Open and check one source; DataError with the reason when it cannot be used."""
    if spec.kind not in STREAM_KINDS:
        raise DataError(f"unknown stream kind {spec.kind!r}; expected one of {', '.join(STREAM_KINDS)}")
    if spec.kind == INSTRUCTION:
        return JsonlShards(spec)
    from kosmos_train.data.foreign import ForeignShards, is_foreign_source  # img2dataset & co. folders

    return ForeignShards(spec) if is_foreign_source(spec) else CorpusShards(spec)
