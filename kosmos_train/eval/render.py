"""Sentences rendered into images with Pillow, as Rendered SST-2 was made from the SST-2 sentences.

`render_text` draws black text on a white square, word-wrapped, the font shrunk until it fits.
Run as a script it renders an SST-2 file into a folder of PNGs and a JSONL the `rendered-sst2`
task reads:

  python -m kosmos_train.eval.render SST-2/test.tsv rendered_sst2/ [--size 448]

writes `rendered_sst2/images/<n>.png` and `rendered_sst2/rendered_sst2.jsonl` with lines
`{"image": "images/<n>.png", "sentence": ..., "label": 0|1}` (label absent when the input has none).
Input: the GLUE TSV (header `sentence<TAB>label`, or `index<TAB>sentence` for test) or JSONL
(`{"sentence", "label"}`, Hugging Face glue/sst2).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from kosmos_train.eval.data import EvalDataError

DEFAULT_SIZE = 448
MARGIN = 0.06  # of the side, on every edge


def _wrap(draw: ImageDraw.ImageDraw, words: list[str], font: Any, width: float) -> list[str]:
    lines: list[str] = []
    for word in words:
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def render_text(text: str, size: int = DEFAULT_SIZE, max_font: int = 48, min_font: int = 8) -> Image.Image:
    """`text` in black on a white size x size RGB image, wrapped at word boundaries."""
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    inner = size * (1 - 2 * MARGIN)
    words = text.split() or [""]
    for font_size in range(max_font, min_font - 1, -2):
        font = ImageFont.load_default(size=font_size)
        lines = _wrap(draw, words, font, inner)
        line_h = font_size * 1.25
        if len(lines) * line_h <= inner and all(draw.textlength(x, font=font) <= inner for x in lines):
            break
    top = (size - len(lines) * line_h) / 2
    for n, line in enumerate(lines):
        draw.text((size * MARGIN, top + n * line_h), line, fill="black", font=font)
    return image


def read_sst2(path: str | Path) -> list[dict[str, Any]]:
    """Rows {"sentence", "label" (0/1 or None)[, "image"]} from a GLUE TSV or a JSONL."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise EvalDataError(f"{path}: {e}") from None
    if path.suffix == ".tsv":
        rows = list(csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))
    else:
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError as e:
                    raise EvalDataError(f"{path}:{n}: not JSON: {e}") from None
    out = []
    for n, row in enumerate(rows, 1):
        sentence = row.get("sentence")
        label = row.get("label")
        if not isinstance(sentence, str) and not row.get("image"):
            raise EvalDataError(f"{path}:{n}: expected a 'sentence' (or a rendered 'image')")
        if label not in (None, "", -1, "-1") and str(label) not in ("0", "1"):
            raise EvalDataError(f"{path}:{n}: label {label!r} is not 0/1")
        out.append(
            {
                "id": str(row.get("idx", row.get("index", n))),
                "sentence": sentence,
                "label": None if label in (None, "", -1, "-1") else int(label),
                **({"image": row["image"]} if row.get("image") else {}),
            }
        )
    return out


def render_file(src: str | Path, out: str | Path, size: int = DEFAULT_SIZE) -> Path:
    """Render every sentence of an SST-2 file; returns the written JSONL."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    index = out / "rendered_sst2.jsonl"
    with open(index, "w", encoding="utf-8") as f:
        for n, row in enumerate(read_sst2(src)):
            name = f"images/{n}.png"
            render_text(row["sentence"], size).save(out / name)
            record = {"id": row["id"], "image": name, "sentence": row["sentence"]}
            if row["label"] is not None:
                record["label"] = row["label"]
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return index


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Render SST-2 sentences into images (Rendered SST-2).")
    p.add_argument("input", help="SST-2 .tsv (GLUE) or .jsonl with 'sentence' and 'label'")
    p.add_argument("output", help="folder for images/ and rendered_sst2.jsonl")
    p.add_argument(
        "--size", type=int, default=DEFAULT_SIZE, help=f"image side in px (default {DEFAULT_SIZE})"
    )
    args = p.parse_args(argv)
    try:
        index = render_file(args.input, args.output, args.size)
    except (EvalDataError, OSError) as e:
        print(f"render: {e}", file=sys.stderr)
        return 2
    print(index)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
