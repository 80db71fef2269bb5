"""The model side of evaluation: prompts with images, batched decoding, and continuation scores.

A prompt is a list of segments, text or images, laid out as in training:
`<s> [<image> slots </image>] text [<image> slots </image>] text ...`. Decoding batches prompts
of equal length only (the decoder has no padding mask, so left padding would change the
logits); zero-shot prompts all have one length, few-shot ones are grouped by length.
Continuations are scored from one pass over the prompt, whose KV cache is shared by all of them.

A text segment's newlines become `</line>` (a training document's line break), so multi-line
prompts (a passage, then a question) look like the text the model was trained on. A `Path`
segment is an image file, opened only when its prompt is built.

`Scorer` is what the tasks call: candidate log-likelihoods and greedy answers for prompts given as
segments. `ModelScorer` is the model behind it; tests pass a scripted scorer instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from PIL import Image
from torch import Tensor

from kosmos_train.data.images import clip_preprocess
from kosmos_train.data.sequences import image_block
from kosmos_train.model.architecture.decoder import KVCache
from kosmos_train.model.components.attention import LayerCache
from kosmos_train.tokenizer import Tokenizer

Segment = str | bytes | Path | Image.Image  # text, or an image (encoded bytes, a file, or PIL)


@dataclass
class Prompt:
    ids: list[int]
    pixels: list[Tensor] = field(default_factory=list)  # float (3, S, S), one per image block, in order


def encode_text(tok: Tokenizer, text: str) -> list[int]:
    """Text ids with `</line>` for each newline (how training documents mark their line breaks)."""
    ids: list[int] = []
    for n, line in enumerate(text.split("\n")):
        if n:
            ids.append(tok.layout.line_end)
        ids += tok.encode(line)
    return ids


def build_prompt(model: Any, tok: Tokenizer, segments: Sequence[Segment | str]) -> Prompt:
    """`<s>` then each segment: a text is encoded, an image becomes an image block with its pixels.

    Text segments are plain strings (a str is always text); image segments are bytes, PIL images
    or `Path`s of image files.
    """
    ids = [tok.layout.bos]
    pixels = []
    for seg in segments:
        if isinstance(seg, str):
            ids += encode_text(tok, seg)
        else:
            if isinstance(seg, Path):
                seg = Image.open(seg)
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


@dataclass
class Scored:
    """A continuation's summed log-likelihood and its length in tokens and characters."""

    logprob: float
    tokens: int
    chars: int


class Scorer(Protocol):
    """What a task asks of a model; `ModelScorer` is the real one, tests script their own."""

    max_len: int

    def loglikelihoods(self, context: Sequence[Segment], continuations: Sequence[str]) -> list[Scored]: ...

    def generate(self, contexts: Sequence[Sequence[Segment]], max_new_tokens: int) -> list[str]: ...

    def length(self, context: Sequence[Segment]) -> int: ...

    def truncate(self, text: str, max_tokens: int) -> str: ...


class ModelScorer:
    """A model and its tokenizer behind the `Scorer` calls."""

    def __init__(self, model: Any, tok: Tokenizer, batch_size: int = 16) -> None:
        self.model, self.tok, self.batch_size = model, tok, batch_size
        self.max_len = int(model.config.decoder.max_len)

    def _prompt(self, context: Sequence[Segment], extra: int) -> Prompt:
        prompt = build_prompt(self.model, self.tok, context)
        if len(prompt.ids) + extra > self.max_len:
            raise ValueError(
                f"a prompt of {len(prompt.ids)} tokens (+{extra}) exceeds the model's {self.max_len}; "
                "use fewer shots or shorter inputs"
            )
        return prompt

    def loglikelihoods(self, context: Sequence[Segment], continuations: Sequence[str]) -> list[Scored]:
        ids = [encode_text(self.tok, c) for c in continuations]
        prompt = self._prompt(context, max(len(i) for i in ids))
        logps = continuation_logprobs(self.model, prompt, ids)
        return [Scored(lp, len(i), len(c)) for lp, i, c in zip(logps, ids, continuations, strict=True)]

    def generate(self, contexts: Sequence[Sequence[Segment]], max_new_tokens: int) -> list[str]:
        prompts = [self._prompt(c, max_new_tokens) for c in contexts]
        return generate(self.model, self.tok, prompts, max_new_tokens, 1, self.batch_size)

    def length(self, context: Sequence[Segment]) -> int:
        """Tokens of a prompt without building its pixels (an image counts as its block)."""
        n_image = len(image_block(self.tok.layout, self.model.config.connector.image_tokens))
        return 1 + sum(len(encode_text(self.tok, s)) if isinstance(s, str) else n_image for s in context)

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of `text` (in whole tokens) that encodes to at most `max_tokens`."""
        ids = self.tok.encode(text)
        return text if len(ids) <= max_tokens else self.tok.decode(ids[: max(0, max_tokens)])
