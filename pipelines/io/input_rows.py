"""Rows from input files: jsonl, parquet, csv/tsv and plain text, optionally gzipped.

Beam-free so it can be tested on bytes. Every fault becomes a `RowError` with a drop reason and
a detail naming the file and line; nothing here raises for bad data, and rows read before a
fault (e.g. a gzip file cut in the middle) are kept.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.io.compressed import codec_of, decompressed
from pipelines.io.row_check import load_json, value_problem

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
TABLE_SUFFIXES = (".csv", ".tsv")
PARQUET_SUFFIXES = (".parquet",)
TEXT_SUFFIXES = (".txt",)
WEBDATASET_SUFFIXES = (".tar",)  # img2dataset's webdataset output: <key>.jpg/.txt/.json
SUPPORTED_SUFFIXES = JSONL_SUFFIXES + TABLE_SUFFIXES + PARQUET_SUFFIXES + TEXT_SUFFIXES + WEBDATASET_SUFFIXES
IMAGE_FIELDS = ("jpg", "jpeg", "png", "webp")
STREAM_ERRORS = (EOFError, OSError, zlib.error, gzip.BadGzipFile)


@dataclass(frozen=True)
class RowError:
    """A row (or the rest of a file) that could not be read: a counted drop, never a crash."""

    reason: str  # one of schemas.drop_reasons
    detail: str


def format_of(name: str) -> tuple[str, bool]:
    """(suffix without .gz, gzipped?) of a file name (a .zst/.xz/.bz2 suffix is left out:
    pipelines.io.compressed streams those); ValueError for unsupported formats."""
    lower = codec_of(name)[0].lower()
    gzipped = lower.endswith(".gz")
    if gzipped:
        lower = lower[:-3]
    for suffix in SUPPORTED_SUFFIXES:
        if lower.endswith(suffix):
            return suffix, gzipped
    raise ValueError(
        f"{name}: unsupported input format (expected one of {', '.join(SUPPORTED_SUFFIXES)}, optionally .gz/.zst/.xz/.bz2)"
    )


def iter_rows(
    stream: IO[bytes], name: str, txt_mode: str = "document"
) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """(row index, row dict or RowError) for every row of one input file.

    `txt_mode`: "document" reads a .txt file as one row {"text": whole file}; "lines" gives one
    row {"text": line} per non-empty line (URL lists).
    """
    for index, row in _format_rows(stream, name, txt_mode):
        yield index, _checked(row, name, index)


def _checked(row: dict[str, Any] | RowError, name: str, index: int) -> dict[str, Any] | RowError:
    """Every row of every format passes one value check (pipelines.io.row_check)."""
    if isinstance(row, RowError):
        return row
    problem = value_problem(row)
    return row if problem is None else RowError("malformed_row", f"{name} row {index}: {problem}")


def _format_rows(
    stream: IO[bytes], name: str, txt_mode: str
) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    stream = decompressed(stream, name)[0]  # .zst/.xz/.bz2, streamed
    suffix, gzipped = format_of(name)
    if gzipped:
        stream = gzip.GzipFile(fileobj=stream)  # type: ignore[assignment]
    if suffix == ".json":
        yield from _json_rows(stream, name)
    elif suffix in JSONL_SUFFIXES:
        yield from _jsonl_rows(stream, name)
    elif suffix in PARQUET_SUFFIXES:
        yield from _parquet_rows(stream, name)
    elif suffix in TABLE_SUFFIXES:
        yield from _table_rows(stream, name, "\t" if suffix == ".tsv" else ",")
    elif suffix in WEBDATASET_SUFFIXES:
        yield from _webdataset_rows(stream, name)
    else:
        yield from _text_rows(stream, name, txt_mode)


def _cut(name: str, index: int, error: BaseException) -> RowError:
    return RowError(
        "bad_input_file",
        f"{name}: unreadable after row {index} ({type(error).__name__}: {error}); the rest of the file is lost",
    )


def _jsonl_rows(stream: Iterable[bytes], name: str) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    index = 0
    line_no = 0
    try:
        for line_no, raw in enumerate(stream, start=1):  # noqa: B007 - line_no is used after the loop
            if not raw.strip():
                continue
            yield index, _parse_json_line(raw, name, line_no)
            index += 1
    except STREAM_ERRORS as e:
        yield index, _cut(name, index, e)


def _json_rows(stream: IO[bytes], name: str) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """A `.json` file: one JSON array of objects (img2dataset's `json` input format) or JSON lines."""
    try:
        head = stream.read(1)
        while head.isspace():
            head = stream.read(1)
        if head != b"[":
            yield from _jsonl_rows(itertools.chain([head + stream.readline()], stream), name)
            return
        data = head + stream.read()
    except STREAM_ERRORS as e:
        yield 0, _cut(name, 0, e)
        return
    try:
        rows = load_json(data.decode("utf-8"))
    except ValueError as e:  # UnicodeDecodeError, JSONDecodeError, too deep, too many digits
        yield 0, RowError("malformed_row", f"{name}: not a JSON array of objects ({e})")
        return
    for index, row in enumerate(rows):
        if isinstance(row, dict):
            yield index, row
        else:
            yield (
                index,
                RowError(
                    "malformed_row", f"{name}[{index}]: a JSON {type(row).__name__}, expected an object"
                ),
            )


def _parse_json_line(raw: bytes, name: str, line_no: int) -> dict[str, Any] | RowError:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return RowError("bad_encoding", f"{name}:{line_no}: not UTF-8 ({e.reason} at byte {e.start})")
    try:
        row = load_json(text)
    except json.JSONDecodeError as e:
        return RowError("malformed_row", f"{name}:{line_no}: invalid JSON ({e.msg} at column {e.colno})")
    except ValueError as e:  # nested too deeply, an integer of thousands of digits
        return RowError("malformed_row", f"{name}:{line_no}: invalid JSON ({e})")
    if not isinstance(row, dict):
        return RowError("malformed_row", f"{name}:{line_no}: a JSON {type(row).__name__}, expected an object")
    return row


def _parquet_rows(stream: IO[bytes], name: str) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    index = 0
    try:
        # Parquet needs random access; a non-seekable stream (gzip) is read into memory first.
        source = stream if _seekable(stream) else pa.BufferReader(stream.read())
        # Batches keep memory flat: img2dataset users complain about whole-parquet loading.
        for batch in pq.ParquetFile(source).iter_batches(batch_size=4096):
            for row in _batch_rows(batch, name, index):
                yield index, row
                index += 1
    except (pa.ArrowException, *STREAM_ERRORS) as e:
        yield index, _cut(name, index, e)


def _batch_rows(batch: pa.RecordBatch, name: str, first: int) -> list[dict[str, Any] | RowError]:
    """A batch as Python rows; if one value cannot become Python (a timestamp past year 9999, bytes
    that are not UTF-8 in a string column), only its row becomes a malformed_row."""
    try:
        return batch.to_pylist()
    except (ValueError, OverflowError, pa.ArrowException):
        pass
    rows: list[dict[str, Any] | RowError] = []
    for i in range(batch.num_rows):
        try:
            rows.extend(batch.slice(i, 1).to_pylist())
        except (ValueError, OverflowError, pa.ArrowException) as e:
            rows.append(RowError("malformed_row", f"{name} row {first + i}: {type(e).__name__}: {e}"))
    return rows


def _table_rows(
    stream: IO[bytes], name: str, delimiter: str
) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    # csv's default field limit (131,072 characters) would end the file at one long document;
    # length is --max-doc-chars' job (a counted `too_long` drop).
    csv.field_size_limit(sys.maxsize)
    index = 0
    # utf-8-sig: a byte-order mark (Excel writes one) would otherwise become part of the first column name.
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        for row in csv.DictReader(text, delimiter=delimiter):
            line = index + 2  # header is line 1
            if any(isinstance(v, str) and _has_surrogates(v) for v in row.values()):
                yield index, RowError("bad_encoding", f"{name}:{line}: not UTF-8")
            elif None in row:
                yield index, RowError("malformed_row", f"{name}:{line}: more fields than the header")
            else:
                yield index, row
            index += 1
    except (csv.Error, *STREAM_ERRORS) as e:
        yield index, _cut(name, index, e)


def _text_rows(
    stream: IO[bytes], name: str, txt_mode: str
) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    if txt_mode == "document":
        try:
            raw = stream.read()
        except STREAM_ERRORS as e:
            yield 0, _cut(name, 0, e)
            return
        try:
            yield 0, {"text": raw.decode("utf-8")}
        except UnicodeDecodeError as e:
            yield 0, RowError("bad_encoding", f"{name}: not UTF-8 ({e.reason} at byte {e.start})")
        return
    index = 0
    try:
        for line_no, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            try:
                yield index, _text_line(raw.decode("utf-8").strip())
            except UnicodeDecodeError as e:
                yield index, RowError("bad_encoding", f"{name}:{line_no}: not UTF-8 ({e.reason})")
            index += 1
    except STREAM_ERRORS as e:
        yield index, _cut(name, index, e)


def _text_line(line: str) -> dict[str, Any]:
    """One line of a URL list: `url` alone, or `url<TAB>caption` (a caption for image-text)."""
    url, tab, caption = line.partition("\t")
    return {"text": url.strip(), "caption": caption.strip()} if tab else {"text": line}


def _webdataset_rows(stream: IO[bytes], name: str) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """img2dataset webdataset samples as rows: its JSON fields, the caption and the image bytes.

    The row's `image` holds the stored bytes, so the pipeline re-filters and re-shards them
    without downloading again.
    """
    from schemas.reader import TAR_READ_ERRORS, ShardReadError, group_samples, iter_members

    index = 0
    try:
        for key, fields in group_samples(iter_members(stream), name):
            image_field = next((f for f in IMAGE_FIELDS if f in fields), None)
            row: dict[str, Any] = {}
            if "json" in fields:
                meta = _parse_json_line(fields["json"], name, index + 1)
                if isinstance(meta, RowError):
                    yield index, RowError(meta.reason, f"{name}: sample {key}: {meta.detail}")
                    index += 1
                    continue
                row.update(meta)
            if image_field is None:
                yield index, RowError("malformed_row", f"{name}: sample {key} has no image member")
            else:
                caption = fields.get("txt")
                row["caption"] = (
                    caption.decode("utf-8", "replace") if caption is not None else row.get("caption")
                )
                row["image"] = fields[image_field]
                row["source_key"] = key
                yield index, row
            index += 1
    except (ShardReadError, *TAR_READ_ERRORS) as e:
        yield index, _cut(name, index, e)


def _seekable(stream: IO[bytes]) -> bool:
    try:
        return bool(stream.seekable()) and not isinstance(stream, gzip.GzipFile)
    except (AttributeError, OSError):
        return False


def _has_surrogates(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)
