"""CIDEr-D, BLEU and VQA accuracy against values worked out by hand, and against pycocoevalcap's
scorers (pure Python, used directly without its Java tokenizer) when it is installed."""

import math
import random

import pytest

from kosmos_train.eval.metrics import (
    bleu,
    caption_scores,
    caption_tokens,
    cider_d,
    normalize_vqa_answer,
    vqa_accuracy,
)

L2 = math.log(2)


def test_cider_identical_captions_by_hand():
    # Two images: "a" is in both reference sets, so its idf is log(2/2) = 0; "cat", "a cat" have idf log 2.
    # n=1 and n=2 cosines are 1, n=3/4 have no n-grams (0); mean over n = 0.5, x10 -> 5.
    score, per = cider_d(["a cat", "a dog"], [["a cat"], ["a dog"]])
    assert per == pytest.approx([5.0, 5.0]) and score == pytest.approx(5.0)


def test_cider_wrong_caption_scores_zero_by_hand():
    score, per = cider_d(["a dog", "a dog"], [["a cat"], ["a dog"]])
    assert per == pytest.approx([0.0, 5.0]) and score == pytest.approx(2.5)


def test_cider_length_penalty_and_partial_match_by_hand():
    # hyp "a cat" vs ref "a cat sat": n=1 cosine (L*L)/(L * L*sqrt2) = 1/sqrt2, n=2 the same, n=3/4 zero;
    # lengths in bigrams 1 vs 2 -> penalty exp(-1 / (2 * 6^2)).
    _, per = cider_d(["a cat", "a dog ran"], [["a cat sat"], ["a dog ran"]])
    assert per[0] == pytest.approx(10 * (2 / math.sqrt(2)) / 4 * math.exp(-1 / 72))


def test_cider_clips_repeated_words_and_averages_references():
    # "cat cat" counts cat twice (tf 2L) but the reference once (L): min(2L, L) * L = L^2 over norms 2L and L -> 1/2.
    _, per = cider_d(["cat cat", "a dog"], [["cat"], ["a dog"]])
    assert per[0] == pytest.approx(10 * (1 / 2) / 4 * math.exp(-1 / 72))
    # Two references: the score is the mean over references (one matches fully, one not at all).
    _, per = cider_d(["a cat", "a dog"], [["a cat", "the bird"], ["a dog"]])
    assert per[0] == pytest.approx(10 * (2 / 4) / 2)


