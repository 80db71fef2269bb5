"""Every eval task runs from the CLI on small fixtures in the real formats, and the harness pairs
images with their references: the tiny model of test_train_image (trained on 16 image-caption
pairs) scores higher CIDEr on its own captions than an untrained model and than itself against
shuffled references."""

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from kosmos_train import cli
from kosmos_train.data import synthetic as S
from kosmos_train.eval import run_task
from kosmos_train.eval.captioning import continuation, demonstrations
from kosmos_train.eval.data import load_captions, load_class_folders, load_commonsense, load_vqa
from kosmos_train.eval.metrics import caption_scores, vqa_accuracy
from kosmos_train.eval.report import predictions_path
from kosmos_train.model.architecture.kosmos import Kosmos
from kosmos_train.model.config import KosmosConfig
from kosmos_train.model.run_dir import save_pretrained
from schemas.kinds import Kind
from tests.kosmos_train.test_train_image import PROMPT, SHAPES, trained  # noqa: F401  (the module-scoped fixture)

COLOUR_ANSWERS = ["red"] * 8 + ["dark red", "pink"]


@pytest.fixture(scope="module")
def runs(trained, tmp_path_factory):  # noqa: F811
    """(trained run dir, untrained run dir, pictures); the untrained one shares config and tokenizer."""
    pictures, model, tok = trained
    root = tmp_path_factory.mktemp("eval_runs")
    save_pretrained(model, root / "trained", tok.path)
    config = KosmosConfig.load(root / "trained" / "config.json")
    config.vision.pretrained = None
    torch.manual_seed(0)
    save_pretrained(Kosmos(config).eval(), root / "untrained", tok.path)
    return root / "trained", root / "untrained", pictures


@pytest.fixture(scope="module")
def fixtures(runs, tmp_path_factory):
    """The public formats, written from the 16 training pictures."""
    _, _, pictures = runs
    root = tmp_path_factory.mktemp("eval_data")
    images = root / "val2014"
    images.mkdir()
    coco = {"images": [], "annotations": []}
    for i, (img, caption) in enumerate(pictures, start=1):
        name = f"COCO_val2014_{i:012d}.jpg"
        img.convert("RGB").save(images / name)
        coco["images"].append({"id": i, "file_name": name})
        coco["annotations"].append({"id": 100 + i, "image_id": i, "caption": continuation(caption, PROMPT)})
    (root / "captions_val2014.json").write_text(json.dumps(coco))

    shapes = [
        i for i, (_, c) in enumerate(pictures, start=1) if any(f"{col} {sh}" in c for sh, col in SHAPES)
    ]
    questions = {
        "questions": [
            {"image_id": i, "question": "What color is the shape?", "question_id": 1000 + i}
            for i in shapes[:3]
        ]
    }
    annotations = {
        "annotations": [
            {
                "question_id": 1000 + i,
                "image_id": i,
                "answer_type": "other",
                "question_type": "what color",
                "answers": [
                    {"answer": a, "answer_id": k + 1, "answer_confidence": "yes"}
                    for k, a in enumerate(COLOUR_ANSWERS)
                ],
            }
            for i in shapes[:3]
        ]
    }
    (images / "v2_OpenEnded_mscoco_val2014_questions.json").write_text(json.dumps(questions))
    (images / "v2_mscoco_val2014_annotations.json").write_text(json.dumps(annotations))

    classes = root / "imagenet"
    for shape, colour in SHAPES:
        folder = classes / f"{colour}_{shape}"
        folder.mkdir(parents=True)
        S.shape_image(shape, colour).save(folder / "0.JPEG")

    lines = [
        {"item1": "an elephant", "item2": "a cat", "label": True},
        {"item1": "a coin", "item2": "the moon", "label": False},
        {"object": "the moon", "color": "white"},
        {"object": "a cup of coffee", "color": "brown"},
    ]
    (root / "commonsense.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")

    matched = S.image_text_samples(pictures, name="held")
    rotated = [(img, pictures[(i + 1) % len(pictures)][1]) for i, (img, _) in enumerate(pictures)]
    S.write_corpus(root / "held_image_text", Kind.IMAGE_TEXT, matched)
    S.write_corpus(root / "held_rotated", Kind.IMAGE_TEXT, S.image_text_samples(rotated, name="rot"))
    S.write_corpus(
        root / "held_text", Kind.TEXT, S.text_samples(["An image of the moon.\nA red circle.", "Old coins."])
    )
    S.write_corpus(
        root / "held_interleaved",
        Kind.INTERLEAVED,
        S.interleaved_samples(
            [["An image of", pictures[0][0], "an astronaut."], ["A blue square.", pictures[9][0]]]
        ),
    )
    return root


