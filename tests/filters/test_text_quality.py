"""Each Gopher/C4 rule fires with its own reason, can be switched off, and real pages pass."""

from __future__ import annotations

import dataclasses

import pytest

from filters.base import Drop, Keep
from filters.text_quality import (
    C4Config,
    GopherQualityConfig,
    GopherRepetitionConfig,
    TextQualityConfig,
    TextQualityFilter,
    c4_quality,
    gopher_quality,
    gopher_repetition,
)
from tests.generated_text import english_documents
from tests.real_pages import confident_pages

GOOD = (
    "The committee met on Tuesday to discuss the budget for the coming year. Members agreed that "
    "the library needs new windows, and that the park should have more benches with shade. "
    "Several residents spoke about traffic near the school and asked for a crossing guard. "
    "The mayor said the town would study the request and report back at the next meeting. "
    "Funding for the summer festival was approved with a small increase to cover security costs."
)


def test_good_text_and_generated_prose_pass_everything() -> None:
    f = TextQualityFilter()
    assert f(GOOD)[0] == Keep()
    for text in english_documents(20):
        decision, cleaned = f(text)
        assert isinstance(decision, Keep), (text[:80], decision)
        assert cleaned == text.replace("\n\n", "\n")  # every line is a sentence: none is removed


@pytest.mark.real_pages
def test_real_english_pages_pass_everything() -> None:
    f = TextQualityFilter()
    for name, text in confident_pages("en").items():
        decision, cleaned = f(text)
        assert isinstance(decision, Keep), (name, decision)
        assert cleaned and len(cleaned) <= len(text)


def test_defaults_are_datatroves() -> None:
    q, r = GopherQualityConfig(), GopherRepetitionConfig()
    assert (q.min_doc_words, q.max_doc_words, q.min_avg_word_length, q.max_avg_word_length) == (
        50,
        100_000,
        3,
        10,
    )
    assert (q.max_symbol_word_ratio, q.min_alpha_words_ratio, q.min_stop_words) == (0.1, 0.8, 2)
    assert (r.dup_line_frac, r.dup_para_frac, r.dup_line_char_frac, r.dup_para_char_frac) == (
        0.3,
        0.3,
        0.2,
        0.2,
    )
    assert r.top_n_grams == ((2, 0.2), (3, 0.18), (4, 0.16))


_W = GOOD.split()

# (text, expected reason, config fields that switch the rule off)
GOPHER_CASES = [
    (
        "the committee gathered there to consider several important matters",
        "too_few_words",
        ("min_doc_words",),
    ),
    (" ".join(["the", "and"] + ["word"] * 100_001), "too_many_words", ("max_doc_words",)),
    ("the and to of " + " ".join(["a b"] * 60), "mean_word_length", ("min_avg_word_length",)),
    ("the and " + " ".join(["incomprehensibilities"] * 60), "mean_word_length", ("max_avg_word_length",)),
    (GOOD + " #tag" * 20, "symbol_ratio", ("max_symbol_word_ratio",)),
    (GOOD + " and so on... ok." * 20, "symbol_ratio", ("max_symbol_word_ratio",)),
    (
        "\n".join("• " + " ".join(_W[i : i + 6]) for i in range(0, 78, 6)),
        "symbol_ratio",
        ("max_bullet_lines_ratio",),
    ),
    (
        "\n".join(" ".join(_W[i : i + 6]) + "..." for i in range(0, 78, 6)),
        "symbol_ratio",
        ("max_ellipsis_lines_ratio", "max_symbol_word_ratio"),
    ),
    (GOOD + " 1234 5678" * 30, "alpha_words", ("min_alpha_words_ratio",)),
    (
        " ".join(w for w in _W if w.lower() not in {"the", "and", "to", "of", "that", "with", "be", "have"}),
        "stop_words",
        ("min_stop_words",),
    ),
]


