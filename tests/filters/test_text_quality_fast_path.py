"""The shared-tokenisation quality rules decide exactly as the first, one-scan-per-rule version
(tests/filters/text_quality_reference.py): same reason, same detail, same cleaned text."""

from __future__ import annotations

import random

import pytest

from filters.base import Keep
from filters.text_quality import (
    _IS_WORD,
    GopherRepetitionConfig,
    TextQualityConfig,
    TextQualityFilter,
    _words,
    gopher_repetition,
    tokenize,
)
from tests.filters import text_quality_reference as reference
from tests.generated_text import edit_words, english_documents, german_document

_ODD = [
    "naïve",
    "co-op",
    "don't",
    "l’été",
    "e\u0301te\u0301",
    "x_y",
    "42",
    "3.14",
    "__",
    "\u0301",
    "—",
    "«»",
    "?!",
]
_CJK = "城市修建了新的大桥，居民们都很高兴。これは日本語の文です。"


def _planted(text: str, r: random.Random) -> str:
    """`text` with one kind of damage (or none) that some rule should catch, at a random dose."""
    lines = text.split("\n")
    words = text.split()
    kind = r.randrange(14)
    if kind == 0:  # duplicated lines / paragraphs
        picks = r.choices([ln for ln in lines if ln] or [""], k=r.randint(1, 8))
        return "\n".join(lines + picks)
    if kind == 1:  # a repeated phrase (top and duplicated n-grams)
        start = r.randrange(max(1, len(words) - 12))
        phrase = " ".join(words[start : start + r.randint(2, 12)])
        return text + " " + " ".join([phrase] * r.randint(1, 25)) + "."
    if kind == 2:  # bullets and ellipses
        mark = r.choice(["• ", "", "- "])
        tail = r.choice(["...", "…", "."])
        return "\n".join(mark + ln + (tail if r.random() < 0.6 else "") for ln in lines if ln)
    if kind == 3:  # hashes and numbers
        return (
            text
            + " "
            + " ".join(r.choice(["#tag", "1234", "#", "5678", "..."]) for _ in range(r.randint(1, 80)))
        )
    if kind == 4:  # few or no stop words
        return " ".join(w for w in words if w.lower() not in ("the", "and", "of", "to") or r.random() < 0.05)
    if kind == 5:  # short
        return " ".join(words[: r.randint(0, 70)])
    if kind == 6:  # C4 line rules: javascript, policy, citations, no punctuation, long words
        extra = r.choice(
            [
                "Please enable JavaScript.",
                "Read our privacy policy.",
                "A fact [1] and [edit] more.",
                "menu home about",
                "x" * r.choice([999, 1000, 1001]) + " is long.",
                "Ends badly...",
            ]
        )
        return "\n".join(ln if r.random() < 0.7 else extra for ln in lines)
    if kind == 7:  # document rules
        return text + r.choice(["\nLorem ipsum dolor sit amet.", "\nvar x = {a: 1}; is code.", ""])
    if kind == 8:  # odd tokens: marks, apostrophes, hyphens, digits, punctuation runs
        return " ".join(w if r.random() < 0.7 else r.choice(_ODD) for w in words)
    if kind == 9:  # characters from scripts without spaces
        return text + "\n" + _CJK * r.randint(1, 10)
    if kind == 10:  # long / short words
        return " ".join(w * r.randint(1, 4) if r.random() < 0.5 else w[:2] for w in words)
    if kind == 11:  # whitespace: blank lines, carriage returns, tabs
        return text.replace("\n\n", r.choice(["\n \n", "\r\n\r\n", "\n\t\n\n", "\n"]))
    if kind == 12:
        return edit_words(text, min(len(words), r.randint(1, 30)), seed=r.randrange(10**6))
    return text


def _corpus(n: int) -> list[str]:
    r = random.Random(7)
    docs = english_documents(n // 2, words=r.choice([60, 150, 300])) + [german_document(i) for i in range(10)]
    docs += [_CJK * r.randint(1, 20) for _ in range(10)] + ["", " ", "\n\n", "#", "…"]
    return [_planted(d, r) for d in docs] + [_planted(_planted(d, r), r) for d in docs[: n // 2]]


CORPUS = _corpus(400)


@pytest.mark.parametrize("lang", [None, "en", "de", "zh", "ja", "sw"])
def test_same_decisions_and_cleaned_text_as_the_reference(lang: str | None) -> None:
    f = TextQualityFilter()
    reasons = set()
    for text in CORPUS:
        got = f(text, lang)
        assert got == reference.text_quality(text, f.config_for(lang, text)), text[:200]
        reasons.add(getattr(got[0], "reason", "keep"))
    if lang in (None, "en"):  # the planted damage reaches the rules whose fast path changed
        assert {
            "keep",
            "top_ngram",
            "duplicate_lines",
            "symbol_ratio",
            "alpha_words",
            "stop_words",
        } <= reasons


@pytest.mark.parametrize(
    "cfg",
    [
        GopherRepetitionConfig(dup_n_grams=((2, 0.05), (3, 0.05), (7, 0.02)), top_n_grams=()),
        GopherRepetitionConfig(dup_n_grams=((6, 0.0),), top_n_grams=((1, 0.01),)),
        GopherRepetitionConfig(word_mode="chars", dup_n_grams=((3, 0.01), (5, 0.01))),
    ],
)
def test_repetition_with_other_n_gram_settings_matches_the_reference(cfg: GopherRepetitionConfig) -> None:
    decisions = [gopher_repetition(t, cfg) for t in CORPUS]
    assert decisions == [reference.gopher_repetition(t, cfg) for t in CORPUS]
    assert any(d != Keep() for d in decisions) and any(d == Keep() for d in decisions)


def test_the_fast_filter_defaults_are_the_reference_defaults() -> None:
    assert TextQualityFilter().config == TextQualityConfig()


def test_word_regex_gives_the_tokenizer_words_on_random_unicode() -> None:
    r = random.Random(3)
    alphabet = "ab é\u0301_-'’.,#…\n\t1２٣ЖΣς城ク๏" + "\u200b"
    for _ in range(3000):
        text = "".join(r.choice(alphabet) for _ in range(r.randint(0, 40)))
        assert _words(text, "space") == [t for t in tokenize(text) if _IS_WORD.match(t)], repr(text)
