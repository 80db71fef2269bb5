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

import dataclasses
from collections import Counter
from dataclasses import dataclass, field

import regex

from filters.base import Decision, Drop, Keep

# A word is a run of letters/digits/marks (with inner ' or -); other non-space runs are
# punctuation tokens, like nltk's word_tokenize splits them off.
_TOKEN = regex.compile(r"[\p{L}\p{N}\p{M}_]+(?:['’\-][\p{L}\p{N}\p{M}_]+)*|[^\s\p{L}\p{N}\p{M}_]+")
_IS_WORD = regex.compile(r"[\p{L}\p{N}\p{M}_]")
# _TOKEN's word alternative alone: the same words as tokenize() filtered by _IS_WORD (a
# punctuation run holds no word character, so it never hides the start of a word).
_WORD = regex.compile(r"[\p{L}\p{N}\p{M}_]+(?:['’\-][\p{L}\p{N}\p{M}_]+)*")
_LETTERLESS_LINE = regex.compile(r"^[^\p{L}\n]+$", regex.MULTILINE)
_HAS_ALPHA = regex.compile(r"\p{L}")
_PARAGRAPH_SPLIT = regex.compile(r"\n{2,}")

GOPHER_STOP_WORDS: tuple[str, ...] = ("the", "be", "to", "of", "and", "that", "have", "with")


# Scripts written without spaces between words: every character is a word unit (as CJK word
# counts are usually given in characters); runs of other letters stay words.
_CHAR_SCRIPTS = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
_TOKEN_CHARS = regex.compile(
    rf"[{_CHAR_SCRIPTS}]|[\p{{L}}\p{{N}}\p{{M}}_--[{_CHAR_SCRIPTS}]]+(?:['’\-][\p{{L}}\p{{N}}\p{{M}}_]+)*"
    r"|[^\s\p{L}\p{N}\p{M}_]+",
    regex.V1,
)
_CHAR_SCRIPT_RUN = regex.compile(rf"[{_CHAR_SCRIPTS}]")


def tokenize(text: str, word_mode: str = "space") -> list[str]:
    """Words and punctuation runs, in order; in "chars" mode every CJK/Thai character is a word."""
    return (_TOKEN_CHARS if word_mode == "chars" else _TOKEN).findall(text)


def _words(text: str, word_mode: str) -> list[str]:
    if word_mode != "chars":
        return _WORD.findall(text)
    return [t for t in tokenize(text, word_mode) if _IS_WORD.match(t)]


class _Parsed:
    """One text's lines and words, split once and shared by the three rule groups."""

    __slots__ = ("text", "_lines", "_nonblank", "_words")

    def __init__(self, text: str) -> None:
        self.text = text
        self._lines: list[str] | None = None
        self._nonblank: list[str] | None = None
        self._words: dict[str, list[str]] = {}

    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self.text.splitlines()
        return self._lines

    def nonblank_lines(self) -> list[str]:
        if self._nonblank is None:
            self._nonblank = [ln for ln in self.lines() if ln.strip()]
        return self._nonblank

    def words(self, word_mode: str) -> list[str]:
        words = self._words.get(word_mode)
        if words is None:
            words = self._words[word_mode] = _words(self.text, word_mode)
        return words


def char_script_share(text: str, sample: int = 2000) -> float:
    """Share of the letters (in the first `sample` characters) from scripts without word spaces."""
    head = text[:sample]
    letters = sum(1 for c in head if c.isalpha())
    return len(_CHAR_SCRIPT_RUN.findall(head)) / letters if letters else 0.0


def _count_words_upto(text: str, limit: int, word_mode: str = "space") -> int:
    """Number of word tokens, counting no further than `limit` + 1 (cheap on huge texts)."""
    count = 0
    for m in (_TOKEN_CHARS if word_mode == "chars" else _TOKEN).finditer(text):
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
    word_mode: str = "space"
    """How words are split: "space" (runs of letters), or "chars" (each CJK/Thai character is one word;
    stop words are then counted as substrings)."""


