"""Generated English prose for demos and tests: distinct per seed, and passing the Gopher and C4
quality rules (real sentences cannot be bundled; tests/generated_text.py makes longer, more varied prose)."""

from __future__ import annotations

import random

_FUNCTION = "the of and to in a is that for it as was with be by on not this are or from at which but have an they were".split()
_CONTENT = (
    "river mountain city history science music garden winter summer school market bridge library ocean forest "
    "village engine doctor painter harbor island castle festival railway bakery museum lantern orchard valley"
).split()


def generated_document(seed: int, sentences: int = 20) -> str:
    """About 12 words per sentence of prose-like text, distinct per seed."""
    r = random.Random(seed)
    out = []
    for _ in range(sentences):
        words = [r.choice(_FUNCTION if r.random() < 0.45 else _CONTENT) for _ in range(r.randint(9, 15))]
        out.append(" ".join(words).capitalize() + ".")
    return " ".join(out)


def generated_page(
    seed: int, images: list[str], paragraphs: int | None = None, alts: list[str] | None = None
) -> bytes:
    """An English HTML page: paragraphs with the given image URLs between them, in that order."""
    n = paragraphs if paragraphs is not None else len(images) + 1
    parts = [f"<h1>Report number {seed}</h1>"]
    for i in range(n):
        parts.append(f"<p>{generated_document(seed * 100 + i, sentences=4)}</p>")
        if i < len(images):
            alt = alts[i] if alts else f"picture {i}"
            parts.append(f'<figure><img src="{images[i]}" alt="{alt}"></figure>')
    return f"<!doctype html><html lang='en'><body><article>{''.join(parts)}</article></body></html>".encode()
