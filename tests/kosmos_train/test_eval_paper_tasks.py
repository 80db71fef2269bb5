"""The paper's other evaluations, each on a fixture built here, scored by a scripted scorer whose
likelihoods and generations the test controls, so every metric is checked against a hand count:
Raven IQ (Pillow-drawn matrices with the right candidate planted), Rendered SST-2 (sentences
rendered by the project's renderer) with and without chain-of-thought, HatefulMemes (accuracy and
AUROC), classification with descriptions, web page QA (EM/F1)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from kosmos_train.eval import run_task
from kosmos_train.eval.data import EvalDataError
from kosmos_train.eval.metrics import auroc, squad_exact, squad_f1
from kosmos_train.eval.raven import compose, load_raven
from kosmos_train.eval.render import main as render_main
from kosmos_train.eval.render import render_text
from kosmos_train.eval.scoring import Scored

IMAGE = "<img>"


def pixels_key(image: Image.Image | Path | bytes) -> str:
    """The same picture, however it reached the scorer (PIL, or a file written from it)."""
    if not isinstance(image, Image.Image):
        image = Image.open(image)
    return hashlib.sha256(image.convert("RGB").tobytes()).hexdigest()


class ScriptedScorer:
    """A stand-in model: `score(context, continuation)` is the log-likelihood, `answer(context)` the
    generation; tokens are words. Every call is recorded for the prompt checks."""

    def __init__(
        self,
        score: Callable[[list, str], float] = lambda ctx, c: 0.0,
        answer: Callable[[list], str] = lambda ctx: "",
        max_len: int = 10_000,
    ) -> None:
        self.score, self.answer, self.max_len = score, answer, max_len
        self.scored: list[tuple[list, list[str]]] = []
        self.generated: list[list] = []

    def loglikelihoods(self, context: Sequence, continuations: Sequence[str]) -> list[Scored]:
        self.scored.append((list(context), list(continuations)))
        return [Scored(self.score(list(context), c), len(c.split()), len(c)) for c in continuations]

    def generate(self, contexts: Sequence[Sequence], max_new_tokens: int) -> list[str]:
        self.generated += [list(c) for c in contexts]
        return [self.answer(list(c)) for c in contexts]

    def length(self, context: Sequence) -> int:
        return 1 + sum(len(s.split()) if isinstance(s, str) else 10 for s in context)

    def truncate(self, text: str, max_tokens: int) -> str:
        return " ".join(text.split()[: max(0, max_tokens)])


def text_of(context: Sequence) -> str:
    return "".join(s if isinstance(s, str) else IMAGE for s in context)


def images_of(context: Sequence) -> list:
    return [s for s in context if not isinstance(s, str)]


def run(task: str, data: Sequence, tmp_path: Path, scorer: ScriptedScorer, **kw):
    result, path = run_task(tmp_path / "run", task, [str(d) for d in data], scorer=scorer, **kw)
    assert json.loads(path.read_text())["metrics"] == pytest.approx(result.metrics)
    return result


# --- Raven --------------------------------------------------------------------------------------

RAVEN_COLOURS = ["red", "green", "blue", "orange", "purple", "black"]


def panel(colour: str, size: int = 24) -> Image.Image:
    img = Image.new("RGB", (size, size), "white")
    ImageDraw.Draw(img).ellipse((4, 4, size - 4, size - 4), fill=colour)
    return img


def cell_colour(grid: Image.Image, row: int, col: int) -> tuple[float, ...]:
    w, h = grid.width // 3, grid.height // 3
    cell = grid.crop((col * w, row * h, (col + 1) * w, (row + 1) * h)).convert("RGB")
    data = list(cell.get_flattened_data())
    return tuple(sum(p[k] for p in data) / len(data) for k in range(3))


def rule_scorer() -> ScriptedScorer:
    """P(Yes) is high when the bottom-right cell looks like the rest of its row (the row rule)."""

    def score(context: list, continuation: str) -> float:
        assert continuation == " Yes" and context[1] == "Is it correct?" and len(context) == 2
        grid = context[0]
        a, b = cell_colour(grid, 2, 2), cell_colour(grid, 2, 0)
        return -sum(abs(x - y) for x, y in zip(a, b, strict=True))

    return ScriptedScorer(score)


def raven_item(root: Path, name: str, row_colours: list[str], planted: int, as_matrix: bool) -> dict:
    """8 context panels (row r in colour r) and 6 candidates, the third row's colour at `planted`."""
    folder = root / name
    folder.mkdir(parents=True)
    context = [panel(row_colours[k // 3]) for k in range(8)]
    others = [c for c in RAVEN_COLOURS if c != row_colours[2]]
    candidates = others[:planted] + [row_colours[2]] + others[planted:5]
    for k, c in enumerate(candidates):
        panel(c).save(folder / f"candidate_{k}.png")
    row = {"id": name, "candidates": [f"{name}/candidate_{k}.png" for k in range(6)], "answer": planted}
    if as_matrix:
        grid = Image.new("RGB", (72, 72), "white")
        for k, p in enumerate(context):
            grid.paste(p, ((k % 3) * 24, (k // 3) * 24))
        grid.save(folder / "matrix.png")
        row["matrix"] = f"{name}/matrix.png"
    else:
        for k, p in enumerate(context):
            p.save(folder / f"context_{k}.png")
        row["context"] = [f"{name}/context_{k}.png" for k in range(8)]
    (folder / "answer.txt").write_text(str(planted))
    return row


@pytest.fixture
def raven_items(tmp_path):
    root = tmp_path / "raven"
    rows = [
        raven_item(root, "q1", ["red", "green", "blue"], planted=2, as_matrix=False),
        raven_item(root, "q2", ["black", "orange", "purple"], planted=5, as_matrix=True),
        raven_item(root, "q3", ["green", "blue", "red"], planted=0, as_matrix=False),
    ]
    rows[2]["answer"] = 3  # the file says 3, the planted match is 0: the scorer's pick must count wrong
    (root / "q3" / "answer.txt").write_text("3")
    (root / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_raven_chooses_the_candidate_with_the_highest_yes(raven_items, tmp_path):
    scorer = rule_scorer()
    result = run("raven", [raven_items / "items.jsonl"], tmp_path, scorer)
    assert [p["prediction"] for p in result.predictions] == ["2", "5", "0"]
    assert result.metrics["accuracy"] == pytest.approx(200 / 3) and result.metrics["chance"] == pytest.approx(
        100 / 6
    )
    assert len(scorer.scored) == 18  # six filled-in matrices per item, each its own prompt


def test_raven_folder_layout_reads_the_same_items(raven_items, tmp_path):
    from_jsonl = load_raven(raven_items / "items.jsonl")
    from_folders = load_raven(raven_items)
    assert [(i.id, i.answer, [c.name for c in i.candidates]) for i in from_folders] == [
        (i.id, i.answer, [c.name for c in i.candidates]) for i in from_jsonl
    ]
    assert from_folders[1].matrix is not None and from_folders[0].context is not None
    result = run("raven", [raven_items], tmp_path, rule_scorer())
    assert result.metrics["accuracy"] == pytest.approx(200 / 3)


def test_raven_compose_puts_the_candidate_in_the_last_cell():
    context = [panel("red") for _ in range(8)]
    grid = compose(panel("blue"), context)
    assert grid.size == (72, 72)
    assert cell_colour(grid, 2, 2) == cell_colour(compose(panel("blue"), context), 2, 2)
    assert cell_colour(grid, 2, 2) != cell_colour(grid, 2, 1) and cell_colour(grid, 0, 0) == cell_colour(
        grid, 2, 1
    )


def test_raven_bad_items_are_named(tmp_path):
    (tmp_path / "bad.jsonl").write_text(json.dumps({"candidates": ["a.png"] * 5, "matrix": "m.png"}) + "\n")
    with pytest.raises(EvalDataError, match=r"bad.jsonl:1: .*6 candidates"):
        load_raven(tmp_path / "bad.jsonl")


# --- Rendered SST-2 and chain-of-thought --------------------------------------------------------

SST2 = [
    ("a good and moving film", 1),
    ("dull , lifeless and far too long", 0),
    ("the acting is good but the plot is a mess", 0),
    ("one of the most delightful comedies of the year , full of warm and generous performances", 1),
]


@pytest.fixture
def sst2(tmp_path):
    tsv = tmp_path / "sst2" / "dev.tsv"
    tsv.parent.mkdir()
    tsv.write_text("sentence\tlabel\n" + "".join(f"{s}\t{y}\n" for s, y in SST2))
    by_pixels = {pixels_key(render_text(s)): s for s, _ in SST2}
    return tsv, by_pixels


def sentiment_scorer(by_pixels: dict[str, str], cot: bool = False) -> ScriptedScorer:
    """'Reads' the picture (its sentence, looked up by pixels): positive when it says "good"; with
    chain-of-thought it trusts the rationale instead, which says "delightful" is positive too."""

    def score(context: list, continuation: str) -> float:
        sentence = by_pixels[pixels_key(context[0])]
        text = text_of(context[1:])
        assert text.endswith("Question: what is the sentiment of the opinion? Answer:")
        cue = text if cot else sentence
        if cot:
            assert text.startswith("Introduce this picture in detail: ")
        positive = "good" in cue or (cot and "delightful" in cue)
        return {" positive": -1.0 if positive else -3.0, " negative": -2.0}[continuation]

    def answer(context: list) -> str:
        assert context[1:] == ["Introduce this picture in detail:"]
        return "the picture reads: " + by_pixels[pixels_key(context[0])]

    return ScriptedScorer(score, answer)


def test_rendered_sst2_from_the_tsv_and_from_rendered_files(sst2, tmp_path):
    tsv, by_pixels = sst2
    direct = run("rendered-sst2", [tsv], tmp_path, sentiment_scorer(by_pixels))
    # "good" in 1, 3 -> positive; 3 is labelled negative, 4 ("delightful") is missed: 2 of 4.
    assert [p["prediction"] for p in direct.predictions] == ["positive", "negative", "positive", "negative"]
    assert direct.metrics["accuracy"] == 50.0 and direct.settings["cot"] is False
    assert render_main([str(tsv), str(tmp_path / "rendered")]) == 0
    rendered = tmp_path / "rendered" / "rendered_sst2.jsonl"
    rows = [json.loads(x) for x in rendered.read_text().splitlines()]
    assert [r["label"] for r in rows] == [y for _, y in SST2] and (
        tmp_path / "rendered" / rows[0]["image"]
    ).is_file()
    from_files = run("rendered-sst2", [rendered], tmp_path, sentiment_scorer(by_pixels))
    assert from_files.metrics == direct.metrics


def test_rendered_sst2_chain_of_thought_uses_the_rationale(sst2, tmp_path):
    tsv, by_pixels = sst2
    scorer = sentiment_scorer(by_pixels, cot=True)
    result = run("rendered-sst2", [tsv], tmp_path, scorer, cot=True)
    assert len(scorer.generated) == 4  # stage 1: one rationale per picture
    assert result.metrics["accuracy"] == 75.0  # now 4 is right, 3 still wrong
    assert result.predictions[0]["rationale"] == "the picture reads: " + SST2[0][0]
    assert result.settings["cot"] is True


def test_render_text_wraps_and_fits():
    long = " ".join(["unbelievably"] * 60)
    for text in ("short", long):
        img = render_text(text, size=224)
        grey = img.convert("L")
        dark = [i for i, v in enumerate(grey.get_flattened_data()) if v < 128]
        assert img.size == (224, 224) and dark, text
        rows = {i // 224 for i in dark}
        cols = {i % 224 for i in dark}
        assert min(rows) >= 224 * 0.05 and max(rows) <= 224 * 0.95 and max(cols) <= 224 * 0.95
    assert pixels_key(render_text("a")) != pixels_key(render_text("b"))


def test_render_reports_a_bad_file(tmp_path, capsys):
    (tmp_path / "x.jsonl").write_text('{"label": 1}\n')
    assert render_main([str(tmp_path / "x.jsonl"), str(tmp_path / "out")]) == 2
    assert "x.jsonl:1" in capsys.readouterr().err


# --- HatefulMemes -------------------------------------------------------------------------------

MEMES = [("01", 1, 2.0), ("02", 1, -1.0), ("03", 0, 0.5), ("04", 0, -3.0), ("05", 1, 0.5)]


def test_hateful_memes_accuracy_and_auroc(tmp_path):
    root = tmp_path / "hm"
    (root / "img").mkdir(parents=True)
    margin = {}
    lines = []
    for k, (id_, label, m) in enumerate(MEMES):
        img = Image.new("RGB", (40, 30), (40 * k, 0, 0))
        ImageDraw.Draw(img).text((2, 2), f"meme {id_}", fill="white")
        img.save(root / "img" / f"{id_}.png")
        margin[pixels_key(img)] = m
        lines.append(json.dumps({"id": id_, "img": f"img/{id_}.png", "label": label, "text": f"meme {id_}"}))
    (root / "dev.jsonl").write_text("\n".join(lines) + "\n")

    def score(context, continuation):
        assert text_of(context[1:]) == "Question: does this picture contain real hate speech? Answer:"
        m = margin[pixels_key(context[0])]
        return {" yes": m / 2, " no": -m / 2}[continuation]

    result = run("hateful-memes", [root / "dev.jsonl"], tmp_path, ScriptedScorer(score))
    # yes when margin > 0: [1, 0, 1, 0, 1] against [1, 1, 0, 0, 1] -> 3/5.
    assert result.metrics["accuracy"] == pytest.approx(60.0)
    # positives {2, -1, .5} vs negatives {.5, -3}: 1 + 1 + 0 + 1 + .5 + 1 = 4.5 of 6 pairs.
    assert result.metrics["auroc"] == pytest.approx(75.0)
    assert [p["score"] for p in result.predictions] == [m for _, _, m in MEMES]


def test_auroc_counts_ties_half():
    assert auroc([1, 1], [1, 0]) == 0.5 and auroc([3, 2, 1], [1, 1, 0]) == 1.0
    with pytest.raises(ValueError, match="both"):
        auroc([1.0], [1])


# --- classification with descriptions -----------------------------------------------------------

BIRDS = {"red": "cardinal", "blue": "blue jay", "yellow": "goldfinch"}


def test_describe_puts_the_classes_in_context_and_constrains_the_choice(tmp_path):
    root = tmp_path / "cub"
    for colour, name in BIRDS.items():
        folder = root / "images" / name.replace(" ", "_")
        folder.mkdir(parents=True)
        panel(colour).save(folder / "1.png")
    panel("yellow").save(root / "images" / "cardinal" / "2.png")  # a yellow image filed as cardinal
    (root / "examples").mkdir()
    panel("red").save(root / "examples" / "cardinal.png")
    classes = {
        "category": "bird",
        "classes": [
            {
                "folder": "cardinal",
                "name": "cardinal",
                "description": "a red songbird",
                "examples": ["examples/cardinal.png"],
            },
            {"folder": "blue_jay", "name": "blue jay", "description": "a blue crested bird"},
            {"folder": "goldfinch", "name": "goldfinch", "description": "a small yellow finch"},
        ],
    }
    (root / "classes.json").write_text(json.dumps(classes))
    colour_of = {pixels_key(panel(c)): c for c in BIRDS}

    def score(context, continuation):
        text = text_of(context)
        assert "cardinal: a red songbird\n" in text and "goldfinch: a small yellow finch\n" in text
        assert text.endswith("Question: what is the name of the bird in the picture? Answer:")
        assert len(images_of(context)) == 2  # the cardinal's example, then the query
        return 0.0 if BIRDS[colour_of[pixels_key(images_of(context)[-1])]] == continuation.strip() else -4.0

    result = run(
        "describe", [root / "images"], tmp_path, ScriptedScorer(score), classes=str(root / "classes.json")
    )
    # folders sorted: blue_jay/1 (blue: right), cardinal/1 (red: right), cardinal/2 (yellow: wrong), goldfinch/1.
    assert [p["prediction"] for p in result.predictions] == ["blue jay", "cardinal", "goldfinch", "goldfinch"]
    assert result.metrics["accuracy"] == 75.0 and result.settings["classes"] == 3

    classes["classes"][1]["description"] = ""
    (root / "classes.json").write_text(json.dumps(classes))
    with pytest.raises(EvalDataError, match="blue jay"):
        run("describe", [root / "images"], tmp_path, ScriptedScorer(), classes=str(root / "classes.json"))


# --- web page QA --------------------------------------------------------------------------------


def test_webqa_exact_match_and_f1(tmp_path):
    root = tmp_path / "websrc"
    (root / "shots").mkdir(parents=True)
    for k in range(3):
        Image.new("RGB", (64, 48), (0, 80 * k, 0)).save(root / "shots" / f"p{k}.png")
    (root / "p2.html").write_text(
        "<html><head><style>b{}</style><script>var x=1;</script></head>"
        "<body><h1>Lunch menu</h1><p>Soup: ten dollars</p></body></html>"
    )
    rows = [
        {
            "id": "a",
            "image": "shots/p0.png",
            "text": "Title: Hamlet Publisher: Penguin Books Ltd." + " More." * 40,
            "question": "Who is the publisher?",
            "answer": "Penguin Books Ltd.",
        },
        {
            "id": "b",
            "image": "shots/p1.png",
            "text": "The blue house is for sale.",
            "question": "Which house is for sale?",
            "answers": ["Blue House", "a blue house"],
        },
        {
            "id": "c",
            "image": "shots/p2.png",
            "html": "p2.html",
            "question": "How much is the soup?",
            "answer": "10 dollars",
        },
    ]
    (root / "dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    said = {"a": "Penguin Books Ltd", "b": "the blue house", "c": "ten dollars"}

    def answer(context):
        text = text_of(context)
        assert text.startswith(IMAGE + "Given the context below from web page, extract the answer")
        assert "Question: Who is the publisher of this book? Answer: Penguin Books Ltd. Context: " in text
        row = next(r for r in rows if f"Question: {r['question']} Answer:" in text)
        if row["id"] == "c":
            assert "Context: Lunch menu Soup: ten dollars Question:" in text  # visible text, no script/style
        return said[row["id"]]

    result = run("webqa", [root / "dev.jsonl"], tmp_path, ScriptedScorer(answer=answer))
    # a: exact after normalisation; b: "blue house" == "blue house"; c: F1 1/2 (one of two tokens).
    assert result.metrics["exact_match"] == pytest.approx(200 / 3)
    assert result.metrics["f1"] == pytest.approx(250 / 3)

    short = ScriptedScorer(answer=lambda ctx: "x", max_len=72)
    run("webqa", [root / "dev.jsonl"], tmp_path, short)
    assert all(short.length(c) + 20 <= 72 for c in short.generated)  # the page text was cut to fit
    cut = text_of(short.generated[0]).split("Context: ")[-1].split(" Question:")[0]
    # 72 = 1 (<s>) + 10 (image) + 35 prompt words + 20 answer tokens + 6 words of page text.
    assert cut == "Title: Hamlet Publisher: Penguin Books Ltd."


def test_squad_metrics():
    assert squad_exact("The Beatles!", ["beatles"]) == 1.0 and squad_exact("Beatles band", ["beatles"]) == 0.0
    assert squad_f1("the big red dog", ["red dog"]) == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))
    assert squad_f1("cat", ["dog", "cat"]) == 1.0


def test_eval_does_not_import_the_trainer():
    import subprocess
    import sys

    code = (
        "import sys, pkgutil, importlib, kosmos_train.eval as e\n"
        "import kosmos_train.inference.api\n"
        "for m in pkgutil.iter_modules(e.__path__): importlib.import_module('kosmos_train.eval.' + m.name)\n"
        "print(sorted(m for m in sys.modules if m.startswith('kosmos_train.train')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_image_that_does_not_open_is_a_counted_drop(raven_items, sst2, tmp_path):
    (raven_items / "q2" / "candidate_3.png").write_bytes(b"not a png")
    result = run("raven", [raven_items / "items.jsonl"], tmp_path, rule_scorer())
    assert result.metrics["dropped"] == 1 and len(result.predictions) == 2  # input 3 = 2 scored + 1 dropped
    assert result.settings["dropped"] == {"image does not open: UnidentifiedImageError": 1}
    assert result.metrics["accuracy"] == 50.0  # q1 right, q3 wrong

    tsv, by_pixels = sst2
    assert render_main([str(tsv), str(tmp_path / "rendered")]) == 0
    (tmp_path / "rendered" / "images" / "1.png").unlink()
    for cot in (False, True):
        result = run(
            "rendered-sst2",
            [tmp_path / "rendered" / "rendered_sst2.jsonl"],
            tmp_path,
            sentiment_scorer(by_pixels, cot),
            cot=cot,
        )
        assert result.metrics["dropped"] == 1 and [p["id"] for p in result.predictions] == ["1", "3", "4"]

    shots = tmp_path / "web"
    shots.mkdir()
    (shots / "ok.png").write_bytes(b"")
    Image.new("RGB", (8, 8)).save(shots / "ok.png")
    (shots / "bad.png").write_bytes(b"\x89PNG truncated")
    rows = [
        {"id": i, "image": f"{i}.png", "text": "t", "question": "q?", "answer": "a"} for i in ("ok", "bad")
    ]
    (shots / "dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run("webqa", [shots / "dev.jsonl"], tmp_path, ScriptedScorer(answer=lambda ctx: "a"))
    assert result.metrics == {"exact_match": 100.0, "f1": 100.0, "dropped": 1}


def test_eval_help_lists_every_task(capsys):
    from kosmos_train import cli
    from kosmos_train.eval.runner import TASKS

    with pytest.raises(SystemExit):
        cli.main(["eval", "--help"])
    text = capsys.readouterr().out
    for name in [
        *TASKS,
        "raven",
        "rendered-sst2",
        "hateful-memes",
        "describe",
        "webqa",
        "storycloze",
        "copa",
    ]:
        assert f"\n  {name} " in text, name
    assert "--cot" in text and "--norm" in text