@pytest.mark.parametrize(
    ("text", "reason", "switch"), GOPHER_CASES, ids=[c[2][0] + "-" + c[1] for c in GOPHER_CASES]
)
def test_each_gopher_quality_rule(text: str, reason: str, switch: tuple[str, ...]) -> None:
    d = gopher_quality(text)
    assert isinstance(d, Drop) and d.reason == reason, d
    off = dataclasses.replace(GopherQualityConfig(), **dict.fromkeys(switch))
    assert gopher_quality(text, off) == Keep()
    assert gopher_quality(text, GopherQualityConfig(enabled=False)) == Keep()


PARAS = [s.strip() + "." for s in GOOD.split(". ")]

REPETITION_CASES = [
    ("\n\n".join(PARAS[:3] + [PARAS[0]] * 3), "duplicate_paragraphs", "dup_para_frac"),
    ("\n".join(PARAS[:4] + [PARAS[0]] * 2), "duplicate_lines", "dup_line_frac"),
    (GOOD + " buy cheap watches now" * 12, "top_ngram", "top_n_grams"),
]


@pytest.mark.parametrize(("text", "reason", "switch"), REPETITION_CASES, ids=[c[1] for c in REPETITION_CASES])
def test_each_gopher_repetition_rule(text: str, reason: str, switch: str) -> None:
    d = gopher_repetition(text)
    assert isinstance(d, Drop) and d.reason == reason, d
    off = {
        "dup_para_frac": {"dup_para_frac": None, "dup_para_char_frac": None},
        "dup_line_frac": {"dup_line_frac": None, "dup_line_char_frac": None},
        "top_n_grams": {"top_n_grams": (), "dup_n_grams": ()},
    }[switch]
    # the rule stops firing (an overlapping rule may still catch the same text)
    d_off = gopher_repetition(text, dataclasses.replace(GopherRepetitionConfig(), **off))
    assert d_off == Keep() or d_off.reason != reason
    everything_off = GopherRepetitionConfig(
        dup_line_frac=None,
        dup_para_frac=None,
        dup_line_char_frac=None,
        dup_para_char_frac=None,
        top_n_grams=(),
        dup_n_grams=(),
    )
    assert gopher_repetition(text, everything_off) == Keep()


def test_blank_lines_between_paragraphs_are_not_duplicates() -> None:
    assert gopher_repetition("\n\n\n".join(PARAS)) == Keep()


def test_c4_rules() -> None:
    lorem = GOOD + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit."
    assert c4_quality(lorem)[0] == Drop("lorem_ipsum", "the text holds 'lorem ipsum'")
    code = GOOD + "\nThe function is defined as { return x; } in the code."
    assert c4_quality(code)[0].reason == "curly_brace"
    assert c4_quality(code, C4Config(filter_curly_bracket=False))[0] == Keep()
    assert c4_quality(lorem, C4Config(filter_lorem_ipsum=False))[0] == Keep()
    # a brace in a line that the line rules remove (no terminal punctuation) does not drop the page
    menu = "Home | Shop {new}\n" + GOOD
    decision, cleaned = c4_quality(menu)
    assert decision == Keep() and "Shop" not in cleaned and "committee" in cleaned
    # line rules: javascript and policy lines go, citations are removed
    page = (
        GOOD + "\nPlease enable JavaScript to view this page.\nRead our privacy policy here.\nFact [1] stays."
    )
    _, cleaned = c4_quality(page)
    assert "JavaScript" not in cleaned and "privacy" not in cleaned and "Fact  stays." in cleaned
    assert c4_quality("menu\nlogin\nhome")[0].reason == "empty_text"
    assert c4_quality(menu, C4Config(enabled=False)) == (Keep(), menu)


def test_filter_switches_groups_off() -> None:
    text = "\n".join(PARAS[:4] + [PARAS[0]] * 2)
    assert TextQualityFilter()(text)[0].reason == "duplicate_lines"
    cfg = TextQualityConfig(gopher_repetition=GopherRepetitionConfig(enabled=False))
    assert TextQualityFilter(cfg)(text)[0] == Keep()
