"""A training stream: micro-batches of one kind, built in dataloader workers, resumable exactly.

A micro-batch's padded size (rows x longest row) never exceeds `micro_batch_tokens` (fairseq's
max_tokens), whatever the length distribution: documents are packed into rows of at most that
length, short rows are bucketed by length (data/builders.py). Every batch carries the state of
the worker that built it *after* building it; `StreamLoader` keeps the state of the last batch
the trainer actually consumed from each worker (prefetched batches do not count), plus which
worker is next. A restored loader maps physical workers onto those logical workers so the batch
order continues exactly where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from kosmos_train.data.builders import BUILDERS, Builder
from kosmos_train.data.corpus import DataError, StreamSpec, open_source, stable_hash
from kosmos_train.data.sequences import Example
from kosmos_train.data.sources import Mixture, SkipLog, SourceReader
from kosmos_train.tokenizer import Tokenizer

STATE_VERSION = 2


@dataclass
class Batch:
    """One padded micro-batch of one stream."""

    stream: str
    input_ids: torch.Tensor  # (B, T) long, right-padded with <pad>
    loss_mask: torch.Tensor  # (B, T) bool: token t is a target
    slot_mask: torch.Tensor  # (B, T) bool: image slots
    images: torch.Tensor  # (N, 3, S, S) uint8, in order of appearance; N may be 0
    n_tokens: int  # non-pad positions, image slots included
    keys: list[str] = field(default_factory=list)
    worker: int = 0  # logical worker that built it
    state: dict[str, Any] | None = None  # that worker's state after building it
    skipped: int = 0  # corrupt samples that worker has skipped so far
    last_skip: str | None = None
    # Flat positions (r * T + t), computed in the worker so the trainer never synchronises on masks:
    slot_index: torch.Tensor | None = None  # image slots, in order of appearance
    predict_index: torch.Tensor | None = None  # positions whose next token is a target
    target_index: torch.Tensor | None = None  # those targets (predict_index + 1)

    @property
    def padded_positions(self) -> int:
        return int(self.input_ids.numel())

    def pin_memory(self) -> Batch:
        """Page-locked tensors (the DataLoader calls this with pin_memory=True): asynchronous copies."""
        for name in (
            "input_ids",
            "loss_mask",
            "slot_mask",
            "images",
            "slot_index",
            "predict_index",
            "target_index",
        ):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value.pin_memory())
        return self

    @property
    def n_images(self) -> int:
        return int(self.images.shape[0])

    @property
    def n_loss_tokens(self) -> int:
        return int(self.loss_mask[:, 1:].sum())


def batch_indices(slot_mask: Tensor, loss_mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(flat image-slot positions, flat positions that predict a target, the flat target positions).

    Position (r, t) of a (B, T) batch is r * T + t; position t predicts token t + 1.
    """
    b, t = loss_mask.shape
    slots = slot_mask.reshape(-1).nonzero().flatten()
    take = loss_mask[:, 1:].nonzero()
    predict = take[:, 0] * t + take[:, 1]
    return slots, predict, predict + 1


def collate(
    stream: str, examples: list[Example], pad: int, image_id: int, image_tokens: int, image_size: int
) -> Batch:
    width = max(len(e.ids) for e in examples)
    ids = torch.full((len(examples), width), pad, dtype=torch.long)
    loss = torch.zeros((len(examples), width), dtype=torch.bool)
    slots = torch.zeros((len(examples), width), dtype=torch.bool)
    images = []
    for r, e in enumerate(examples):
        row = torch.tensor(e.ids, dtype=torch.long)
        ids[r, : len(e.ids)] = row
        loss[r, : len(e.ids)] = torch.tensor(e.loss, dtype=torch.bool)
        for c in (row == image_id).nonzero().flatten().tolist():  # the builders place every <image>
            slots[r, c + 1 : c + 1 + image_tokens] = True
        images += [torch.from_numpy(p) for p in e.images]
    pixels = torch.stack(images) if images else torch.zeros((0, 3, image_size, image_size), dtype=torch.uint8)
    keys = [k for e in examples for k in e.keys]
    batch = Batch(stream, ids, loss, slots, pixels, sum(len(e.ids) for e in examples), keys)
    batch.slot_index, batch.predict_index, batch.target_index = batch_indices(slots, loss)
    return batch


class WorkerPipeline:
    """Everything one reader slot runs: sources -> mixture -> builder -> token-budget batches."""

    def __init__(
        self,
        spec: StreamSpec,
        tokenizer_path: str,
        image_tokens: int,
        image_size: int,
        reader_slot: int,
        n_reader_slots: int,
        seed: int,
        state: dict | None,
    ) -> None:
        self.spec = spec
        self.tok = Tokenizer(tokenizer_path)
        self.skips = SkipLog(spec.kind, state["skipped"] if state else 0)
        readers = [
            SourceReader(open_source(s), reader_slot, n_reader_slots, seed, spec.shuffle_buffer, self.skips)
            for s in spec.sources
        ]
        self.mixture = Mixture(
            readers, [s.weight for s in spec.sources], seed, reader_slot, state["mixture"] if state else None
        )
        row_len = min(spec.max_len, spec.micro_batch_tokens)  # one row always fits the budget
        self.builder: Builder = BUILDERS[spec.kind](
            self.tok, row_len, image_tokens, image_size, self.skips, spec.max_images, spec.bucket_pool
        )
        if state:
            self.builder.load_state(state["builder"], lambda k, ref: self.mixture.readers[k].fetch([ref])[0])
        self.image_tokens, self.image_size = image_tokens, image_size

    def next_batch(self) -> Batch:
        examples = self.builder.batch(self.mixture.next, self.spec.micro_batch_tokens)
        v = self.tok.layout
        batch = collate(self.spec.kind, examples, v.pad, v.image, self.image_tokens, self.image_size)
        batch.state = self.state()
        batch.skipped, batch.last_skip = self.skips.count, self.skips.last
        return batch

    def state(self) -> dict:
        return {"mixture": self.mixture.state(), "builder": self.builder.state(), "skipped": self.skips.count}


