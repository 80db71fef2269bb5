"""Beam-free WARC reading: HTML response records out, corrupt records counted, never a crash.

`iter_warc_records(stream, warc_name)` yields a `WarcPage` per HTML response record and a
`WarcError(reason="bad_warc_record")` per corrupt or truncated record, and keeps reading after
a bad record wherever the file allows it. `WarcStats` (filled in as it goes) says how many records
were read and how many non-HTML or non-response records were skipped: those are not pages, so
they are neither kept nor dropped, only counted.

Why FastWARC (resiliparse) and not warcio: measured in benchmarks/warc_extraction.py it reads the
same .warc.gz several times faster (see benchmarks/RESULTS.md, "WARC extraction").

How a bad record is found and skipped. Common Crawl writes one gzip member per record, so for a
.warc.gz each member is decompressed on its own (zlib, in C) and handed to FastWARC as one
record. A member that does not decompress, or whose record block is shorter or longer than its
Content-Length, is one bad record; reading resumes at the next gzip member (found by scanning
for the gzip magic when the broken member's end is unknown). A file cut mid-member yields one
bad record for the cut member. Plain .warc files have no member boundaries, so a record whose
Content-Length is wrong is detected by the missing record separator and reading resumes at the
next `WARC/1.` line.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from fastwarc.warc import ArchiveIterator, WarcRecordType

BAD_WARC_RECORD = "bad_warc_record"
_GZIP_MAGIC = b"\x1f\x8b\x08"
_WARC_START = re.compile(rb"WARC/1\.[01]\r?\n")
HTML_MIME_TYPES = ("text/html", "application/xhtml+xml")


@dataclass(frozen=True)
class WarcPage:
    """One HTML response record."""

    warc_name: str
    offset: int
    """Byte offset of the record in the (compressed) WARC file: with warc_name its stable identity."""
    url: str
    date: str
    """WARC-Date as written in the record (ISO 8601)."""
    http_status: int | None
    http_headers: dict[str, str]
    """HTTP response headers, names lower-cased (last value wins for repeated names)."""
    content_type: str
    charset: str | None
    """The charset parameter of the HTTP Content-Type, if any (decoding itself is html_document's)."""
    body: bytes


@dataclass(frozen=True)
class WarcError:
    """A corrupt or truncated record (or file): counted as a `bad_warc_record` drop."""

    warc_name: str
    offset: int
    detail: str
    reason: str = BAD_WARC_RECORD


@dataclass
class WarcStats:
    """Counts of one read, filled in while iterating (skipped records are not pages)."""

    records: int = 0
    pages: int = 0
    errors: int = 0
    skipped_not_response: int = 0
    skipped_not_html: int = 0
    skipped_by_type: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class WarcReadConfig:
    """Reader settings."""

    max_body_bytes: int = 20 * 1024 * 1024
    """Larger HTML bodies are reported as bad records instead of being parsed (memory guard)."""
    html_only: bool = True
    """Yield only responses whose HTTP Content-Type is HTML (text/html, application/xhtml+xml)."""
    status_ok_only: bool = True
    """Skip responses whose HTTP status is not 2xx (redirects and errors are not pages)."""


# ------------------------------------------------------------------------------------------------
# Record -> page
# ------------------------------------------------------------------------------------------------


def _charset(content_type: str) -> str | None:
    m = re.search(r"charset\s*=\s*[\"']?([\w.:\-]+)", content_type, re.IGNORECASE)
    return m.group(1).lower() if m else None


def _to_page(record, warc_name: str, offset: int, cfg: WarcReadConfig, stats: WarcStats):
    """WarcPage, WarcError, or None (skipped and counted) for one FastWARC record."""
    stats.records += 1
    if record.record_type != WarcRecordType.response:
        stats.skipped_not_response += 1
        name = record.record_type.name
        stats.skipped_by_type[name] = stats.skipped_by_type.get(name, 0) + 1
        record.reader.consume()
        return None
    url = record.headers.get("WARC-Target-URI", "") or ""
    if not record.is_http:
        stats.skipped_not_html += 1
        return None
    try:
        # 'all' undoes chunked transfer and gzip/deflate/brotli content encodings the crawler kept.
        record.parse_http(auto_decode="all", quirks_mode=True)
    except (OSError, ValueError) as e:
        return WarcError(warc_name, offset, f"{warc_name}@{offset}: bad HTTP headers ({url}): {e}")
    http = record.http_headers
    content_type = http.get("Content-Type", "") or ""
    mime = content_type.split(";", 1)[0].strip().lower()
    status = http.status_code
    if (cfg.html_only and mime not in HTML_MIME_TYPES) or (
        cfg.status_ok_only and status is not None and not 200 <= status < 300
    ):
        stats.skipped_not_html += 1
        record.reader.consume()
        return None
    body = record.reader.read(cfg.max_body_bytes + 1)
    if len(body) > cfg.max_body_bytes:
        return WarcError(
            warc_name, offset, f"{warc_name}@{offset}: body over {cfg.max_body_bytes} bytes ({url})"
        )
    headers = {k.lower(): v for k, v in http.items()}
    return WarcPage(
        warc_name=warc_name,
        offset=offset,
        url=url,
        date=record.headers.get("WARC-Date", "") or "",
        http_status=status,
        http_headers=headers,
        content_type=content_type,
        charset=_charset(content_type),
        body=body,
    )


# ------------------------------------------------------------------------------------------------
# Framing: where each record starts and ends (hand-written because neither FastWARC nor warcio
# resumes after a bad record: both stop, or silently return a short body, at the first fault)
# ------------------------------------------------------------------------------------------------

_CONTENT_LENGTH = re.compile(rb"\r?\nContent-Length:[ \t]*(\d+)", re.IGNORECASE)
_WARC_TYPE = re.compile(rb"\r?\nWARC-Type:[ \t]*([\w-]+)", re.IGNORECASE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MAX_HEADER = 64 * 1024
_CHUNK = 1 << 20
_MEMBER_FEED = 64 * 1024  # compressed bytes fed per decompress call (a CC record is ~10-30 KB)


class _Buffer:
    """A growable window over a binary stream, with absolute offsets (streams can be gigabytes)."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.data = b""
        self.base = 0  # absolute offset of data[0]
        self.eof = False

    def fill(self, n: int) -> bool:
        """Make at least n bytes available; False at end of stream with fewer."""
        while len(self.data) < n and not self.eof:
            chunk = self.stream.read(max(_CHUNK, n - len(self.data)))
            if not chunk:
                self.eof = True
            else:
                self.data += chunk
        return len(self.data) >= n

    def drop(self, n: int) -> None:
        self.data = self.data[n:]
        self.base += n

    def find(self, pattern: re.Pattern, start: int, limit: int | None = None) -> re.Match | None:
        """Search from `start` (relative), reading more while nothing is found (up to `limit` bytes)."""
        while True:
            m = pattern.search(self.data, start)
            if m or self.eof or (limit is not None and len(self.data) >= limit):
                return m
            self.fill(len(self.data) + _CHUNK)


def _frame_records(buf: _Buffer, max_record: int, base_offset: int | None = None):
    """Yield (offset, warc_type, record_bytes) or (offset, None, error detail) per record.

    A record is `WARC/1.x` headers, a blank line, Content-Length bytes, then CRLF CRLF. When the
    separator is missing the Content-Length was wrong (or the data was cut): one error, and reading
    resumes at the next `WARC/1.` line. `base_offset` replaces absolute offsets for records inside
    one gzip member: the first record gets the member's offset, later ones member offset + position.
    """
    while True:
        if not buf.fill(1):
            return
        here = buf.base if base_offset is None else base_offset + buf.base
        m = _WARC_START.match(buf.data) if buf.fill(9) or buf.data else None
        if m is None:
            nxt = buf.find(_WARC_START, 1)
            if nxt is None:
                if buf.data.strip(b"\r\n"):
                    yield here, None, f"{len(buf.data)} bytes of trailing garbage"
                return
            if buf.data[: nxt.start()].strip(b"\r\n"):
                yield here, None, f"{nxt.start()} bytes of garbage before the next record"
            buf.drop(nxt.start())
            continue
        end = buf.find(_HEADER_END, 0, limit=_MAX_HEADER)
        if end is None:
            yield here, None, "record header not terminated (truncated file or garbage)"
            nxt = buf.find(_WARC_START, 1)
            buf.drop(nxt.start() if nxt else len(buf.data))
            continue
        header = buf.data[: end.end()]
        cl = _CONTENT_LENGTH.search(header)
        wtype = _WARC_TYPE.search(header)
        if cl is None:
            yield here, None, "record without Content-Length"
            nxt = buf.find(_WARC_START, end.end())
            buf.drop(nxt.start() if nxt else len(buf.data))
            continue
        length = int(cl.group(1))
        total = end.end() + length
        if length > max_record:
            yield here, None, f"record of {length} bytes is over the {max_record}-byte limit"
            _skip(buf, total + 4)
            continue
        if not buf.fill(total + 4) and len(buf.data) < total:
            yield here, None, f"record cut short: {len(buf.data) - end.end()} of {length} content bytes"
            buf.drop(len(buf.data))
            return
        sep = buf.data[total : total + 4]
        if sep not in (b"\r\n\r\n", b"\r\n\r", b"\r\n") or (sep != b"\r\n\r\n" and not buf.eof):
            yield here, None, f"Content-Length {length} does not end at a record separator"
            nxt = buf.find(_WARC_START, end.end())
            buf.drop(nxt.start() if nxt else len(buf.data))
            continue
        inner = _swallowed_record(buf.data, end.end(), total)
        if inner is not None:
            yield here, None, f"Content-Length {length} runs over the next record (re-read from there)"
            buf.drop(inner)
            continue
        yield here, (wtype.group(1).decode("ascii", "replace").lower() if wtype else ""), buf.data[:total]
        buf.drop(min(total + 4, len(buf.data)))


_INNER_START = re.compile(rb"\r\n\r\n(?=WARC/1\.[01]\r?\n)")


def _swallowed_record(data: bytes, start: int, end: int) -> int | None:
    """Where a record swallowed by a too-large Content-Length begins, or None.

    The block data[start:end] swallowed whole records when, from some `WARC/1.x` line inside it,
    one or more complete records (each header + its Content-Length + separator) end exactly at
    `end`: a coincidence no real content block produces, the signature of an overrun."""
    for m in _INNER_START.finditer(data, start, end):
        pos = m.end()
        while True:
            head = _HEADER_END.search(data, pos, min(end, pos + _MAX_HEADER))
            cl = _CONTENT_LENGTH.search(data, pos, head.end()) if head else None
            if cl is None:
                break
            nxt = head.end() + int(cl.group(1))
            if nxt == end:
                return m.end()
            if nxt + 4 > end or data[nxt : nxt + 4] != b"\r\n\r\n" or not _WARC_START.match(data, nxt + 4):
                break
            pos = nxt + 4
    return None


def _skip(buf: _Buffer, n: int) -> None:
    while n > 0:
        if not buf.data and not buf.fill(1):
            return
        k = min(n, len(buf.data))
        buf.drop(k)
        n -= k


def _gzip_members(stream: BinaryIO, max_member: int):
    """Yield (offset, decompressed bytes) or (offset, error detail string) per gzip member.

    After a member that fails to decompress, reading resumes at the next gzip magic; candidates
    that fail too are not reported again (one error per corrupt region, not per false magic).
    """
    buf = _Buffer(stream)
    in_bad_region = False
    while buf.fill(1):
        if not buf.data.startswith(_GZIP_MAGIC):
            nxt = buf.data.find(_GZIP_MAGIC, 1)
            while nxt < 0 and not buf.eof:
                buf.fill(len(buf.data) + _CHUNK)
                nxt = buf.data.find(_GZIP_MAGIC, 1)
            if not in_bad_region:
                yield buf.base, "bytes that are not a gzip member"
                in_bad_region = True
            buf.drop(nxt if nxt > 0 else len(buf.data))
            continue
        d = zlib.decompressobj(31)
        parts: list[bytes] = []
        size = 0
        pos = 0
        error = None
        try:
            while True:
                if pos >= len(buf.data) and not buf.fill(len(buf.data) + 1):
                    error = "gzip member cut short (truncated file)"
                    break
                chunk = memoryview(buf.data)[pos : pos + _MEMBER_FEED]  # no copy
                pos += len(chunk)
                out = d.decompress(chunk, max_member + 1 - size)
                size += len(out)
                parts.append(out)
                if size > max_member:
                    error = f"gzip member inflates to over {max_member} bytes"
                    break
                if d.eof:
                    break
        except zlib.error as e:
            error = f"gzip data error: {e}"
        if error is None:
            used = pos - len(d.unused_data)
            in_bad_region = False
            yield buf.base, b"".join(parts)
            buf.drop(used)
            continue
        if not in_bad_region:
            yield buf.base, error
        in_bad_region = True
        nxt = buf.data.find(_GZIP_MAGIC, 1)
        while nxt < 0 and not buf.eof:
            buf.fill(len(buf.data) + _CHUNK)
            nxt = buf.data.find(_GZIP_MAGIC, 1)
        buf.drop(nxt if nxt > 0 else len(buf.data))


def _is_gzip(stream: BinaryIO, name: str) -> tuple[bool, BinaryIO]:
    """Gzip when the stream starts with the gzip magic, or when the name ends in .gz and the bytes
    are not a plain WARC either (then leading garbage is reported and skipped). A plain WARC named
    .warc.gz is read as the plain WARC it is: its records count as records, not as one bad file."""
    head = stream.read(8)
    rest = _Prefixed(head, stream)
    if head.startswith(_GZIP_MAGIC):
        return True, rest
    return name.lower().endswith(".gz") and not _WARC_START.match(head + b"\n"), rest


class _Prefixed(io.RawIOBase):
    """A stream with some already-read bytes put back in front (works on unseekable streams)."""

    def __init__(self, prefix: bytes, stream: BinaryIO):
        self.prefix = prefix
        self.stream = stream

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.prefix:
            out, self.prefix = self.prefix, b""
            if n is None or n < 0:
                return out + self.stream.read()
            return out if len(out) >= n else out + self.stream.read(n - len(out))
        return self.stream.read(n)


# ------------------------------------------------------------------------------------------------
# Public reader
# ------------------------------------------------------------------------------------------------


def iter_warc_records(
    stream: BinaryIO,
    warc_name: str,
    config: WarcReadConfig = WarcReadConfig(),
    stats: WarcStats | None = None,
) -> Iterator[WarcPage | WarcError]:
    """WarcPage per HTML response record, WarcError per corrupt/truncated record, in file order.

    `stream` is any binary file object (local file, fsspec or Beam FileSystems handle); gzip is
    recognised by its magic bytes, not the file name. Never raises for bad data; `stats` (when
    given) is updated as records are read, including the skipped non-HTML/non-response counts.
    """
    stats = stats if stats is not None else WarcStats()
    max_record = config.max_body_bytes + _MAX_HEADER + 1024 * 1024
    gz, stream = _is_gzip(stream, warc_name)
    if gz:
        framed = _frames_of_gzip(stream, max_record)
    else:
        framed = _frame_records(_Buffer(stream), max_record)
    for offset, wtype, payload in framed:
        if wtype is None:
            stats.errors += 1
            yield WarcError(warc_name, offset, f"{warc_name}@{offset}: {payload}")
            continue
        if wtype != "response":
            stats.records += 1
            stats.skipped_not_response += 1
            stats.skipped_by_type[wtype or "unknown"] = stats.skipped_by_type.get(wtype or "unknown", 0) + 1
            continue
        item = _parse_response(payload, warc_name, offset, config, stats)
        if isinstance(item, WarcError):
            stats.errors += 1
            yield item
        elif item is not None:
            stats.pages += 1
            yield item


def _frames_of_gzip(stream: BinaryIO, max_record: int):
    for offset, member in _gzip_members(stream, max_record + 8):
        if isinstance(member, str):
            yield offset, None, member
            continue
        yield from _frame_records(_Buffer(io.BytesIO(member)), max_record, base_offset=offset)


def _parse_response(payload: bytes, warc_name: str, offset: int, cfg: WarcReadConfig, stats: WarcStats):
    """Hand one framed response record to FastWARC; a parse failure is a WarcError."""
    try:
        record = next(iter(ArchiveIterator(io.BytesIO(payload + b"\r\n\r\n"), parse_http=False)), None)
        if record is None:
            return WarcError(warc_name, offset, f"{warc_name}@{offset}: FastWARC found no record")
        return _to_page(record, warc_name, offset, cfg, stats)
    except Exception as e:  # noqa: BLE001 - any parser failure on hostile bytes is a counted bad record
        return WarcError(warc_name, offset, f"{warc_name}@{offset}: {type(e).__name__}: {e}")


def read_warc_file(path: str, config: WarcReadConfig = WarcReadConfig(), stats: WarcStats | None = None):
    """iter_warc_records over a local file; the WARC name is the file's base name."""
    import os

    with open(path, "rb") as fh:
        yield from iter_warc_records(fh, os.path.basename(path), config, stats)


# ------------------------------------------------------------------------------------------------
# Writing (tests and demos)
# ------------------------------------------------------------------------------------------------


def write_test_warc(
    path: str,
    pages: list[tuple[str, bytes, dict[str, str] | list[tuple[str, str]] | None]],
    gzip: bool = True,
    status: str = "200 OK",
) -> list[int]:
    """Write one response record per (url, body, http headers) with warcio; returns record offsets.

    Headers default to `Content-Type: text/html; charset=utf-8`. warcio is used for writing because
    it is the reference writer (one gzip member per record, as Common Crawl does); reading is
    FastWARC's job.
    """
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    offsets = []
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=gzip)
        for url, body, headers in pages:
            if headers is None:
                headers = {"Content-Type": "text/html; charset=utf-8"}
            items = list(headers.items()) if isinstance(headers, dict) else list(headers)
            http = StatusAndHeaders(status, items, protocol="HTTP/1.1")
            record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
            offsets.append(fh.tell())
            writer.write_record(record)
    return offsets
