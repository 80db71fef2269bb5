"""Gopher quality, Gopher repetition and C4 document rules, with datatrove's defaults.

Thresholds are datatrove's (GopherQualityFilter, GopherRepetitionFilter, C4QualityFilter),
which follow Rae et al. 2021 (Gopher, table A1) and Raffel et al. 2020 (C4). Every rule is a
config field; setting it to None (or False for the C4 flags) switches it off, and a whole
group is switched off with `enabled=False`. Each rule drops with its own reason from
schemas/drop_reasons.py; `detail` names the exact rule and the measured value.

Differences from datatrove, on purpose:
- Words come from a Unicode regex tokenizer (words, and runs of punctuation as tokens) instead
  of nltk's word_tokenize, which would add nltk and its data downloads to every worker.
- Stop words are matched case-insensitively ("The" counts).
- Blank lines are not counted as duplicated lines (datatrove counts them, so any text with
  blank lines between paragraphs looks repetitive).
- A top n-gram must occur at least twice to count (a text of unique n-grams is not repetitive).
- Bullet/ellipsis line rules report `symbol_ratio` and duplicated-n-gram rules `top_ngram`
  (the closed reason set has no finer names); `detail` says which rule fired.
- C4's "at least 5 sentences" rule is off by default: the closed set has no reason for it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import regex

from filters.base import Decision, Drop, Keep

# A word is a run of letters/digits/marks (with inner ' or -); other non-space runs are
# punctuation tokens, like nltk's word_tokenize splits them off.
_TOKEN = regex.compile(r"[\p{L}\p{N}\p{M}_]+(?:['’\-][\p{L}\p{N}\p{M}_]+)*|[^\s\p{L}\p{N}\p{M}_]+")
_IS_WORD = regex.compile(r"[\p{L}\p{N}\p{M}_]")
_HAS_ALPHA = regex.compile(r"\p{L}")
_PARAGRAPH_SPLIT = regex.compile(r"\n{2,}")

GOPHER_STOP_WORDS: tuple[str, ...] = ("the", "be", "to", "of", "and", "that", "have", "with")


def tokenize(text: str) -> list[str]:
    """Words and punctuation runs, in order."""
    return _TOKEN.findall(text)


def _count_words_upto(text: str, limit: int) -> int:
    """Number of word tokens, counting no further than `limit` + 1 (cheap on huge texts)."""
    count = 0
    for m in _TOKEN.finditer(text):
        if _IS_WORD.match(m.group()):
            count += 1
            if count > limit:
                break
    return count


# --- Gopher quality -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GopherQualityConfig:
    """Gopher quality rules; None switches a rule off."""

    enabled: bool = True
    min_doc_words: int | None = 50
    max_doc_words: int | None = 100_000
    min_avg_word_length: float | None = 3
    max_avg_word_length: float | None = 10
    max_symbol_word_ratio: float | None = 0.1  # '#' per word, and '...'/'…' per word
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    min_alpha_words_ratio: float | None = 0.8  # datatrove: max_non_alpha_words_ratio=0.8 (same rule)
    min_stop_words: int | None = 2
    stop_words: tuple[str, ...] = GOPHER_STOP_WORDS


def gopher_quality(text: str, config: GopherQualityConfig = GopherQualityConfig()) -> Decision:
    """Gopher's document-quality heuristics (Rae et al. 2021, section A.1.1)."""
    c = config
    if not c.enabled:
        return Keep()
    if c.max_doc_words is not None and _count_words_upto(text, c.max_doc_words) > c.max_doc_words:
        # Checked first and by counting only: a 50 MB text is dropped without tokenising it all.
        return Drop("too_many_words", f"more than {c.max_doc_words} words")
    words = [t for t in tokenize(text) if _IS_WORD.match(t)]
    n_words = len(words)
    if c.min_doc_words is not None and n_words < c.min_doc_words:
        return Drop("too_few_words", f"{n_words} words < {c.min_doc_words}")
    if n_words == 0:
        return Drop("empty_text", "no words")
    mean_len = sum(len(w) for w in words) / n_words
    if c.min_avg_word_length is not None and mean_len < c.min_avg_word_length:
        return Drop("mean_word_length", f"mean word length {mean_len:.2f} < {c.min_avg_word_length}")
    if c.max_avg_word_length is not None and mean_len > c.max_avg_word_length:
        return Drop("mean_word_length", f"mean word length {mean_len:.2f} > {c.max_avg_word_length}")
    if c.max_symbol_word_ratio is not None:
        hash_ratio = text.count("#") / n_words
        if hash_ratio > c.max_symbol_word_ratio:
            return Drop("symbol_ratio", f"'#' per word {hash_ratio:.3f} > {c.max_symbol_word_ratio}")
        ellipsis_ratio = (text.count("...") + text.count("…")) / n_words
        if ellipsis_ratio > c.max_symbol_word_ratio:
            return Drop("symbol_ratio", f"ellipses per word {ellipsis_ratio:.3f} > {c.max_symbol_word_ratio}")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if lines and c.max_bullet_lines_ratio is not None:
        bullets = sum(ln.lstrip().startswith("•") for ln in lines) / len(lines)
        if bullets > c.max_bullet_lines_ratio:
            return Drop("symbol_ratio", f"bullet lines {bullets:.2f} > {c.max_bullet_lines_ratio}")
    if lines and c.max_ellipsis_lines_ratio is not None:
        ell = sum(ln.rstrip().endswith(("...", "…")) for ln in lines) / len(lines)
        if ell > c.max_ellipsis_lines_ratio:
            return Drop(
                "symbol_ratio", f"lines ending in an ellipsis {ell:.2f} > {c.max_ellipsis_lines_ratio}"
            )
    if c.min_alpha_words_ratio is not None:
        alpha = sum(1 for w in words if _HAS_ALPHA.search(w)) / n_words
        if alpha < c.min_alpha_words_ratio:
            return Drop("alpha_words", f"words with a letter {alpha:.2f} < {c.min_alpha_words_ratio}")
    if c.min_stop_words is not None:
        stops = frozenset(c.stop_words)
        n_stop = sum(1 for w in words if w.lower() in stops)
        if n_stop < c.min_stop_words:
            return Drop("stop_words", f"{n_stop} stop words < {c.min_stop_words}")
    return Keep()


