"""Text-only visual commonsense (docs/MODEL.md, evaluation prompts): RelativeSize, MemoryColor, ColorTerms.

Each question is a text prompt ("Is {Item1} larger than {Item2}?", "The color of {Object} is?")
answered by the most likely choice (Yes/No, or a colour term), no image in the prompt, as the
paper's comparison with a text-only language model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kosmos_train.eval.choice import run_choices, shared
from kosmos_train.eval.data import ChoiceItem
from kosmos_train.eval.report import TaskResult


def run_commonsense(scorer: Any, items: Sequence[ChoiceItem]) -> TaskResult:
    """Summed log-likelihood of each choice after the question (`choice.run_choices`, norm none)."""
    mc = [
        shared(
            [it.prompt],
            [" " + c for c in it.choices],
            id=it.id,
            label=it.choices.index(it.answer),
            names=list(it.choices),
            extra={"kind": it.kind, "prompt": it.prompt},
        )
        for it in items
    ]
    result = run_choices(
        scorer,
        "commonsense",
        mc,
        norm="none",
        settings={"prompt": "as in the paper, per item kind"},
        row=lambda item: dict(item.extra),
    )
    by_kind: dict[str, list[bool]] = {}
    for p in result.predictions:
        by_kind.setdefault(p["kind"], []).append(p["correct"])
    per_kind = {f"accuracy/{k}": 100 * sum(v) / len(v) for k, v in sorted(by_kind.items())}
    result.metrics = {**per_kind, **result.metrics}
    return result