def gopher_quality(
    text: str, config: GopherQualityConfig = GopherQualityConfig(), parsed: _Parsed | None = None
) -> Decision:
    """Gopher's document-quality heuristics (Rae et al. 2021, section A.1.1)."""
    c = config
    if not c.enabled:
        return Keep()
    p = parsed if parsed is not None else _Parsed(text)
    if (
        c.max_doc_words is not None
        and len(text) > c.max_doc_words  # every word holds a character: a shorter text cannot exceed
        and _count_words_upto(text, c.max_doc_words, c.word_mode) > c.max_doc_words
    ):
        # Checked first and by counting only: a 50 MB text is dropped without tokenising it all.
        return Drop("too_many_words", f"more than {c.max_doc_words} words")
    words = p.words(c.word_mode)
    n_words = len(words)
    if c.min_doc_words is not None and n_words < c.min_doc_words:
        return Drop("too_few_words", f"{n_words} words < {c.min_doc_words}")
    if n_words == 0:
        return Drop("empty_text", "no words")
    mean_len = sum(map(len, words)) / n_words
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
    lines = p.nonblank_lines()
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
        # words hold no whitespace: one word per line, the letterless lines counted in one pass
        alpha = (n_words - len(_LETTERLESS_LINE.findall("\n".join(words)))) / n_words
        if alpha < c.min_alpha_words_ratio:
            return Drop("alpha_words", f"words with a letter {alpha:.2f} < {c.min_alpha_words_ratio}")
    if c.min_stop_words is not None and c.stop_words:
        if c.word_mode == "chars":
            n_stop = sum(text.count(w) for w in c.stop_words)
        else:
            stops = frozenset(c.stop_words)
            n_stop = sum(n for w, n in Counter(words).items() if w.lower() in stops)
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
    word_mode: str = "space"
    """How the n-gram rules split words (see GopherQualityConfig.word_mode)."""


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


def _ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    """n-grams as tuples: words hold no space, so tuples are equal exactly when their joined
    strings are, and hashing a tuple of (hash-cached) words costs less than joining."""
    return list(zip(*(words[k:] for k in range(n)), strict=False))


def _has_repeated_ngram(words: list[str], n: int) -> bool:
    return len(set(zip(*(words[k:] for k in range(n)), strict=False))) < len(words) - n + 1


def _duplicated_ngram_chars(words: list[str], n: int) -> int:
    """Characters covered by repeated n-grams, a repeated n-gram's span skipped (datatrove's count)."""
    grams = _ngrams(words, n)
    first = dict(zip(reversed(grams), range(len(grams) - 1, -1, -1), strict=True))  # gram -> first position
    if len(first) == len(grams):
        return 0
    # Only a position whose gram occurred before can be a repeat; the stretches between such
    # positions are all first occurrences, added to `seen` in bulk.
    repeats = [i for i, f in enumerate(map(first.__getitem__, grams)) if f != i]
    seen: set[tuple[str, ...]] = set()
    chars = idx = 0
    for pos in repeats:
        if pos < idx:
            continue  # inside a skipped span
        seen.update(grams[idx:pos])
        gram = grams[pos]
        if gram in seen:
            chars += sum(map(len, gram)) + n - 1  # len(" ".join(gram))
            idx = pos + n
        else:
            seen.add(gram)
            idx = pos + 1
    return chars


