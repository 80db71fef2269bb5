"""The "native" MinHash scheme: normalisation, word hashing, n-gram hashing and permutations in one
compiled pass (numba, filters/minhash_kernel.py), so a signature costs about as much as reading the
text once. This module holds the Python side (the fold table, the code-point groups) and finds the
compiled kernel (`sketch`) without importing numba when its ahead-of-time build is there.

Why it is fast: the datasketch-compatible path joins every n-gram into a string and SHA-1-hashes
it (n string joins and one C call per shingle, then a numpy broadcast). Here each code point is read
once: a 1.1M-entry table maps it to its folded form (lowercase, digits) or to "word break"
(whitespace, and punctuation/symbols when those are stripped), FNV-1a hashes each word as it
streams by, the last n word hashes are combined arithmetically into the shingle hash, and the
shingle hash goes straight through the affine permutations into the running minimum. No shingle
string or per-shingle array ever exists.

Words are exactly `filters.text_normalize`'s (tested against it): NFKC and the two characters whose
lowercase is context-dependent or longer (U+0130, U+03A3) are handled by Python's str methods
before the table, everything else is a table lookup.
"""

from __future__ import annotations

import re
import sys
import threading
import unicodedata
from collections.abc import Iterator, Sequence
from functools import cache

import numpy as np
import regex

from filters.text_normalize import DEFAULT_CHUNK_CHARS, NormalizeConfig, _text_slices

BREAK = np.uint32(0xFFFFFFFF)  # table value of a word-break code point (no code point is this large)
FIRST, LAST = 1, 2  # piece flags: first / last piece of its text
DEFAULT_GROUP_CHARS = 1 << 21  # code points per compiled call: 8 MiB of UTF-32
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
# Odd 64-bit multipliers, one per n-gram position (the golden ratio stepped by position, then fmix64):
# the shingle hash is fmix64(len + sum_k word_hash[k] * multiplier[k]), order-sensitive and cheap.
_GOLDEN = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1
# Characters whose str.lower() a per-character table cannot express: U+0130 lowers to two code points,
# U+03A3 to a final or medial sigma depending on its neighbours. Texts holding them are lowered by str.
_CONTEXT_LOWER = ("\u0130", "\u03a3")


