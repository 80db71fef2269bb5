"""Language-only tasks, zero- and few-shot, by comparing candidate likelihoods (`choice.run_choices`).

Each reads its public JSONL (one object per line; SuperGLUE / Hugging Face field names) and builds
the prompt the usual harness (lm-evaluation-harness) uses:

| task | fields | context -> candidates |
|---|---|---|
| storycloze | input_sentence_1..4, sentence_quiz1/2, answer_right_ending (1/2); the CSV's InputSentence1.., RandomFifthSentenceQuiz1/2, AnswerRightEnding too | the 4 sentences -> " " + each ending |
| hellaswag | activity_label, ctx_a, ctx_b, endings, label | "activity: ctx_a Ctx_b" -> " " + each ending (WikiHow brackets removed) |
| winograd | text, pronoun, pronoun_loc, options, label (WSC273) | text before the pronoun + option -> the rest of the sentence (partial scoring) |
| winogrande | sentence, option1, option2, answer (1/2) | sentence up to "_" + option -> the rest (partial scoring) |
| piqa | goal, sol1, sol2, label (or labels in --annotations, one per line) | "Question: goal\nAnswer:" -> " " + each solution |
| boolq | passage, question, label or answer (bool) | "passage\nQuestion: question?\nAnswer:" -> " no" / " yes" |
| cb | premise, hypothesis, label (entailment/contradiction/neutral or 0/1/2) | "premise\nQuestion: hypothesis. True, False, or Neither?\nAnswer:" -> " True" / " False" / " Neither" |
| copa | premise, choice1, choice2, question (cause/effect), label (0/1) | "premise because/therefore" -> " " + each choice, first letter lower-cased |

A line without a usable label is scored but not counted in the accuracy (test splits).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kosmos_train.eval.choice import DEFAULT_NORM, MCItem, run_choices, shared
from kosmos_train.eval.data import EvalDataError
from kosmos_train.eval.report import TaskResult

LANGUAGE_TASKS = ("storycloze", "hellaswag", "winograd", "winogrande", "piqa", "boolq", "cb", "copa")
CB_LABELS = ("entailment", "contradiction", "neutral")


def _key(name: str) -> str:
    return name.lower().replace("_", "")


def _row(raw: dict[str, Any]) -> dict[str, Any]:
    """Field names without case or underscores, so HF and CSV spellings read alike."""
    return {_key(k): v for k, v in raw.items()}


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """JSON lines, or a CSV with a header row (StoryCloze is distributed as CSV)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise EvalDataError(f"{path}: {e}") from None
    if path.suffix == ".csv":
        import csv
        import io

        return [_row(r) for r in csv.DictReader(io.StringIO(text))]
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(_row(json.loads(line)))
            except ValueError as e:
                raise EvalDataError(f"{path}:{n}: not JSON: {e}") from None
    return rows


def _label(value: Any, n: int, base: int = 0) -> int | None:
    """An index into n candidates from an int-like label counted from `base`; None if absent/-1."""
    if value is None or value == "" or str(value).strip() == "-1":
        return None
    label = int(value) - base
    if not 0 <= label < n:
        raise ValueError(f"label {value!r} out of range")
    return label