def gopher_repetition(
    text: str, config: GopherRepetitionConfig = GopherRepetitionConfig(), parsed: _Parsed | None = None
) -> Decision:
    """Gopher's repetition heuristics: duplicated paragraphs/lines and repeated n-grams."""
    c = config
    if not c.enabled:
        return Keep()
    p = parsed if parsed is not None else _Parsed(text)
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
    lines = p.nonblank_lines()
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
    words = p.words(c.word_mode)
    for n, frac in c.top_n_grams:
        if n < 1 or len(words) < n:
            continue  # no n-grams
        top, count = Counter(zip(*(words[k:] for k in range(n)), strict=False)).most_common(1)[0]
        gram = " ".join(top)
        share = len(gram) * count / n_chars
        if count > 1 and share > frac:
            return Drop("top_ngram", f"top {n}-gram {gram!r} x{count} covers {share:.2f} > {frac}")
    # An n-gram repeats only where its shortest-n prefix does: with no repeated shortest n-gram
    # every duplicated-n-gram count is 0, found in one set pass instead of one scan per n.
    shortest = min((n for n, _ in c.dup_n_grams), default=0)
    any_repeat = shortest < 1 or _has_repeated_ngram(words, shortest)
    for n, frac in c.dup_n_grams:
        if len(words) < n:
            continue
        share = (_duplicated_ngram_chars(words, n) if any_repeat else 0) / n_chars
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
    if c.max_word_length is not None and max(map(len, words), default=0) > c.max_word_length:
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


def c4_quality(
    text: str, config: C4Config = C4Config(), parsed: _Parsed | None = None
) -> tuple[Decision, str]:
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
    for raw in parsed.lines() if parsed is not None else text.splitlines():
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


# --- per-language rules -------------------------------------------------------------------------
# FineWeb-2's approach (datatrove's multilingual filters): the same Gopher/C4 rules, with each
# language's own stop words, word splitting and word-length bounds. Stop words here are the most
# frequent function words of each language (a document of that language has many of them, a word
# list or a menu has few); CJK counts characters as words and its stop words as substrings.


@dataclass(frozen=True)
class LanguageRules:
    """What changes from the English rules for one language."""

    name: str
    stop_words: tuple[str, ...]
    word_mode: str = "space"
    min_avg_word_length: float | None = 3
    max_avg_word_length: float | None = 10
    min_doc_words: int | None = 50
    end_punctuation: tuple[str, ...] = C4_END_PUNCTUATION
    min_words_per_line: int | None = 3


_CLOSING_QUOTES = ("“", "”", "»", "«", "’", "…", ")")
_CJK_END = ("。", "！", "？", "；", "」", "』", "”", "）", "…", ".", "!", "?", '"')

