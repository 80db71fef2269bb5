"""The columns an input file offers, read cheaply before a run starts (parquet schema, csv header,
the first JSON lines), so a misnamed column is a usage error instead of a corpus of drops.

Beam-free; files are opened through fsspec (any URL it knows: file://, memory://, gs://, s3://).
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
from collections.abc import Iterable

import fsspec
import pyarrow.parquet as pq

from pipelines.io.compressed import decompressed
from pipelines.io.input_rows import (
    JSONL_SUFFIXES,
    PARQUET_SUFFIXES,
    TABLE_SUFFIXES,
    format_of,
)

JSON_LINES_READ = 20
"""Lines (or array elements) of a JSON input whose keys are taken as its columns."""
HEAD_BYTES = 1 << 20
"""At most this much of a csv / JSON file is read to find its columns."""


def columns_of(url: str) -> set[str] | None:
    """The column names of one input file; None when the format has no columns to check
    (plain text, webdataset tars) or nothing could be read (a broken file is a counted drop later)."""
    try:
        suffix, gzipped = format_of(url)
    except ValueError:
        return None
    try:
        with fsspec.open(url, "rb") as raw:
            raw = decompressed(raw, url)[0]  # .zst/.xz/.bz2: only the head is decompressed
            stream = gzip.GzipFile(fileobj=raw) if gzipped else raw
            if suffix in PARQUET_SUFFIXES:
                source = stream if not gzipped else io.BytesIO(stream.read())
                return set(pq.ParquetFile(source).schema_arrow.names)
            head = stream.read(HEAD_BYTES)
    except (OSError, EOFError, ValueError):
        return None
    if suffix in TABLE_SUFFIXES:
        return _header(head, "\t" if suffix == ".tsv" else ",")
    if suffix in JSONL_SUFFIXES:
        return _json_keys(head)
    return None


def _header(head: bytes, delimiter: str) -> set[str] | None:
    line = head.decode("utf-8", "replace").removeprefix("\ufeff").splitlines()[:1]
    if not line:
        return None
    return {name.strip() for name in next(csv.reader(line, delimiter=delimiter))}


def _json_keys(head: bytes) -> set[str] | None:
    """Keys of the first objects: JSON lines, or the elements of a JSON array."""
    text = head.decode("utf-8", "replace").lstrip()
    if text.startswith("["):
        objects = _array_prefix(text)
    else:
        objects = (_loads(line) for line in text.splitlines() if line.strip())
    keys: set[str] = set()
    seen = False
    for obj in itertools.islice((o for o in objects if isinstance(o, dict)), JSON_LINES_READ):
        keys |= set(obj)
        seen = True
    return keys if seen else None


def _array_prefix(text: str) -> Iterable[object]:
    """The complete elements at the start of a (possibly cut) JSON array."""
    decoder = json.JSONDecoder()
    pos = 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError):
            return
        yield obj


def _loads(line: str) -> object:
    try:
        return json.loads(line)
    except (ValueError, RecursionError):  # bad JSON, 5000-digit integers, 100k-deep nesting: not a header
        return None


def missing_columns(url: str, wanted: Iterable[str]) -> tuple[list[str], set[str]] | None:
    """(wanted columns the file lacks, the columns it has), or None when it cannot be told."""
    found = columns_of(url)
    if found is None:
        return None
    return [c for c in wanted if c not in found], found
