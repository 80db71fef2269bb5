"""WARC reading: round trip, skipped record kinds, and corrupt/truncated files counted, rest read."""

from __future__ import annotations

import gzip
import io

import pytest

from filters.html_document import extract_document
from pipelines.io.warc import (
    WarcError,
    WarcPage,
    WarcStats,
    iter_warc_records,
    read_warc_file,
    write_test_warc,
)
from schemas.keys import make_key, warc_identity
from tests.real_pages import PAGES_DIR


def _pages(n: int = 6) -> list[tuple[str, bytes, dict[str, str] | None]]:
    return [
        (
            f"http://example.com/p{i}.html",
            f"<html><body><p>page number {i}</p></body></html>".encode() * 5,
            None,
        )
        for i in range(n)
    ]


def _read(data: bytes, name: str) -> tuple[list[WarcPage], list[WarcError], WarcStats]:
    stats = WarcStats()
    items = list(iter_warc_records(io.BytesIO(data), name, stats=stats))
    pages = [x for x in items if isinstance(x, WarcPage)]
    errors = [x for x in items if isinstance(x, WarcError)]
    assert len(pages) + len(errors) == len(items)
    return pages, errors, stats


@pytest.mark.parametrize("compress", [True, False])
def test_round_trip(tmp_path, compress):
    path = tmp_path / ("a.warc.gz" if compress else "a.warc")
    src = _pages()
    offsets = write_test_warc(str(path), src, gzip=compress)
    pages = list(read_warc_file(str(path)))
    assert [p.url for p in pages] == [u for u, _, _ in src]
    assert [p.offset for p in pages] == offsets
    assert [p.body for p in pages] == [b for _, b, _ in src]
    assert all(p.charset == "utf-8" and p.http_status == 200 and p.date.startswith("20") for p in pages)
    assert all(p.warc_name == path.name for p in pages)
    keys = {make_key("interleaved", warc_identity(p.warc_name, p.offset)) for p in pages}
    assert len(keys) == len(pages)


def test_non_html_and_non_response_records_are_skipped_and_counted(tmp_path):
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    path = tmp_path / "mixed.warc.gz"
    write_test_warc(
        str(path),
        [
            ("http://e.com/a.html", b"<p>a</p>", None),
            ("http://e.com/i.png", b"\x89PNG\r\n", {"Content-Type": "image/png"}),
            ("http://e.com/b.html", b"<p>b</p>", {"Content-Type": "application/xhtml+xml"}),
        ],
    )
    with open(path, "ab") as fh:
        w = WARCWriter(fh, gzip=True)
        w.write_record(w.create_warcinfo_record("mixed.warc.gz", {"software": "test"}))
        req = StatusAndHeaders("GET / HTTP/1.1", [("Host", "e.com")], is_http_request=True)
        w.write_record(w.create_warc_record("http://e.com/", "request", http_headers=req))
    stats = WarcStats()
    pages = list(read_warc_file(str(path), stats=stats))
    assert [p.url for p in pages] == ["http://e.com/a.html", "http://e.com/b.html"]
    assert stats.skipped_not_html == 1
    assert stats.skipped_not_response == 2
    assert stats.skipped_by_type == {"warcinfo": 1, "request": 1}
    assert stats.records == 5 and stats.pages == 2 and stats.errors == 0


def test_gzip_cut_mid_record(tmp_path):
    path = tmp_path / "cut.warc.gz"
    offsets = write_test_warc(str(path), _pages())
    data = path.read_bytes()[: offsets[3] + 40]
    pages, errors, stats = _read(data, "cut.warc.gz")
    assert [p.offset for p in pages] == offsets[:3]
    assert len(errors) == 1 and errors[0].offset == offsets[3]
    assert errors[0].reason == "bad_warc_record"
    assert errors[0].detail.startswith(f"cut.warc.gz@{offsets[3]}") and "cut short" in errors[0].detail
    assert stats.errors == 1