LANGUAGE_RULES: dict[str, LanguageRules] = {
    "en": LanguageRules("English", GOPHER_STOP_WORDS),
    "de": LanguageRules(
        "German",
        (
            "der",
            "die",
            "und",
            "in",
            "den",
            "von",
            "zu",
            "das",
            "mit",
            "sich",
            "des",
            "auf",
            "für",
            "ist",
            "im",
            "dem",
            "nicht",
            "ein",
            "eine",
            "als",
            "auch",
            "es",
            "an",
            "werden",
            "aus",
            "er",
            "hat",
            "dass",
            "sie",
            "nach",
            "wird",
            "bei",
            "einer",
            "um",
            "am",
            "sind",
            "noch",
            "wie",
            "einem",
            "über",
        ),
        max_avg_word_length=12,  # compounds
        end_punctuation=C4_END_PUNCTUATION + _CLOSING_QUOTES,
    ),
    "fr": LanguageRules(
        "French",
        (
            "de",
            "la",
            "le",
            "et",
            "les",
            "des",
            "en",
            "un",
            "du",
            "une",
            "que",
            "est",
            "pour",
            "qui",
            "dans",
            "par",
            "plus",
            "pas",
            "au",
            "sur",
            "ne",
            "se",
            "ce",
            "il",
            "sont",
            "avec",
            "aux",
            "son",
        ),
        end_punctuation=C4_END_PUNCTUATION + _CLOSING_QUOTES,
    ),
    "es": LanguageRules(
        "Spanish",
        (
            "de",
            "la",
            "que",
            "el",
            "en",
            "y",
            "a",
            "los",
            "del",
            "se",
            "las",
            "por",
            "un",
            "para",
            "con",
            "no",
            "una",
            "su",
            "al",
            "lo",
            "como",
            "más",
            "pero",
            "sus",
            "le",
            "ya",
            "o",
            "este",
            "es",
        ),
        end_punctuation=C4_END_PUNCTUATION + _CLOSING_QUOTES,
    ),
    "it": LanguageRules(
        "Italian",
        (
            "di",
            "e",
            "il",
            "la",
            "che",
            "a",
            "in",
            "per",
            "un",
            "del",
            "è",
            "non",
            "una",
            "della",
            "i",
            "le",
            "si",
            "con",
            "da",
            "dei",
            "al",
            "lo",
            "gli",
            "nel",
            "alla",
            "sono",
            "come",
            "più",
            "anche",
        ),
        end_punctuation=C4_END_PUNCTUATION + _CLOSING_QUOTES,
    ),
    "pt": LanguageRules(
        "Portuguese",
        (
            "de",
            "a",
            "o",
            "que",
            "e",
            "do",
            "da",
            "em",
            "um",
            "para",
            "é",
            "com",
            "não",
            "uma",
            "os",
            "no",
            "se",
            "na",
            "por",
            "mais",
            "as",
            "dos",
            "como",
            "mas",
            "foi",
            "ao",
            "ele",
            "das",
            "à",
        ),
        end_punctuation=C4_END_PUNCTUATION + _CLOSING_QUOTES,
    ),
    "nl": LanguageRules(
        "Dutch",
        (
            "de",
            "en",
            "van",
            "het",
            "een",
            "in",
            "is",
            "dat",
            "op",
            "te",
            "zijn",
            "met",
            "voor",
            "niet",
            "die",
            "aan",
            "er",
            "om",
            "ook",
            "als",
            "bij",
            "maar",
            "door",
            "dan",
            "naar",
            "wordt",
            "nog",
        ),
        max_avg_word_length=11,
        end_punctuation=C4_END_PUNCTUATION + _CLOSING_QUOTES,
    ),
    "ru": LanguageRules(
        "Russian",
        (
            "и",
            "в",
            "не",
            "на",
            "что",
            "с",
            "по",
            "как",
            "это",
            "к",
            "из",
            "для",
            "а",
            "у",
            "от",
            "он",
            "о",
            "но",
            "то",
            "за",
            "же",
            "все",
            "так",
            "его",
            "при",
            "или",
            "был",
            "мы",
            "она",
            "они",
        ),
        max_avg_word_length=12,
        end_punctuation=C4_END_PUNCTUATION + _CLOSING_QUOTES,
    ),
    "zh": LanguageRules(
        "Chinese",
        ("的", "是", "了", "在", "和", "有", "我", "不", "这", "人", "也", "就", "都", "他", "们", "一个"),
        word_mode="chars",
        min_avg_word_length=None,
        max_avg_word_length=None,
        min_doc_words=100,  # characters
        end_punctuation=_CJK_END,
        min_words_per_line=None,
    ),
    "ja": LanguageRules(
        "Japanese",
        (
            "の",
            "に",
            "は",
            "を",
            "た",
            "が",
            "で",
            "て",
            "と",
            "し",
            "れ",
            "さ",
            "ある",
            "いる",
            "です",
            "ます",
        ),
        word_mode="chars",
        min_avg_word_length=None,
        max_avg_word_length=None,
        min_doc_words=100,
        end_punctuation=_CJK_END,
        min_words_per_line=None,
    ),
}
"""Languages with their own rules; any other language gets NEUTRAL_RULES (named in the run summary)."""

NEUTRAL_RULES = LanguageRules(
    "language-neutral",
    (),
    min_avg_word_length=1.5,
    max_avg_word_length=15,
    end_punctuation=C4_END_PUNCTUATION + _CLOSING_QUOTES + _CJK_END[:5],
)
"""No stop-word rule, wide word-length bounds; scripts without spaces get character words."""
_NEUTRAL_CHARS = dataclasses.replace(
    NEUTRAL_RULES,
    word_mode="chars",
    min_avg_word_length=None,
    max_avg_word_length=None,
    min_doc_words=100,
    min_words_per_line=None,
)


