"""Every file the text pipeline reads, and one row iterator over all of them.

Beam-free. Row files (jsonl/json/parquet/csv/tsv/txt, optionally .gz/.zst/.xz/.bz2: The Pile is
`.jsonl.zst`), Hugging Face dataset folders (`*.arrow`, `*.parquet`; their metadata files are
skipped), and Common Crawl WARC/WET files.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from pipelines.io.hf_folders import is_arrow_file, is_hf_metadata, iter_arrow_rows
from pipelines.io.input_rows import RowError, format_of, iter_rows
from pipelines.io.wet import is_web_archive, iter_warc_text_rows


def is_document_file(path: str) -> bool:
    """Files the text pipeline reads (a directory's other files are left out)."""
    if is_hf_metadata(path):
        return False
    if is_web_archive(path) or is_arrow_file(path):
        return True
    try:
        format_of(path)
    except ValueError:
        return False
    return not path.lower().endswith(".tar")  # webdataset tars are image-text input


def iter_document_rows(stream: IO[bytes], name: str) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """(row index, row or RowError) for one input file of the text pipeline."""
    if is_web_archive(name):
        return iter_warc_text_rows(stream, name)
    if is_arrow_file(name):
        return iter_arrow_rows(stream, name)
    return iter_rows(stream, name, txt_mode="document")


def nested_value(row: dict[str, Any], path: str) -> Any:
    """`row["meta"]["pile_set_name"]` for the path "meta.pile_set_name" (None when absent)."""
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