def test_loaders_read_the_public_formats(fixtures):
    caps = load_captions(fixtures / "captions_val2014.json", fixtures / "val2014")
    assert len(caps) == 16 and caps[0].references == ["an astronaut."] and os.path.isfile(caps[0].image)
    vqa = load_vqa(fixtures / "val2014" / "v2_OpenEnded_mscoco_val2014_questions.json")
    assert len(vqa) == 3 and vqa[0].answers == COLOUR_ANSWERS and vqa[0].extra["answer_type"] == "other"
    items, classes = load_class_folders(fixtures / "imagenet")
    assert len(items) == 8 and "red circle" in classes and {i.label for i in items} == set(classes)
    cs = list(load_commonsense(fixtures / "commonsense.jsonl"))
    assert (
        cs[0].prompt == "Is an elephant larger than a cat?" and cs[0].answer == "Yes" and cs[1].answer == "No"
    )
    assert (
        cs[2].prompt == "The color of the moon is?" and "white" in cs[2].choices and len(cs[2].choices) == 11
    )
    corpus = load_captions(fixtures / "held_image_text")
    assert len(corpus) == 16 and corpus[0].references == ["An image of an astronaut."]
    assert isinstance(corpus[0].image, bytes)


def test_trained_captions_beat_untrained_and_shuffled_references(runs, fixtures):
    trained_run, untrained_run, _ = runs
    data = [fixtures / "captions_val2014.json"]
    trained_result, path = run_task(trained_run, "caption", data, images=str(fixtures / "val2014"))
    untrained_result, _ = run_task(untrained_run, "caption", data, images=str(fixtures / "val2014"))
    preds = [p["prediction"] for p in trained_result.predictions]
    refs = [p["references"] for p in trained_result.predictions]
    shuffled, _ = caption_scores(preds, refs[5:] + refs[:5])
    cider = trained_result.metrics["CIDEr"]
    assert cider > 200, trained_result.predictions
    assert cider > untrained_result.metrics["CIDEr"] + 100
    assert cider > shuffled["CIDEr"] + 100
    assert trained_result.metrics["BLEU-4"] > untrained_result.metrics["BLEU-4"]
    assert trained_result.settings["beams"] == 5 and trained_result.settings["prompt"] == "An image of"
    saved = json.loads(path.read_text())
    assert saved["metrics"]["CIDEr"] == pytest.approx(cider) and saved["n"] == 16
    assert len(predictions_path(path).read_text().splitlines()) == 16


def test_few_shot_demonstrations_are_seeded_and_exclude_the_query(fixtures):
    items = load_captions(fixtures / "captions_val2014.json", fixtures / "val2014")
    first = [[d.id for d, _ in demonstrations(i, it, items, 2, seed=3)] for i, it in enumerate(items)]
    again = [[d.id for d, _ in demonstrations(i, it, items, 2, seed=3)] for i, it in enumerate(items)]
    other = [[d.id for d, _ in demonstrations(i, it, items, 2, seed=4)] for i, it in enumerate(items)]
    assert first == again and first != other
    assert all(it.id not in ids and len(set(ids)) == 2 for it, ids in zip(items, first, strict=True))


