"""Real web pages for the tests whose point is real markup (`@pytest.mark.real_pages`).

The pages are read in place from `../shared/data/webpages` beside the repository (never copied
into it). Without them every `real_pages` test is skipped by tests/conftest.py with this reason;
no other test reads them.
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "webpages"
LABELS = PAGES_DIR / "labels.tsv"
SKIP_REASON = f"real web pages not found at {PAGES_DIR}"


def available() -> bool:
    return LABELS.is_file()


def labels() -> list[dict[str, str]]:
    """Rows of labels.tsv: file, lid.176 language, its score, main_text_words, ..."""
    with LABELS.open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def page_bytes(name: str) -> bytes:
    return (PAGES_DIR / name).read_bytes()


@functools.lru_cache(maxsize=1)
def load_pages() -> dict[str, tuple[str, str, float]]:
    """{file name: (main text, lid.176 language, score)} for every page."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    pages = {}
    for row in labels():
        raw = page_bytes(row["file"])
        text = extract_plain_text(bytes_to_str(raw, detect_encoding(raw)), main_content=True)
        pages[row["file"]] = (text, row["lang"], float(row["score"]))
    return pages


def confident_pages(lang: str | None = None, min_words: int = 100) -> dict[str, str]:
    """{file: text} of pages whose label is confident (score >= 0.9), optionally of one language."""
    return {
        name: text
        for name, (text, lab, score) in load_pages().items()
        if score >= 0.9 and (lang is None or lab == lang) and len(text.split()) >= min_words
    }
