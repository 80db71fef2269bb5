"""The model side of evaluation: prompts with images, batched decoding, and continuation scores.

A prompt is a list of segments, text or images, laid out as in training:
`<s> [<image> slots </image>] text [<image> slots </image>] text ...`. Decoding batches prompts
of equal length only (the decoder has no padding mask, so left padding would change the
logits); zero-shot prompts all have one length, few-shot ones are grouped by length.
Continuations are scored from one pass over the prompt, whose KV cache is shared by all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from kosmos_train.data.images import clip_preprocess
from kosmos_train.data.sequences import image_block
from kosmos_train.model.architecture.decoder import KVCache
from kosmos_train.model.components.attention import LayerCache
from kosmos_train.tokenizer import Tokenizer

Segment = str | bytes | Image.Image  # text, or an image (encoded bytes or PIL)


@dataclass
class Prompt:
    ids: list[int]
    pixels: list[Tensor] = field(default_factory=list)  # float (3, S, S), one per image block, in order


def build_prompt(model: Any, tok: Tokenizer, segments: Sequence[Segment | str]) -> Prompt:
    """`<s>` then each segment: a text is encoded, an image becomes an image block with its pixels.

    Text segments are plain strings; image segments are bytes or PIL images. Paths must be opened
    by the caller (a str is always text).
    """
    ids = [tok.layout.bos]
    pixels = []
    for seg in segments:
        if isinstance(seg, str):
            ids += tok.encode(seg)
        else:
            if model.config.vision is None:
                raise ValueError("this model has no vision tower; the task needs images")
            ids += image_block(tok.layout, model.config.connector.image_tokens)
            pixels.append(clip_preprocess(seg, model.config.vision.image_size))
    return Prompt(ids, pixels)


def _device_dtype(model: Any) -> tuple[torch.device, torch.dtype]:
    p = next(model.parameters())
    return p.device, p.dtype


def _images(model: Any, pixels: list[Tensor]) -> Tensor | None:
    device, dtype = _device_dtype(model)
    return torch.stack(pixels).to(device, dtype) if pixels else None


def cut(ids: Sequence[int], tok: Tokenizer) -> list[int]:
    """Generated ids up to (not including) the first `</s>` or `</line>`."""
    stop = {tok.layout.eos, tok.layout.line_end}
    out = []
    for i in ids:
        if i in stop:
            break
        out.append(int(i))
    return out


@torch.no_grad()
def generate(
    model: Any,
    tok: Tokenizer,
    prompts: Sequence[Prompt],
    max_new_tokens: int = 30,
    num_beams: int = 1,
    batch_size: int = 16,
) -> list[str]:
    """Decode each prompt (greedy, or beam search) and return the text before `</s>`/`</line>`."""
    device, _ = _device_dtype(model)
    out: list[str | None] = [None] * len(prompts)
    by_len: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_len.setdefault(len(p.ids), []).append(i)
    for indices in by_len.values():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            ids = torch.tensor([prompts[i].ids for i in chunk], device=device)
            images = _images(model, [px for i in chunk for px in prompts[i].pixels])
            rows = model.generate(ids, images, max_new_tokens=max_new_tokens, num_beams=num_beams)
            for i, row in zip(chunk, rows.tolist(), strict=True):
                out[i] = tok.decode(cut(row, tok)).strip()
    return [o or "" for o in out]


def _expand(cache: KVCache, n: int) -> KVCache:
    """A cache of n identical rows from a one-row cache (views, no copy)."""
    return KVCache([LayerCache(c.k.expand(n, -1, -1, -1), c.v.expand(n, -1, -1, -1)) for c in cache.layers])


@torch.no_grad()
def continuation_logprobs(
    model: Any, prompt: Prompt, continuations: Sequence[Sequence[int]], chunk: int = 256
) -> list[float]:
    """Summed log p(continuation | prompt) for each continuation (token ids), one prompt pass."""
    device, _ = _device_dtype(model)
    cache = KVCache.empty(len(model.decoder.layers))
    ids = torch.tensor([prompt.ids], device=device)
    hidden = model.hidden(ids, _images(model, prompt.pixels), cache=cache)
    first = (
        model.decoder.logits(hidden[:, -1]).float().log_softmax(-1)[0]
    )  # predicts each continuation's 1st token
    scores = []
    pad = model.vocab.pad
    for start in range(0, len(continuations), chunk):
        conts = [list(c) for c in continuations[start : start + chunk]]
        if any(not c for c in conts):
            raise ValueError("an empty continuation cannot be scored")
        longest = max(len(c) for c in conts)
        batch = torch.tensor([c + [pad] * (longest - len(c)) for c in conts], device=device)
        total = first[batch[:, 0]]
        if longest > 1:  # right padding: later positions never affect earlier ones in a causal model
            h = model.hidden(batch[:, :-1], None, cache=_expand(cache, len(conts)))
            logp = model.decoder.logits(h).float().log_softmax(-1)
            token_lp = logp.gather(-1, batch[:, 1:, None])[..., 0]
            real = torch.tensor([[j < len(c) for j in range(1, longest)] for c in conts], device=device)
            total = total + (token_lp * real).sum(-1)
        scores.extend(total.tolist())
    return scores
