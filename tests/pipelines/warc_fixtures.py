"""WARC files for interleaved-pipeline tests: generated pages with known structure, and (for the
`real_pages` tests) the real pages with their image URLs pointed at the test server."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from pipelines.demo.text import generated_page  # noqa: F401 - re-exported for the tests
from tests import real_pages as pages
from tests.generated_text import german_document

PHOTOS = [
    "astronaut.jpg",
    "chelsea.png",
    "coffee.webp",
    "rocket-cmyk.jpg",
    "camera-gray.jpg",
    "logo-rgba.png",
]
_IMG_TAG = re.compile(rb"<img\b[^>]*>", re.IGNORECASE)
_URL_ATTR = re.compile(
    rb"""\b(src|data-src|data-lazy-src|data-original|srcset|data-srcset)\s*=\s*("[^"]*"|'[^']*')""",
    re.IGNORECASE,
)


def point_images_at(html: bytes, base_url: str, page: str) -> bytes:
    """Every <img> URL attribute replaced by a distinct URL of a real photo on the test server."""

    def attr(match: re.Match[bytes]) -> bytes:
        name, value = match.group(1), match.group(2)[1:-1]
        digest = hashlib.sha256(page.encode() + value).hexdigest()[:12]
        photo = PHOTOS[int(digest, 16) % len(PHOTOS)]
        url = f"{base_url}/img/{photo}?u={digest}".encode()
        return name + b'="' + (url + b" 800w" if name.lower().endswith(b"srcset") else url) + b'"'

    return _IMG_TAG.sub(lambda m: _URL_ATTR.sub(attr, m.group(0)), html)


def real_pages(base_url: str) -> list[tuple[str, bytes, str]]:
    """(page URL, rewritten HTML, lid.176 language label) for the real pages; [] where they are absent."""
    if not pages.available():
        return []
    out = []
    for row in pages.labels():
        url = f"{base_url}/pages/{row['file']}"
        out.append((url, point_images_at(pages.page_bytes(row["file"]), base_url, row["file"]), row["lang"]))
    return out


def german_page(seed: int, images: list[str]) -> bytes:
    """A German HTML page with the given images between its paragraphs (for the language rule)."""
    parts = [f"<h1>Bericht {seed}</h1>"]
    for i, url in enumerate(images):
        parts.append(f"<p>{german_document(seed * 100 + i, sentences=5)}</p>")
        parts.append(f'<figure><img src="{url}" alt="Bild {i}"></figure>')
    parts.append(f"<p>{german_document(seed * 100 + len(images), sentences=5)}</p>")
    return f"<!doctype html><html lang='de'><body><article>{''.join(parts)}</article></body></html>".encode()


def write_warc(path: Path, pages: list[tuple[str, bytes]]) -> list[int]:
    from pipelines.io.warc import write_test_warc

    return write_test_warc(str(path), [(url, body, None) for url, body in pages])
