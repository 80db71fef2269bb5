"""Hugging Face dataset folders as input rows: `save_to_disk` output (`*.arrow`) and hub/cache layouts.

Beam-free. A folder written by `datasets` holds its rows in Arrow IPC files (`data-00000-of-00003.arrow`,
the streaming format; the file format is read too) or Parquet files, next to metadata files
(`dataset_info.json`, `state.json`, `dataset_dict.json`) that are not rows and are left out of
the inputs. Arrow files are read batch by batch, so memory stays flat.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import IO, Any

import pyarrow as pa

from pipelines.io.input_rows import STREAM_ERRORS, RowError

ARROW_SUFFIXES = (".arrow",)
HF_METADATA_FILES = frozenset({"dataset_info.json", "state.json", "dataset_dict.json"})


def is_arrow_file(name: str) -> bool:
    return name.lower().endswith(ARROW_SUFFIXES)


def is_hf_metadata(name: str) -> bool:
    """A `datasets` folder's own metadata file (not rows)."""
    return posixpath.basename(name.rstrip("/")) in HF_METADATA_FILES


def _batches(stream: IO[bytes]) -> Iterator[pa.RecordBatch]:
    try:
        yield from pa.ipc.open_stream(stream)
    except pa.ArrowInvalid:
        stream.seek(0)  # the IPC file format (random access) instead of the stream format
        reader = pa.ipc.open_file(stream)
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i)


def iter_arrow_rows(stream: IO[bytes], name: str) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """(row index, row or RowError) for an Arrow IPC file; a damaged file ends in one bad_input_file drop."""
    index = 0
    try:
        for batch in _batches(stream):
            for row in batch.to_pylist():
                yield index, row
                index += 1
    except (pa.ArrowException, *STREAM_ERRORS) as e:
        yield (
            index,
            RowError("bad_input_file", f"{name}: unreadable after row {index} ({type(e).__name__}: {e})"),
        )
