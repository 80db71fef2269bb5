"""KOSMOS-1 token layouts and their loss masks, as plain lists.

`loss[t]` is True when token t is a prediction target (the model takes logits at t-1 for it).
Targets are text: pieces, `</line>` and the closing `</s>`. Never `<s>`, `<image>`, the image
slots, `</image>` or padding; for instruction rows, only the output and its `</s>`.
Image slots hold `SLOT_FILL` ids; the model replaces their embeddings by image vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from kosmos_train.vocab import VocabLayout

IMAGE = None  # marks an image node in interleaved documents


def slot_fill(vocab: VocabLayout) -> int:
    """The id written into image slots (`<mask>`: never produced by the tokenizer, never a target)."""
    return vocab.mask


@dataclass
class Example:
    """One row before padding."""

    ids: list[int]
    loss: list[bool]
    images: list[np.ndarray] = field(default_factory=list)  # uint8 (3, S, S), in order of appearance
    keys: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.loss):
            raise ValueError("ids and loss mask differ in length")


def image_block(vocab: VocabLayout, image_tokens: int) -> list[int]:
    return [vocab.image, *[slot_fill(vocab)] * image_tokens, vocab.image_end]


def text_units(lines: Sequence[list[int]], vocab: VocabLayout, max_len: int) -> list[list[int]]:
    """A document as packing units: `<s> line </line>`, `line </line>`, ..., `</s>`.

    Full-sentence packing never splits a unit, so a unit longer than a row is cut into row-sized pieces.
    """
    units = [[*ids, vocab.line_end] for ids in lines]
    if not units:
        return []
    units[0] = [vocab.bos, *units[0]]
    units.append([vocab.eos])
    out: list[list[int]] = []
    for unit in units:
        out.extend(unit[i : i + max_len] for i in range(0, len(unit), max_len))
    return out


def text_loss(ids: list[int], vocab: VocabLayout) -> list[bool]:
    return [i not in (vocab.bos, vocab.pad) for i in ids]


def image_text_sequence(
    caption: list[int], vocab: VocabLayout, image_tokens: int, max_len: int
) -> tuple[list[int], list[bool]]:
    """`<s> <image> [slots] </image> caption </s>`; a long caption is cut so the row fits."""
    head = [vocab.bos, *image_block(vocab, image_tokens)]
    room = max_len - len(head) - 1
    if room < 0:
        raise ValueError(f"max_len {max_len} cannot hold an image block of {image_tokens} slots")
    caption = caption[:room]
    ids = [*head, *caption, vocab.eos]
    return ids, [False] * len(head) + [True] * (len(caption) + 1)


def interleaved_sequence(
    nodes: Sequence[list[int] | None],
    vocab: VocabLayout,
    image_tokens: int,
    max_len: int,
    max_images: int = 5,
) -> tuple[list[int], list[bool], list[int]]:
    """`<s> paragraph <image> [slots] </image> paragraph ... </s>` in document order.

    `nodes` holds token lists for paragraphs and `IMAGE` (None) for images. Images past
    `max_images` are dropped (their text stays). At `max_len` the row ends: a paragraph may be cut,
    an image block never (it is left out whole). Returns (ids, loss, indices of the images used).
    """
    ids, loss, used = [vocab.bos], [False], []
    block = image_block(vocab, image_tokens)
    n_image = -1
    complete = True  # False once the document is cut: then it gets no </s> (it does not end there)
    for node in nodes:
        if node is IMAGE:
            n_image += 1
            if len(used) >= max_images:
                continue
            if len(ids) + len(block) > max_len:
                complete = False
                break
            ids += block
            loss += [False] * len(block)
            used.append(n_image)
            continue
        take = node[: max_len - len(ids)]
        ids += take
        loss += [True] * len(take)
        if len(take) < len(node):
            complete = False
            break
    if complete and len(ids) < max_len:
        ids.append(vocab.eos)
        loss.append(True)
    return ids, loss, used


def instruction_sequence(
    instruction: list[int],
    inp: list[int],
    output: list[int],
    vocab: VocabLayout,
    max_len: int,
) -> tuple[list[int], list[bool]]:
    """`<s> instruction </line> [input </line>] output </s>`: loss on the output and `</s>` only."""
    prompt = [vocab.bos, *instruction, vocab.line_end]
    if inp:
        prompt += [*inp, vocab.line_end]
    answer = [*output, vocab.eos]
    ids = (prompt + answer)[:max_len]
    loss = ([False] * len(prompt) + [True] * len(answer))[:max_len]
    return ids, loss
