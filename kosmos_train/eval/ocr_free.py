"""OCR-free language understanding: Rendered SST-2 and HatefulMemes, with optional chain-of-thought.

The model reads the text from the picture (no OCR text is given) and the answer is the more
likely of two candidates after the task prompt:
- Rendered SST-2: `<image> Question: what is the sentiment of the opinion? Answer:` -> " negative"
  / " positive"; accuracy. Input: `rendered_sst2.jsonl` from `kosmos_train.eval.render` (images
  beside it), or the SST-2 TSV/JSONL itself (sentences rendered on the fly with the same renderer).
- HatefulMemes: `<image> Question: does this picture contain real hate speech? Answer:` -> " no"
  / " yes"; accuracy and AUROC, the ROC score being log p(yes) - log p(no). Input: the dataset's
  `dev.jsonl`-style lines `{"id", "img": "img/01235.png", "label": 0|1, "text"}`, images relative
  to the JSONL's folder (or `--images`).

Multimodal chain-of-thought (`--cot`): stage 1 generates a rationale after
`<image> Introduce this picture in detail:`; stage 2 scores the candidates after
`<image> Introduce this picture in detail: {rationale} {task prompt}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from kosmos_train.eval.choice import Dropped, MCItem, image_problem, normalised, run_choices, shared
from kosmos_train.eval.data import EvalDataError
from kosmos_train.eval.metrics import auroc
from kosmos_train.eval.render import read_sst2, render_text
from kosmos_train.eval.report import TaskResult
from kosmos_train.eval.scoring import Scored, Scorer, Segment

SST2_PROMPT = "Question: what is the sentiment of the opinion? Answer:"
SST2_CANDIDATES = (" negative", " positive")  # index = SST-2 label
HATEFUL_PROMPT = "Question: does this picture contain real hate speech? Answer:"
HATEFUL_CANDIDATES = (" no", " yes")  # index = HatefulMemes label
COT_PROMPT = "Introduce this picture in detail:"
COT_TOKENS = 50  # rationale length (stage 1)


def rationales(scorer: Scorer, images: Sequence[Segment], max_new_tokens: int = COT_TOKENS) -> list[str]:
    """Stage 1 of multimodal chain-of-thought: a description of each picture."""
    return scorer.generate([[image, COT_PROMPT] for image in images], max_new_tokens)


def cot_rationales(scorer: Scorer, rows: Sequence[tuple[str, Segment, int | None]]) -> list[str | Dropped]:
    """Stage 1 for every row whose image opens; the others become drops (one bad file, one drop)."""
    problems = [image_problem(image) for _, image, _ in rows]
    texts = iter(
        rationales(scorer, [image for (_, image, _), p in zip(rows, problems, strict=True) if p is None])
    )
    return [next(texts) if p is None else Dropped(row[0], p) for row, p in zip(rows, problems, strict=True)]


def task_context(image: Segment, prompt: str, rationale: str | None) -> list[Segment]:
    """The scored context: the picture, then (with chain-of-thought) the rationale, then the prompt."""
    if rationale is None:
        return [image, prompt]
    return [image, f"{COT_PROMPT} {rationale} {prompt}"]


def sst2_images(path: str | Path, images: str | Path | None = None) -> list[tuple[str, Segment, int | None]]:
    """(id, image, label) per sentence: a rendered file's image path, else the sentence rendered now."""
    root = Path(images) if images else Path(path).parent
    out: list[tuple[str, Segment, int | None]] = []
    for row in read_sst2(path):
        image: Segment = Path(root / row["image"]) if "image" in row else render_text(row["sentence"])
        out.append((row["id"], image, row["label"]))
    return out


def hateful_images(
    path: str | Path, images: str | Path | None = None
) -> list[tuple[str, Segment, int | None]]:
    root = Path(images) if images else Path(path).parent
    out: list[tuple[str, Segment, int | None]] = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            label = row.get("label")
            if label not in (None, 0, 1):
                raise ValueError(f"label {label!r} is not 0/1")
            out.append((str(row.get("id", n)), Path(root / row["img"]), label))
        except (ValueError, KeyError, TypeError) as e:
            raise EvalDataError(f"{path}:{n}: expected {{'id', 'img', 'label'}}: {e}") from None
    return out


def _items(
    rows: Sequence[tuple[str, Segment, int | None]],
    prompt: str,
    candidates: Sequence[str],
    thoughts: Sequence[str | Dropped] | None,
) -> Iterator[MCItem | Dropped]:
    for n, (id_, image, label) in enumerate(rows):
        rationale = thoughts[n] if thoughts is not None else None
        if isinstance(rationale, Dropped):
            yield rationale
            continue
        yield shared(
            task_context(image, prompt, rationale),
            candidates,
            id=id_,
            label=label,
            extra={"rationale": rationale},
        )


def run_binary_image_task(
    scorer: Scorer,
    task: str,
    rows: Sequence[tuple[str, Segment, int | None]],
    prompt: str,
    candidates: Sequence[str],
    cot: bool = False,
    norm: str = "none",
) -> TaskResult:
    """Two candidates after an image prompt (optionally with a chain-of-thought rationale first)."""
    thoughts = cot_rationales(scorer, rows) if cot else None
    return run_choices(
        scorer,
        task,
        _items(rows, prompt, candidates, thoughts),
        norm=norm,
        settings={"prompt": prompt, "cot": cot, **({"cot_prompt": COT_PROMPT} if cot else {})},
        row=lambda item: {"rationale": item.extra["rationale"]} if cot else {},
    )


def run_rendered_sst2(
    scorer: Scorer, rows: Sequence, prompt: str = SST2_PROMPT, cot: bool = False, norm: str = "none"
) -> TaskResult:
    return run_binary_image_task(scorer, "rendered-sst2", rows, prompt, SST2_CANDIDATES, cot, norm)


def run_hateful_memes(
    scorer: Scorer, rows: Sequence, prompt: str = HATEFUL_PROMPT, cot: bool = False, norm: str = "none"
) -> TaskResult:
    """Accuracy, and AUROC of the yes-minus-no score (normalised as `norm`)."""
    result = run_binary_image_task(scorer, "hateful-memes", rows, prompt, HATEFUL_CANDIDATES, cot, norm)
    for p in result.predictions:
        no, yes = (
            normalised(Scored(lp, n, len(c)), norm)
            for lp, n, c in zip(p["logprobs"], p["tokens"], HATEFUL_CANDIDATES, strict=True)
        )
        p["score"] = round(yes - no, 4)
    labelled = [p for p in result.predictions if p["label"] is not None]
    if labelled and len({p["label"] for p in labelled}) == 2:
        result.metrics["auroc"] = 100 * auroc([p["score"] for p in labelled], [p["label"] for p in labelled])
    return result
