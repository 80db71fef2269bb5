"""Zero-shot image classification with descriptions (CUB-style): the classes are given in context.

Before the query image, each class is introduced by its example images (if any) and a line
`{name}: {description}` (the description may be empty: images only). Then
`<image> Question: what is the name of the {category} in the picture? Answer:` and the class is the
most likely of the " {name}" continuations (constrained choice; summed log-likelihood by default).

Input: `--data` class folders `DIR/<folder>/<image>` (as `classify`), `--classes` a JSON file
`{"category": "bird", "classes": [{"folder": "001.Black_footed_Albatross", "name": "black footed
albatross", "description": "a large seabird with ...", "examples": ["examples/albatross_1.jpg"]}]}`,
example paths relative to the JSON's folder. Every class folder must have an entry.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from PIL import Image

from kosmos_train.eval.choice import MCItem, run_choices, shared
from kosmos_train.eval.data import IMAGE_SUFFIXES, EvalDataError, _read_json
from kosmos_train.eval.report import TaskResult
from kosmos_train.eval.scoring import Scorer, Segment

PROMPT = "Question: what is the name of the {category} in the picture? Answer:"
DEFAULT_CATEGORY = "object"


@dataclass
class DescribedClass:
    folder: str
    name: str
    description: str = ""
    examples: list[Path] = field(default_factory=list)


def load_descriptions(path: str | Path) -> tuple[str, list[DescribedClass]]:
    """(category, classes) from the class file."""
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("classes"), list) or not data["classes"]:
        raise EvalDataError(
            f"{path}: expected {{'category', 'classes': [{{'folder', 'name', 'description'}}]}}"
        )
    classes = []
    for n, c in enumerate(data["classes"]):
        if not isinstance(c, dict) or not (c.get("folder") or c.get("name")):
            raise EvalDataError(f"{path}: class {n} needs a 'folder' or 'name'")
        name = str(c.get("name") or c["folder"]).replace("_", " ")
        examples = [path.parent / e for e in c.get("examples", [])]
        if not c.get("description") and not examples:
            raise EvalDataError(f"{path}: class {name!r} has neither a description nor example images")
        classes.append(
            DescribedClass(str(c.get("folder") or name), name, str(c.get("description", "")), examples)
        )
    return str(data.get("category", DEFAULT_CATEGORY)), classes


def class_context(classes: Sequence[DescribedClass]) -> list[Segment]:
    """The in-context introduction of every class: its examples, then `name: description`."""
    out: list[Segment] = []
    for c in classes:
        out += [Image.open(e) for e in c.examples]
        out.append(f"{c.name}: {c.description}".rstrip(": ") + "\n")
    return out


def query_items(
    root: str | Path, classes: Sequence[DescribedClass], category: str, prompt: str = PROMPT
) -> Iterator[MCItem]:
    root = Path(root)
    by_folder = {c.folder: k for k, c in enumerate(classes)}
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not folders:
        raise EvalDataError(f"{root}: expected one folder per class with images inside")
    missing = [f.name for f in folders if f.name not in by_folder]
    if missing:
        raise EvalDataError(f"{root}: no description for class folder(s) {', '.join(missing[:5])}")
    head = class_context(classes)
    question = prompt.format(category=category)
    names = [c.name for c in classes]
    for f in folders:
        for image in sorted(p for p in f.iterdir() if p.suffix in IMAGE_SUFFIXES):
            yield shared(
                [*head, image, question],
                [" " + n for n in names],
                id=f"{f.name}/{image.name}",
                label=by_folder[f.name],
                names=names,
            )


def run_describe(
    scorer: Scorer,
    root: str | Path,
    classes: Sequence[DescribedClass],
    category: str = DEFAULT_CATEGORY,
    prompt: str = PROMPT,
    norm: str = "none",
    limit: int | None = None,
) -> TaskResult:
    settings = {
        "prompt": prompt.format(category=category),
        "classes": len(classes),
        "with_descriptions": any(c.description for c in classes),
        "with_examples": sum(len(c.examples) for c in classes),
    }
    items = islice(query_items(root, classes, category, prompt), limit)
    return run_choices(scorer, "describe", items, norm, settings=settings)
