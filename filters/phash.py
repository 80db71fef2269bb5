"""Perceptual hash (pHash) of images, for near-duplicate image removal (MMC4 used pHash).

The classic DCT hash: grayscale, 32x32, 2-D DCT, the 8x8 lowest frequencies compared with their
median -> 64 bits. Written here (a dozen lines on scipy) rather than adding `imagehash` and its
PyWavelets dependency for one function; it matches imagehash.phash's definition.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

HASH_BITS = 64


def phash(image: Image.Image, hash_size: int = 8, highfreq_factor: int = 4) -> int:
    """The 64-bit pHash of an image as an int."""
    from scipy.fft import dct  # ~0.3 s to import: only runs that look for near-duplicates pay it

    size = hash_size * highfreq_factor
    pixels = np.asarray(image.convert("L").resize((size, size), Image.Resampling.LANCZOS), dtype=np.float64)
    freq = dct(dct(pixels, axis=0, norm="ortho"), axis=1, norm="ortho")[:hash_size, :hash_size]
    bits = (freq > np.median(freq)).flatten()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def hash_chunks(h: int, max_distance: int) -> list[tuple[int, int]]:
    """(chunk index, chunk value) for `max_distance + 1` chunks of the hash.

    Two hashes within `max_distance` bits agree on at least one whole chunk (pigeonhole), so
    grouping by chunk finds every candidate pair without comparing all pairs.
    """
    n = max_distance + 1
    bounds = [round(i * HASH_BITS / n) for i in range(n + 1)]
    return [
        (i, (h >> (HASH_BITS - hi)) & ((1 << (hi - lo)) - 1))
        for i, (lo, hi) in enumerate(zip(bounds, bounds[1:], strict=False))
    ]
