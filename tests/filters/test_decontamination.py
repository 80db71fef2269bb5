"""Documents sharing a 13-word n-gram with an evaluation file are dropped as contaminated."""

from __future__ import annotations

import gzip
import json
import pickle

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from filters.base import Drop, Keep
from filters.decontamination import DecontaminationConfig, Decontaminator
from tests.generated_text import english_documents

QUESTION = (
    "Which of the following best explains why the moon shows phases to an observer standing on the earth "
    "during one month?"
)


@pytest.fixture(scope="module")
def eval_files(tmp_path_factory) -> list[str]:
    d = tmp_path_factory.mktemp("evals")
    (d / "qa.jsonl").write_text(
        json.dumps(
            {"question": QUESTION, "answer": "The relative positions of sun, moon and earth change.", "id": 1}
        )
        + "\n\n"
        + json.dumps({"question": "Too short to match anything.", "id": 2})
        + "\n",
        encoding="utf-8",
    )
    with gzip.open(d / "more.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(
            json.dumps({"text": "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi"})
            + "\n"
        )
    (d / "passage.txt").write_text("One two three four five six seven eight nine ten eleven twelve thirteen.")
    pq.write_table(
        pa.table(
            {
                "text": ["red orange yellow green blue indigo violet black white grey pink brown gold"],
                "n": [1],
            }
        ),
        d / "colors.parquet",
    )
    return [str(d / n) for n in ("qa.jsonl", "more.jsonl.gz", "passage.txt", "colors.parquet")]


def test_shared_13gram_is_dropped_with_source(eval_files) -> None:
    f = Decontaminator(DecontaminationConfig(eval_paths=tuple(eval_files)))
    doc = "In class today the teacher asked: " + QUESTION.upper().replace(" ", "  ") + " Nobody knew."
    d = f(doc)
    assert isinstance(d, Drop) and d.reason == "contaminated" and "qa.jsonl" in d.detail
    for text, name in [
        (
            "Count: one, two, three, four, five, six, seven, eight, nine, ten, eleven, twelve, thirteen!",
            "passage.txt",
        ),
        ("x alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu y", "more.jsonl.gz"),
        ("Red orange yellow green blue indigo violet black white grey pink brown gold.", "colors.parquet"),
    ]:
        d = f(text)
        assert isinstance(d, Drop) and name in d.detail, (text, d)


def test_twelve_shared_words_are_not_enough(eval_files) -> None:
    f = Decontaminator(DecontaminationConfig(eval_paths=tuple(eval_files)))
    twelve = " ".join(QUESTION.split()[:12])
    assert f("Some text: " + twelve + " and then something else entirely.") == Keep()
    assert f("") == Keep()
    assert f("Too short to match anything.") == Keep()  # eval items under 13 words never match
    assert f.index.short_items == 2  # the short question and the short answer


def test_distinct_documents_are_clean_and_a_copied_passage_is_not(eval_files) -> None:
    pages = english_documents(20, words=400)
    page = pages[0]
    f = Decontaminator.from_texts([page[len(page) // 2 : len(page) // 2 + 400]])
    others = pages[1:]
    assert all(f(t) == Keep() for t in others)
    assert f(page).reason == "contaminated"


def test_hit_across_chunk_borders_of_a_big_document() -> None:
    f = Decontaminator.from_texts([QUESTION])
    filler = " ".join(f"filler{i}" for i in range(30_000))  # several shingle chunks
    assert f(filler) == Keep()
    assert f(filler + " " + QUESTION + " " + filler).reason == "contaminated"


def test_missing_file_fails_early_and_pickling_rebuilds(eval_files, tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        Decontaminator(DecontaminationConfig(eval_paths=(str(tmp_path / "nope.jsonl"),)))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{not json\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        Decontaminator(DecontaminationConfig(eval_paths=(str(bad),)))("anything at all")
    f = Decontaminator(DecontaminationConfig(eval_paths=tuple(eval_files)))
    assert len(f.index) > 0
    data = pickle.dumps(f)
    assert len(data) < 2000  # the index is not shipped, it is rebuilt from the files
    assert pickle.loads(data)(QUESTION).reason == "contaminated"
