"""Loaders for the public evaluation formats, from local files only.

- captions: COCO caption annotations (`captions_val2014.json`: images + annotations), the
  Karpathy split file (`dataset_coco.json` / `dataset_flickr30k.json`: images with sentences), or
  an image_text corpus folder (samples with the same image bytes are one image with several
  references).
- VQA: VQAv2 questions + annotations json (`v2_OpenEnded_mscoco_val2014_questions.json`,
  `v2_mscoco_val2014_annotations.json`), or a VizWiz-style list of {image, question, answers}.
- classification: ImageNet-style class folders (`DIR/<class>/<image>`), class names from the
  folder names or a mapping file (imagenet_class_index.json, or `wnid name, synonyms` lines).
- commonsense: jsonl lines for RelativeSize ({item1, item2, label}) or
  MemoryColor/ColorTerms ({object, color[, choices]}).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".JPEG", ".JPG", ".PNG")
BASIC_COLOURS = (
    "black",
    "blue",
    "brown",
    "gray",
    "green",
    "orange",
    "pink",
    "purple",
    "red",
    "white",
    "yellow",
)


class EvalDataError(ValueError):
    """An evaluation file that cannot be read; the message names the file and the reason."""


@dataclass
class CaptionItem:
    id: str
    image: str | bytes  # a file path, or encoded bytes (from a corpus)
    references: list[str]


@dataclass
class VQAItem:
    question_id: str
    image: str
    question: str
    answers: list[str]  # the human answers (10 in VQAv2); empty when unannotated
    extra: dict[str, Any] = field(default_factory=dict)  # answer_type, question_type


@dataclass
class ClassItem:
    image: str
    label: str  # the class name


def open_image(image: str | bytes | Image.Image) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, bytes):
        return Image.open(io.BytesIO(image))
    return Image.open(image)


def _read_json(path: str | Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise EvalDataError(f"{path}: cannot read JSON: {e}") from None


def _is_corpus(path: Path) -> bool:
    return path.is_dir() and (path / "manifest.json").is_file()


# --- captions -----------------------------------------------------------------------------------


def load_captions(
    path: str | Path, images: str | Path | None = None, split: str | None = "test"
) -> list[CaptionItem]:
    """Images with their reference captions, from a COCO json, a Karpathy json or a corpus folder.

    `images`: the folder the json's file names are relative to (default: the json's folder).
    `split`: for Karpathy files, the split to keep (KOSMOS-1 reports the Karpathy test split);
    None keeps all.
    """
    path = Path(path)
    if _is_corpus(path):
        return _captions_from_corpus(path)
    data = _read_json(path)
    root = Path(images) if images else path.parent
    if isinstance(data, dict) and "annotations" in data and "images" in data:
        refs: dict[Any, list[str]] = {}
        for ann in data["annotations"]:
            refs.setdefault(ann["image_id"], []).append(ann["caption"])
        return [
            CaptionItem(str(img["id"]), str(root / img["file_name"]), refs[img["id"]])
            for img in data["images"]
            if img["id"] in refs
        ]
    if (
        isinstance(data, dict)
        and isinstance(data.get("images"), list)
        and data["images"]
        and "sentences" in data["images"][0]
    ):
        out = []
        for img in data["images"]:
            if split is not None and img.get("split") not in (split, None):
                continue
            file = root / img.get("filepath", "") / img["filename"]
            out.append(
                CaptionItem(
                    str(img.get("cocoid", img.get("imgid", img["filename"]))),
                    str(file),
                    [s["raw"] for s in img["sentences"]],
                )
            )
        return out
    raise EvalDataError(
        f"{path}: neither COCO caption annotations (images + annotations), a Karpathy split "
        "file (images with sentences) nor a corpus folder"
    )


def _captions_from_corpus(root: Path) -> list[CaptionItem]:
    from schemas.reader import iter_corpus

    by_image: dict[str, CaptionItem] = {}
    for sample in iter_corpus(str(root)):
        if getattr(sample, "caption", None) is None:
            raise EvalDataError(f"{root}: a caption corpus must be image_text, found {sample.kind.value}")
        digest = hashlib.sha256(sample.image).hexdigest()
        if digest in by_image:
            by_image[digest].references.append(sample.caption)
        else:
            by_image[digest] = CaptionItem(sample.key, sample.image, [sample.caption])
    return list(by_image.values())


# --- VQA ----------------------------------------------------------------------------------------


def image_index(folder: str | Path) -> dict[int, str]:
    """Image id -> file, from the trailing digits of each name (COCO_val2014_000000123456.jpg -> 123456)."""
    out = {}
    for p in Path(folder).rglob("*"):
        m = re.search(r"(\d+)$", p.stem)
        if m and p.suffix in IMAGE_SUFFIXES:
            out[int(m.group(1))] = str(p)
    return out


def load_vqa(
    questions: str | Path, annotations: str | Path | None = None, images: str | Path | None = None
) -> list[VQAItem]:
    """VQAv2 questions (+ annotations when given or found beside them), or a VizWiz-style list.

    Images are looked up by id in `images` (default: the questions file's folder, recursively).
    """
    questions = Path(questions)
    data = _read_json(questions)
    root = Path(images) if images else questions.parent
    if isinstance(data, list):  # VizWiz: [{"image", "question", "answers": [{"answer", ...}]}]
        return [
            VQAItem(
                str(row.get("question_id", row["image"])),
                str(root / row["image"]),
                row["question"],
                [a["answer"] if isinstance(a, dict) else str(a) for a in row.get("answers", [])],
                {k: row[k] for k in ("answer_type",) if k in row},
            )
            for row in data
        ]
    if not isinstance(data, dict) or "questions" not in data:
        raise EvalDataError(
            f"{questions}: expected VQAv2 questions ({{'questions': [...]}}) or a VizWiz list"
        )
    if annotations is None:
        found = sorted(p for p in questions.parent.glob("*annotations*.json") if p != questions)
        annotations = found[0] if len(found) == 1 else None
    answers: dict[Any, dict] = {}
    if annotations is not None:
        answers = {a["question_id"]: a for a in _read_json(annotations)["annotations"]}
    index = image_index(root)
    out = []
    for q in data["questions"]:
        if q["image_id"] not in index:
            raise EvalDataError(f"{questions}: no image for image_id {q['image_id']} under {root}")
        ann = answers.get(q["question_id"], {})
        out.append(
            VQAItem(
                str(q["question_id"]),
                index[q["image_id"]],
                q["question"],
                [a["answer"] for a in ann.get("answers", [])],
                {k: ann[k] for k in ("answer_type", "question_type") if k in ann},
            )
        )
    return out


# --- classification -----------------------------------------------------------------------------


def load_class_names(path: str | Path) -> dict[str, str]:
    """Folder name -> class name from imagenet_class_index.json ({"0": [wnid, name]}), a {wnid: name}
    json, or text lines `wnid name[, synonym...]` (LOC_synset_mapping.txt); the first name is used."""
    path = Path(path)
    if path.suffix == ".json":
        data = _read_json(path)
        if all(isinstance(v, list) for v in data.values()):
            return {v[0]: v[1].replace("_", " ") for v in data.values()}
        return {k: str(v).split(",")[0].strip() for k, v in data.items()}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        wnid, _, names = line.strip().partition(" ")
        if wnid:
            out[wnid] = names.split(",")[0].strip() or wnid
    return out


def load_class_folders(
    root: str | Path, names: str | Path | None = None
) -> tuple[list[ClassItem], list[str]]:
    """(images with labels, class names) from `root/<class>/<image>`, classes in sorted folder order."""
    root = Path(root)
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not folders:
        raise EvalDataError(f"{root}: expected one folder per class with images inside")
    mapping = load_class_names(names) if names else {}
    classes = [mapping.get(f.name, f.name.replace("_", " ")) for f in folders]
    items = [
        ClassItem(str(p), cls)
        for f, cls in zip(folders, classes, strict=True)
        for p in sorted(f.iterdir())
        if p.suffix in IMAGE_SUFFIXES
    ]
    return items, classes


# --- commonsense --------------------------------------------------------------------------------


@dataclass
class ChoiceItem:
    """A text-only question answered by choosing the most likely of `choices`."""

    id: str
    kind: str  # "size" or "color"
    prompt: str
    choices: list[str]
    answer: str


def _get(row: dict, *names: str) -> Any:
    lower = {k.lower(): v for k, v in row.items()}
    return next((lower[n] for n in names if n in lower), None)


def _yes_no(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    text = str(value).strip().lower()
    if text in ("yes", "true", "1"):
        return "Yes"
    if text in ("no", "false", "0"):
        return "No"
    raise ValueError(f"label {value!r} is not yes/no")


def load_commonsense(path: str | Path) -> Iterator[ChoiceItem]:
    """RelativeSize lines ({item1, item2, label}) -> "Is {item1} larger than {item2}?" Yes/No;
    MemoryColor/ColorTerms lines ({object|item|noun, color|answer|label[, choices]}) ->
    "The color of {object} is?" over the choices (default: the 11 basic colour terms)."""
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            item2 = _get(row, "item2", "obj2", "object2")
            if item2 is not None:
                item1 = _get(row, "item1", "obj1", "object1")
                yield ChoiceItem(
                    str(row.get("id", n)),
                    "size",
                    f"Is {item1} larger than {item2}?",
                    ["Yes", "No"],
                    _yes_no(_get(row, "label", "answer", "larger")),
                )
                continue
            obj = _get(row, "object", "item", "noun", "descriptor")
            colour = _get(row, "color", "colour", "answer", "label")
            if obj is None or colour is None:
                raise ValueError("expected item1/item2/label or object/color")
            choices = list(_get(row, "choices", "options") or BASIC_COLOURS)
            if colour not in choices:
                choices.append(colour)
            yield ChoiceItem(str(row.get("id", n)), "color", f"The color of {obj} is?", choices, str(colour))
        except (ValueError, TypeError, AttributeError) as e:
            raise EvalDataError(f"{path}:{n}: {e}") from None
