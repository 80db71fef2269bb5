"""MinHash signatures, LSH band/row choice and band keys for near-duplicate detection.

Two hash schemes, pinned so a signature made today equals one made on another machine next year:

* ``native`` (the default): words are hashed once each (FNV-1a over code points), n-gram hashes
  are built arithmetically from the word hashes, and datasketch 2.0's affine32 permutations (same
  seed -> same a, b) are applied in one compiled pass (filters.minhash_native). About 10x datasketch's
  ``bulk`` per core, with the same estimator and so the same dedup quality.
* ``affine32`` / ``affine64`` / ``legacy``: datasketch-compatible. A signature equals
  ``datasketch.MinHash(num_perm, seed=seed, scheme=scheme)`` fed the same shingles (tested), for
  users with existing signatures. Each shingle is SHA-1-hashed once (one C call per shingle) and the
  permutations run over a whole batch of documents in one numpy broadcast with a segmented min.

Signatures of different schemes are not comparable (the MinHashConfig says which one made them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from filters.text_normalize import DEFAULT_NGRAM, DEFAULT_NORMALIZE, NormalizeConfig, iter_shingle_chunks

Scheme = Literal["native", "affine32", "affine64", "legacy"]
DATASKETCH_SCHEMES = ("affine32", "affine64", "legacy")

DEFAULT_NUM_PERM = 128
DEFAULT_SEED = 1  # datasketch's default seed, pinned so a plain datasketch MinHash reproduces ours
DEFAULT_SCHEME: Scheme = "native"  # "affine32" reproduces datasketch 2.0's default signatures
DEFAULT_THRESHOLD = 0.8

_MERSENNE = np.uint64((1 << 61) - 1)
_LEGACY_MAX = np.uint64((1 << 32) - 1)
_BLOCK_ROWS = 16384  # shingles per permutation block: 16k x 128 x 4 B = 8 MiB per temporary


@dataclass(frozen=True)
class MinHashConfig:
    """What defines a signature; two signatures are comparable only if their configs are equal."""

    num_perm: int = DEFAULT_NUM_PERM
    seed: int = DEFAULT_SEED
    scheme: Scheme = DEFAULT_SCHEME
    ngram: int = DEFAULT_NGRAM
    normalize: NormalizeConfig = DEFAULT_NORMALIZE


@dataclass(frozen=True)
class LSHParams:
    """Banding of a signature: `bands` bands of `rows` values (bands * rows <= num_perm)."""

    bands: int
    rows: int

    def candidate_probability(self, jaccard: float) -> float:
        """Probability that a pair with this Jaccard shares at least one band (the S-curve)."""
        return 1.0 - (1.0 - jaccard**self.rows) ** self.bands


def lsh_params(
    threshold: float = DEFAULT_THRESHOLD,
    num_perm: int = DEFAULT_NUM_PERM,
    weights: tuple[float, float] = (0.5, 0.5),
    bands: int | None = None,
    rows: int | None = None,
) -> LSHParams:
    """Bands x rows for `threshold`: datasketch's optimum (min weighted FP+FN area), or the override.

    `weights` is (false-positive weight, false-negative weight), as in datasketch.MinHashLSH.
    """
    if bands is not None or rows is not None:
        if bands is None or rows is None:
            raise ValueError("give both bands and rows, or neither")
        if bands < 1 or rows < 1 or bands * rows > num_perm:
            raise ValueError(f"bands*rows must be in [1, num_perm={num_perm}], got {bands}x{rows}")
        return LSHParams(bands, rows)
    known = KNOWN_OPTIMA.get((threshold, num_perm, tuple(weights)))
    if known is not None:
        return LSHParams(*known)
    # MinHashLSH runs datasketch's optimal-parameter search in its constructor; b and r are
    # public attributes, whereas the search function itself is private. (Imported here: datasketch
    # loads scipy.integrate, about 0.4 CPU-s and 35 MB, which a run on the defaults never needs.)
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=weights)
    return LSHParams(lsh.b, lsh.r)


KNOWN_OPTIMA: dict[tuple[float, int, tuple[float, float]], tuple[int, int]] = {
    (DEFAULT_THRESHOLD, DEFAULT_NUM_PERM, (0.1, 0.9)): (14, 9),  # the default, verifying
    (DEFAULT_THRESHOLD, DEFAULT_NUM_PERM, (0.5, 0.5)): (9, 13),  # the default with --no-verify
}
"""datasketch's optimum (bands, rows) for the default settings, written down so a default run does
not import datasketch; tests/filters/test_minhash.py checks every entry against datasketch."""


def affine32_permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch 2.0's affine32 permutation parameters (a odd, b) for `seed`, made as datasketch
    makes them (MinHash._init_permutations), without importing it; tested equal to datasketch's."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


class MinHasher:
    """Computes signatures for one MinHashConfig. Holds only small arrays: cheap to pickle."""

    def __init__(self, config: MinHashConfig = MinHashConfig()) -> None:
        self.config = config
        self._digest_bytes = 8 if config.scheme == "affine64" else 4
        self._mult = None
        if config.scheme == "native":
            # datasketch's affine32 (a, b) for the seed, made without importing datasketch
            from filters import minhash_native

            self.dtype = np.dtype(np.uint32)
            self.empty_value = np.uint32((1 << 32) - 1)
            self._a, self._b = affine32_permutations(config.num_perm, config.seed)
            self._mult = minhash_native.position_multipliers(config.ngram)
            return
        # The permutation parameters come from datasketch itself, so they follow its seed scheme.
        from datasketch import MinHash

        ref = MinHash(num_perm=config.num_perm, seed=config.seed, scheme=config.scheme)
        self.dtype = ref.hashvalues.dtype
        self.empty_value = ref.hashvalues[0]
        self._a = ref.permutations[0].astype(self.dtype if config.scheme != "legacy" else np.uint64)
        self._b = ref.permutations[1].astype(self.dtype if config.scheme != "legacy" else np.uint64)

    # --- hashing ------------------------------------------------------------------------------

    def hash_shingles(self, shingles: Sequence[str | bytes]) -> np.ndarray:
        """datasketch's sha1_hash32/64 (first 4/8 digest bytes, little-endian) of each shingle
        (the datasketch-compatible schemes only).

        str shingles are UTF-8 encoded first. One C call per shingle, then one numpy view.
        """
        sha1 = hashlib.sha1
        if shingles and isinstance(shingles[0], str):
            shingles = [s.encode("utf-8", "surrogatepass") for s in shingles]
        raw = np.frombuffer(b"".join([sha1(s).digest() for s in shingles]), dtype=np.uint8)
        nb = self._digest_bytes
        head = np.ascontiguousarray(raw.reshape(-1, 20)[:, :nb])
        hv = head.view("<u8" if nb == 8 else "<u4").reshape(-1)
        return hv.astype(np.uint32 if self.config.scheme == "affine32" else np.uint64)

    def _permute_min(self, hv: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Apply every permutation to every hash, then min over each segment [starts[i], starts[i+1]).

        The product is laid out (num_perm, rows) so the segmented min runs along contiguous
        memory (about 8x faster than reducing over axis 0); returns (segments, num_perm).
        """
        hv = hv.reshape(1, -1)
        a = self._a.reshape(-1, 1)
        b = self._b.reshape(-1, 1)
        if self.config.scheme == "legacy":
            phv = np.bitwise_and((a * hv + b) % _MERSENNE, _LEGACY_MAX)
        else:
            # The finalizer datasketch applies before its affine permutations. Private, but this module
            # is pinned to datasketch 2.0.x and the equality test with its own signatures guards it.
            from datasketch.minhash import _fmix

            width = 64 if self.config.scheme == "affine64" else 32
            phv = a * _fmix(hv, width) + b  # uint wraparound is the intended mod 2^w
        return np.minimum.reduceat(phv, starts, axis=1).T

    # --- signatures ---------------------------------------------------------------------------

    def empty_signature(self) -> np.ndarray:
        """The signature of a text without words (every value at the scheme's maximum)."""
        return np.full(self.config.num_perm, self.empty_value, dtype=self.dtype)

    def signatures(self, texts: Iterable[str]) -> np.ndarray:
        """Signatures of many texts as an (n, num_perm) array.

        native: one compiled pass over the batch's code points. datasketch schemes: shingles of
        consecutive texts are packed into blocks of about 16k rows; each block gets one permutation
        broadcast and one segmented min. Either way a huge text streams (its shingles never all
        exist at once).
        """
        texts = list(texts)
        out = np.empty((len(texts), self.config.num_perm), dtype=self.dtype)
        out[:] = self.empty_value
        if self.config.scheme == "native":
            return self._native_signatures(texts, out)
        pending: list[np.ndarray] = []
        seg_docs: list[int] = []
        seg_starts: list[int] = []
        rows = 0

        def flush() -> None:
            nonlocal pending, seg_docs, seg_starts, rows
            if rows:
                mins = self._permute_min(np.concatenate(pending), np.asarray(seg_starts, dtype=np.intp))
                idx = np.asarray(seg_docs, dtype=np.intp)
                out[idx] = np.minimum(out[idx], mins)  # seg_docs has no repeats within one block
            pending, seg_docs, seg_starts, rows = [], [], [], 0

        for i, text in enumerate(texts):
            for chunk in iter_shingle_chunks(text, self.config.ngram, self.config.normalize, encode=True):
                hv = self.hash_shingles(chunk)
                if not seg_docs or seg_docs[-1] != i:
                    seg_docs.append(i)
                    seg_starts.append(rows)
                pending.append(hv)
                rows += len(hv)
                if rows >= _BLOCK_ROWS:
                    flush()
        flush()
        return out

    def _native_signatures(self, texts: list[str], out: np.ndarray) -> np.ndarray:
        """The native scheme over a batch, one compiled call per group of about 2 Mi code points."""
        from filters import minhash_native

        table = minhash_native.fold_table(self.config.normalize)
        ring = np.zeros(self.config.ngram, dtype=np.uint64)
        state = np.zeros(3, dtype=np.uint64)
        for cps, ends, docs, flags in minhash_native.code_point_groups(texts, self.config.normalize):
            minhash_native.sketch(
                cps, ends, docs, flags, table, self._mult, self._a, self._b, out, ring, state
            )
        return out

    def signature(self, text: str) -> np.ndarray:
        """The signature of one text (see signatures for batches, which are faster)."""
        return self.signatures([text])[0]

    def signature_of_shingles(self, shingles: Sequence[str]) -> np.ndarray:
        """The signature of an explicit shingle list (what datasketch.MinHash.update_batch computes).

        native: each shingle is a space-joined n-gram of normalised words (as text_normalize makes).
        """
        sig = self.empty_signature()
        if self.config.scheme == "native":
            for start in range(0, len(shingles), _BLOCK_ROWS):
                block = list(shingles[start : start + _BLOCK_ROWS])
                sig = np.minimum(sig, self.signatures(block).min(axis=0, initial=self.empty_value))
            return sig
        for start in range(0, len(shingles), _BLOCK_ROWS):
            hv = self.hash_shingles(shingles[start : start + _BLOCK_ROWS])
            if len(hv):
                sig = np.minimum(sig, self._permute_min(hv, np.zeros(1, dtype=np.intp))[0])
        return sig

    def is_empty(self, signature: np.ndarray) -> bool:
        """True for the signature of a text without words."""
        return bool(np.all(signature == self.empty_value))

    # --- serialisation (fixed little-endian, so bytes compare across machines) ---------------

    def to_bytes(self, signature: np.ndarray) -> bytes:
        """Portable bytes of a signature (little-endian)."""
        return signature.astype(self.dtype.newbyteorder("<"), copy=False).tobytes()

    def from_bytes(self, data: bytes) -> np.ndarray:
        """Inverse of to_bytes."""
        return np.frombuffer(data, dtype=self.dtype.newbyteorder("<")).astype(self.dtype)


def band_keys(signature: np.ndarray, params: LSHParams) -> list[bytes]:
    """One bucket key per band: 2-byte band index + 8-byte BLAKE2b of the band's values.

    Two signatures share a key iff (up to a 2^-64 hash collision) a whole band is equal, which
    is the LSH candidate rule; 10-byte keys keep the GroupByKey shuffle small.
    """
    sig = np.ascontiguousarray(signature.astype(signature.dtype.newbyteorder("<"), copy=False))
    r = params.rows
    return [
        b.to_bytes(2, "big") + hashlib.blake2b(sig[b * r : (b + 1) * r].tobytes(), digest_size=8).digest()
        for b in range(params.bands)
    ]


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Signature-estimated Jaccard: the share of equal positions (datasketch MinHash.jaccard)."""
    if a.shape != b.shape:
        raise ValueError(f"signatures differ in length: {a.shape} vs {b.shape}")
    return float(np.count_nonzero(a == b)) / float(len(a))