def test_bleu_by_hand():
    ref = ["the cat sat on the mat"]
    assert bleu(["the cat sat on the mat"], [ref])[3] == pytest.approx(1.0)
    # Every n-gram right but one word short: brevity penalty exp(1 - 6/5).
    assert bleu(["the cat sat on the"], [ref])[3] == pytest.approx(math.exp(1 - 6 / 5))
    # Clipping: 7 x "the" matches "the" only twice -> p1 = 2/7, and no bigram matches -> BLEU-4 0.
    b = bleu(["the the the the the the the"], [ref])
    assert b[0] == pytest.approx(2 / 7) and b[3] == 0.0
    # One wrong word: p1 = 5/6, p2 = 3/5, p3 = 2/4, p4 = 1/3 ("the cat sat on"), same length so no penalty.
    b = bleu(["the cat sat on a mat"], [ref])
    assert b[3] == pytest.approx((5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** (1 / 4))
    # The closest reference length sets the brevity penalty.
    assert bleu(["the cat sat"], [["the cat sat", "the cat sat on the mat"]])[2] == pytest.approx(1.0)


def test_caption_tokens_follow_ptb_and_drop_punctuation():
    assert caption_tokens("A Man's dog, running... (fast)!") == [
        "a",
        "man",
        "'s",
        "dog",
        "running",
        "-lrb-",
        "fast",
        "-rrb-",
    ]
    assert caption_tokens("It doesn't fly.") == ["it", "does", "n't", "fly"]
    metrics, per = caption_scores(["A cat.", "A dog!"], [["a cat"], ["A dog"]])
    assert metrics["CIDEr"] == pytest.approx(500.0) and per == pytest.approx([500.0, 500.0])


def test_vqa_accuracy_by_hand():
    answers = ["2"] * 3 + ["3"] * 7
    # Leaving out one of the three "2"s leaves 2 matches (2/3); leaving out a "3" leaves 3 (1): (3*2/3 + 7)/10.
    assert vqa_accuracy("2", answers) == pytest.approx(0.9)
    assert vqa_accuracy("two", answers) == pytest.approx(0.9)  # number words become digits
    # the official punctuation list: '!' is stripped, ':' and "'" are not
    assert vqa_accuracy("yes!", ["yes"] * 10) == pytest.approx(1.0)
    assert vqa_accuracy("2:30", ["2:30"] * 10) == pytest.approx(1.0)
    assert vqa_accuracy("man's", ["man's"] * 10) == pytest.approx(1.0)
    assert vqa_accuracy("couldn'tve", ["couldn't've"] * 10) == pytest.approx(
        1.0
    )  # part-apostrophe contraction
    assert vqa_accuracy("3", answers) == pytest.approx(1.0)
    assert vqa_accuracy("4", answers) == 0.0
    # One human said it: 9 subsets hold it once (1/3), the subset without it none -> 0.3.
    assert vqa_accuracy("yes", ["yes"] + ["no"] * 9) == pytest.approx(0.3)
    assert vqa_accuracy("The Dog.", ["dog"] * 10) == pytest.approx(1.0)


def test_vqa_normalization_matches_the_official_rules():
    assert normalize_vqa_answer("The Dog.") == "dog"
    assert normalize_vqa_answer("  an apple\n") == "apple"
    assert normalize_vqa_answer("1,000") == "1000"  # a digit comma means punctuation is removed, not spaced
    assert normalize_vqa_answer("yes/no") == "yes no"
    assert normalize_vqa_answer("3.5") == "3.5"  # a period between digits stays
    assert normalize_vqa_answer("dont") == "don't"


CAPTIONS = [
    "A Man's dog, running... (fast)!",
    "It doesn't fly.",
    "Two dogs play-fighting near a 3.5 m fence.",
    'A "red" bus; parked at the stop: downtown?',
    "The cat's toy isn't here",
    "A man & a woman by a U.S. flag",
    "people's cars won't start",
    "A train at 5:30 on the tracks.",
]


def test_caption_tokens_agree_with_the_java_ptb_tokenizer():
    import shutil

    ptb = pytest.importorskip("pycocoevalcap.tokenizer.ptbtokenizer")
    if shutil.which("java") is None:
        pytest.skip("no java for the Stanford PTBTokenizer")
    out = ptb.PTBTokenizer().tokenize({i: [{"caption": c}] for i, c in enumerate(CAPTIONS)})
    assert [" ".join(caption_tokens(c)) for c in CAPTIONS] == [out[i][0] for i in range(len(CAPTIONS))]


def _corpus(seed: int) -> tuple[list[str], list[list[str]]]:
    rng = random.Random(seed)
    words = "a the man woman dog cat sits runs on in park grass red ball with".split()
    hyps = [" ".join(rng.choices(words, k=rng.randint(1, 9))) for _ in range(12)]
    refs = [
        [" ".join(rng.choices(words, k=rng.randint(2, 10))) for _ in range(rng.randint(1, 5))] for _ in hyps
    ]
    return hyps, refs


def test_cider_and_bleu_agree_with_pycocoevalcap():
    cider_scorer = pytest.importorskip("pycocoevalcap.cider.cider_scorer")
    bleu_scorer = pytest.importorskip("pycocoevalcap.bleu.bleu_scorer")
    for seed in range(5):
        hyps, refs = _corpus(seed)
        reference = cider_scorer.CiderScorer(n=4, sigma=6.0)
        for h, rs in zip(hyps, refs, strict=True):
            reference += (h, rs)
        want, want_per = reference.compute_score()
        got, got_per = cider_d(hyps, refs)
        assert got == pytest.approx(want) and got_per == pytest.approx(list(want_per))
        scorer = bleu_scorer.BleuScorer(n=4)
        for h, rs in zip(hyps, refs, strict=True):
            scorer += (h, rs)
        want_bleu, _ = scorer.compute_score(option="closest")
        assert bleu(hyps, refs) == pytest.approx(want_bleu, abs=1e-6)