def rules_for_language(lang: str | None, text: str = "") -> tuple[LanguageRules, bool]:
    """(rules, whether they are the language's own) for a document identified as `lang`."""
    if lang is None:
        return LANGUAGE_RULES["en"], True  # no language identified (filter off): the English default
    own = LANGUAGE_RULES.get(lang.lower().split("-")[0].split("_")[0])
    if own is not None:
        return own, True
    return (_NEUTRAL_CHARS if char_script_share(text) > 0.5 else NEUTRAL_RULES), False


def describe_language_rules(languages: tuple[str, ...]) -> str:
    """One line for the run summary: which requested languages have their own rules."""
    own = [f"{c} ({LANGUAGE_RULES[c].name})" for c in languages if c in LANGUAGE_RULES]
    neutral = [c for c in languages if c not in LANGUAGE_RULES]
    parts = []
    if own:
        parts.append("own rules for " + ", ".join(own))
    if neutral:
        parts.append("language-neutral rules for " + ", ".join(neutral))
    return "quality rules: " + ("; ".join(parts) if parts else "English (no language filter)")


def _localised(base: TextQualityConfig, rules: LanguageRules) -> TextQualityConfig:
    """`base` with the language's stop words, word splitting and bounds, where base has the default
    (a value the user set with --quality stays as set)."""
    dq, dc = GopherQualityConfig(), C4Config()
    q, r, c = base.gopher_quality, base.gopher_repetition, base.c4

    def pick(current, default, value):
        return value if current == default else current

    q = dataclasses.replace(
        q,
        stop_words=pick(q.stop_words, dq.stop_words, rules.stop_words),
        word_mode=rules.word_mode,
        min_avg_word_length=pick(q.min_avg_word_length, dq.min_avg_word_length, rules.min_avg_word_length),
        max_avg_word_length=pick(q.max_avg_word_length, dq.max_avg_word_length, rules.max_avg_word_length),
        min_doc_words=pick(q.min_doc_words, dq.min_doc_words, rules.min_doc_words),
        min_stop_words=q.min_stop_words if rules.stop_words else None,
    )
    r = dataclasses.replace(r, word_mode=rules.word_mode)
    c = dataclasses.replace(
        c,
        end_punctuation=pick(c.end_punctuation, dc.end_punctuation, rules.end_punctuation),
        min_words_per_line=pick(c.min_words_per_line, dc.min_words_per_line, rules.min_words_per_line),
    )
    return TextQualityConfig(q, r, c)


# --- all quality rules ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TextQualityConfig:
    """The three rule groups, applied in order: Gopher quality, Gopher repetition, C4."""

    gopher_quality: GopherQualityConfig = GopherQualityConfig()
    gopher_repetition: GopherRepetitionConfig = GopherRepetitionConfig()
    c4: C4Config = C4Config()


class TextQualityFilter:
    """All quality rules on one text: (decision, text to keep). Stateless and picklable.

    `lang` (the identified language) selects that language's rules (`rules_for_language`); the
    config is the English baseline and the user's overrides."""

    name = "text_quality"

    def __init__(self, config: TextQualityConfig = TextQualityConfig()) -> None:
        self.config = config
        self._by_rules: dict[str, TextQualityConfig] = {}

    def config_for(self, lang: str | None, text: str = "") -> TextQualityConfig:
        rules, _ = rules_for_language(lang, text)
        cfg = self._by_rules.get(rules.name + rules.word_mode)
        if cfg is None:
            cfg = self.config if rules is LANGUAGE_RULES["en"] else _localised(self.config, rules)
            self._by_rules[rules.name + rules.word_mode] = cfg
        return cfg

    def __call__(self, text: str, lang: str | None = None) -> tuple[Decision, str]:
        cfg = self.config_for(lang, text)
        parsed = _Parsed(text)
        decision = gopher_quality(text, cfg.gopher_quality, parsed)
        if not decision:
            return decision, text
        decision = gopher_repetition(text, cfg.gopher_repetition, parsed)
        if not decision:
            return decision, text
        return c4_quality(text, cfg.c4, parsed)

    def __reduce__(self) -> tuple:
        return (TextQualityFilter, (self.config,))
