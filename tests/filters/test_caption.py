"""filters.caption: cleaning, placeholder tags, word counts, fastText language ID."""

from __future__ import annotations

import os
import pickle

import pytest

from filters.base import Drop
from filters.caption import CaptionConfig, CaptionFilter, CleanCaption, clean_caption, find_placeholder

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def caption_filter() -> CaptionFilter:
    return CaptionFilter()


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  Dog &amp; cat\n\tplaying  ", "Dog & cat playing"),
        ("Fish &amp;amp; chips", "Fish & chips"),  # escaped twice
        ("<b>Bold</b> <a href='x'>caption</a> here", "Bold caption here"),
        ("caf\u00c3\u00a9 in Paris", "caf\u00e9 in Paris"),  # mojibake repaired
        ("&lt;p&gt;Hello&lt;/p&gt; world", "Hello world"),
        ("a&nbsp;b\u00a0c", "a b c"),
        ("5 &lt; 6 and 7 &gt; 3", "5 < 6 and 7 > 3"),
    ],
)
def test_clean_caption(raw: str, clean: str) -> None:
    assert clean_caption(raw) == clean


@pytest.mark.parametrize(
    "caption",
    [
        "Portrait of <PERSON> at the 2019 awards",
        "&lt;PERSON&gt; walks the dog in the park",
        "<PERSON_1> and <PERSON_2> shaking hands",
        "A view of [LOCATION] at night from the hill",
        "Actor < PERSON > arrives at the premiere",
    ],
)
def test_placeholder_tags_are_dropped(caption_filter: CaptionFilter, caption: str) -> None:
    result = caption_filter(caption)
    assert isinstance(result, Drop) and result.reason == "placeholder_tag", result


def test_html_tags_are_not_placeholders(caption_filter: CaptionFilter) -> None:
    assert find_placeholder("meet at <time>noon</time> today") is None
    result = caption_filter("Photo of a dog playing in the <b>park</b>")
    assert isinstance(result, CleanCaption) and result.text == "Photo of a dog playing in the park"


@pytest.mark.parametrize(
    ("caption", "reason"),
    [
        (None, "empty_text"),
        ("", "empty_text"),
        ("   &nbsp; <br/> ", "empty_text"),
        ("Two words", "too_few_words"),
        ("a b c", "too_few_words"),
        ("Ein Hund spielt im Park mit einem roten Ball", "language"),
        ("Un chat noir dort sur le canapé du salon", "language"),
        ("Фотография собаки в парке летом", "language"),
    ],
)
def test_drops_with_reasons(caption_filter: CaptionFilter, caption: str | None, reason: str) -> None:
    result = caption_filter(caption)
    assert isinstance(result, Drop) and result.reason == reason, result


def test_english_caption_is_kept_with_its_language_score(caption_filter: CaptionFilter) -> None:
    result = caption_filter("  Photo of a dog &amp; a cat playing in the park  ")
    assert isinstance(result, CleanCaption)
    assert result.text == "Photo of a dog & a cat playing in the park"
    assert result.language == "en" and 0.65 <= result.language_score <= 1.01


def test_config_changes_the_decisions() -> None:
    german = "Ein Hund spielt im Park mit einem roten Ball"
    assert isinstance(CaptionFilter(CaptionConfig(languages=("de",)))(german), CleanCaption)
    assert isinstance(CaptionFilter(CaptionConfig(languages=()))(german), CleanCaption)
    assert isinstance(
        CaptionFilter(CaptionConfig(min_words=1, min_chars=1, languages=()))("Dog"), CleanCaption
    )
    long = CaptionFilter(CaptionConfig(max_words=5))("Photo of a dog playing in the park")
    assert isinstance(long, Drop) and long.reason == "too_many_words"
    loose = CaptionFilter(CaptionConfig(placeholder_tags=()))("Portrait of <PERSON> at the 2019 awards")
    assert isinstance(loose, CleanCaption) and loose.text == "Portrait of at the 2019 awards"


def test_filter_is_picklable_and_batch_keeps_order(caption_filter: CaptionFilter) -> None:
    clone = pickle.loads(pickle.dumps(caption_filter))
    results = clone.filter_batch(["Photo of a dog playing in the park", "<PERSON> smiling", None])
    assert [type(r).__name__ for r in results] == ["CleanCaption", "Drop", "Drop"]
    assert [r.reason for r in results[1:]] == ["placeholder_tag", "empty_text"]
