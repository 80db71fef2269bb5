"""WARC -> extracted documents, pages/s per core (no image download), and WARC reader speed.

Builds a .warc.gz (one gzip member per record, as Common Crawl) from the real pages in
the real web pages (tests/real_pages.py) repeated to --records records, then times, in this one process (so
figures are per core), each over the same file:

  reading:    warcio ArchiveIterator | FastWARC ArchiveIterator | ours (pipelines.io.warc,
              FastWARC + per-member framing that survives corrupt records)
  extraction: ours (read + filters.html_document.extract_document: decode, boilerplate, ordered
              paragraphs + images with resolved URLs) | resiliparse extract_plain_text alone
              (FastWARC read + decode + extract_plain_text(main_content=True))
  DOM choice: resiliparse parse + our walk | stdlib html.parser tokenize only (no tree)

Prints markdown tables. Usage:
    .venv/bin/python benchmarks/warc_extraction.py --records 3000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastwarc.warc import ArchiveIterator, WarcRecordType  # noqa: E402
from resiliparse.extract.html2text import extract_plain_text  # noqa: E402
from resiliparse.parse.encoding import bytes_to_str, detect_encoding  # noqa: E402

from filters.html_document import _Builder, _walk, extract_document, parse_html  # noqa: E402
from pipelines.io.warc import WarcPage, iter_warc_records, write_test_warc  # noqa: E402
from tests.real_pages import PAGES_DIR  # noqa: E402


def build_warc(path: str, records: int) -> tuple[int, int]:
    files = sorted(PAGES_DIR.glob("*.html"))
    if not files:
        raise SystemExit(f"no pages in {PAGES_DIR}")
    bodies = [(f.name, f.read_bytes()) for f in files]
    pages = [
        (
            f"https://{bodies[i % len(bodies)][0]}/{i}.html",
            bodies[i % len(bodies)][1],
            {"Content-Type": "text/html"},
        )
        for i in range(records)
    ]
    write_test_warc(path, pages)
    return records, sum(len(b) for _, b, _ in pages)


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def read_warcio(path: str) -> int:
    from warcio.archiveiterator import ArchiveIterator as WarcioIterator

    n = 0
    with open(path, "rb") as fh:
        for rec in WarcioIterator(fh):
            if rec.rec_type == "response":
                rec.content_stream().read()
                n += 1
    return n


def read_fastwarc(path: str) -> int:
    n = 0
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=True):
            rec.reader.read()
            n += 1
    return n


def read_ours(path: str) -> int:
    with open(path, "rb") as fh:
        return sum(isinstance(x, WarcPage) for x in iter_warc_records(fh, os.path.basename(path)))


def extract_ours(path: str) -> int:
    n = 0
    with open(path, "rb") as fh:
        for page in iter_warc_records(fh, os.path.basename(path)):
            if isinstance(page, WarcPage):
                extract_document(page.body, page.url, declared_charset=page.charset)
                n += 1
    return n


def extract_plain(path: str) -> int:
    n = 0
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=True):
            body = rec.reader.read()
            extract_plain_text(bytes_to_str(body, detect_encoding(body)), main_content=True)
            n += 1
    return n


class _Null(HTMLParser):
    pass


def dom_resiliparse(bodies: list[bytes]) -> None:
    for raw in bodies:
        tree, _ = parse_html(raw)
        from filters.html_document import HtmlConfig

        b = _Builder("https://e.com/", HtmlConfig())
        if tree.body is not None:
            _walk(tree.body, b)


def dom_resiliparse_parse_only(bodies: list[bytes]) -> None:
    for raw in bodies:
        parse_html(raw)


def dom_htmlparser(bodies: list[bytes]) -> None:
    for raw in bodies:
        p = _Null()
        p.feed(bytes_to_str(raw, detect_encoding(raw)))
        p.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.warc.gz")
        n, raw_bytes = build_warc(path, args.records)
        size = os.path.getsize(path)
        print(f"WARC: {n} response records, {raw_bytes / 1e6:.1f} MB HTML, {size / 1e6:.1f} MB gzipped\n")
        assert read_warcio(path) == read_fastwarc(path) == read_ours(path) == n

        rows = []
        for name, fn in (
            ("warcio 1.8.1", read_warcio),
            ("FastWARC 2.0.1", read_fastwarc),
            ("ours (FastWARC + resumable framing)", read_ours),
        ):
            t = best(lambda fn=fn: fn(path), args.repeats)
            rows.append((name, t))
        base = rows[0][1]
        print("| reader | records/s | MB/s (uncompressed HTML) | vs warcio |\n|---|---|---|---|")
        for name, t in rows:
            print(f"| {name} | {n / t:,.0f} | {raw_bytes / 1e6 / t:,.0f} | {base / t:.1f}x |")

        print()
        rows = []
        for name, fn in (
            ("resiliparse `extract_plain_text(main_content=True)` alone", extract_plain),
            ("ours: `extract_document` (paragraphs + images + URLs)", extract_ours),
        ):
            t = best(lambda fn=fn: fn(path), max(1, args.repeats - 1))
            rows.append((name, t))
        base = rows[0][1]
        print(
            "| WARC -> extracted documents (1 core) | pages/s | ms/page | vs extract_plain_text |\n|---|---|---|---|"
        )
        for name, t in rows:
            print(f"| {name} | {n / t:,.0f} | {1000 * t / n:.2f} | {t / base:.2f}x time |")

        bodies = [f.read_bytes() for f in sorted(PAGES_DIR.glob("*.html"))] * 10
        print()
        rows = []
        for name, fn in (
            ("resiliparse (lexbor) parse only", dom_resiliparse_parse_only),
            ("resiliparse parse + our full DOM walk", dom_resiliparse),
            ("stdlib html.parser, tokenize only (no tree, no walk)", dom_htmlparser),
        ):
            t = best(lambda fn=fn: fn(bodies), args.repeats)
            rows.append((name, t))
        print(f"| DOM choice ({len(bodies)} pages) | pages/s | ms/page |\n|---|---|---|")
        for name, t in rows:
            print(f"| {name} | {len(bodies) / t:,.0f} | {1000 * t / len(bodies):.2f} |")
        print(f"\n(best of {args.repeats}; median machine load {statistics.mean(os.getloadavg()):.1f})")


if __name__ == "__main__":
    main()
