"""Normalisation folds case, Unicode form and punctuation; shingling is exact and streams."""

from __future__ import annotations

import tracemalloc

import pytest

from filters.text_normalize import (
    NormalizeConfig,
    iter_shingle_chunks,
    jaccard,
    normalize_text,
    shingle_set,
    shingles,
)
from tests.generated_text import english_documents


def test_normalize_folds_unicode_case_punctuation_and_space() -> None:
    text = "Ｆｕｌｌ-Width\tﬁne  STRASSE…\n\n“Hello”,World! ①"
    assert normalize_text(text) == "full width fine strasse hello world 1"


def test_normalize_options_switch_off() -> None:
    cfg = NormalizeConfig(lowercase=False, strip_punctuation=False, nfkc=False, fold_digits=False)
    assert normalize_text("A,  b 12", cfg) == "A, b 12"
    assert normalize_text("Price 12.50", NormalizeConfig(fold_digits=True)) == "price 00 00"


def test_shingles_are_word_ngrams_and_short_texts_give_one() -> None:
    assert shingles("a b c d e f g", n=5) == ["a b c d e", "b c d e f", "c d e f g"]
    assert shingles("Only three words", n=5) == ["only three words"]
    assert shingles("  ...  ", n=5) == []
    with pytest.raises(ValueError):
        shingles("a b", n=0)


def test_equivalent_texts_have_equal_shingle_sets() -> None:
    a = shingle_set("The quick, brown fox -- jumps over the LAZY dog.")
    b = shingle_set("the quick brown fox jumps over the lazy dog")
    assert a == b and jaccard(a, b) == 1.0
    assert jaccard(a, shingle_set("the quick brown cat jumps over the lazy dog")) < 0.5


def test_chunked_shingling_equals_whole_text_on_prose() -> None:
    text = "\n".join(english_documents(25, words=600))
    whole = shingles(text)
    # tiny slices and chunks force every border case: slice borders inside runs of words
    chunked = [s for c in iter_shingle_chunks(text, 5, chunk_size=7, chunk_chars=97) for s in c]
    assert len(whole) > 10_000
    assert chunked == whole
    assert all(len(c) <= 7 for c in iter_shingle_chunks(text, 5, chunk_size=7, chunk_chars=97))


def test_encoded_shingles_equal_utf8_of_str_shingles() -> None:
    text = "Größe ändern — ça va très bien, merci beaucoup"
    enc = [s for c in iter_shingle_chunks(text, 3, encode=True) for s in c]
    assert enc == [s.encode("utf-8") for s in shingles(text, 3)]


def test_big_document_streams_in_bounded_memory() -> None:
    word_text = " ".join(f"w{i % 50_000}" for i in range(400_000))  # ~3.1 MB
    text = (word_text + "\n") * 6  # ~19 MB, 2.4M words
    tracemalloc.start()
    count = 0
    for chunk in iter_shingle_chunks(text, 5):
        count += len(chunk)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 2_400_000 - 4
    # all shingles at once would be >150 MB; streaming stays a few slices' worth
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.1f} MiB"
