"""Every task family of the paper's evaluation runs from the CLI on the tiny model of
test_train_image (trained here on 16 image-caption pairs), on fixtures written in the public
formats; the model scorer's cached candidate scores equal a plain full forward pass."""

from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from kosmos_train import cli
from kosmos_train.data import synthetic as S
from kosmos_train.eval.render import render_text
from kosmos_train.eval.scoring import ModelScorer, build_prompt, encode_text
from tests.kosmos_train.test_eval_language import CASES
from tests.kosmos_train.test_eval_paper_tasks import panel, raven_item
from tests.kosmos_train.test_eval_tasks import runs  # noqa: F401  (module-scoped fixtures)
from tests.kosmos_train.test_train_image import SHAPES, trained  # noqa: F401


@pytest.fixture(scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """One small input per task family, in the public formats."""
    root = tmp_path_factory.mktemp("paper_eval")
    rows = [
        raven_item(root / "raven", f"q{k}", ["red", "green", "blue"], planted=k, as_matrix=k == 1)
        for k in range(2)
    ]
    (root / "raven" / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    (root / "sst2.tsv").write_text("sentence\tlabel\na good film\t1\na dull film\t0\n")

    (root / "hm" / "img").mkdir(parents=True)
    memes = []
    for k, label in enumerate([1, 0, 1, 0]):
        render_text(f"meme number {k}", size=64).save(root / "hm" / "img" / f"{k}.png")
        memes.append({"id": k, "img": f"img/{k}.png", "label": label, "text": f"meme number {k}"})
    (root / "hm" / "dev.jsonl").write_text("".join(json.dumps(m) + "\n" for m in memes))

    classes = []
    for shape, colour in SHAPES[:4]:
        folder = root / "shapes" / f"{colour}_{shape}"
        folder.mkdir(parents=True)
        S.shape_image(shape, colour).save(folder / "0.png")
        classes.append(
            {"folder": folder.name, "name": f"{colour} {shape}", "description": f"a {colour} {shape} shape"}
        )
    (root / "examples").mkdir()
    panel("red").save(root / "examples" / "red.png")
    classes[0]["examples"] = ["examples/red.png"]
    (root / "classes.json").write_text(json.dumps({"category": "shape", "classes": classes}))

    (root / "web").mkdir()
    S.shape_image("circle", "red").save(root / "web" / "p.png")
    web = {
        "id": "w",
        "image": "p.png",
        "text": "Shop. " * 400 + "Price: 3 euros.",
        "question": "What is the price?",
        "answer": "3 euros",
    }
    (root / "web" / "dev.jsonl").write_text(json.dumps(web) + "\n")

    for task, task_rows, *_ in CASES:
        (root / f"{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in task_rows))
    return root


def cli_eval(run, task, out, *args):
    assert cli.main(["eval", "--run", str(run), "--task", task, "--output", str(out), *args]) == 0
    saved = json.loads(out.read_text())
    preds = [json.loads(x) for x in out.with_name(out.stem + ".predictions.jsonl").read_text().splitlines()]
    return saved, preds


def test_image_task_families_run_on_the_tiny_model(runs, data, tmp_path, one_thread):  # noqa: F811
    run = runs[0]
    saved, preds = cli_eval(
        run, "raven", tmp_path / "raven.json", "--data", str(data / "raven" / "items.jsonl")
    )
    assert (
        saved["n"] == 2
        and 0 <= saved["metrics"]["accuracy"] <= 100
        and all(len(p["logprobs"]) == 6 for p in preds)
    )

    saved, preds = cli_eval(run, "rendered-sst2", tmp_path / "sst.json", "--data", str(data / "sst2.tsv"))
    assert saved["n"] == 2 and {p["prediction"] for p in preds} <= {"positive", "negative"}
    saved, preds = cli_eval(
        run, "rendered-sst2", tmp_path / "cot.json", "--data", str(data / "sst2.tsv"), "--cot"
    )
    assert saved["settings"]["cot"] is True and all(isinstance(p["rationale"], str) for p in preds)

    saved, preds = cli_eval(
        run, "hateful-memes", tmp_path / "hm.json", "--data", str(data / "hm" / "dev.jsonl")
    )
    assert 0 <= saved["metrics"]["auroc"] <= 100 and len(preds) == 4

    saved, preds = cli_eval(run, "webqa", tmp_path / "web.json", "--data", str(data / "web" / "dev.jsonl"))
    assert {"exact_match", "f1"} <= set(saved["metrics"]) and isinstance(preds[0]["prediction"], str)


def test_descriptions_in_context_run_on_the_tiny_model(runs, data, tmp_path, one_thread):  # noqa: F811
    # The tiny model never saw text before an image, so its choice here is not expected to be good
    # (it picks one class for every picture); the run checks the layout end to end.
    saved, preds = cli_eval(
        runs[0],
        "describe",
        tmp_path / "d.json",
        "--data",
        str(data / "shapes"),
        "--classes",
        str(data / "classes.json"),
    )
    assert saved["n"] == 4 and saved["settings"]["classes"] == 4
    assert saved["settings"]["prompt"] == "Question: what is the name of the shape in the picture? Answer:"
    names = {c["name"] for c in json.loads((data / "classes.json").read_text())["classes"]}
    assert all(p["prediction"] in names and len(p["logprobs"]) == 4 for p in preds)


def test_language_tasks_run_zero_and_few_shot(runs, data, tmp_path, one_thread):  # noqa: F811
    for task, task_rows, *_ in CASES:
        saved, preds = cli_eval(
            runs[0], task, tmp_path / f"{task}.json", "--data", str(data / f"{task}.jsonl")
        )
        assert saved["n"] == len(task_rows) and {"accuracy/none", "accuracy/token", "accuracy/char"} <= set(
            saved["metrics"]
        )
    saved, _ = cli_eval(
        runs[0], "copa", tmp_path / "copa1.json", "--data", str(data / "copa.jsonl"), "--shots", "1"
    )
    assert saved["settings"]["shots"] == 1


def test_model_scorer_equals_a_full_forward_pass(trained, one_thread):  # noqa: F811
    pictures, model, tok = trained
    scorer = ModelScorer(model, tok)
    context = [pictures[9][0], "Question: what colour?\nAnswer:"]
    continuations = [" a blue square.", " red", " the moon and old coins"]
    got = scorer.loglikelihoods(context, continuations)
    prompt = build_prompt(model, tok, context)
    assert tok.layout.line_end in prompt.ids  # the newline is a </line>, as in training documents
    for cont, s in zip(continuations, got, strict=True):
        ids = encode_text(tok, cont)
        full = torch.tensor([prompt.ids + ids])
        with torch.no_grad():
            h = model.hidden(full, torch.stack(prompt.pixels))
            logp = model.decoder.logits(h).float().log_softmax(-1)[0]
        n = len(prompt.ids)
        expected = sum(float(logp[n - 1 + k, t]) for k, t in enumerate(ids))
        assert (
            s.logprob == pytest.approx(expected, abs=1e-3) and s.tokens == len(ids) and s.chars == len(cont)
        )
    with pytest.raises(ValueError, match="exceeds the model's"):
        scorer.loglikelihoods(["word " * 400], [" x"])
