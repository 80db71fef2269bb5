"""Text-only visual commonsense (KOSMOS1.md 5): RelativeSize, MemoryColor, ColorTerms.

Each question is a text prompt ("Is {Item1} larger than {Item2}?", "The color of {Object} is?")
answered by the most likely choice (Yes/No, or a colour term), no image in the prompt, as the
paper's comparison with a text-only language model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kosmos_train.eval.data import ChoiceItem
from kosmos_train.eval.report import TaskResult
from kosmos_train.eval.scoring import build_prompt, continuation_logprobs
from kosmos_train.tokenizer import Tokenizer


def run_commonsense(model: Any, tok: Tokenizer, items: Sequence[ChoiceItem]) -> TaskResult:
    predictions, by_kind = [], {}
    for item in items:
        scores = continuation_logprobs(
            model, build_prompt(model, tok, [item.prompt]), [tok.encode(c) for c in item.choices]
        )
        best = item.choices[max(range(len(scores)), key=scores.__getitem__)]
        right = best == item.answer
        by_kind.setdefault(item.kind, []).append(right)
        predictions.append(
            {
                "id": item.id,
                "kind": item.kind,
                "prompt": item.prompt,
                "prediction": best,
                "answer": item.answer,
                "correct": right,
                "scores": {c: round(s, 4) for c, s in zip(item.choices, scores, strict=True)},
            }
        )
    metrics = {f"accuracy/{k}": 100 * sum(v) / len(v) for k, v in sorted(by_kind.items())}
    if predictions:
        metrics["accuracy"] = 100 * sum(p["correct"] for p in predictions) / len(predictions)
    return TaskResult(
        "commonsense", metrics, predictions, {"shots": 0, "prompt": "as in the paper, per item kind"}
    )
