"""Multiple choice by likelihood: every candidate-ranking task goes through `run_choices`.

An item is one or more contexts (segments: text and images) with one continuation per candidate;
the prediction is the candidate with the highest log-likelihood of its continuation after its
context. Candidates that share a context object are scored from one prompt pass.

Length normalisation, as the usual harness (lm-evaluation-harness) reports it:
- `none`: the summed log-likelihood (the harness's `acc`);
- `token`: divided by the continuation's tokens (GPT-3 style per-token mean);
- `char`: divided by the continuation's characters (the harness's `acc_norm`). The default.
All three accuracies are reported (`accuracy/none`, `accuracy/token`, `accuracy/char`);
`accuracy` is the one `norm` names. When all candidates have the same continuation (Raven,
partial-scored Winograd), the three agree.

Few-shot: k demonstrations (an item's gold context + continuation, text only) drawn per query
with a fixed seed from a pool that excludes the query, separated by a blank line.
"""

from __future__ import annotations

import io
import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PIL import Image

from kosmos_train.eval.report import TaskResult

if TYPE_CHECKING:  # the model side (torch) is only needed by the real scorer
    from kosmos_train.eval.scoring import Scored, Scorer, Segment

log = logging.getLogger(__name__)
IMAGE_ERRORS = (OSError, SyntaxError, Image.DecompressionBombError)  # PIL's failures to open/decode
NORMS = ("none", "token", "char")
DEFAULT_NORM = "char"
SHOT_SEPARATOR = "\n\n"


@dataclass
class MCItem:
    id: str
    contexts: list[list[Segment]]  # one per candidate; the same list object where candidates share it
    continuations: list[str]
    label: int | None  # index of the right candidate; None when unlabelled
    names: list[str] = field(default_factory=list)  # what a candidate is called in the predictions
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.contexts) != len(self.continuations) or not self.continuations:
            raise ValueError(f"item {self.id}: need one context per candidate, and at least one candidate")
        if self.label is not None and not 0 <= self.label < len(self.continuations):
            raise ValueError(f"item {self.id}: label {self.label} out of range")
        if not self.names:
            self.names = [c.strip() for c in self.continuations]


@dataclass
class Dropped:
    """An item that could not be built (its image does not open), counted instead of scored."""

    id: str
    reason: str


def image_reason(e: BaseException) -> str:
    """A drop reason that groups alike failures (the exception type, not each file's message)."""
    return f"image does not open: {type(e).__name__}"


def image_problem(image: Any) -> str | None:
    """None when `image` (a path, bytes or PIL image) opens and decodes, else the drop reason."""
    if isinstance(image, Image.Image):
        return None
    try:
        with Image.open(io.BytesIO(image) if isinstance(image, bytes) else image) as img:
            img.load()
    except IMAGE_ERRORS as e:
        return image_reason(e)
    return None


def shared(context: list[Segment], continuations: Sequence[str], **kw: Any) -> MCItem:
    """An item whose candidates all follow one context."""
    return MCItem(contexts=[context] * len(continuations), continuations=list(continuations), **kw)


def normalised(s: Scored, norm: str) -> float:
    if norm == "none":
        return s.logprob
    if norm == "token":
        return s.logprob / max(s.tokens, 1)
    if norm == "char":
        return s.logprob / max(s.chars, 1)
    raise ValueError(f"unknown length normalisation {norm!r}; expected one of {', '.join(NORMS)}")


def score_item(scorer: Scorer, item: MCItem) -> list[Scored]:
    """Every candidate's score, one scorer call per distinct context."""
    out: list[Scored | None] = [None] * len(item.continuations)
    groups: dict[int, list[int]] = {}
    for j, ctx in enumerate(item.contexts):
        groups.setdefault(id(ctx), []).append(j)
    for js in groups.values():
        scores = scorer.loglikelihoods(item.contexts[js[0]], [item.continuations[j] for j in js])
        for j, s in zip(js, scores, strict=True):
            out[j] = s
    return [s for s in out if s is not None]


def demo_text(item: MCItem) -> str:
    """An item as a solved demonstration: its gold context and continuation (text segments only)."""
    if item.label is None:
        raise ValueError(f"item {item.id} has no label and cannot be a demonstration")
    context = item.contexts[item.label]
    if not all(isinstance(s, str) for s in context):
        raise ValueError("few-shot demonstrations are text-only here")
    return "".join(context) + item.continuations[item.label]  # type: ignore[arg-type]


