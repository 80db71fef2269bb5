"""Caption language on a labelled caption set: short English captions kept, other languages dropped."""

from __future__ import annotations

from filters.base import Drop
from filters.caption import CaptionConfig, CaptionFilter, CleanCaption
from filters.langid import LanguageConfig, LanguageFilter, ShortTextConfig, lingua_confidences
from tests.filters.caption_set import ENGLISH, OTHER


def _kept(flt: CaptionFilter, captions) -> list[CleanCaption]:
    return [r for r in (flt(c) for c in captions) if isinstance(r, CleanCaption)]


def test_the_set_is_big_enough_and_caption_sized() -> None:
    assert len(ENGLISH) + len(OTHER) >= 200
    assert len(ENGLISH) >= 100 and len({lang for lang, _ in OTHER}) >= 10
    for caption in [*ENGLISH, *(c for _, c in OTHER)]:
        assert 4 <= len(caption.split()) <= 20, caption


def test_english_captions_kept_and_other_languages_dropped() -> None:
    flt = CaptionFilter(CaptionConfig())
    kept_en = _kept(flt, ENGLISH)
    kept_other = _kept(flt, (c for _, c in OTHER))
    assert len(kept_en) >= 0.98 * len(ENGLISH), [c for c in ENGLISH if c not in {k.text for k in kept_en}]
    assert len(kept_other) <= 0.02 * len(OTHER), [k.text for k in kept_other]
    for k in kept_en:  # the language and its score travel into the metadata
        assert k.language == "en" and 0.0 < k.language_score <= 1.0


def test_one_threshold_for_every_length_loses_short_english_captions() -> None:
    flat = CaptionFilter(CaptionConfig(short_text=None))
    lost = [c for c in ENGLISH if isinstance(flat(c), Drop)]
    assert len(lost) > 0.05 * len(ENGLISH)  # what the length-aware rule fixes
    assert "A small boat tied to the dock" in lost
    assert CaptionFilter(CaptionConfig())("A small boat tied to the dock").language == "en"


def test_long_texts_keep_the_document_threshold() -> None:
    lf = LanguageFilter(LanguageConfig(short_text=ShortTextConfig(max_words=3)))
    decision, lang = lf.identify("A small boat tied to the dock")  # 7 words: not short here
    assert isinstance(decision, Drop) and lang is None
    assert not isinstance(
        LanguageFilter(LanguageConfig(short_text=ShortTextConfig()))("A small boat tied to the dock"), Drop
    )


def test_lingua_second_opinion_chooses_among_candidates() -> None:
    ranked = lingua_confidences("A small boat tied to the dock", ("de", "en", "nl"))
    assert ranked[0][0] == "en" and ranked[0][1] > 0.5
    assert lingua_confidences("Zwei Kinder spielen Fußball im Park", ("de", "en"))[0][0] == "de"
    assert lingua_confidences("anything", ("xx",)) == []  # unknown codes: no opinion
    # with the second opinion switched off and fastText unsure, a short caption can still be dropped
    strict = LanguageFilter(
        LanguageConfig(short_text=ShortTextConfig(top1_threshold=0.99, second_opinion=False))
    )
    assert isinstance(strict("A small boat tied to the dock"), Drop)
