"""Common Crawl text as text-pipeline rows: WARC response records (main text extracted) and WET files.

Beam-free. A `.warc`/`.warc.gz` file gives one row per HTML response record: the page's text as
`filters.html_document` extracts it (boilerplate removed, paragraphs joined by blank lines), which
is the main text KOSMOS-1's Common Crawl documents are made of. A `.wet`/`.warc.wet.gz` file
(Common Crawl's own text extraction) gives one row per `conversion` record, its plain text as it is.
Every row has `text`, `url` and `id` (the WARC-Record-ID); a corrupt record is a counted drop.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import IO, Any

from filters.html_document import charset_from_content_type, extract_document
from pipelines.io.input_rows import RowError
from pipelines.io.warc import WarcError, iter_warc_records

WET_SUFFIXES = (".wet", ".wet.gz")
WARC_SUFFIXES = (".warc", ".warc.gz")


def is_web_archive(name: str) -> bool:
    """WARC or WET files (the text pipeline reads both)."""
    return name.lower().endswith(WET_SUFFIXES + WARC_SUFFIXES)


def iter_warc_text_rows(stream: IO[bytes], name: str) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """(row index, row or RowError) for a WARC or WET file."""
    if name.lower().endswith(WET_SUFFIXES):
        yield from _wet_rows(stream, name)
        return
    for index, item in enumerate(iter_warc_records(stream, name)):
        if isinstance(item, WarcError):
            yield index, RowError(item.reason, item.detail)
            continue
        try:
            charset = charset_from_content_type(item.content_type)
            document = extract_document(item.body, item.url, declared_charset=charset)
        except Exception as e:  # noqa: BLE001 - a bug on one page is that page's drop, not the job's
            yield index, RowError("internal_error", f"{name}@{item.offset}: text extraction: {e}")
            continue
        yield index, {"text": document.text, "url": item.url, "id": f"{item.warc_name}@{item.offset}"}


def _wet_rows(stream: IO[bytes], name: str) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    if name.lower().endswith(".gz"):
        stream = gzip.GzipFile(fileobj=stream)  # type: ignore[assignment]
    index = 0
    try:
        for record in ArchiveIterator(stream, record_types=WarcRecordType.conversion, parse_http=False):
            raw = record.reader.read()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield index, RowError("bad_encoding", f"{name} record {index}: not UTF-8 ({e.reason})")
            else:
                url = record.headers.get("WARC-Target-URI") or None
                yield index, {"text": text, "url": url, "id": record.headers.get("WARC-Record-ID") or None}
            index += 1
    except Exception as e:  # noqa: BLE001 - FastWARC raises several types on a cut or corrupt file
        yield (
            index,
            RowError("bad_input_file", f"{name}: unreadable after record {index} ({type(e).__name__}: {e})"),
        )
