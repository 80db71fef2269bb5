"""Documents for text-pipeline tests: generated prose that passes the quality rules, and near copies."""

from __future__ import annotations

import random
import re

from pipelines.demo.text import generated_document  # noqa: F401 - re-exported for the tests


def near_copy(text: str, seed: int, edits: int = 3) -> str:
    """The text with a few words replaced (5-gram Jaccard stays far above 0.8 for long texts)."""
    r = random.Random(seed)
    parts = re.split(r"(\s+)", text)  # keep the line structure: the C4 rules look at lines
    word_positions = [i for i, p in enumerate(parts) if p and not p.isspace()]
    for _ in range(edits):
        i = r.choice(word_positions)
        parts[i] = "zebra" + parts[i][-1] if parts[i][-1] in ".!?" else "zebra"
    return "".join(parts)