def test_every_task_runs_from_the_cli(runs, fixtures, tmp_path, capsys):
    run = str(runs[0])
    images = str(fixtures / "val2014")
    out = tmp_path / "results"
    calls = {
        "caption": [
            "--data",
            str(fixtures / "captions_val2014.json"),
            "--images",
            images,
            "--shots",
            "2",
            "--limit",
            "4",
            "--beams",
            "2",
        ],
        "vqa": [
            "--data",
            str(fixtures / "val2014" / "v2_OpenEnded_mscoco_val2014_questions.json"),
            "--shots",
            "1",
        ],
        "classify": ["--data", str(fixtures / "imagenet")],
        "perplexity": [
            "--data",
            *(str(fixtures / n) for n in ("held_image_text", "held_text", "held_interleaved")),
        ],
        "commonsense": ["--data", str(fixtures / "commonsense.jsonl")],
    }
    for task, args in calls.items():
        assert (
            cli.main(["eval", "--run", run, "--task", task, "--output", str(out / f"{task}.json"), *args])
            == 0
        )
        printed = capsys.readouterr().out
        assert printed.splitlines()[1].split() == ["task", task] and str(out / f"{task}.json") in printed
        saved = json.loads((out / f"{task}.json").read_text())
        assert saved["task"] == task and saved["metrics"], (task, saved)
        assert (out / f"{task}.predictions.jsonl").read_text().strip()
    caption = [json.loads(x) for x in (out / "caption.predictions.jsonl").read_text().splitlines()]
    assert len(caption) == 4 and all(len(p["demonstrations"]) == 2 for p in caption)
    vqa = [json.loads(x) for x in (out / "vqa.predictions.jsonl").read_text().splitlines()]
    assert all(p["accuracy"] == pytest.approx(vqa_accuracy(p["prediction"], COLOUR_ANSWERS)) for p in vqa)
    ppl = json.loads((out / "perplexity.json").read_text())["metrics"]
    assert {"ppl/image_text", "ppl/text", "ppl/interleaved"} <= set(ppl)
    classify = json.loads((out / "classify.json").read_text())["metrics"]
    assert {"accuracy/constrained", "accuracy/unconstrained", "top5/constrained"} <= set(classify)


def test_constrained_classification_uses_the_image(runs, fixtures, tmp_path):
    # The training captions read "An image of a <colour> <shape>.": with that prompt the class names are
    # what the model learned to say, so ranking them by likelihood must find the drawn shape.
    result, _ = run_task(
        runs[0], "classify", [fixtures / "imagenet"], output=tmp_path / "c.json", prompt="An image of a"
    )
    assert result.metrics["accuracy/constrained"] >= 75, result.predictions
    assert result.metrics["accuracy/unconstrained"] >= 75, result.predictions


def test_held_out_perplexity_is_lower_for_matching_images(runs, fixtures, tmp_path):
    matched, _ = run_task(runs[0], "perplexity", [fixtures / "held_image_text"], output=tmp_path / "m.json")
    rotated, _ = run_task(runs[0], "perplexity", [fixtures / "held_rotated"], output=tmp_path / "r.json")
    assert matched.metrics["ppl/image_text"] < 0.5 * rotated.metrics["ppl/image_text"]
    assert matched.metrics["tokens/image_text"] > 16


def test_the_cli_reports_bad_data(runs, tmp_path):
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(SystemExit, match="neither COCO"):
        cli.main(["eval", "--run", str(runs[0]), "--task", "caption", "--data", str(tmp_path / "x.json")])


def test_caption_references_from_a_corpus(runs, fixtures, tmp_path):
    # The corpus captions repeat the prompt ("An image of a red circle."); they are scored without it.
    result, _ = run_task(
        runs[0], "caption", [fixtures / "held_image_text"], output=tmp_path / "c.json", beams=1
    )
    assert result.metrics["CIDEr"] > 200 and result.predictions[0]["references"] == [
        "An image of an astronaut."
    ]