class Stream(IterableDataset):
    """Endless micro-batches of one stream for one rank; splits itself over dataloader workers."""

    def __init__(
        self,
        spec: StreamSpec,
        tokenizer_path: str,
        image_tokens: int,
        image_size: int,
        rank: int = 0,
        world_size: int = 1,
        num_workers: int = 0,
        seed: int = 0,
        worker_states: dict[int, dict] | None = None,
        worker_offset: int = 0,
    ) -> None:
        super().__init__()
        self.spec, self.tokenizer_path = spec, tokenizer_path
        self.image_tokens, self.image_size = image_tokens, image_size
        self.rank, self.world_size, self.workers = rank, world_size, max(1, num_workers)
        self.seed, self.worker_states, self.worker_offset = seed, worker_states or {}, worker_offset

    def pipeline(self, logical: int) -> WorkerPipeline:
        reader_slot = self.rank * self.workers + logical
        return WorkerPipeline(
            self.spec,
            self.tokenizer_path,
            self.image_tokens,
            self.image_size,
            reader_slot,
            self.world_size * self.workers,
            self.seed,
            self.worker_states.get(logical),
        )

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        physical = info.id if info is not None else 0
        logical = (physical + self.worker_offset) % self.workers
        pipe = self.pipeline(logical)
        while True:
            batch = pipe.next_batch()
            batch.worker = logical
            yield batch


def _identity(batch: Batch) -> Batch:
    return batch


class StreamLoader:
    """The trainer's side of a stream: a DataLoader over it and the state of what was consumed."""

    def __init__(
        self,
        spec: StreamSpec,
        tokenizer_path: str,
        image_tokens: int,
        image_size: int,
        rank: int,
        world_size: int,
        num_workers: int,
        seed: int,
        state: dict | None = None,
        pin_memory: bool = False,
    ) -> None:
        for source in spec.sources:  # start-up checks in the main process: clear errors before any worker
            open_source(source)
        self.spec, self.num_workers = spec, num_workers
        self.workers = max(1, num_workers)
        self.states: dict[int, dict] = {}
        self.next_worker = 0
        self.skipped: dict[int, int] = {}
        self.last_skip: str | None = None
        if state is not None:
            if state.get("version") != STATE_VERSION:
                raise DataError(
                    f"{spec.kind} stream: the saved data state has layout version {state.get('version')}, this "
                    f"trainer writes {STATE_VERSION} (rows are now packed / bucketed); start a new run directory"
                )
            if state["workers"] != self.workers or state["world_size"] != world_size:
                raise DataError(
                    f"{spec.kind} stream: the saved data state is for {state.get('world_size')} ranks x "
                    f"{state.get('workers')} workers; this run has {world_size} x {self.workers}. Resume with the same "
                    "world size and --num-workers for an exact continuation."
                )
            self.states = {int(k): v for k, v in state["states"].items()}
            self.next_worker = state["next_worker"]
            self.skipped = {int(k): v["skipped"] for k, v in self.states.items()}
        dataset = Stream(
            spec,
            tokenizer_path,
            image_tokens,
            image_size,
            rank,
            world_size,
            num_workers,
            seed,
            self.states,
            self.next_worker,
        )
        self.loader = DataLoader(
            dataset,
            batch_size=None,
            num_workers=num_workers,
            collate_fn=_identity,
            persistent_workers=num_workers > 0,
            prefetch_factor=4 if num_workers else None,
            pin_memory=pin_memory,
            # Its own generator: creating the iterator must not draw from the global RNG (dropout's).
            generator=torch.Generator().manual_seed(stable_hash(f"{seed}/loader/{spec.kind}/{rank}")),
        )
        self._it: Iterator[Batch] | None = None
        self.world_size = world_size
        self.wait_s = 0.0

    def next(self) -> Batch:
        t = time.perf_counter()
        if self._it is None:
            self._it = iter(self.loader)
        batch = next(self._it)
        self.wait_s += time.perf_counter() - t
        assert batch.state is not None
        self.states[batch.worker] = batch.state
        self.next_worker = (batch.worker + 1) % self.workers
        self.skipped[batch.worker] = batch.skipped
        if batch.last_skip:
            self.last_skip = batch.last_skip
        batch.state = None
        return batch

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    def state(self) -> dict:
        return {
            "version": STATE_VERSION,
            "kind": self.spec.kind,
            "world_size": self.world_size,
            "workers": self.workers,
            "next_worker": self.next_worker,
            "states": {str(k): v for k, v in sorted(self.states.items())},
        }
