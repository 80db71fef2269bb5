"""The quality rules as first written (one scan per rule, joined n-gram strings): the reference
that the shared-tokenisation fast path in filters/text_quality.py must agree with exactly."""

from __future__ import annotations

from collections import Counter

from filters.base import Decision, Drop, Keep
from filters.text_quality import (
    _HAS_ALPHA,
    _IS_WORD,
    _PARAGRAPH_SPLIT,
    C4Config,
    GopherQualityConfig,
    GopherRepetitionConfig,
    TextQualityConfig,
    _c4_line_kept,
    _count_words_upto,
    _duplicates,
    tokenize,
)


def _words(text: str, word_mode: str) -> list[str]:
    return [t for t in tokenize(text, word_mode) if _IS_WORD.match(t)]


def gopher_quality(text: str, c: GopherQualityConfig) -> Decision:
    if not c.enabled:
        return Keep()
    if (
        c.max_doc_words is not None
        and _count_words_upto(text, c.max_doc_words, c.word_mode) > c.max_doc_words
    ):
        return Drop("too_many_words", f"more than {c.max_doc_words} words")
    words = _words(text, c.word_mode)
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
    if c.min_stop_words is not None and c.stop_words:
        if c.word_mode == "chars":
            n_stop = sum(text.count(w) for w in c.stop_words)
        else:
            stops = frozenset(c.stop_words)
            n_stop = sum(1 for w in words if w.lower() in stops)
        if n_stop < c.min_stop_words:
            return Drop("stop_words", f"{n_stop} stop words < {c.min_stop_words}")
    return Keep()


def _ngrams(words: list[str], n: int) -> list[str]:
    return [" ".join(t) for t in zip(*(words[k:] for k in range(n)), strict=False)]


def _duplicated_ngram_chars(words: list[str], n: int) -> int:
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


def gopher_repetition(text: str, c: GopherRepetitionConfig) -> Decision:
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
    words = _words(text, c.word_mode)
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


def c4_quality(text: str, c: C4Config) -> tuple[Decision, str]:
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
        sentences += max(1, sum(line.count(p) for p in ".?!"))
        kept.append(line)
    cleaned = "\n".join(kept) if c.filter_lines else text
    if not kept:
        return Drop("empty_text", "no line survives the C4 line rules"), text
    if c.min_num_sentences is not None and sentences < c.min_num_sentences:
        return Drop("too_few_words", f"{sentences} sentences < {c.min_num_sentences} (C4 rule)"), text
    return Keep(), cleaned


def text_quality(text: str, cfg: TextQualityConfig) -> tuple[Decision, str]:
    """TextQualityFilter's order: Gopher quality, Gopher repetition, C4."""
    decision = gopher_quality(text, cfg.gopher_quality)
    if not decision:
        return decision, text
    decision = gopher_repetition(text, cfg.gopher_repetition)
    if not decision:
        return decision, text
    return c4_quality(text, cfg.c4)
