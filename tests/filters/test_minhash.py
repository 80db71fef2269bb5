"""Signatures: the native scheme equals its definition and text_normalize's words; the compatible
schemes equal datasketch's for the pinned seed; banding follows datasketch."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH

from filters.minhash import (
    KNOWN_OPTIMA,
    LSHParams,
    MinHashConfig,
    MinHasher,
    affine32_permutations,
    band_keys,
    estimated_jaccard,
    lsh_params,
)
from filters.minhash_native import position_multipliers
from filters.text_normalize import NormalizeConfig, iter_words, shingle_set, shingles
from tests.generated_text import english_documents

GOLDEN_NATIVE = [475446868, 58246935, 1127353665, 237315073]


def _pages() -> list[str]:
    """Long generated English documents (varied vocabulary, punctuation, digits, accents)."""
    return english_documents(8, words=2500)


def _datasketch(text: str, cfg: MinHashConfig) -> np.ndarray:
    m = MinHash(num_perm=cfg.num_perm, seed=cfg.seed, scheme=cfg.scheme)
    m.update_batch([s.encode("utf-8") for s in shingles(text, cfg.ngram, cfg.normalize)])
    return m.hashvalues


def _docs() -> list[str]:
    pages = list(_pages())
    docs = []
    for page in pages:
        words = page.split()
        docs += [" ".join(words[i : i + 300]) for i in range(0, len(words), 300)]
    return docs + ["", "two words", "Ünïcode ﬁ Straße — «quoted» text… with 𝔐ath"]


COMPATIBLE = MinHashConfig(scheme="affine32")
_MASK = (1 << 64) - 1


def _fmix64(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _MASK
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _MASK
    return k ^ (k >> 33)


def _native_reference(text: str, cfg: MinHashConfig | None = None) -> np.ndarray:
    """The native scheme written out in plain Python from its definition, on text_normalize's words."""
    cfg = cfg or MinHashConfig()
    words = [w for chunk in iter_words(text, cfg.normalize) for w in chunk]
    hashes = []
    for word in words:
        h = 0xCBF29CE484222325
        for ch in word:
            h = ((h ^ ord(ch)) * 0x100000001B3) & _MASK
        hashes.append(_fmix64(h))
    grams = [hashes[i : i + cfg.ngram] for i in range(len(hashes) - cfg.ngram + 1)] or (
        [hashes] if hashes else []
    )
    mult = [int(m) for m in position_multipliers(cfg.ngram)]
    a, b = (p.astype(np.uint64) for p in MinHash(cfg.num_perm, seed=cfg.seed, scheme="affine32").permutations)
    sig = np.full(cfg.num_perm, 2**32 - 1, dtype=np.uint64)
    for gram in grams:
        g = (len(gram) + sum(w * m for w, m in zip(gram, mult, strict=False))) & _MASK
        hv = np.uint64(_fmix64(g) >> 32)
        sig = np.minimum(sig, (a * hv + b) & np.uint64(2**32 - 1))
    return sig.astype(np.uint32)


def test_defaults_are_pinned() -> None:
    cfg = MinHashConfig()
    assert (cfg.num_perm, cfg.seed, cfg.scheme, cfg.ngram) == (128, 1, "native", 5)
    # golden values: change if the permutations, the hash or the shingling change
    text = "the quick brown fox jumps over the lazy dog"
    assert MinHasher().signature(text)[:4].tolist() == GOLDEN_NATIVE
    assert MinHasher(COMPATIBLE).signature(text)[:4].tolist() == [525945524, 412836237, 741861544, 729940982]


def test_native_signatures_equal_the_reference_definition() -> None:
    docs = _docs()[:40] + ["one", "two words", "Straße İstanbul ΟΔΟΣ ΣΟΦΟΣ"]
    sigs = MinHasher().signatures(docs)
    for doc, sig in zip(docs, sigs, strict=True):
        assert np.array_equal(sig, _native_reference(doc)), doc[:40]
    cfg = MinHashConfig(num_perm=64, seed=7, ngram=3)
    assert np.array_equal(MinHasher(cfg).signature(docs[3]), _native_reference(docs[3], cfg))


@pytest.mark.parametrize(
    "normalize",
    [
        NormalizeConfig(),
        NormalizeConfig(fold_digits=True),
        NormalizeConfig(strip_punctuation=False),
        NormalizeConfig(nfkc=False, lowercase=False),
    ],
)
def test_native_words_are_text_normalize_words(normalize: NormalizeConfig) -> None:
    """The code-point table folds exactly as text_normalize: a text and its normalised words agree."""
    cfg = MinHashConfig(normalize=normalize)
    tricky = [
        "ΟΔΟΣ ΣΟΦΟΣ Σ σς İSTANBUL ǅemal ﬁnal Ⅻ ２０２４ x\u00a0y a\u2028b c\x1cd e\u3000f",
        "e-mail e.mail 'quoted' ¿qué? 日本語のテキスト、句読点。 ١٢٣ digits 123 ½ ™ ©",
        "broken \udcff surrogate and \x00 nul and tabs\tand\nnewlines",
    ]
    docs = _docs()[::7] + tricky
    h = MinHasher(cfg)
    normalised = [" ".join(w for chunk in iter_words(d, normalize) for w in chunk) for d in docs]
    assert np.array_equal(h.signatures(docs), h.signatures(normalised))
    for doc in tricky:
        assert np.array_equal(h.signature(doc), _native_reference(doc, cfg)), doc


