"""Documents for text-pipeline tests: real web pages' main text (when ../shared is present) and
generated prose that passes the quality rules."""

from __future__ import annotations

import csv
import random
import re
from pathlib import Path

from pipelines.demo.text import generated_document  # noqa: F401 - re-exported for the tests

WEBPAGES = Path(__file__).resolve().parents[3] / "shared" / "data" / "webpages"


def real_documents(lang: str, min_words: int = 300) -> list[tuple[str, str]]:
    """(file name, main text) of the shared real pages in `lang` with enough words; [] without ../shared."""
    labels = WEBPAGES / "labels.tsv"
    if not labels.exists():
        return []
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    out = []
    with labels.open() as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["lang"] != lang or float(row["score"]) < 0.9 or int(row["main_text_words"]) < min_words:
                continue
            raw = (WEBPAGES / row["file"]).read_bytes()
            text = extract_plain_text(bytes_to_str(raw, detect_encoding(raw)), main_content=True)
            out.append((row["file"], text))
    return out


def near_copy(text: str, seed: int, edits: int = 3) -> str:
    """The text with a few words replaced (5-gram Jaccard stays far above 0.8 for long texts)."""
    r = random.Random(seed)
    parts = re.split(r"(\s+)", text)  # keep the line structure: the C4 rules look at lines
    word_positions = [i for i, p in enumerate(parts) if p and not p.isspace()]
    for _ in range(edits):
        i = r.choice(word_positions)
        parts[i] = "zebra" + parts[i][-1] if parts[i][-1] in ".!?" else "zebra"
    return "".join(parts)
