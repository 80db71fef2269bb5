"""Raven IQ test: a 3x3 matrix with its last panel missing, and 6 candidate panels.

Each candidate in turn fills the missing (bottom-right) cell; the model sees that matrix followed by
"Is it correct?" and the candidate with the highest probability of " Yes" is chosen; accuracy over
items (chance 1/6).

Input, either
- a JSONL file, one item per line, paths relative to the file's folder:
  `{"id": "q1", "context": [8 panel images, row by row], "candidates": [6 images], "answer": 2}`
  or `{"id": "q1", "matrix": "q1/matrix.png", "candidates": [...], "answer": 2}` where the matrix
  image shows the 3x3 grid with the bottom-right cell empty; or
- a folder with one sub-folder per item holding `context_0.png` .. `context_7.png` (or
  `matrix.png`), `candidate_0.png` .. `candidate_5.png` and `answer.txt`.
`answer` (and answer.txt) is the right candidate's 0-based index.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from kosmos_train.eval.choice import IMAGE_ERRORS, Dropped, MCItem, image_reason, run_choices
from kosmos_train.eval.data import IMAGE_SUFFIXES, EvalDataError
from kosmos_train.eval.report import TaskResult
from kosmos_train.eval.scoring import Scorer

PROMPT = "Is it correct?"
ANSWER = " Yes"
CANDIDATES = 6


@dataclass
class RavenItem:
    id: str
    candidates: list[Path]
    answer: int | None
    context: list[Path] | None = None  # 8 panels, row by row
    matrix: Path | None = None  # or the whole grid with the last cell empty

    def __post_init__(self) -> None:
        if len(self.candidates) != CANDIDATES:
            raise ValueError(f"expected {CANDIDATES} candidates, got {len(self.candidates)}")
        if (self.context is None) == (self.matrix is None):
            raise ValueError("expected either 8 context panels or a matrix image")
        if self.context is not None and len(self.context) != 8:
            raise ValueError(f"expected 8 context panels, got {len(self.context)}")
        if self.answer is not None and not 0 <= self.answer < CANDIDATES:
            raise ValueError(f"answer {self.answer} is not a candidate index 0-5")


def _find(folder: Path, stem: str) -> Path | None:
    return next((folder / f"{stem}{s}" for s in IMAGE_SUFFIXES if (folder / f"{stem}{s}").is_file()), None)


def _from_folder(folder: Path) -> RavenItem:
    candidates = [_find(folder, f"candidate_{k}") for k in range(CANDIDATES)]
    context = [_find(folder, f"context_{k}") for k in range(8)]
    matrix = _find(folder, "matrix")
    if any(c is None for c in candidates):
        raise ValueError("missing candidate_0..candidate_5 images")
    if matrix is None and any(c is None for c in context):
        raise ValueError("missing matrix.png or context_0..context_7 images")
    answer_file = folder / "answer.txt"
    answer = int(answer_file.read_text().strip()) if answer_file.is_file() else None
    return RavenItem(
        folder.name,
        candidates,  # type: ignore[arg-type]
        answer,
        None if matrix else context,  # type: ignore[arg-type]
        matrix,
    )


def load_raven(path: str | Path) -> list[RavenItem]:
    path = Path(path)
    if path.is_dir():
        items = []
        for folder in sorted(p for p in path.iterdir() if p.is_dir()):
            try:
                items.append(_from_folder(folder))
            except ValueError as e:
                raise EvalDataError(f"{folder}: {e}") from None
        if not items:
            raise EvalDataError(f"{path}: no item folders (see the Raven layout in --help / README)")
        return items
    root = path.parent
    items = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise EvalDataError(f"{path}: {e}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            items.append(
                RavenItem(
                    str(row.get("id", n)),
                    [root / c for c in row["candidates"]],
                    None if row.get("answer") is None else int(row["answer"]),
                    [root / c for c in row["context"]] if "context" in row else None,
                    root / row["matrix"] if "matrix" in row else None,
                )
            )
        except (ValueError, KeyError, TypeError) as e:
            raise EvalDataError(f"{path}:{n}: not a Raven item ({type(e).__name__}: {e})") from None
    return items


def compose(
    candidate: Image.Image, context: Sequence[Image.Image] | None = None, matrix: Image.Image | None = None
) -> Image.Image:
    """The 3x3 grid with `candidate` in the bottom-right cell (from 8 panels, or into a matrix image)."""
    if matrix is not None:
        grid = matrix.convert("RGB")
        cell = (grid.width // 3, grid.height // 3)
    else:
        assert context is not None
        cell = (max(p.width for p in context), max(p.height for p in context))
        grid = Image.new("RGB", (3 * cell[0], 3 * cell[1]), "white")
        for k, panel in enumerate(context):
            grid.paste(panel.convert("RGB").resize(cell), ((k % 3) * cell[0], (k // 3) * cell[1]))
    grid.paste(candidate.convert("RGB").resize(cell), (grid.width - cell[0], grid.height - cell[1]))
    return grid


def mc_items(items: Sequence[RavenItem], prompt: str = PROMPT) -> Iterator[MCItem | Dropped]:
    """One choice item per Raven item: six filled-in matrices, each followed by the question."""
    for item in items:
        try:
            context = [Image.open(p) for p in item.context] if item.context else None
            matrix = Image.open(item.matrix) if item.matrix else None
            contexts = [[compose(Image.open(c), context, matrix), prompt] for c in item.candidates]
        except IMAGE_ERRORS as e:
            yield Dropped(item.id, image_reason(e))
            continue
        yield MCItem(item.id, contexts, [ANSWER] * CANDIDATES, item.answer, names=[str(k) for k in range(6)])


def run_raven(scorer: Scorer, items: Sequence[RavenItem], prompt: str = PROMPT) -> TaskResult:
    result = run_choices(
        scorer,
        "raven",
        mc_items(items, prompt),
        norm="none",
        settings={"prompt": prompt, "answer": ANSWER.strip()},
    )
    result.metrics["chance"] = 100 / CANDIDATES
    return result