def _fmix64_int(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _MASK64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _MASK64
    return k ^ (k >> 33)


def position_multipliers(n: int) -> np.ndarray:
    """The n odd multipliers that weight word hashes by their place in the n-gram."""
    return np.array([_fmix64_int((_GOLDEN * (k + 1)) & _MASK64) | 1 for k in range(n)], dtype=np.uint64)


def _lowered_alone(chars: str, block: int = 4096) -> np.ndarray:
    """Each character's str.lower() as a code point where that is one character (else itself), as
    if lowered alone: no final-sigma context. Lowered a block at a time (the only context rule, final
    sigma, cannot fire inside the ordered code points: capital sigma sits between two capitals);
    a block with a character that lowers to several is lowered per character."""
    out = []
    for start in range(0, len(chars), block):
        piece = chars[start : start + block]
        low = piece.lower()
        if len(low) != len(piece):
            low = "".join(lo if len(lo := c.lower()) == 1 else c for c in piece)
        out.append(low)
    return np.frombuffer("".join(out).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).copy()


@cache
def fold_table(config: NormalizeConfig) -> np.ndarray:
    """Code point -> folded code point, or BREAK where `text_normalize` would split words.

    Built once per process and config (about 0.5 s) from the same definitions text_normalize uses:
    str.lower, the regex module's \\p{P}\\p{S} and \\d, and str.isspace (Python's re `\\s`).
    """
    size = sys.maxunicode + 1
    table = np.arange(size, dtype=np.uint32)
    everything = table.tobytes().decode("utf-32-le", "surrogatepass")  # every code point, in order
    if config.lowercase:
        table = _lowered_alone(everything)
    if config.fold_digits:
        digits = [m.start() for m in regex.finditer(r"\d", everything)]
        table[np.isin(table, digits)] = ord("0")
    breaks = np.zeros(size, dtype=bool)
    breaks[[m.start() for m in re.finditer(r"\s", everything)]] = True
    if config.strip_punctuation:
        breaks[[m.start() for m in regex.finditer(r"[\p{P}\p{S}]", everything)]] = True
    table[breaks[table]] = BREAK  # the break test applies to the folded character, as in text_normalize
    return table


def code_point_groups(
    texts: Sequence[str],
    config: NormalizeConfig,
    group_chars: int = DEFAULT_GROUP_CHARS,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Groups of (UTF-32 code points, end offset per piece, text index per piece, piece flags).

    A piece is a normalised slice of one text (text_normalize's slicing, so a huge text is several
    pieces); flags say whether a piece is the first and/or the last of its text (FIRST | LAST). A
    group holds about `group_chars` code points, so memory stays bounded whatever the text sizes.
    NFKC (only where a slice is not already NFKC) and context-dependent lowercase run here; the rest
    of the folding is the table's.
    """
    parts: list[bytes] = []
    ends: list[int] = []
    docs: list[int] = []
    flags: list[int] = []
    total = 0
    for i, text in enumerate(texts):
        first = FIRST
        for piece, last in _pieces(text, config, chunk_chars):
            data = piece.encode("utf-32-le", "surrogatepass")
            parts.append(data)
            total += len(data) // 4
            ends.append(total)
            docs.append(i)
            flags.append(first | (LAST if last else 0))
            first = 0
            if total >= group_chars:
                yield _group(parts, ends, docs, flags)
                parts, ends, docs, flags, total = [], [], [], [], 0
    if parts:
        yield _group(parts, ends, docs, flags)


def _group(parts: list[bytes], ends: list[int], docs: list[int], flags: list[int]):
    return (
        np.frombuffer(b"".join(parts), dtype="<u4"),
        np.asarray(ends, dtype=np.int64),
        np.asarray(docs, dtype=np.int64),
        np.asarray(flags, dtype=np.uint8),
    )


def _pieces(text: str, config: NormalizeConfig, chunk_chars: int) -> Iterator[tuple[str, bool]]:
    """(normalised slice, is it the last) for one text; an empty text is one empty piece."""
    if len(text) <= chunk_chars:
        yield _prenormalize(text, config), True
        return
    slices = _text_slices(text, chunk_chars, config.strip_punctuation)
    piece = next(slices)
    for following in slices:
        yield _prenormalize(piece, config), False
        piece = following
    yield _prenormalize(piece, config), True


def _prenormalize(piece: str, config: NormalizeConfig) -> str:
    if config.nfkc and not unicodedata.is_normalized("NFKC", piece):
        piece = unicodedata.normalize("NFKC", piece)
    if config.lowercase and any(c in piece for c in _CONTEXT_LOWER):
        piece = piece.lower()
    return piece


def sketch(cps, piece_end, piece_doc, piece_flags, table, mult, a, b, out, ring, state):
    """Fold each piece's word n-grams into out[doc] (filters/minhash_kernel.py has the definition)."""
    args = (cps, piece_end, piece_doc, piece_flags, table, mult, a, b, out, ring, state)
    if _fits_the_build(args):
        return compiled_sketch()(*args)
    # The ahead-of-time build reads its arrays as C-contiguous of exactly its types, unchecked;
    # anything else goes to the JIT, which specialises on what it gets.
    from filters.minhash_kernel import sketch as jit_sketch

    return jit_sketch(*args)


KERNEL_ARGS = (
    (np.uint32, 1),
    (np.int64, 1),
    (np.int64, 1),
    (np.uint8, 1),
    (np.uint32, 1),
    (np.uint64, 1),
    (np.uint32, 1),
    (np.uint32, 1),
    (np.uint32, 2),
    (np.uint64, 1),
    (np.uint64, 1),
)
"""(dtype, ndim) of each sketch argument in the ahead-of-time build, all C-contiguous (a strided
layout would keep LLVM from vectorising the permutation loop); the result is the `out` array (8)."""

_NUMBA_CODES = {np.uint8: "u1", np.uint32: "u4", np.int64: "i8", np.uint64: "u8"}


def kernel_signature() -> str:
    """KERNEL_ARGS as numba's signature string, e.g. "u4[:,::1](u4[::1], ...)"."""

    def array(dtype: type, ndim: int) -> str:
        return _NUMBA_CODES[dtype] + "[" + ":," * (ndim - 1) + "::1]"

    return f"{array(*KERNEL_ARGS[8])}({', '.join(array(*arg) for arg in KERNEL_ARGS)})"


def _fits_the_build(args: tuple) -> bool:
    return (
        all(
            isinstance(x, np.ndarray) and x.dtype == dtype and x.ndim == ndim and x.flags.c_contiguous
            for x, (dtype, ndim) in zip(args, KERNEL_ARGS, strict=True)
        )
        and args[8].flags.writeable
    )


_KERNEL_LOCK = threading.Lock()


@cache
def _compiled_sketch():
    from filters import minhash_kernel_aot

    module = minhash_kernel_aot.load_or_build(minhash_kernel_aot.default_path())
    if module is not None:
        return module.sketch
    from filters.minhash_kernel import sketch as jit_sketch

    return jit_sketch


def compiled_sketch():
    """The kernel of this process: its ahead-of-time build (a small extension module, loaded without
    numba, so no JIT start-up: about 0.5 CPU-s and 100 MB less per process), built once per machine
    and kernel version into the cache folder; numba's JIT if that build cannot be made or loaded."""
    with _KERNEL_LOCK:  # one build, whichever thread asks first
        return _compiled_sketch()
