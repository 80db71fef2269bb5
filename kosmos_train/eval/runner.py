"""One entry point for every task: load the data, run, write the results and predictions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kosmos_train.eval import data as D
from kosmos_train.eval.report import TaskResult, write

TASKS = ("caption", "vqa", "classify", "perplexity", "commonsense")


def default_output(run_dir: str | Path, task: str, shots: int) -> Path:
    return Path(run_dir) / "eval" / (f"{task}-{shots}shot.json" if shots else f"{task}.json")


def _one(task: str, data: Sequence[str | Path]) -> str | Path:
    if len(data) != 1:
        raise ValueError(f"--task {task} takes one --data path, got {len(data)}")
    return data[0]


def run_task(
    run_dir: str | Path,
    task: str,
    data: Sequence[str | Path],
    shots: int = 0,
    output: str | Path | None = None,
    model: Any = None,
    tok: Any = None,
    device: str = "cpu",
    limit: int | None = None,
    images: str | None = None,
    pool: str | None = None,
    annotations: str | None = None,
    classes: str | None = None,
    prompt: str | None = None,
    beams: int | None = None,
    seed: int = 0,
    batch_size: int = 16,
) -> tuple[TaskResult, Path]:
    """Run `task` on `data` with the run's model (or the given model and tokenizer).

    Options apply where they make sense: `images` (the image folder of a json), `pool` (few-shot
    demonstrations), `annotations` (VQA answers), `classes` (class-name mapping), `prompt`
    (overrides the paper's prompt), `beams` (caption decoding), `limit` (first N samples).
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    if shots and task not in ("caption", "vqa"):
        raise ValueError(f"--shots applies to caption and vqa, not {task}")
    if model is None:
        from kosmos_train.inference.api import load_run

        model, tok = load_run(run_dir, device)
    kw: dict[str, Any] = {} if prompt is None else {"prompt": prompt}
    if task == "caption":
        from kosmos_train.eval.captioning import run_caption

        items = D.load_captions(_one(task, data), images)[:limit]
        pool_items = D.load_captions(pool, images) if pool else None
        result = run_caption(
            model, tok, items, shots, pool_items, beams=beams or 5, seed=seed, batch_size=batch_size, **kw
        )
    elif task == "vqa":
        from kosmos_train.eval.vqa import run_vqa

        items = D.load_vqa(_one(task, data), annotations, images)[:limit]
        pool_items = D.load_vqa(pool, None, images) if pool else None
        result = run_vqa(model, tok, items, shots, pool_items, seed=seed, batch_size=batch_size, **kw)
    elif task == "classify":
        from kosmos_train.eval.classify import run_classify

        items, names = D.load_class_folders(_one(task, data), classes)
        result = run_classify(model, tok, items[:limit], names, batch_size=batch_size, **kw)
    elif task == "perplexity":
        from kosmos_train.eval.perplexity import run_perplexity

        result = run_perplexity(model, tok, data, run_dir, limit=limit)
    else:
        from kosmos_train.eval.commonsense import run_commonsense

        result = run_commonsense(model, tok, list(D.load_commonsense(_one(task, data)))[:limit])
    result.settings.update({"run": str(run_dir), "data": [str(d) for d in data]})
    return result, write(result, output or default_output(run_dir, task, shots))
