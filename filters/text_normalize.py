"""Text normalisation and word shingling for near-dedup and decontamination.

Two documents that differ only in case, Unicode form (full-width letters, ligatures),
punctuation or spacing should shingle identically, so dedup and decontamination compare
normalised words. Everything here is streaming: a 50 MB document is normalised in slices of
about `chunk_chars` characters and its shingles come out in lists of at most `chunk_size`, so
memory stays proportional to the chunk, not the document.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

import regex

# Unicode punctuation (P*) and symbols (S*) become word breaks: "e-mail", "e mail" and "e.mail"
# all shingle alike. `regex` is used because the stdlib `re` has no \p{...} classes.
_PUNCT_SYMBOL = regex.compile(r"[\p{P}\p{S}]+")
_DIGIT = regex.compile(r"\d")

DEFAULT_NGRAM = 5
DEFAULT_CHUNK_CHARS = 1 << 20  # 1 MiB of text per normalisation slice
DEFAULT_CHUNK_SIZE = 8192  # shingles per yielded list


@dataclass(frozen=True)
class NormalizeConfig:
    """How text is folded before shingling (defaults follow datatrove's dedup normalisation)."""

    nfkc: bool = True
    lowercase: bool = True
    strip_punctuation: bool = True
    fold_digits: bool = False  # map every digit to 0 (datatrove does; off so dates/prices still differ)


DEFAULT_NORMALIZE = NormalizeConfig()


def normalize_text(text: str, config: NormalizeConfig = DEFAULT_NORMALIZE) -> str:
    """NFKC, lowercase, punctuation/symbols to spaces, whitespace runs to one space, stripped."""
    return " ".join(_normalized_words(text, config))


def _normalized_words(text: str, config: NormalizeConfig) -> list[str]:
    if config.nfkc:
        text = unicodedata.normalize("NFKC", text)
    if config.lowercase:
        text = text.lower()
    if config.strip_punctuation:
        text = _PUNCT_SYMBOL.sub(" ", text)
    if config.fold_digits:
        text = _DIGIT.sub("0", text)
    return text.split()


_BREAK_SPACE = regex.compile(r"\s")
_BREAK_SPACE_PUNCT = regex.compile(r"[\s\p{P}\p{S}]")


def _text_slices(text: str, chunk_chars: int, break_on_punct: bool = True) -> Iterator[str]:
    """Slices of about `chunk_chars` characters that end where a word ends (space, or punctuation
    when that is folded away), so no word is split between slices."""
    brk = _BREAK_SPACE_PUNCT if break_on_punct else _BREAK_SPACE
    n = len(text)
    start = 0
    while start < n:
        end = min(start + chunk_chars, n)
        if end < n:
            # Bounded search: a slice never grows past 2x chunk_chars; a "word" longer than
            # chunk_chars with no break in it is cut, which only happens to garbage input.
            m = brk.search(text, end, min(end + chunk_chars, n))
            end = m.start() if m else min(end + chunk_chars, n)
        yield text[start:end]
        start = end


def iter_words(
    text: str, config: NormalizeConfig = DEFAULT_NORMALIZE, chunk_chars: int = DEFAULT_CHUNK_CHARS
) -> Iterator[list[str]]:
    """Normalised words of `text`, as lists (one per slice of about `chunk_chars` characters)."""
    for piece in _text_slices(text, chunk_chars, config.strip_punctuation):
        words = _normalized_words(piece, config)
        if words:
            yield words


def iter_shingle_chunks(
    text: str,
    n: int = DEFAULT_NGRAM,
    config: NormalizeConfig = DEFAULT_NORMALIZE,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
    encode: bool = False,
) -> Iterator[list]:
    """Word n-grams of the normalised text ("w1 w2 ... wn"), in lists of at most `chunk_size`.

    The union of the lists is exactly the document's n-gram multiset, in order. A document with
    1..n-1 words yields one shingle of all its words (so short texts can still match each other);
    an empty one yields nothing. With `encode=True` the shingles are UTF-8 bytes (each word is
    encoded once instead of once per shingle it is in: what the MinHash path hashes).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    sep = b" " if encode else " "
    tail: list = []  # the last n-1 words of the previous slice, to bridge slice borders
    seen_any = False
    for words in iter_words(text, config, chunk_chars):
        if encode:
            # surrogatepass: a lone surrogate (from a lenient decode upstream) hashes, never crashes
            words = [w.encode("utf-8", "surrogatepass") for w in words]
        buf = tail + words
        count = len(buf) - n + 1
        for start in range(0, max(count, 0), chunk_size):
            sub = buf[start : min(start + chunk_size, count) + n - 1]
            # zip of n shifted views: the n-grams without per-shingle slicing
            yield [sep.join(t) for t in zip(*(sub[k:] for k in range(n)), strict=False)]
            seen_any = True
        tail = buf[-(n - 1) :] if n > 1 else []
    if not seen_any and tail:
        yield [sep.join(tail)]


def shingles(text: str, n: int = DEFAULT_NGRAM, config: NormalizeConfig = DEFAULT_NORMALIZE) -> list[str]:
    """All word n-grams of a (small) text as one list; see iter_shingle_chunks for big ones."""
    return [s for chunk in iter_shingle_chunks(text, n, config) for s in chunk]


def shingle_set(text: str, n: int = DEFAULT_NGRAM, config: NormalizeConfig = DEFAULT_NORMALIZE) -> set[str]:
    """The set of word n-grams: what the exact Jaccard reference compares."""
    return {s for chunk in iter_shingle_chunks(text, n, config) for s in chunk}


def jaccard(a: set[str], b: set[str]) -> float:
    """Exact Jaccard similarity of two shingle sets (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)
