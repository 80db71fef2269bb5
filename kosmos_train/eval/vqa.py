"""Open-ended VQA (docs/MODEL.md, evaluation prompts): "Question: {q} Answer:", greedy until `</s>`, VQA accuracy.

Few-shot demonstrations (from a pool, fixed seed per question) are `<image> Question: q Answer: a`
with a the most common human answer.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from kosmos_train.eval.data import VQAItem, open_image
from kosmos_train.eval.metrics import normalize_vqa_answer, vqa_accuracy
from kosmos_train.eval.report import TaskResult
from kosmos_train.eval.scoring import build_prompt, generate
from kosmos_train.tokenizer import Tokenizer

PROMPT = "Question: {question} Answer:"


def run_vqa(
    model: Any,
    tok: Tokenizer,
    items: Sequence[VQAItem],
    shots: int = 0,
    pool: Sequence[VQAItem] | None = None,
    prompt: str = PROMPT,
    max_new_tokens: int = 10,
    seed: int = 0,
    batch_size: int = 16,
) -> TaskResult:
    pool = [p for p in (items if pool is None else pool) if p.answers]
    prompts = []
    for i, item in enumerate(items):
        segments: list = []
        if shots:
            candidates = [p for p in pool if p.question_id != item.question_id]
            if len(candidates) < shots:
                raise ValueError(
                    f"{shots}-shot needs {shots} answered questions in the pool, found {len(candidates)}"
                )
            for demo in random.Random(seed * 1_000_003 + i).sample(candidates, shots):
                answer = Counter(demo.answers).most_common(1)[0][0]
                segments += [open_image(demo.image), f"{prompt.format(question=demo.question)} {answer}"]
        segments += [open_image(item.image), prompt.format(question=item.question)]
        prompts.append(build_prompt(model, tok, segments))
    outputs = generate(model, tok, prompts, max_new_tokens, 1, batch_size)
    predictions, by_type = [], {}
    for item, out in zip(items, outputs, strict=True):
        row: dict[str, Any] = {
            "question_id": item.question_id,
            "question": item.question,
            "prediction": out,
            "normalized": normalize_vqa_answer(out),
            "answers": item.answers,
        }
        if item.answers:
            row["accuracy"] = vqa_accuracy(out, item.answers)
            by_type.setdefault(item.extra.get("answer_type"), []).append(row["accuracy"])
        predictions.append(row)
    metrics: dict[str, float] = {}
    scored = [r["accuracy"] for r in predictions if "accuracy" in r]
    if scored:
        metrics["accuracy"] = 100 * sum(scored) / len(scored)
        for kind, accs in sorted((k, v) for k, v in by_type.items() if k is not None):
            metrics[f"accuracy/{kind}"] = 100 * sum(accs) / len(accs)
    settings = {
        "prompt": prompt,
        "decoding": "greedy",
        "max_new_tokens": max_new_tokens,
        "shots": shots,
        "seed": seed,
        "answered": len(scored),
    }
    return TaskResult("vqa", metrics, predictions, settings)
