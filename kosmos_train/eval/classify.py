"""Zero-shot image classification (docs/MODEL.md, evaluation prompts): "The photo of the" + a class name.

Constrained: the class whose name has the highest log-likelihood after the prompt (the paper's
ImageNet setting; ranking whole names equals decoding restricted to the names' token paths when
the best path wins). Unconstrained: greedy decoding, right when the generated words begin with
the class name's words (case and punctuation ignored).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kosmos_train.eval.data import ClassItem, open_image
from kosmos_train.eval.metrics import caption_tokens
from kosmos_train.eval.report import TaskResult
from kosmos_train.eval.scoring import ModelScorer, build_prompt, generate
from kosmos_train.tokenizer import Tokenizer

PROMPT = "The photo of the"


def _words(text: str) -> list[str]:
    return caption_tokens(text)


def run_classify(
    model: Any,
    tok: Tokenizer,
    items: Sequence[ClassItem],
    classes: Sequence[str],
    prompt: str = PROMPT,
    unconstrained: bool = True,
    batch_size: int = 16,
) -> TaskResult:
    names = [tok.encode(c) for c in classes]
    scorer = ModelScorer(model, tok, batch_size)
    predictions = []
    top1 = top5 = 0
    for item in items:
        scores = [s.logprob for s in scorer.loglikelihoods([open_image(item.image), prompt], classes)]
        ranked = sorted(range(len(classes)), key=lambda j: -scores[j])
        top1 += classes[ranked[0]] == item.label
        top5 += item.label in [classes[j] for j in ranked[:5]]
        predictions.append(
            {
                "image": item.image,
                "label": item.label,
                "constrained": classes[ranked[0]],
                "top5": [classes[j] for j in ranked[:5]],
                "logprob": round(scores[ranked[0]], 4),
            }
        )
    metrics = {"accuracy/constrained": 100 * top1 / len(items), "top5/constrained": 100 * top5 / len(items)}
    if unconstrained:
        prompts = [build_prompt(model, tok, [open_image(it.image), prompt]) for it in items]
        longest = max(len(n) for n in names)
        outputs = generate(model, tok, prompts, longest + 2, 1, batch_size)
        right = 0
        for row, out in zip(predictions, outputs, strict=True):
            label, said = _words(row["label"]), _words(out)
            row["unconstrained"] = out
            right += said[: len(label)] == label
        metrics["accuracy/unconstrained"] = 100 * right / len(items)
    settings = {"prompt": prompt, "classes": len(classes), "shots": 0}
    return TaskResult("classify", metrics, predictions, settings)