def test_corrupt_gzip_member_in_the_middle_rest_is_read(tmp_path):
    path = tmp_path / "bad.warc.gz"
    offsets = write_test_warc(str(path), _pages())
    data = bytearray(path.read_bytes())
    data[offsets[2] + 20 : offsets[2] + 60] = b"\x00" * 40
    pages, errors, _ = _read(bytes(data), "bad.warc.gz")
    assert [p.offset for p in pages] == offsets[:2] + offsets[3:]
    assert [e.offset for e in errors] == [offsets[2]]


def test_wrong_content_length_in_gzip_member(tmp_path):
    path = tmp_path / "cl.warc.gz"
    offsets = write_test_warc(str(path), _pages())
    data = path.read_bytes()
    member = gzip.decompress(data[offsets[1] : offsets[2]])
    member = member.replace(b"Content-Length: ", b"Content-Length: 1", 1)  # 10x too long
    data = data[: offsets[1]] + gzip.compress(member) + data[offsets[2] :]
    pages, errors, _ = _read(data, "cl.warc.gz")
    assert len(pages) == 5 and [e.offset for e in errors] == [offsets[1]]
    assert "p1.html" not in {p.url.rsplit("/", 1)[1] for p in pages}


@pytest.mark.parametrize("delta", [+37, -37])
def test_wrong_content_length_in_plain_warc(tmp_path, delta):
    path = tmp_path / "cl.warc"
    offsets = write_test_warc(str(path), _pages(), gzip=False)
    data = path.read_bytes()
    start = data.index(b"Content-Length: ", offsets[2])
    end = data.index(b"\r\n", start)
    length = int(data[start + 16 : end])
    data = data[:start] + b"Content-Length: %d" % (length + delta) + data[end:]
    pages, errors, _ = _read(data, "cl.warc")
    assert [p.offset for p in pages] == offsets[:2] + offsets[3:]
    assert len(errors) == 1 and errors[0].offset == offsets[2] and "Content-Length" in errors[0].detail


def test_plain_warc_truncated(tmp_path):
    path = tmp_path / "t.warc"
    offsets = write_test_warc(str(path), _pages(), gzip=False)
    data = path.read_bytes()[: offsets[4] + 300]
    pages, errors, _ = _read(data, "t.warc")
    assert [p.offset for p in pages] == offsets[:4]
    assert [e.offset for e in errors] == [offsets[4]]


def test_garbage_and_empty_files_do_not_raise():
    pages, errors, _ = _read(b"this is not a warc file at all\n" * 100, "junk.warc")
    assert pages == [] and len(errors) == 1 and errors[0].detail.startswith("junk.warc@0")
    pages, errors, _ = _read(b"\x1f\x8b\x08" + b"\x00" * 500, "junk.warc.gz")
    assert pages == [] and len(errors) == 1
    assert _read(b"", "empty.warc.gz")[:2] == ([], [])


def test_leading_garbage_before_gzip_members(tmp_path):
    path = tmp_path / "g.warc.gz"
    write_test_warc(str(path), _pages(3))
    pages, errors, _ = _read(b"GARBAGE" + path.read_bytes(), "g.warc.gz")
    assert len(pages) == 3 and len(errors) == 1 and errors[0].offset == 0


@pytest.mark.real_pages
def test_real_pages_round_trip_and_extract(tmp_path):
    files = sorted(PAGES_DIR.glob("*.html"))
    assert files
    src = [(f"https://{f.name}/index.html", f.read_bytes(), {"Content-Type": "text/html"}) for f in files]
    path = tmp_path / "real.warc.gz"
    write_test_warc(str(path), src)
    stats = WarcStats()
    pages = list(read_warc_file(str(path), stats=stats))
    assert len(pages) == len(files) == stats.pages and stats.errors == 0
    for page, f in zip(pages, files, strict=True):
        assert page.body == f.read_bytes()
        doc = extract_document(page.body, page.url, declared_charset=page.charset)
        assert doc.nodes, f.name
