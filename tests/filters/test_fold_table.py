"""The vectorised fold table equals the per-character construction it replaced, for every config."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
import regex

from filters.minhash_native import BREAK, fold_table
from filters.text_normalize import NormalizeConfig


def _per_character_table(config: NormalizeConfig) -> np.ndarray:
    """The first construction: every code point lowered alone, in Python."""
    size = sys.maxunicode + 1
    table = np.arange(size, dtype=np.uint32)
    everything = "".join(map(chr, range(size)))
    if config.lowercase:
        lowered = ["\0", *"\0".join(everything[1:]).lower().split("\0")]
        changed = [cp for cp, low in enumerate(lowered) if len(low) == 1 and low != everything[cp]]
        table[changed] = [ord(lowered[cp]) for cp in changed]
    if config.fold_digits:
        digits = [m.start() for m in regex.finditer(r"\d", everything)]
        table[np.isin(table, digits)] = ord("0")
    breaks = np.zeros(size, dtype=bool)
    breaks[[m.start() for m in re.finditer(r"\s", everything)]] = True
    if config.strip_punctuation:
        breaks[[m.start() for m in regex.finditer(r"[\p{P}\p{S}]", everything)]] = True
    table[breaks[table]] = BREAK
    return table


@pytest.mark.parametrize(
    "config",
    [
        NormalizeConfig(),
        NormalizeConfig(lowercase=False),
        NormalizeConfig(fold_digits=True, strip_punctuation=False),
    ],
)
def test_fold_table_equals_the_per_character_construction(config: NormalizeConfig) -> None:
    lowercase = config.lowercase
    fast = fold_table(config)
    assert fast.dtype == np.uint32 and fast.shape == (sys.maxunicode + 1,)
    assert np.array_equal(fast, _per_character_table(config))
    assert bool(fast[ord("A")] == ord("a")) is lowercase and fast[0x3A3] == (0x3C3 if lowercase else 0x3A3)
