"""Items -> rows (Examples) -> micro-batches, one builder per stream kind.

`batch(pull, budget)` returns one micro-batch's rows, pulling items as needed, with rows x longest
row <= budget (fairseq's max_tokens). Documents (text, interleaved) are packed into rows of
`max_len`; short rows (captions, instructions) are bucketed by length, so little of a micro-batch
is padding. An item whose image does not decode is skipped and counted. Builder state names
items by reference, so restoring re-reads and re-tokenizes them instead of storing tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from kosmos_train.data.corpus import stable_hash
from kosmos_train.data.images import load_image
from kosmos_train.data.sequences import (
    Example,
    image_block,
    image_text_sequence,
    instruction_sequence,
    text_loss,
    text_units,
)
from kosmos_train.data.sources import Item, SkipLog
from kosmos_train.tokenizer import Tokenizer

Pull = Callable[[], tuple[int, Item]]
Fetch = Callable[[int, tuple[int, int, int]], Item]
IMAGE_ERRORS = (
    UnidentifiedImageError,
    OSError,
    ValueError,
    SyntaxError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
    MemoryError,
)


class Builder:
    """Turns pulled items into rows; `batch` returns one micro-batch's rows under a padded budget."""

    def __init__(
        self,
        tok: Tokenizer,
        max_len: int,
        image_tokens: int,
        image_size: int,
        skips: SkipLog,
        max_images: int = 5,
        bucket_pool: int = 8,
    ) -> None:
        self.tok, self.vocab = tok, tok.layout
        self.bucket_pool = bucket_pool
        self.max_len, self.image_tokens, self.image_size = max_len, image_tokens, image_size
        self.skips, self.max_images = skips, max_images

    def next(self, pull: Pull) -> Example:
        raise NotImplementedError

    def batch(self, pull: Pull, budget: int) -> list[Example]:
        """Rows whose padded size (rows x longest row) is at most `budget`.

        Packed rows are never longer than `max_len` (which the stream caps at the budget), so
        `budget // max_len` of them always fit.
        """
        return [self.next(pull) for _ in range(max(1, budget // self.max_len))]

    def state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any], fetch: Fetch) -> None:
        pass


class TextPacker(Builder):
    """Full-sentence packing: whole `line </line>` units from one or more documents per row."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.doc: tuple[int, tuple[int, int, int]] | None = None  # (source, ref) of the open document
        self.units: list[list[int]] = []
        self.pos = 0
        self.key = ""

    def _open(self, source: int, item: Item) -> None:
        lines = [line for line in item.sample.text.splitlines() if line.strip()]
        self.units = text_units(self.tok.encode_batch(lines), self.vocab, self.max_len)
        self.doc, self.pos, self.key = (source, item.ref), 0, item.key

    def next(self, pull: Pull) -> Example:
        row: list[int] = []
        keys: list[str] = []
        while True:
            if self.pos >= len(self.units):
                self._open(*pull())
                continue
            unit = self.units[self.pos]
            if len(row) + len(unit) > self.max_len:
                return Example(row, text_loss(row, self.vocab), keys=keys)
            row += unit
            self.pos += 1
            if not keys or keys[-1] != self.key:
                keys.append(self.key)

    def state(self) -> dict[str, Any]:
        if self.doc is None or self.pos >= len(self.units):
            return {"doc": None, "pos": 0}
        return {"doc": [self.doc[0], list(self.doc[1])], "pos": self.pos}

    def load_state(self, state: dict[str, Any], fetch: Fetch) -> None:
        if state["doc"] is None:
            self.doc, self.units, self.pos = None, [], 0
            return
        source, ref = state["doc"][0], tuple(state["doc"][1])
        self._open(source, fetch(source, ref))  # type: ignore[arg-type]
        self.pos = state["pos"]


@dataclass
class Piece:
    """A run of an interleaved document: text (may be split across rows) or one image block (whole)."""

    ids: list[int]
    loss: bool
    image: np.ndarray | None = None


class InterleavedPacker(Builder):
    """Interleaved documents packed like text: one after another, rows filled to `max_len`.

    A document is `<s> paragraph <image> [slots] </image> ... </s>`; a row may end inside a paragraph
    (its rest opens the next row) but never inside an image block (a block that does not fit opens
    the next row). Images past `max_images` per document are dropped, their text kept.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if len(image_block(self.vocab, self.image_tokens)) > self.max_len:
            raise ValueError(
                f"max_len {self.max_len} cannot hold an image block of {self.image_tokens} tokens"
            )
        self.doc: tuple[int, tuple[int, int, int]] | None = None
        self.pieces: list[Piece] = []
        self.pos, self.offset, self.key = 0, 0, ""

    def _open(self, source: int, item: Item) -> bool:
        """Make `item` the open document; False (reported) when one of its images does not decode."""
        doc = item.sample
        texts = [t for t in doc.texts if t is not None]
        encoded = iter(self.tok.encode_batch(texts))
        block = image_block(self.vocab, self.image_tokens)
        pieces, n_image, used = [Piece([self.vocab.bos], False)], -1, 0
        stored = doc.stored_images
        try:
            for t in doc.texts:
                if t is not None:
                    pieces.append(Piece(next(encoded), True))
                    continue
                n_image += 1
                if used < self.max_images:
                    pieces.append(Piece(block, False, load_image(stored[n_image].data, self.image_size)))
                    used += 1
        except IMAGE_ERRORS as e:
            self.skips.report(item.url, item.key, f"an image does not decode: {type(e).__name__}: {e}")
            return False
        pieces.append(Piece([self.vocab.eos], True))
        self.doc, self.pieces, self.pos, self.offset, self.key = (source, item.ref), pieces, 0, 0, item.key
        return True

    def next(self, pull: Pull) -> Example:
        ids: list[int] = []
        loss: list[bool] = []
        images: list[np.ndarray] = []
        keys: list[str] = []
        while len(ids) < self.max_len:
            if self.pos >= len(self.pieces):
                self.pieces = []
                while not self._open(*pull()):
                    pass
                continue
            piece, room = self.pieces[self.pos], self.max_len - len(ids)
            if piece.image is not None:
                if len(piece.ids) > room:
                    break
                take = piece.ids
                images.append(piece.image)
            else:
                take = piece.ids[self.offset : self.offset + room]
            ids += take
            loss += [piece.loss] * len(take)
            self.offset += len(take)
            if self.offset >= len(piece.ids):
                self.pos, self.offset = self.pos + 1, 0
            if not keys or keys[-1] != self.key:
                keys.append(self.key)
        return Example(ids, loss, images, keys)

    def state(self) -> dict[str, Any]:
        if self.doc is None or self.pos >= len(self.pieces):
            return {"doc": None}
        return {"doc": [self.doc[0], list(self.doc[1])], "pos": self.pos, "offset": self.offset}

    def load_state(self, state: dict[str, Any], fetch: Fetch) -> None:
        self.doc, self.pieces, self.pos, self.offset = None, [], 0, 0
        if state["doc"] is None:
            return
        source, ref = state["doc"][0], tuple(state["doc"][1])
        if self._open(source, fetch(source, ref)):  # type: ignore[arg-type]
            self.pos, self.offset = state["pos"], state["offset"]


class BucketedBuilder(Builder):
    """One item per row, rows of similar length batched together (short rows, e.g. captions).

    Items are pulled into a pool of about `bucket_pool` micro-batches' worth of tokens, sorted by
    row length, and cut into micro-batches whose padded size stays within the budget; the pool's
    last, partial group waits for the next pool. `bucket_pool=0` keeps the pull order (no
    bucketing). The state is the references of the pooled items (re-read on restore), so resume
    stays exact.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ready: list[list[tuple[int, Item]]] = []  # micro-batches waiting to be emitted
        self.carry: list[tuple[int, Item]] = []  # the partial group that waits for the next pool

    def length(self, item: Item) -> int:
        raise NotImplementedError

    def example(self, item: Item) -> Example | None:
        """The row of one item, or None (reported) when it cannot be used."""
        raise NotImplementedError

    def next(self, pull: Pull) -> Example:
        while True:
            e = self.example(pull()[1])
            if e is not None:
                return e

    def batch(self, pull: Pull, budget: int) -> list[Example]:
        while True:
            if not self.ready:
                self._fill(pull, budget)
            rows = [e for e in (self.example(item) for _, item in self.ready.pop(0)) if e is not None]
            if rows:
                return rows

    def _fill(self, pull: Pull, budget: int) -> None:
        pool = [(self.length(item), source, item) for source, item in self.carry]
        tokens = sum(n for n, _, _ in pool)
        while tokens < max(1, self.bucket_pool) * budget:
            source, item = pull()
            pool.append((self.length(item), source, item))
            tokens += pool[-1][0]
        if self.bucket_pool:
            pool.sort(key=lambda entry: entry[0])  # stable: equal lengths keep their pull order
        groups: list[list[tuple[int, Item]]] = [[]]
        longest = 0
        for n, source, item in pool:
            if groups[-1] and (len(groups[-1]) + 1) * max(longest, n) > budget:
                groups.append([])
                longest = 0
            groups[-1].append((source, item))
            longest = max(longest, n)
        self.carry = groups.pop() if len(groups) > 1 else []
        self.ready = groups
        if self.bucket_pool:  # spread short and long micro-batches over the steps (no RNG state needed)
            self.ready = sorted(groups, key=lambda g: stable_hash(g[0][1].key + g[-1][1].key))

    def state(self) -> dict[str, Any]:
        refs = lambda group: [[s, list(i.ref)] for s, i in group]  # noqa: E731
        return {"ready": [refs(g) for g in self.ready], "carry": refs(self.carry)}

    def load_state(self, state: dict[str, Any], fetch: Fetch) -> None:
        items = lambda group: [(s, fetch(s, tuple(r))) for s, r in group]  # noqa: E731
        self.ready = [items(g) for g in state["ready"]]
        self.carry = items(state["carry"])


class CaptionBuilder(BucketedBuilder):
    def _head(self) -> int:
        return 1 + len(image_block(self.vocab, self.image_tokens))

    def length(self, item: Item) -> int:
        return min(self._head() + len(self.tok.encode(item.sample.caption)) + 1, self.max_len)

    def example(self, item: Item) -> Example | None:
        try:
            pixels = load_image(item.sample.image, self.image_size)
        except IMAGE_ERRORS as e:
            self.skips.report(item.url, item.key, f"image does not decode: {type(e).__name__}: {e}")
            return None
        ids, loss = image_text_sequence(
            self.tok.encode(item.sample.caption), self.vocab, self.image_tokens, self.max_len
        )
        return Example(ids, loss, [pixels], [item.key])


class InstructionBuilder(BucketedBuilder):
    def _encode(self, item: Item) -> tuple[list[int], list[bool]]:
        row, enc = item.sample, self.tok.encode
        return instruction_sequence(
            enc(row["instruction"]), enc(row.get("input", "")), enc(row["output"]), self.vocab, self.max_len
        )

    def length(self, item: Item) -> int:
        return len(self._encode(item)[0])

    def example(self, item: Item) -> Example | None:
        ids, loss = self._encode(item)
        return Example(ids, loss, keys=[item.key])


BUILDERS: dict[str, type[Builder]] = {
    "text": TextPacker,
    "image_text": CaptionBuilder,
    "interleaved": InterleavedPacker,
    "instruction": InstructionBuilder,
}
