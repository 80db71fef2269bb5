"""Zero- and few-shot captioning (docs/MODEL.md, evaluation prompts): "An image of", beam 5, CIDEr-D and BLEU-4.

A few-shot prompt puts k demonstrations before the query, each `<image> prompt caption`, drawn
from a pool (another caption set, or the evaluated set without the query's image) with a fixed
seed per query, so a run is reproducible and independent of batching.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from kosmos_train.eval.data import CaptionItem, open_image
from kosmos_train.eval.metrics import caption_scores
from kosmos_train.eval.report import TaskResult
from kosmos_train.eval.scoring import build_prompt, generate
from kosmos_train.tokenizer import Tokenizer

PROMPT = "An image of"


def continuation(caption: str, prompt: str) -> str:
    """A reference caption as it would follow the prompt: "A dog." -> "a dog." (acronyms kept)."""
    caption = caption.strip()
    if prompt and caption.lower().startswith(prompt.lower()):
        caption = caption[len(prompt) :].strip()
    if caption[:1].isupper() and not caption[1:2].isupper():
        caption = caption[0].lower() + caption[1:]
    return caption


def demonstrations(
    index: int, query: CaptionItem, pool: Sequence[CaptionItem], shots: int, seed: int
) -> list[tuple[CaptionItem, str]]:
    """k (item, caption) pairs for query `index`: same seed and index, same demonstrations."""
    if shots <= 0:
        return []
    candidates = [p for p in pool if p.id != query.id]
    if len(candidates) < shots:
        raise ValueError(
            f"{shots}-shot needs {shots} demonstrations besides the query; the pool has {len(candidates)}"
        )
    rng = random.Random(seed * 1_000_003 + index)
    return [(p, rng.choice(p.references)) for p in rng.sample(candidates, shots)]


def run_caption(
    model: Any,
    tok: Tokenizer,
    items: Sequence[CaptionItem],
    shots: int = 0,
    pool: Sequence[CaptionItem] | None = None,
    prompt: str = PROMPT,
    beams: int = 5,
    max_new_tokens: int = 30,
    seed: int = 0,
    batch_size: int = 16,
) -> TaskResult:
    pool = items if pool is None else pool
    prompts, demos_used = [], []
    for i, item in enumerate(items):
        demos = demonstrations(i, item, pool, shots, seed)
        segments: list = []
        for demo, caption in demos:
            segments += [open_image(demo.image), f"{prompt} {continuation(caption, prompt)}"]
        segments += [open_image(item.image), prompt]
        prompts.append(build_prompt(model, tok, segments))
        demos_used.append([d.id for d, _ in demos])
    outputs = generate(model, tok, prompts, max_new_tokens, beams, batch_size)
    # References that repeat the prompt (captions of a corpus written as "An image of ...") are scored
    # without it, as the generated text never contains it.
    metrics, per_sample = caption_scores(
        outputs, [[continuation(r, prompt) for r in it.references] for it in items]
    )
    predictions = [
        {
            "id": it.id,
            "prediction": out,
            "references": it.references,
            "CIDEr": round(c, 4),
            **({"demonstrations": d} if shots else {}),
        }
        for it, out, c, d in zip(items, outputs, per_sample, demos_used, strict=True)
    ]
    settings = {
        "prompt": prompt,
        "beams": beams,
        "max_new_tokens": max_new_tokens,
        "shots": shots,
        "seed": seed,
    }
    return TaskResult("caption", metrics, predictions, settings)
