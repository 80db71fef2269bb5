"""Our batched signatures equal datasketch's for the pinned scheme/seed; banding follows datasketch."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH

from filters.minhash import (
    LSHParams,
    MinHashConfig,
    MinHasher,
    band_keys,
    estimated_jaccard,
    lsh_params,
)
from filters.text_normalize import shingle_set, shingles
from tests.filters.text_pages import confident_pages


def _datasketch(text: str, cfg: MinHashConfig) -> np.ndarray:
    m = MinHash(num_perm=cfg.num_perm, seed=cfg.seed, scheme=cfg.scheme)
    m.update_batch([s.encode("utf-8") for s in shingles(text, cfg.ngram, cfg.normalize)])
    return m.hashvalues


def _docs() -> list[str]:
    pages = list(confident_pages().values())
    docs = []
    for page in pages:
        words = page.split()
        docs += [" ".join(words[i : i + 300]) for i in range(0, len(words), 300)]
    return docs + ["", "two words", "Ünïcode ﬁ Straße — «quoted» text… with 𝔐ath"]


def test_defaults_are_pinned() -> None:
    cfg = MinHashConfig()
    assert (cfg.num_perm, cfg.seed, cfg.scheme, cfg.ngram) == (128, 1, "affine32", 5)
    # a golden value: changes if datasketch's permutations, the hash or the shingling change
    sig = MinHasher().signature("the quick brown fox jumps over the lazy dog")
    assert sig[:4].tolist() == [525945524, 412836237, 741861544, 729940982]


def test_signatures_equal_datasketch_on_real_text() -> None:
    docs = _docs()
    cfg = MinHashConfig()
    sigs = MinHasher(cfg).signatures(docs)
    assert sigs.shape == (len(docs), 128) and sigs.dtype == np.uint32
    for doc, sig in zip(docs, sigs, strict=True):
        assert np.array_equal(sig, _datasketch(doc, cfg))


@pytest.mark.parametrize("scheme", ["affine64", "legacy"])
def test_other_schemes_equal_datasketch(scheme: str) -> None:
    cfg = MinHashConfig(scheme=scheme, num_perm=64, seed=7, ngram=3)
    docs = _docs()[:20]
    for doc, sig in zip(docs, MinHasher(cfg).signatures(docs), strict=True):
        assert np.array_equal(sig, _datasketch(doc, cfg))


def test_batch_split_and_order_do_not_change_signatures() -> None:
    docs = _docs()
    h = MinHasher()
    whole = h.signatures(docs)
    rng = random.Random(3)
    order = list(range(len(docs)))
    rng.shuffle(order)
    shuffled = h.signatures([docs[i] for i in order])
    assert np.array_equal(shuffled, whole[order])
    assert np.array_equal(h.signature(docs[5]), whole[5])


def test_large_document_spans_blocks_and_matches_shingle_list() -> None:
    text = " ".join(f"w{i}" for i in range(40_000))  # > 2 permutation blocks of shingles
    h = MinHasher()
    assert np.array_equal(h.signature(text), h.signature_of_shingles(shingles(text)))
    assert np.array_equal(h.signature(text), _datasketch(text, MinHashConfig()))


def test_empty_text_has_empty_signature() -> None:
    h = MinHasher()
    assert h.is_empty(h.signature(" ,,, "))
    assert not h.is_empty(h.signature("word"))


def test_bytes_round_trip_and_pickle() -> None:
    h = MinHasher()
    sig = h.signature("some words to hash here today")
    data = h.to_bytes(sig)
    assert len(data) == 512 and np.array_equal(h.from_bytes(data), sig)
    h2 = pickle.loads(pickle.dumps(h))
    assert np.array_equal(h2.signature("some words to hash here today"), sig)


def test_lsh_params_follow_datasketch_and_can_be_overridden() -> None:
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    assert lsh_params() == LSHParams(lsh.b, lsh.r) == LSHParams(9, 13)
    assert lsh_params(0.5, 200) == LSHParams(*(lambda x: (x.b, x.r))(MinHashLSH(0.5, 200)))
    assert lsh_params(bands=16, rows=8) == LSHParams(16, 8)
    with pytest.raises(ValueError):
        lsh_params(bands=20, rows=8)  # 160 > 128 permutations
    with pytest.raises(ValueError):
        lsh_params(bands=4)
    p = LSHParams(9, 13)
    assert p.candidate_probability(0.95) > 0.99 > 0.01 > p.candidate_probability(0.5)


def test_band_keys_match_exactly_the_equal_bands() -> None:
    h = MinHasher()
    params = LSHParams(8, 16)
    a = h.signature("alpha beta gamma delta epsilon zeta eta theta")
    b = a.copy()
    b[16:32] += 1  # band 1 differs
    ka, kb = band_keys(a, params), band_keys(b, params)
    assert len(ka) == 8 and len(set(ka)) == 8
    assert [x == y for x, y in zip(ka, kb, strict=True)] == [True, False] + [True] * 6
    assert all(k[:2] == i.to_bytes(2, "big") for i, k in enumerate(ka))


def test_estimated_jaccard_tracks_true_jaccard() -> None:
    page = max(confident_pages("en").values(), key=len).split()[:2000]
    rng = random.Random(0)
    h = MinHasher()
    base = " ".join(page)
    for rate in (0.01, 0.03, 0.1):
        edited = [rng.choice(page) if rng.random() < rate else w for w in page]
        other = " ".join(edited)
        true = len(shingle_set(base) & shingle_set(other)) / len(shingle_set(base) | shingle_set(other))
        est = estimated_jaccard(h.signature(base), h.signature(other))
        assert abs(est - true) < 0.12, (rate, est, true)
    with pytest.raises(ValueError):
        estimated_jaccard(np.zeros(3), np.zeros(4))


def test_huge_document_signature_in_bounded_memory() -> None:
    import tracemalloc

    words = " ".join(max(confident_pages("en").values(), key=len).split()[:5000])
    text = "\n".join(f"{words} part{i}" for i in range(250))  # ~8 MB, 1.25M words
    h = MinHasher()
    tracemalloc.start()
    sig = h.signature(text)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert not h.is_empty(sig)
    # all shingles at once would be ~1.25M x 128 x 4 B = 640 MB of permutations
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_lone_surrogates_hash_instead_of_crashing() -> None:
    h = MinHasher()
    sig = h.signature("broken \udcff bytes in an otherwise fine text")
    assert not h.is_empty(sig)
