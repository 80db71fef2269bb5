"""Main text of the real web pages in ../shared/data/webpages (read in place, never copied)."""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import pytest

PAGES_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "webpages"


@functools.lru_cache(maxsize=1)
def load_pages() -> dict[str, tuple[str, str, float]]:
    """{file name: (main text, lid.176 language, score)} for every page; skips the test if absent."""
    labels = PAGES_DIR / "labels.tsv"
    if not labels.is_file():
        pytest.skip(f"real web pages not found at {PAGES_DIR} (see DESIGN.md); skipping")
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    pages = {}
    with labels.open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            raw = (PAGES_DIR / row["file"]).read_bytes()
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
