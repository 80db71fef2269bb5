"""Items -> Examples, one builder per stream kind.

`next(pull)` returns the next example, pulling items as needed; an item whose image does not
decode is skipped and counted. Only the text packer carries state between examples (the
document it is in the middle of); its state names that document by reference, so restoring
re-reads and re-tokenizes it instead of storing tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PIL import Image, UnidentifiedImageError

from kosmos_train.data.images import load_image
from kosmos_train.data.sequences import (
    IMAGE,
    Example,
    image_text_sequence,
    instruction_sequence,
    interleaved_sequence,
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
    def __init__(
        self,
        tok: Tokenizer,
        max_len: int,
        image_tokens: int,
        image_size: int,
        skips: SkipLog,
        max_images: int = 5,
    ) -> None:
        self.tok, self.vocab = tok, tok.layout
        self.max_len, self.image_tokens, self.image_size = max_len, image_tokens, image_size
        self.skips, self.max_images = skips, max_images

    def next(self, pull: Pull) -> Example:
        raise NotImplementedError

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


class CaptionBuilder(Builder):
    def next(self, pull: Pull) -> Example:
        while True:
            _, item = pull()
            try:
                pixels = load_image(item.sample.image, self.image_size)
            except IMAGE_ERRORS as e:
                self.skips.report(item.url, item.key, f"image does not decode: {type(e).__name__}: {e}")
                continue
            ids, loss = image_text_sequence(
                self.tok.encode(item.sample.caption), self.vocab, self.image_tokens, self.max_len
            )
            return Example(ids, loss, [pixels], [item.key])


class InterleavedBuilder(Builder):
    def next(self, pull: Pull) -> Example:
        while True:
            _, item = pull()
            doc = item.sample
            texts = [t for t in doc.texts if t is not None]
            encoded = iter(self.tok.encode_batch(texts))
            nodes = [IMAGE if t is None else next(encoded) for t in doc.texts]
            ids, loss, used = interleaved_sequence(
                nodes, self.vocab, self.image_tokens, self.max_len, self.max_images
            )
            stored = doc.stored_images
            try:
                pixels = [load_image(stored[i].data, self.image_size) for i in used]
            except IMAGE_ERRORS as e:
                self.skips.report(item.url, item.key, f"an image does not decode: {type(e).__name__}: {e}")
                continue
            return Example(ids, loss, pixels, [item.key])


class InstructionBuilder(Builder):
    def next(self, pull: Pull) -> Example:
        _, item = pull()
        row = item.sample
        enc = self.tok.encode
        ids, loss = instruction_sequence(
            enc(row["instruction"]), enc(row.get("input", "")), enc(row["output"]), self.vocab, self.max_len
        )
        return Example(ids, loss, keys=[item.key])


BUILDERS: dict[str, type[Builder]] = {
    "text": TextPacker,
    "image_text": CaptionBuilder,
    "interleaved": InterleavedBuilder,
    "instruction": InstructionBuilder,
}