def with_demonstrations(item: MCItem, demos: Sequence[MCItem]) -> MCItem:
    """The item with the demonstrations' text before every context (shared contexts stay shared)."""
    if not demos:
        return item
    head = SHOT_SEPARATOR.join(demo_text(d) for d in demos) + SHOT_SEPARATOR
    new: dict[int, list[Segment]] = {}
    contexts = []
    for ctx in item.contexts:
        if id(ctx) not in new:
            first = ctx[0] if ctx and isinstance(ctx[0], str) else ""
            rest = ctx[1:] if ctx and isinstance(ctx[0], str) else ctx
            new[id(ctx)] = [head + first, *rest]
        contexts.append(new[id(ctx)])
    return MCItem(item.id, contexts, item.continuations, item.label, item.names, item.extra)


def pick_demonstrations(
    index: int, item: MCItem, pool: Sequence[MCItem], shots: int, seed: int
) -> list[MCItem]:
    """k labelled pool items other than the query; same (seed, index), same demonstrations."""
    if shots <= 0:
        return []
    candidates = [p for p in pool if p.id != item.id and p.label is not None]
    if len(candidates) < shots:
        raise ValueError(
            f"{shots}-shot needs {shots} labelled items besides the query, found {len(candidates)}"
        )
    return random.Random(seed * 1_000_003 + index).sample(candidates, shots)


def accuracy_metrics(predictions: Sequence[dict[str, Any]], norm: str) -> dict[str, float]:
    labelled = [p for p in predictions if p.get("label") is not None]
    if not labelled:
        return {}
    metrics = {
        f"accuracy/{n}": 100 * sum(p["choice"][n] == p["label"] for p in labelled) / len(labelled)
        for n in NORMS
    }
    return {"accuracy": metrics[f"accuracy/{norm}"], **metrics}


def run_choices(
    scorer: Scorer,
    task: str,
    items: Iterable[MCItem | Dropped],
    norm: str = DEFAULT_NORM,
    shots: int = 0,
    pool: Sequence[MCItem] | None = None,
    seed: int = 0,
    settings: dict[str, Any] | None = None,
    row: Callable[[MCItem], dict[str, Any]] | None = None,
) -> TaskResult:
    """Rank each item's candidates; predictions hold every candidate's scores and the choice per norm.

    `pool` (few-shot) defaults to the items themselves (which are then read into a list); `row`
    adds task-specific fields to each prediction. An item whose image does not open is dropped and
    counted by reason (`metrics["dropped"]`, `settings["dropped"]`): input = predictions + dropped.
    """
    if norm not in NORMS:
        raise ValueError(f"unknown length normalisation {norm!r}; expected one of {', '.join(NORMS)}")
    if shots:
        items = list(items)
        pool = items if pool is None else pool
    predictions = []
    dropped: dict[str, int] = {}
    for i, item in enumerate(items):
        if isinstance(item, Dropped):
            dropped[item.reason] = dropped.get(item.reason, 0) + 1
            continue
        query = with_demonstrations(item, pick_demonstrations(i, item, pool or [], shots, seed))
        try:
            scores = score_item(scorer, query)
        except IMAGE_ERRORS as e:
            reason = image_reason(e)
            log.warning("%s: item %s dropped: %s", task, item.id, reason)
            dropped[reason] = dropped.get(reason, 0) + 1
            continue
        choice = {n: max(range(len(scores)), key=lambda j, n=n: normalised(scores[j], n)) for n in NORMS}
        predictions.append(
            {
                "id": item.id,
                "label": item.label,
                "prediction": item.names[choice[norm]],
                "answer": None if item.label is None else item.names[item.label],
                "correct": None if item.label is None else choice[norm] == item.label,
                "choice": choice,
                "logprobs": [round(s.logprob, 4) for s in scores],
                "tokens": [s.tokens for s in scores],
                **(row(item) if row else {}),
            }
        )
    metrics = accuracy_metrics(predictions, norm)
    if dropped:
        metrics["dropped"] = sum(dropped.values())
    out_settings = {"shots": shots, "norm": norm, "seed": seed, **(settings or {})}
    if dropped:
        out_settings["dropped"] = dropped
    return TaskResult(task, metrics, predictions, out_settings)