# --- Gopher repetition --------------------------------------------------------------------------


@dataclass(frozen=True)
class GopherRepetitionConfig:
    """Gopher repetition rules (Rae et al. 2021, table A1); None switches a rule off."""

    enabled: bool = True
    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    top_n_grams: tuple[tuple[int, float], ...] = ((2, 0.20), (3, 0.18), (4, 0.16))
    dup_n_grams: tuple[tuple[int, float], ...] = (
        (5, 0.15),
        (6, 0.14),
        (7, 0.13),
        (8, 0.12),
        (9, 0.11),
        (10, 0.10),
    )


def _duplicates(items: list[str]) -> tuple[int, int]:
    """(number of repeated items, characters in them), first occurrences not counted."""
    seen: set[str] = set()
    n_dup = chars = 0
    for it in items:
        if it in seen:
            n_dup += 1
            chars += len(it)
        else:
            seen.add(it)
    return n_dup, chars


def _ngrams(words: list[str], n: int) -> list[str]:
    return [" ".join(t) for t in zip(*(words[k:] for k in range(n)), strict=False)]


def _duplicated_ngram_chars(words: list[str], n: int) -> int:
    """Characters covered by repeated n-grams, a repeated n-gram's span skipped (datatrove's count)."""
    seen: set[str] = set()
    chars = idx = 0
    while idx < len(words) - n + 1:
        gram = " ".join(words[idx : idx + n])
        if gram in seen:
            chars += len(gram)
            idx += n
        else:
            seen.add(gram)
            idx += 1
    return chars


def gopher_repetition(text: str, config: GopherRepetitionConfig = GopherRepetitionConfig()) -> Decision:
    """Gopher's repetition heuristics: duplicated paragraphs/lines and repeated n-grams."""
    c = config
    if not c.enabled:
        return Keep()
    n_chars = len(text)
    if n_chars == 0:
        return Drop("empty_text", "no characters")
    paragraphs = [p for p in _PARAGRAPH_SPLIT.split(text.strip()) if p.strip()]
    if paragraphs:
        n_dup, dup_chars = _duplicates(paragraphs)
        if c.dup_para_frac is not None and n_dup / len(paragraphs) > c.dup_para_frac:
            return Drop(
                "duplicate_paragraphs",
                f"duplicated paragraphs {n_dup / len(paragraphs):.2f} > {c.dup_para_frac}",
            )
        if c.dup_para_char_frac is not None and dup_chars / n_chars > c.dup_para_char_frac:
            return Drop(
                "duplicate_paragraphs",
                f"chars in duplicated paragraphs {dup_chars / n_chars:.2f} > {c.dup_para_char_frac}",
            )
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if lines:
        n_dup, dup_chars = _duplicates(lines)
        if c.dup_line_frac is not None and n_dup / len(lines) > c.dup_line_frac:
            return Drop("duplicate_lines", f"duplicated lines {n_dup / len(lines):.2f} > {c.dup_line_frac}")
        if c.dup_line_char_frac is not None and dup_chars / n_chars > c.dup_line_char_frac:
            return Drop(
                "duplicate_lines",
                f"chars in duplicated lines {dup_chars / n_chars:.2f} > {c.dup_line_char_frac}",
            )
    if not c.top_n_grams and not c.dup_n_grams:
        return Keep()
    words = [t for t in tokenize(text) if _IS_WORD.match(t)]
    for n, frac in c.top_n_grams:
        grams = _ngrams(words, n)
        if not grams:
            continue
        gram, count = Counter(grams).most_common(1)[0]
        share = len(gram) * count / n_chars
        if count > 1 and share > frac:
            return Drop("top_ngram", f"top {n}-gram {gram!r} x{count} covers {share:.2f} > {frac}")
    for n, frac in c.dup_n_grams:
        if len(words) < n:
            continue
        share = _duplicated_ngram_chars(words, n) / n_chars
        if share > frac:
            return Drop("top_ngram", f"duplicated {n}-grams cover {share:.2f} of chars > {frac}")
    return Keep()


