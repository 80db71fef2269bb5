"""Hostile WARC files and pages: charset labels that name non-text codecs, record framing.

Records are counted as a reader of the format sees them: a plain WARC named .warc.gz holds its
records (not one bad file), a Content-Length that runs over the next records costs only its own
record, and every page of an `image-text --warc` or `interleaved` run is kept or dropped with a
reason (input == kept + dropped, `validate` passes).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from filters.html_document import decode_html, extract_document, web_encoding
from pipelines.cli import main as corpus_main
from pipelines.io.warc import WarcError, WarcPage, WarcStats, iter_warc_records, write_test_warc
from schemas.manifest import read_manifest
from schemas.reader import iter_corpus
from schemas.validate import validate
from tests.pipelines.warc_fixtures import generated_page

NON_TEXT_CHARSETS = [
    "unicode_escape",
    "raw_unicode_escape",
    "undefined",
    "rot13",
    "base64",
    "zlib",
    "punycode",
]
NON_TEXT_CHARSETS += ["idna", "utf-7", "hex", "uu", "bz2", "quopri", "mbcs", "no-such-codec", "\x00"]
HOSTILE_BODY = b"<html><body><p>caf\xe9 \\N{ \\x \\u12 +AGEAYgBj- text</p></body></html>"


@pytest.mark.parametrize("charset", NON_TEXT_CHARSETS)
def test_non_text_charsets_are_ignored_not_raised(charset: str) -> None:
    text, used = decode_html(HOSTILE_BODY, charset)
    assert "caf" in text and "\\N{" in text  # escapes were not interpreted
    assert web_encoding(used) is not None
    doc = extract_document(HOSTILE_BODY, "http://example.com/", declared_charset=charset)
    assert "text" in " ".join(getattr(n, "text", "") for n in doc.nodes)


def test_web_encodings_are_still_honoured() -> None:
    assert decode_html("<p>Привет</p>".encode("koi8-r"), "koi8-r")[0] == "<p>Привет</p>"
    assert decode_html("<p>日本語</p>".encode("shift_jis"), "Shift_JIS")[0] == "<p>日本語</p>"
    assert web_encoding("unicode_escape") is None and web_encoding("latin1") == "iso8859-1"


# ---- framing -------------------------------------------------------------------------------------------


def _pages(n: int, base: str = "http://example.com") -> list[tuple[str, bytes, None]]:
    return [(f"{base}/p{i}", f"<html><body><p>page {i}</p></body></html>".encode(), None) for i in range(n)]


def _plain_warc(tmp: Path, n: int = 3) -> bytes:
    write_test_warc(str(tmp / "plain.warc"), _pages(n), gzip=False)
    return (tmp / "plain.warc").read_bytes()


def _read(data: bytes, name: str) -> list[str]:
    stats = WarcStats()
    out = [
        "page" if isinstance(r, WarcPage) else "error"
        for r in iter_warc_records(io.BytesIO(data), name, stats=stats)
    ]
    assert stats.pages == out.count("page") and stats.errors == out.count("error")
    return out


def _set_first_length(raw: bytes, length: int) -> bytes:
    m = re.compile(rb"Content-Length: (\d+)").search(raw, raw.index(b"WARC-Type: response"))
    return raw[: m.start(1)] + str(length).encode() + raw[m.end(1) :]


def test_plain_warc_named_gz_counts_its_records(tmp_path: Path) -> None:
    raw = _plain_warc(tmp_path)
    assert _read(raw, "crawl.warc.gz") == ["page"] * 3
    assert _read(raw, "crawl.warc") == ["page"] * 3
    assert _read(b"garbage" + raw, "crawl.warc.gz") == ["error"]  # not a WARC and not gzip: one bad file


def test_content_length_overruns_cost_only_their_record(tmp_path: Path) -> None:
    raw = _plain_warc(tmp_path)
    first_len = int(
        re.compile(rb"Content-Length: (\d+)").search(raw, raw.index(b"WARC-Type: response")).group(1)
    )
    starts = [m.start() for m in re.finditer(rb"WARC/1\.[01]\r\n", raw)]
    header_end = raw.index(b"\r\n\r\n", starts[0]) + 4
    for length in (first_len + 7, first_len + 300):  # runs into the next record
        assert _read(_set_first_length(raw, length), "x.warc") == ["error", "page", "page"]
    for swallowed in (1, 2):  # exactly up to the end of the next one or two records
        length = starts[1 + swallowed] - 4 - header_end if swallowed < 2 else len(raw) - 4 - header_end
        bad = _set_first_length(raw, length - (len(str(length)) - len(str(first_len))))
        assert _read(bad, "x.warc") == ["error", "page", "page"], swallowed


# ---- end to end ----------------------------------------------------------------------------------------


def _hostile_warc(path: Path, base: str, gzip: bool = True) -> int:
    pages = []
    for i, charset in enumerate(["unicode_escape", "undefined", "utf-7", "rot13"]):
        url = f"{base}/img/chelsea.png?cs={i}" if i % 2 else f"{base}/img/coffee.webp?cs={i}"
        html = generated_page(60 + i, [url], alts=["A tabby cat or a cup of coffee on a table."])
        pages.append((f"{base}/gen/cs{i}", html, {"Content-Type": f"text/html; charset={charset}"}))
    write_test_warc(str(path), pages, gzip=gzip)
    return len(pages)


def _counts_ok(out: Path) -> dict:
    assert validate(str(out)).ok
    counts = read_manifest(str(out)).counts
    assert counts.input == counts.kept + sum(counts.dropped.values())
    assert counts.kept == sum(1 for _ in iter_corpus(str(out)))
    return counts


def test_image_text_warc_with_hostile_charsets_and_a_misnamed_plain_warc(tmp_path: Path, http_server) -> None:
    n = _hostile_warc(tmp_path / "a.warc.gz", http_server.base_url)
    m = _hostile_warc(tmp_path / "b.warc.gz", http_server.base_url + "/", gzip=False)  # plain, named .gz
    rc = corpus_main(
        ["image-text", "--warc", str(tmp_path / "a.warc.gz"), str(tmp_path / "b.warc.gz")]
        + [
            "--output",
            str(tmp_path / "out"),
            "--clip-model",
            "none",
            "--timeout",
            "2",
            "--allow-private-network",
        ]
    )
    assert rc == 0
    counts = _counts_ok(tmp_path / "out")
    assert counts.input == n + m  # one alt-text row per page, from both files
    assert "bad_warc_record" not in counts.dropped and "internal_error" not in counts.dropped


def test_interleaved_with_hostile_charsets(tmp_path: Path, http_server) -> None:
    n = _hostile_warc(tmp_path / "c.warc.gz", http_server.base_url)
    rc = corpus_main(
        ["interleaved", "--warc", str(tmp_path / "c.warc.gz"), "--output", str(tmp_path / "out")]
        + [
            "--clip-model",
            "none",
            "--timeout",
            "2",
            "--allow-private-network",
            "--one-image-keep-fraction",
            "1.0",
        ]
    )
    assert rc == 0
    counts = _counts_ok(tmp_path / "out")
    assert counts.input == n and "internal_error" not in counts.dropped
    assert not any(
        isinstance(r, WarcError) for r in iter_warc_records(open(tmp_path / "c.warc.gz", "rb"), "c")
    )
