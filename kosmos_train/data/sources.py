"""Items of one source for one reader slot: split without duplicates, shuffled, endless, resumable.

A *reader slot* is one (rank, dataloader worker) pair; there are `n_reader_slots = world_size x
num_workers` of them. Each epoch the source's shards are permuted (same permutation everywhere,
seeded by the epoch) and reader slot s takes shards s, s + S, s + 2S, ...; when there are fewer
shards than reader slots every slot reads every shard and keeps sample i when (i + epoch) % S == s.
Either way each sample goes to exactly one reader slot per epoch.

The state is small and exact: the read position (epoch, shard, index), the references of the
samples in the shuffle buffer and the RNG state. Restoring re-reads those few samples from their
shards; nothing is pickled.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from kosmos_train.data.corpus import DataError, ShardSet, stable_hash

log = logging.getLogger(__name__)

Ref = tuple[int, int, int]  # (epoch, position in the reader slot's shard list, index within the shard)


@dataclass
class Item:
    ref: Ref
    url: str
    key: str
    sample: Any  # a schemas sample, or a dict for instruction rows


class SkipLog:
    """Counts corrupt samples and logs each with its shard and key."""

    def __init__(self, stream: str, count: int = 0) -> None:
        self.stream = stream
        self.count = count
        self.last: str | None = None

    def report(self, url: str, key: str, reason: object) -> None:
        self.count += 1
        self.last = f"{url} key {key or '?'}: {reason}"
        log.warning("%s stream: skipped a corrupt sample (%d so far): %s", self.stream, self.count, self.last)


def rng_state(rng: random.Random) -> list:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def set_rng_state(rng: random.Random, state: list) -> None:
    rng.setstate((state[0], tuple(state[1]), state[2]))


class SourceReader:
    def __init__(
        self,
        shards: ShardSet,
        reader_slot: int,
        n_reader_slots: int,
        seed: int,
        shuffle_buffer: int,
        skips: SkipLog,
        state: dict | None = None,
    ) -> None:
        self.shards, self.seed = shards, seed
        self.reader_slot, self.n_reader_slots = reader_slot, n_reader_slots
        self.buffer_size = max(1, shuffle_buffer)
        self.skips = skips
        self.rng = random.Random(stable_hash(f"{seed}/{shards.name}/{reader_slot}/{n_reader_slots}"))
        self.pos: Ref = (0, 0, 0)
        self.buffer: list[Item] = []
        self._raw: Iterator[Item] | None = None
        if state is not None:
            self.load_state(state)

    # -- the split ------------------------------------------------------------------------------
    def assignment(self, epoch: int) -> tuple[list[int], bool]:
        """(shard indices this reader slot reads in `epoch`, whether samples are split by index instead)."""
        n = len(self.shards.urls)
        order = (
            np.random.default_rng([self.seed, epoch, stable_hash(self.shards.name)]).permutation(n).tolist()
        )
        if n >= self.n_reader_slots:
            return order[self.reader_slot :: self.n_reader_slots], False
        return order, True

    def _keep(self, epoch: int, by_index: bool):
        if not by_index:
            return None
        return lambda i: (i + epoch) % self.n_reader_slots == self.reader_slot

    def _read(self) -> Iterator[Item]:
        """Items from `self.pos` on, endlessly; error items are reported here and not passed on."""
        epoch, shard_pos, start = self.pos
        barren_epochs = 0
        while True:
            shards, by_index = self.assignment(epoch)
            found = False
            while shard_pos < len(shards):
                url = self.shards.urls[shards[shard_pos]]
                for index, key, sample in self.shards.items(url, start, self._keep(epoch, by_index)):
                    self.pos = (epoch, shard_pos, index + 1)
                    if isinstance(sample, Exception):
                        self.skips.report(url, key, sample)
                        continue
                    found = True
                    yield Item((epoch, shard_pos, index), url, key, sample)
                shard_pos, start = shard_pos + 1, 0
                self.pos = (epoch, shard_pos, 0)
            barren_epochs = 0 if found else barren_epochs + 1
            if barren_epochs >= 2:
                raise DataError(
                    f"{self.shards.name}: reader slot {self.reader_slot} of {self.n_reader_slots} found no readable "
                    "sample in a "
                    "whole epoch (too few samples for this many ranks x workers, or every sample is corrupt)"
                )
            epoch, shard_pos, start = epoch + 1, 0, 0
            self.pos = (epoch, 0, 0)

    def next(self) -> Item:
        """The next item in shuffled order (a buffer of `shuffle_buffer` items, random pick)."""
        if self._raw is None:
            self._raw = self._read()
        while len(self.buffer) < self.buffer_size:
            self.buffer.append(next(self._raw))
        j = self.rng.randrange(len(self.buffer))
        item = self.buffer[j]
        self.buffer[j] = self.buffer[-1]
        self.buffer.pop()
        return item

    # -- state ----------------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "pos": list(self.pos),
            "buffer": [list(i.ref) for i in self.buffer],
            "rng": rng_state(self.rng),
        }

    def load_state(self, state: dict) -> None:
        self.pos = tuple(state["pos"])  # type: ignore[assignment]
        set_rng_state(self.rng, state["rng"])
        refs = [tuple(r) for r in state["buffer"]]
        self.buffer = self.fetch(refs)  # type: ignore[arg-type]
        self._raw = None

    def fetch(self, refs: list[Ref]) -> list[Item]:
        """Re-read the items at `refs` (in that order) from their shards."""
        found: dict[Ref, Item] = {}
        wanted: dict[tuple[int, int], set[int]] = {}
        for e, s, i in refs:
            wanted.setdefault((e, s), set()).add(i)
        for (epoch, shard_pos), indices in wanted.items():
            url = self.shards.urls[self.assignment(epoch)[0][shard_pos]]
            for index, key, sample in self.shards.items(url, min(indices), indices.__contains__):
                if not isinstance(sample, Exception):
                    found[(epoch, shard_pos, index)] = Item((epoch, shard_pos, index), url, key, sample)
        missing = [r for r in refs if r not in found]
        if missing:
            raise DataError(
                f"{self.shards.name}: samples {missing[:3]} of the saved data state are gone; "
                "the corpus changed since the checkpoint"
            )
        return [found[r] for r in refs]


class Mixture:
    """Several sources of one kind, drawn from by weight (per-source weights within a stream)."""

    def __init__(
        self,
        readers: list[SourceReader],
        weights: list[float],
        seed: int,
        reader_slot: int,
        state: dict | None = None,
    ) -> None:
        self.readers, self.weights = readers, weights
        self.rng = random.Random(stable_hash(f"{seed}/mix/{reader_slot}"))
        if state is not None:
            set_rng_state(self.rng, state["rng"])
            for reader, s in zip(readers, state["sources"], strict=True):
                reader.load_state(s)

    def next(self) -> tuple[int, Item]:
        """(index of the source, item)."""
        k = 0 if len(self.readers) == 1 else self.rng.choices(range(len(self.readers)), self.weights)[0]
        return k, self.readers[k].next()

    def state(self) -> dict:
        return {"rng": rng_state(self.rng), "sources": [r.state() for r in self.readers]}
