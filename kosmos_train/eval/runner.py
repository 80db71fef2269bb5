"""One entry point for every task: load the data, run, write the results and predictions.

A task is a module with its loader and `run_*` function plus one `Task` entry in `TASKS` below
(name, one-line summary for --help, what its --data is, and whether --shots / --cot apply).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kosmos_train.eval import data as D
from kosmos_train.eval.language import LANGUAGE_TASKS
from kosmos_train.eval.report import TaskResult, write


@dataclass
class Request:
    """Everything a task may use; options it does not use are ignored."""

    model: Any
    tok: Any
    task: str
    data: Sequence[str | Path]
    run_dir: str | Path
    shots: int = 0
    limit: int | None = None
    images: str | None = None
    pool: str | None = None
    annotations: str | None = None
    classes: str | None = None
    prompt: str | None = None
    beams: int | None = None
    seed: int = 0
    batch_size: int = 16
    norm: str | None = None
    cot: bool = False
    scorer: Any = None  # a Scorer; default: the model behind ModelScorer

    def one(self) -> str | Path:
        if len(self.data) != 1:
            raise ValueError(f"--task {self.task} takes one --data path, got {len(self.data)}")
        return self.data[0]

    def kw(self, **extra: Any) -> dict[str, Any]:
        """Keyword arguments for a run function: the prompt when replaced, plus `extra`."""
        return {**({} if self.prompt is None else {"prompt": self.prompt}), **extra}

    def the_scorer(self) -> Any:
        from kosmos_train.eval.scoring import ModelScorer

        return self.scorer or ModelScorer(self.model, self.tok, self.batch_size)


@dataclass(frozen=True)
class Task:
    name: str
    summary: str
    data: str  # what --data is, for --help
    run: Callable[[Request], TaskResult]
    shots: bool = False
    cot: bool = False


def _caption(r: Request) -> TaskResult:
    from kosmos_train.eval.captioning import run_caption

    items = D.load_captions(r.one(), r.images)[: r.limit]
    pool = D.load_captions(r.pool, r.images) if r.pool else None
    return run_caption(
        r.model,
        r.tok,
        items,
        r.shots,
        pool,
        beams=r.beams or 5,
        seed=r.seed,
        batch_size=r.batch_size,
        **r.kw(),
    )


def _vqa(r: Request) -> TaskResult:
    from kosmos_train.eval.vqa import run_vqa

    items = D.load_vqa(r.one(), r.annotations, r.images)[: r.limit]
    pool = D.load_vqa(r.pool, None, r.images) if r.pool else None
    return run_vqa(r.model, r.tok, items, r.shots, pool, seed=r.seed, batch_size=r.batch_size, **r.kw())


def _classify(r: Request) -> TaskResult:
    from kosmos_train.eval.classify import run_classify

    items, names = D.load_class_folders(r.one(), r.classes)
    return run_classify(r.model, r.tok, items[: r.limit], names, batch_size=r.batch_size, **r.kw())


def _perplexity(r: Request) -> TaskResult:
    from kosmos_train.eval.perplexity import run_perplexity

    return run_perplexity(r.model, r.tok, r.data, r.run_dir, limit=r.limit)


def _commonsense(r: Request) -> TaskResult:
    from kosmos_train.eval.commonsense import run_commonsense

    return run_commonsense(r.the_scorer(), list(D.load_commonsense(r.one()))[: r.limit])


def _raven(r: Request) -> TaskResult:
    from kosmos_train.eval.raven import load_raven, run_raven

    return run_raven(r.the_scorer(), load_raven(r.one())[: r.limit], **r.kw())


def _rendered_sst2(r: Request) -> TaskResult:
    from kosmos_train.eval.ocr_free import run_rendered_sst2, sst2_images

    return run_rendered_sst2(
        r.the_scorer(), sst2_images(r.one(), r.images)[: r.limit], cot=r.cot, norm=r.norm or "none", **r.kw()
    )


def _hateful_memes(r: Request) -> TaskResult:
    from kosmos_train.eval.ocr_free import hateful_images, run_hateful_memes

    return run_hateful_memes(
        r.the_scorer(),
        hateful_images(r.one(), r.images)[: r.limit],
        cot=r.cot,
        norm=r.norm or "none",
        **r.kw(),
    )


def _describe(r: Request) -> TaskResult:
    from kosmos_train.eval.describe import load_descriptions, run_describe

    if not r.classes:
        raise ValueError("--task describe needs --classes FILE (class names, descriptions, example images)")
    category, classes = load_descriptions(r.classes)
    return run_describe(
        r.the_scorer(), r.one(), classes, category, norm=r.norm or "none", limit=r.limit, **r.kw()
    )


def _webqa(r: Request) -> TaskResult:
    from kosmos_train.eval.webqa import load_webqa, run_webqa

    return run_webqa(r.the_scorer(), load_webqa(r.one(), r.images)[: r.limit], **r.kw())


def _language(r: Request) -> TaskResult:
    from kosmos_train.eval.choice import DEFAULT_NORM
    from kosmos_train.eval.language import load_language, run_language

    if r.prompt is not None:
        raise ValueError(f"--prompt does not apply to {r.task} (its prompt is built from each row's fields)")
    items = load_language(r.task, r.one(), r.annotations)[: r.limit]
    pool = load_language(r.task, r.pool) if r.pool else None
    return run_language(r.the_scorer(), r.task, items, r.norm or DEFAULT_NORM, r.shots, pool, r.seed)


_LANGUAGE_SUMMARIES = {
    "storycloze": "StoryCloze: the right fifth sentence of a story",
    "hellaswag": "HellaSwag: the right ending of an activity description",
    "winograd": "Winograd WSC273: the pronoun's referent (partial scoring)",
    "winogrande": "Winogrande: the blank's option (partial scoring)",
    "piqa": "PIQA: the better solution to a physical goal",
    "boolq": "BoolQ: yes/no question about a passage",
    "cb": "CommitmentBank: True/False/Neither (accuracy and macro-F1)",
    "copa": "COPA: the more plausible cause or effect",
}

TASKS: dict[str, Task] = {
    t.name: t
    for t in [
        Task(
            "caption",
            "captioning, 'An image of', beam 5; CIDEr-D, BLEU-4",
            "COCO/Karpathy json or image_text corpus",
            _caption,
            shots=True,
        ),
        Task(
            "vqa",
            "VQA, 'Question: {q} Answer:', greedy; VQA accuracy",
            "VQAv2 questions json or VizWiz list",
            _vqa,
            shots=True,
        ),
        Task(
            "classify", "ImageNet zero-shot, 'The photo of the'; top-1/top-5", "class-folder root", _classify
        ),
        Task(
            "perplexity",
            "held-out perplexity per stream",
            "corpus folders / instruction .jsonl (several)",
            _perplexity,
        ),
        Task("commonsense", "RelativeSize, MemoryColor, ColorTerms (text only)", "jsonl", _commonsense),
        Task(
            "raven",
            "Raven IQ: matrix + candidate, 'Is it correct?', highest P(Yes); accuracy",
            "items jsonl or item folders",
            _raven,
        ),
        Task(
            "rendered-sst2",
            "Rendered SST-2 sentiment from the picture; accuracy",
            "rendered_sst2.jsonl or SST-2 tsv/jsonl",
            _rendered_sst2,
            cot=True,
        ),
        Task(
            "hateful-memes",
            "HatefulMemes, hate speech yes/no; accuracy, AUROC",
            "HatefulMemes jsonl (id, img, label)",
            _hateful_memes,
            cot=True,
        ),
        Task(
            "describe",
            "classification with class descriptions/examples in context (CUB-style)",
            "class-folder root (+ --classes)",
            _describe,
        ),
        Task(
            "webqa",
            "web page QA (WebSRC-style): screenshot + text; EM, F1",
            "jsonl (image, text|html, question, answers)",
            _webqa,
        ),
        *(
            Task(name, summary, "jsonl (public field names)", _language, shots=True)
            for name, summary in _LANGUAGE_SUMMARIES.items()
        ),
    ]
}
assert set(LANGUAGE_TASKS) <= set(TASKS)


def default_output(run_dir: str | Path, task: str, shots: int) -> Path:
    return Path(run_dir) / "eval" / (f"{task}-{shots}shot.json" if shots else f"{task}.json")


def run_task(
    run_dir: str | Path,
    task: str,
    data: Sequence[str | Path],
    shots: int = 0,
    output: str | Path | None = None,
    model: Any = None,
    tok: Any = None,
    device: str = "cpu",
    **options: Any,
) -> tuple[TaskResult, Path]:
    """Run `task` on `data` with the run's model (or the given model and tokenizer).

    `options` are the `Request` fields: `images` (the image folder of a json), `pool` (few-shot
    demonstrations), `annotations` (VQA answers, PIQA labels), `classes` (class names or
    descriptions), `prompt` (overrides the paper's prompt), `beams` (caption decoding), `limit`
    (first N samples), `norm` (length normalisation of choice tasks), `cot` (chain-of-thought),
    `scorer` (replaces the model in likelihood/generation tasks).
    """
    spec = TASKS.get(task)
    if spec is None:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    if shots and not spec.shots:
        raise ValueError(
            f"--shots applies to {', '.join(t.name for t in TASKS.values() if t.shots)}, not {task}"
        )
    if options.get("cot") and not spec.cot:
        raise ValueError(f"--cot applies to {', '.join(t.name for t in TASKS.values() if t.cot)}, not {task}")
    if model is None and options.get("scorer") is None:
        from kosmos_train.inference.api import load_run

        model, tok = load_run(run_dir, device)
    request = Request(model, tok, task, list(data), run_dir, shots, **options)
    result = spec.run(request)
    result.settings.update({"run": str(run_dir), "data": [str(d) for d in data]})
    return result, write(result, output or default_output(run_dir, task, shots))