# --- C4 -----------------------------------------------------------------------------------------

_CITATION = regex.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
C4_END_PUNCTUATION: tuple[str, ...] = (".", "?", "!", '"', "'")
C4_POLICY_SUBSTRINGS: tuple[str, ...] = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)


@dataclass(frozen=True)
class C4Config:
    """C4 rules (datatrove's C4QualityFilter defaults). Line rules remove lines, doc rules drop."""

    enabled: bool = True
    # line rules (they edit the text; filter_lines=False keeps every line)
    filter_lines: bool = True
    remove_citations: bool = True
    filter_no_terminal_punct: bool = True
    min_words_per_line: int | None = 3
    max_word_length: int | None = 1000
    filter_javascript: bool = True
    filter_policy: bool = True
    # document rules
    filter_lorem_ipsum: bool = True
    filter_curly_bracket: bool = True
    min_num_sentences: int | None = None  # datatrove: 5, but no reason for it in the closed set
    end_punctuation: tuple[str, ...] = field(default=C4_END_PUNCTUATION)


def _c4_line_kept(line: str, c: C4Config) -> str | None:
    """The line after C4's line rules, or None when the line is removed."""
    words = line.split()
    if c.max_word_length is not None and any(len(w) > c.max_word_length for w in words):
        return None
    if c.remove_citations:
        line = _CITATION.sub("", line)
    if c.filter_no_terminal_punct and (not line.endswith(c.end_punctuation) or line.endswith("...")):
        return None
    if c.min_words_per_line is not None and len(words) < c.min_words_per_line:
        return None
    low = line.lower()
    if c.filter_javascript and "javascript" in low:
        return None
    if c.filter_policy and any(p in low for p in C4_POLICY_SUBSTRINGS):
        return None
    return line


def c4_quality(text: str, config: C4Config = C4Config()) -> tuple[Decision, str]:
    """(decision, cleaned text): C4 line removal, then the lorem-ipsum and curly-brace rules.

    As in C4 and datatrove, the document rules look only at lines that survive the line rules,
    so a "{" in a dropped menu line does not drop the page. The cleaned text is what a kept
    document should carry on with (it equals `text` when filter_lines is False).
    """
    c = config
    if not c.enabled:
        return Keep(), text
    kept: list[str] = []
    sentences = 0
    for raw in text.splitlines():
        line = raw.strip()
        if c.filter_lines:
            line = _c4_line_kept(line, c)
            if line is None:
                continue
        elif not line:
            continue
        low = line.lower()
        if c.filter_lorem_ipsum and "lorem ipsum" in low:
            return Drop("lorem_ipsum", "the text holds 'lorem ipsum'"), text
        if c.filter_curly_bracket and "{" in line:
            return Drop("curly_brace", "the text holds '{'"), text
        sentences += max(1, sum(line.count(p) for p in ".?!"))  # rough; nltk-free sentence count
        kept.append(line)
    cleaned = "\n".join(kept) if c.filter_lines else text
    if not kept:
        return Drop("empty_text", "no line survives the C4 line rules"), text
    if c.min_num_sentences is not None and sentences < c.min_num_sentences:
        # No closed-set reason matches; the nearest is too_few_words (say so in detail).
        return Drop("too_few_words", f"{sentences} sentences < {c.min_num_sentences} (C4 rule)"), text
    return Keep(), cleaned


# --- all quality rules ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TextQualityConfig:
    """The three rule groups, applied in order: Gopher quality, Gopher repetition, C4."""

    gopher_quality: GopherQualityConfig = GopherQualityConfig()
    gopher_repetition: GopherRepetitionConfig = GopherRepetitionConfig()
    c4: C4Config = C4Config()


class TextQualityFilter:
    """All quality rules on one text: (decision, text to keep). Stateless and picklable."""

    name = "text_quality"

    def __init__(self, config: TextQualityConfig = TextQualityConfig()) -> None:
        self.config = config

    def __call__(self, text: str) -> tuple[Decision, str]:
        decision = gopher_quality(text, self.config.gopher_quality)
        if not decision:
            return decision, text
        decision = gopher_repetition(text, self.config.gopher_repetition)
        if not decision:
            return decision, text
        return c4_quality(text, self.config.c4)