def _bool_label(value: Any) -> int | None:
    if value is None or str(value).strip() == "-1":
        return None
    if isinstance(value, bool):
        return int(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return 1
    if text in ("false", "0", "no"):
        return 0
    raise ValueError(f"label {value!r} is not a boolean")


def storycloze(r: dict, n: int) -> MCItem:
    story = " ".join(str(r.get(f"inputsentence{k}", r.get(f"sentence{k}", ""))).strip() for k in range(1, 5))
    endings = [
        str(r.get(f"sentencequiz{k}", r.get(f"randomfifthsentencequiz{k}", ""))).strip() for k in (1, 2)
    ]
    if not story.strip() or not all(endings):
        raise ValueError("expected input_sentence_1..4 and sentence_quiz1/2")
    label = _label(r.get("answerrightending"), 2, base=1)
    return shared([story], [" " + e for e in endings], id=str(r.get("storyid", n)), label=label)


def hellaswag_preprocess(text: str) -> str:
    """The harness's clean-up: WikiHow ` [title]` marks become '. ', other [tags] go."""
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def hellaswag(r: dict, n: int) -> MCItem:
    ctx = r["ctxa"] + " " + r["ctxb"].capitalize()
    query = hellaswag_preprocess(r["activitylabel"] + ": " + ctx)
    endings = [" " + hellaswag_preprocess(e) for e in r["endings"]]
    return shared([query], endings, id=str(r.get("ind", n)), label=_label(r.get("label"), len(endings)))


_UPPER_PRONOUNS = ("A", "An", "The", "She", "He", "It", "They", "My", "His", "Her", "Their")


def winograd_option(text: str, pronoun: str, loc: int, option: str) -> str:
    """The harness's WSC273 option: possessive 's for his/her/..., lower-cased mid-sentence."""
    if pronoun.lower() in ("my", "his", "her", "our", "their"):
        option += "'s"
    first = option.split()[0]
    start_of_sentence = loc < 2 or text[loc - 2] == "."
    if not start_of_sentence and first in _UPPER_PRONOUNS:
        return option.replace(first, first.lower(), 1)
    return option


def winograd(r: dict, n: int) -> MCItem:
    text, pronoun, loc = r["text"], r["pronoun"], int(r["pronounloc"])
    rest = " " + text[loc + len(pronoun) :].strip()
    options = list(r["options"])
    contexts = [[text[:loc] + winograd_option(text, pronoun, loc, o)] for o in options]
    label = _label(r.get("label"), len(options))
    return MCItem(str(r.get("id", n)), contexts, [rest] * len(options), label, names=options)


def winogrande(r: dict, n: int) -> MCItem:
    sentence = r["sentence"]
    idx = sentence.index("_")
    options = [r["option1"], r["option2"]]
    rest = " " + sentence[idx + 1 :].strip()
    contexts = [[sentence[:idx] + o] for o in options]
    label = _label(r.get("answer"), 2, base=1)
    return MCItem(str(r.get("qid", n)), contexts, [rest, rest], label, names=options)


def piqa(r: dict, n: int) -> MCItem:
    solutions = [r["sol1"], r["sol2"]]
    return shared(
        [f"Question: {r['goal']}\nAnswer:"],
        [" " + s for s in solutions],
        id=str(r.get("id", n)),
        label=_label(r.get("label"), 2),
        names=["sol1", "sol2"],
    )


def boolq(r: dict, n: int) -> MCItem:
    label = _bool_label(r["label"] if "label" in r else r.get("answer"))
    question = str(r["question"]).strip().rstrip("?")
    return shared(
        [f"{r['passage']}\nQuestion: {question}?\nAnswer:"],
        [" no", " yes"],
        id=str(r.get("idx", n)),
        label=label,
    )


def cb(r: dict, n: int) -> MCItem:
    value = r.get("label")
    label = CB_LABELS.index(value) if value in CB_LABELS else _label(value, 3)
    hypothesis = str(r["hypothesis"]).strip().rstrip(".")
    return shared(
        [f"{r['premise']}\nQuestion: {hypothesis}. True, False, or Neither?\nAnswer:"],
        [" True", " False", " Neither"],
        id=str(r.get("idx", n)),
        label=label,
        names=list(CB_LABELS),
    )


def copa(r: dict, n: int) -> MCItem:
    connector = {"cause": "because", "effect": "therefore"}[r["question"]]
    premise = str(r["premise"]).strip()
    premise = premise[:-1] if premise.endswith(".") else premise
    choices = [r["choice1"], r["choice2"]]
    return shared(
        [f"{premise} {connector}"],
        [" " + c[0].lower() + c[1:] for c in choices],
        id=str(r.get("idx", n)),
        label=_label(r.get("label"), 2),
        names=["choice1", "choice2"],
    )


BUILDERS: dict[str, Callable[[dict, int], MCItem]] = {
    "storycloze": storycloze,
    "hellaswag": hellaswag,
    "winograd": winograd,
    "winogrande": winogrande,
    "piqa": piqa,
    "boolq": boolq,
    "cb": cb,
    "copa": copa,
}


def load_language(task: str, path: str | Path, labels: str | Path | None = None) -> list[MCItem]:
    """The task's items from its JSONL (`labels`: PIQA's separate label file, one int per line)."""
    rows = read_rows(path)
    if labels is not None:
        values = [x.strip() for x in Path(labels).read_text(encoding="utf-8").splitlines() if x.strip()]
        if len(values) != len(rows):
            raise EvalDataError(f"{labels}: {len(values)} labels for {len(rows)} rows of {path}")
        for row, value in zip(rows, values, strict=True):
            row["label"] = value
    items = []
    for n, row in enumerate(rows, 1):
        try:
            items.append(BUILDERS[task](row, n))
        except (KeyError, ValueError, TypeError, AttributeError, IndexError) as e:
            raise EvalDataError(f"{path}:{n}: not a {task} row ({type(e).__name__}: {e})") from None
    return items


def macro_f1(predictions: list[dict[str, Any]], classes: int, norm: str) -> float:
    """Mean F1 over classes (CB's second SuperGLUE metric), from the predictions' choice and label."""
    labelled = [(p["choice"][norm], p["label"]) for p in predictions if p["label"] is not None]
    f1s = []
    for c in range(classes):
        tp = sum(ch == c and lab == c for ch, lab in labelled)
        fp = sum(ch == c and lab != c for ch, lab in labelled)
        fn = sum(ch != c and lab == c for ch, lab in labelled)
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return 100 * sum(f1s) / classes


def run_language(
    scorer: Any,
    task: str,
    items: list[MCItem],
    norm: str = DEFAULT_NORM,
    shots: int = 0,
    pool: list[MCItem] | None = None,
    seed: int = 0,
) -> TaskResult:
    result = run_choices(
        scorer, task, items, norm, shots, pool, seed, settings={"prompt": "lm-evaluation-harness style"}
    )
    if task == "cb" and result.metrics:
        result.metrics["f1/macro"] = macro_f1(result.predictions, len(CB_LABELS), norm)
    return result
