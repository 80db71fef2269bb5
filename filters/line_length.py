"""Drop documents with a line longer than a limit: minified code, base64 blobs, table dumps and
scraped one-line pages are not prose (C4 drops lines with a 1000-character word; a whole line
past many thousand characters marks the document, not one line)."""

from __future__ import annotations

from dataclasses import dataclass

from filters.base import Drop, Keep
from filters.registry import Record

DEFAULT_MAX_LINE_CHARS = 20_000


@dataclass(frozen=True)
class MaxLineLength:
    """Keep, or Drop("line_too_long") naming the longest line's length."""

    max_chars: int = DEFAULT_MAX_LINE_CHARS

    def __post_init__(self) -> None:
        if self.max_chars < 1:
            raise ValueError(f"max_chars must be >= 1, got {self.max_chars}")

    def __call__(self, record: Record) -> Keep | Drop:
        longest = max((len(line) for line in record["text"].splitlines()), default=0)
        if longest > self.max_chars:
            return Drop("line_too_long", f"a line of {longest} characters > {self.max_chars}")
        return Keep()
