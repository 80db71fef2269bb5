"""Language-only instruction tuning -> VQA, at tiny scale: the same training with and without the
instruction stream, both evaluated on the same VQA questions.

Training data, built here: an image_text corpus of coloured shapes ("An image of a red circle.",
7 colours x 4 shapes) for both arms; the instruction arm adds text-only question-answer rows in
the two public formats of the recipe (Unnatural Instructions `core_data.jsonl` and FLANv2
`inputs/targets`), converted and weighted by `kosmos_train.eval.instruction_mix` (rows of each
source as weights, 68,478 : 54,000 at full size). The rows ask the colour or shape of described
objects ("Question: What color is the red ball? Answer:" -> "red"), never of a picture. VQA: the 28
training pictures, "What color is the shape?" and "What shape is it?" in the VQAv2 format, scored
by the official VQA accuracy, with the paper's prompt and with the same prompt ending in `</line>`
(where an instruction row's output begins); "in vocab": answers that are a colour or shape word.
Same seed, steps and budgets in both arms, one tokenizer (trained on both arms' text).

    .venv/bin/python benchmarks/instruction_transfer.py [--steps 300]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dataclasses  # noqa: E402

import torch  # noqa: E402

from kosmos_train.data import synthetic as S  # noqa: E402
from kosmos_train.data.corpus import parse_data_args  # noqa: E402
from kosmos_train.eval import run_task  # noqa: E402
from kosmos_train.eval.instruction_mix import write_recipe  # noqa: E402
from kosmos_train.inference.api import load_run  # noqa: E402
from kosmos_train.train.config import tiny  # noqa: E402
from kosmos_train.train.loop import train  # noqa: E402
from schemas.kinds import Kind  # noqa: E402

COLOURS = [c for c in S.COLOURS if c != "white"]
OBJECTS = ["ball", "car", "hat", "cup", "kite", "book", "shoe", "door"]
QUESTIONS = {"color": "What color is the shape?", "shape": "What shape is it?"}
# The paper's VQA prompt, and the same ending in `</line>` (a newline), where an instruction row's
# output starts (`<s> instruction </line> [input </line>] output </s>`).
PROMPTS = {"paper": "Question: {question} Answer:", "line": "Question: {question} Answer:\n"}


def write_data(root: Path) -> tuple[Path, list[str], Path]:
    """(image_text corpus, instruction --data values, VQA questions json)."""
    pictures = [(S.shape_image(s, c), f"An image of a {c} {s}.") for c in COLOURS for s in S.SHAPES]
    corpus = S.write_corpus(root / "image_text", Kind.IMAGE_TEXT, S.image_text_samples(pictures))
    unnatural = [
        {
            "instruction": "Answer the question about the object.",
            "instances": [
                {"input": f"Question: What color is the {c} {o}? Answer:", "constraints": "", "output": c}
                for c in COLOURS
            ],
        }
        for o in OBJECTS
    ]
    flan = [
        {"inputs": f"Question: What shape is the {c} {s}? Answer:", "targets": s}
        for c in COLOURS
        for s in S.SHAPES
    ]
    (root / "core_data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in unnatural))
    (root / "flan.jsonl").write_text("".join(json.dumps(r) + "\n" for r in flan))
    instruction = write_recipe(root / "core_data.jsonl", root / "flan.jsonl", root / "instructions")

    images = root / "val"
    images.mkdir()
    questions, annotations = [], []
    for i, (img, caption) in enumerate(pictures, start=1):
        img.save(images / f"shape_{i:06d}.png")
        colour, shape = caption.removeprefix("An image of a ").rstrip(".").split()
        for k, (kind, q) in enumerate(QUESTIONS.items()):
            qid = 10 * i + k
            questions.append({"image_id": i, "question": q, "question_id": qid})
            answer = colour if kind == "color" else shape
            annotations.append(
                {
                    "question_id": qid,
                    "image_id": i,
                    "answer_type": kind,
                    "answers": [{"answer": answer, "answer_id": n + 1} for n in range(10)],
                }
            )
    (images / "questions.json").write_text(json.dumps({"questions": questions}))
    (images / "annotations.json").write_text(json.dumps({"annotations": annotations}))
    return corpus, instruction, images / "questions.json"


def run_arm(
    root: Path, name: str, data: list[str], steps: int, questions: Path, tokenizer: Path | None = None
) -> dict:
    """Train `tiny` on the --data values (weights kept, as the CLI takes them), then VQA."""
    specs = parse_data_args(data)
    kinds = {s.kind for s in specs}
    budgets = {k: v for k, v in {"image_text": 512, "instruction": 256}.items() if k in kinds}
    cfg = dataclasses.replace(
        tiny(),
        steps=steps,
        lr=3e-3,
        warmup_steps=10,
        log_every=10_000,
        save_every=0,
        tokens_per_step=budgets,
        micro_batch_tokens=budgets,
    )
    torch.set_num_threads(1)
    start = time.perf_counter()
    run = train(cfg, specs, root / name.replace(" ", "_"), tokenizer=tokenizer, progress=False).run_dir
    seconds = time.perf_counter() - start
    model, tok = load_run(run)
    out = {"arm": name, "train_s": seconds}
    words = set(COLOURS) | set(S.SHAPES)
    for label, prompt in PROMPTS.items():
        result, _ = run_task(
            run, "vqa", [questions], model=model, tok=tok, prompt=prompt, output=root / f"{name}-{label}.json"
        )
        said = [p["normalized"] for p in result.predictions]
        out[label] = {
            "vqa": result.metrics.get("accuracy", 0.0),
            "color": result.metrics.get("accuracy/color", 0.0),
            "shape": result.metrics.get("accuracy/shape", 0.0),
            "in_vocab": 100 * sum(s in words for s in said) / len(said),
            "example": result.predictions[0]["prediction"],
        }
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300, help="optimizer steps per arm (default 300)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus, instruction, questions = write_data(root)
        # The instruction arm first: its tokenizer (trained on captions + instruction text) serves both.
        with_rows = run_arm(
            root, "+ instruction stream", [f"image_text={corpus}", *instruction], args.steps, questions
        )
        tokenizer = root / "+_instruction_stream" / "tokenizer.model"
        rows = [
            run_arm(root, "captions only", [f"image_text={corpus}"], args.steps, questions, tokenizer),
            with_rows,
        ]
    print(f"tiny model, {args.steps} steps per arm, 28 pictures, 56 VQA questions (VQA accuracy, %)")
    print("prompt 'paper': Question: {q} Answer:   prompt 'line': the same + </line>")
    head = f"{'arm':<22} {'train s':>8} {'prompt':>6} {'VQA':>6} {'color':>6} {'shape':>6} {'in vocab':>9}  first answer"
    print(head)
    for r in rows:
        for label in PROMPTS:
            m = r[label]
            print(
                f"{r['arm']:<22} {r['train_s']:>8.1f} {label:>6} {m['vqa']:>6.1f} {m['color']:>6.1f} "
                f"{m['shape']:>6.1f} {m['in_vocab']:>9.1f}  {m['example']!r}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