def test_native_differs_from_near_texts_by_jaccard_like_datasketch() -> None:
    """Same estimator: on edited copies, native and datasketch estimates both track the true Jaccard."""
    page = max(_pages(), key=len).split()[:2000]
    rng = random.Random(1)
    base = " ".join(page)
    native, compat = MinHasher(), MinHasher(COMPATIBLE)
    for rate in (0.02, 0.05, 0.2):
        other = " ".join(rng.choice(page) if rng.random() < rate else w for w in page)
        true = len(shingle_set(base) & shingle_set(other)) / len(shingle_set(base) | shingle_set(other))
        for h in (native, compat):
            assert abs(estimated_jaccard(h.signature(base), h.signature(other)) - true) < 0.12


def test_signatures_equal_datasketch_on_prose() -> None:
    docs = _docs()
    cfg = COMPATIBLE
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
    for cfg in (COMPATIBLE, MinHashConfig()):
        h = MinHasher(cfg)
        assert np.array_equal(h.signature(text), h.signature_of_shingles(shingles(text)))
    assert np.array_equal(MinHasher(COMPATIBLE).signature(text), _datasketch(text, COMPATIBLE))


def test_native_document_spanning_slices_and_groups_is_one_document() -> None:
    """A text cut into normalisation slices and compiled-call groups hashes as if read in one go."""
    from filters import minhash_native

    words = " ".join(max(_pages(), key=len).split()[:3000])
    docs = ["short one", words * 3, "another text here with enough words to shingle"]
    h = MinHasher()
    whole = h.signatures(docs)
    table = minhash_native.fold_table(h.config.normalize)
    out = np.full_like(whole, h.empty_value)
    ring, state = np.zeros(5, dtype=np.uint64), np.zeros(3, dtype=np.uint64)
    groups = list(
        minhash_native.code_point_groups(docs, h.config.normalize, group_chars=5000, chunk_chars=3000)
    )
    assert len(groups) > 5
    for cps, ends, ids, flags in groups:
        minhash_native.sketch(cps, ends, ids, flags, table, h._mult, h._a, h._b, out, ring, state)
    assert np.array_equal(out, whole)
    assert np.array_equal(whole[1], _native_reference(docs[1]))


@pytest.mark.parametrize("scheme", ["native", "affine32"])
def test_empty_text_has_empty_signature(scheme: str) -> None:
    h = MinHasher(MinHashConfig(scheme=scheme))
    assert h.is_empty(h.signature(" ,,, ")) and h.is_empty(h.signature(""))
    assert not h.is_empty(h.signature("word"))
    sigs = h.signatures(["", "word", " ... ", "two words"])
    assert [h.is_empty(s) for s in sigs] == [True, False, True, False]


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


def test_written_down_optima_are_datasketchs() -> None:
    """The table that spares a default run the datasketch (and scipy) import holds its answers."""
    for (threshold, num_perm, weights), (bands, rows) in KNOWN_OPTIMA.items():
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=weights)
        assert (lsh.b, lsh.r) == (bands, rows)
    assert lsh_params(0.8, 128, (0.1, 0.9)) == LSHParams(14, 9)


@pytest.mark.parametrize(("num_perm", "seed"), [(128, 1), (128, 7), (64, 0), (256, 12345)])
def test_native_permutations_are_datasketchs_affine32(num_perm: int, seed: int) -> None:
    a, b = affine32_permutations(num_perm, seed)
    ref = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    assert a.dtype == b.dtype == ref.dtype == np.uint32
    assert np.array_equal(a, ref[0]) and np.array_equal(b, ref[1])
    hasher = MinHasher(MinHashConfig(num_perm=num_perm, seed=seed))
    assert np.array_equal(hasher._a, ref[0]) and np.array_equal(hasher._b, ref[1])
    assert hasher.empty_value == MinHash(num_perm=num_perm, seed=seed).hashvalues[0]


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
    page = max(_pages(), key=len).split()[:2000]
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


@pytest.mark.parametrize("scheme", ["native", "affine32"])
def test_huge_document_signature_in_bounded_memory(scheme: str) -> None:
    import tracemalloc

    words = " ".join(max(_pages(), key=len).split()[:5000])
    text = "\n".join(f"{words} part{i}" for i in range(250))  # ~8 MB, 1.25M words
    h = MinHasher(MinHashConfig(scheme=scheme))
    h.signature("warm up")  # the code-point table (4 MiB, once per process) is not the document's
    tracemalloc.start()
    sig = h.signature(text)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert not h.is_empty(sig)
    # all shingles at once would be ~1.25M x 128 x 4 B = 640 MB of permutations
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("scheme", ["native", "affine32"])
def test_lone_surrogates_hash_instead_of_crashing(scheme: str) -> None:
    h = MinHasher(MinHashConfig(scheme=scheme))
    sig = h.signature("broken \udcff bytes in an otherwise fine text")
    assert not h.is_empty(sig)
