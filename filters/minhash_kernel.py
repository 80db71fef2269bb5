"""The compiled kernel of the native MinHash scheme (numba): one pass over a group's code points folds
every word n-gram of every document into its signature row. filters/minhash_native.py prepares the
groups; filters/minhash_kernel_aot.py builds this same code ahead of time, so most processes never
import numba.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from filters.minhash_native import _FNV_OFFSET, _FNV_PRIME, BREAK, FIRST, LAST, kernel_signature

SIGNATURE = kernel_signature()
"""sketch's argument and result types for the ahead-of-time build (minhash_native.KERNEL_ARGS)."""


@njit(cache=True, inline="always")
def _fmix64(k):
    k ^= k >> np.uint64(33)
    k *= np.uint64(0xFF51AFD7ED558CCD)
    k ^= k >> np.uint64(33)
    k *= np.uint64(0xC4CEB9FE1A85EC53)
    k ^= k >> np.uint64(33)
    return k


@njit(cache=True, inline="always")
def _emit(ring, first, count, mult, a, b, row):
    """Hash the `count` words in ring[first:] (cyclic) as one shingle and fold it into `row`."""
    n = ring.shape[0]
    g = np.uint64(count)
    for k in range(count):
        g += ring[(first + k) % n] * mult[k]
    hv = np.uint32(_fmix64(g) >> np.uint64(32))
    for j in range(a.shape[0]):
        v = np.uint32(a[j] * hv + b[j])  # mod 2^32: datasketch affine32's permutation family
        if v < row[j]:
            row[j] = v


@njit(cache=True)
def sketch(cps, piece_end, piece_doc, piece_flags, table, mult, a, b, out, ring, state):
    """Fold each piece's word n-grams into out[doc] (rows pre-set to the empty value).

    Word and n-gram state (`ring`: the last n word hashes; `state`: words seen, the running word
    hash, in-word flag) carries from piece to piece of one document, also from one call to the next,
    so a document may span groups. A document with fewer than n words gets one shingle of all its
    words (as text_normalize does).
    """
    n = mult.shape[0]
    start = 0
    for p in range(piece_end.shape[0]):
        row = out[piece_doc[p]]
        if piece_flags[p] & FIRST:
            state[0] = np.uint64(0)
            state[1] = _FNV_OFFSET
            state[2] = np.uint64(0)
        words = np.int64(state[0])
        h = state[1]
        in_word = state[2] != 0
        for i in range(start, piece_end[p]):
            c = table[cps[i]]
            if c == BREAK:
                if in_word:
                    ring[words % n] = _fmix64(h)
                    words += 1
                    h = _FNV_OFFSET
                    in_word = False
                    if words >= n:
                        _emit(ring, words - n, n, mult, a, b, row)
            else:
                h = (h ^ np.uint64(c)) * _FNV_PRIME
                in_word = True
        start = piece_end[p]
        if piece_flags[p] & LAST:
            if in_word:
                ring[words % n] = _fmix64(h)
                words += 1
                in_word = False
                if words >= n:
                    _emit(ring, words - n, n, mult, a, b, row)
            if 0 < words < n:
                _emit(ring, 0, words, mult, a, b, row)
        state[0] = np.uint64(words)
        state[1] = h
        state[2] = np.uint64(1 if in_word else 0)
    return out
