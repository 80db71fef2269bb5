"""Web page question answering (WebSRC-style): screenshot + extracted text + question, free-form answer.

Prompt (the page's screenshot first, then the paper's instruction with one worked example):
`<image> Given the context below from web page, extract the answer from the given text like this:
Question: Who is the publisher of this book? Answer: Penguin Books Ltd. Context: {text} Question:
{question} Answer:` — greedy until `</s>`/`</line>`; exact match and F1 with SQuAD's answer
normalisation, each the best over the reference answers. The page text is cut (at a token
boundary) so the prompt and the answer fit the model's context.

Input: JSONL lines `{"id", "image": "shots/p1.png", "text": "..." | "html": "pages/p1.html",
"question", "answer": str | "answers": [str]}`, paths relative to the file's folder (or
`--images`). With `html` and no `text`, the text is the page's visible text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kosmos_train.eval.choice import image_problem
from kosmos_train.eval.data import EvalDataError
from kosmos_train.eval.metrics import squad_exact, squad_f1
from kosmos_train.eval.report import TaskResult
from kosmos_train.eval.scoring import Scorer

PROMPT = (
    "Given the context below from web page, extract the answer from the given text like this: "
    "Question: Who is the publisher of this book? Answer: Penguin Books Ltd. "
    "Context: {text} Question: {question} Answer:"
)
MAX_NEW_TOKENS = 20


@dataclass
class WebQAItem:
    id: str
    image: Path
    text: str
    question: str
    answers: list[str]


def html_text(html: str) -> str:
    """The visible text of a page, whitespace collapsed (lxml; scripts and styles dropped)."""
    import lxml.html

    doc = lxml.html.fromstring(html)
    for bad in doc.xpath("//script|//style|//noscript"):
        bad.drop_tree()
    return " ".join(" ".join(doc.itertext()).split())  # a space between elements: "menu</h1><p>Soup"


def load_webqa(path: str | Path, images: str | Path | None = None) -> list[WebQAItem]:
    path = Path(path)
    root = Path(images) if images else path.parent
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text = row.get("text")
            if text is None:
                text = html_text((path.parent / row["html"]).read_text(encoding="utf-8", errors="replace"))
            answers = row["answers"] if "answers" in row else [row["answer"]] if "answer" in row else []
            items.append(
                WebQAItem(
                    str(row.get("id", n)), root / row["image"], str(text), row["question"], list(answers)
                )
            )
        except (ValueError, KeyError, TypeError, OSError) as e:
            raise EvalDataError(
                f"{path}:{n}: expected {{'image', 'text'|'html', 'question', 'answer(s)'}} ({type(e).__name__}: {e})"
            ) from None
    return items


def fit_text(scorer: Scorer, item: WebQAItem, prompt: str, max_new_tokens: int) -> str:
    """The page text cut so that image + prompt + answer fit the model's max length."""
    overhead = scorer.length([item.image, prompt.format(text="", question=item.question)])
    return scorer.truncate(item.text, scorer.max_len - overhead - max_new_tokens)


def run_webqa(
    scorer: Scorer, items: Sequence[WebQAItem], prompt: str = PROMPT, max_new_tokens: int = MAX_NEW_TOKENS
) -> TaskResult:
    problems = [image_problem(it.image) for it in items]
    dropped: dict[str, int] = {}
    for reason in filter(None, problems):
        dropped[reason] = dropped.get(reason, 0) + 1
    items = [it for it, p in zip(items, problems, strict=True) if p is None]
    contexts = [
        [it.image, prompt.format(text=fit_text(scorer, it, prompt, max_new_tokens), question=it.question)]
        for it in items
    ]
    outputs = scorer.generate(contexts, max_new_tokens)
    predictions = []
    for it, out in zip(items, outputs, strict=True):
        row = {"id": it.id, "question": it.question, "prediction": out, "answers": it.answers}
        if it.answers:
            row["exact"] = squad_exact(out, it.answers)
            row["f1"] = squad_f1(out, it.answers)
        predictions.append(row)
    scored = [p for p in predictions if "exact" in p]
    metrics: dict[str, float] = {}
    if scored:
        metrics = {
            "exact_match": 100 * sum(p["exact"] for p in scored) / len(scored),
            "f1": 100 * sum(p["f1"] for p in scored) / len(scored),
        }
    settings: dict = {"prompt": prompt, "decoding": "greedy", "max_new_tokens": max_new_tokens, "shots": 0}
    if dropped:  # a screenshot that does not open: counted, not scored
        metrics["dropped"] = sum(dropped.values())
        settings["dropped"] = dropped
    return TaskResult("webqa", metrics, predictions, settings)
