"""The command line as a user meets it: the installed console scripts, run in subprocesses.

A mistake (a typo, an img2dataset flag, a wrong column, a missing file, another corpus in the
output directory) is one line on stderr and exit 2 before anything runs; a run that keeps nothing
is a valid, empty corpus.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.demo.text import generated_document

BIN = Path(sys.executable).parent
GERMAN_WORDS = (
    "der die das und ist nicht mit auf für ein eine im dem den von zu es sich auch wir sie haben wird "
    "Haus Stadt Fluss Garten Sommer Winter Schule Markt Brücke Wald Morgen Abend Wetter Straße Bahnhof"
).split()


def german(seed: int, words: int = 80) -> str:
    """German-looking prose, distinct per seed (fastText says de)."""
    r = random.Random(seed)
    return " ".join(r.choice(GERMAN_WORDS) for _ in range(words)).capitalize() + "."


def run(tool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / tool), *args], capture_output=True, text=True, timeout=280, cwd=cwd, check=False
    )


def usage_error(result: subprocess.CompletedProcess[str]) -> str:
    """The one stderr line of a usage error (exit 2, no traceback)."""
    lines = [line for line in result.stderr.splitlines() if not line.startswith("note: ")]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "docs.jsonl", [{"id": str(i), "text": generated_document(i)} for i in range(3)]
    )


@pytest.mark.parametrize(
    ("typo", "meant"), [("--smaples-per-shard", "--samples-per-shard"), ("--samples", "--samples-per-shard")]
)
def test_a_typo_or_an_abbreviation_is_refused_naming_the_flag(
    tmp_path: Path, docs: Path, typo: str, meant: str
) -> None:
    result = run("kosmos-corpus", "text", "--input", str(docs), "--output", "out", typo, "5", cwd=tmp_path)
    assert usage_error(result) == f"kosmos-corpus: error: unknown option {typo} (did you mean {meant}?)"
    assert not (tmp_path / "out").exists()


def test_img2dataset_flags_are_accepted_as_ours_or_answered(tmp_path: Path) -> None:
    urls = tmp_path / "urls.csv"
    urls.write_text("link,text\nhttp://127.0.0.1:1/a.jpg,a red bicycle against a wall\n")
    # --url_col is img2dataset's --url-col: accepted, so the wrong caption column is what is reported.
    result = run(
        "kosmos-corpus",
        *(
            "image-text",
            "--input",
            str(urls),
            "--output",
            "out",
            "--url_col",
            "link",
            "--caption_col",
            "body",
        ),
        cwd=tmp_path,
    )
    line = usage_error(result)
    assert "note: --url_col is img2dataset's name for --url-col" in result.stderr
    assert line == (
        f"kosmos-corpus: error: {urls} has no column 'body' (its columns: link, text); "
        "name the right one with --caption-col"
    )
    result = run(
        "kosmos-corpus",
        *("image-text", "--input", str(urls), "--output", "out", "--processes_count", "4"),
        cwd=tmp_path,
    )
    line = usage_error(result)
    assert "--processes_count is img2dataset's option" in line and "--direct_num_workers" in line


def test_a_missing_column_names_the_file_the_column_and_the_columns_found(tmp_path: Path) -> None:
    body = write_jsonl(tmp_path / "body.jsonl", [{"id": "1", "body": generated_document(1)}])
    result = run("kosmos-corpus", "text", "--input", str(body), "--output", "out", cwd=tmp_path)
    assert usage_error(result) == (
        f"kosmos-corpus: error: {body} has no column 'text' (its columns: body, id); "
        "name the right one with --text-col"
    )


def test_a_missing_input_or_a_bad_value_is_one_line(tmp_path: Path) -> None:
    result = run("kosmos-corpus", "text", "--input", "nope.jsonl", "--output", "out", cwd=tmp_path)
    assert usage_error(result) == "kosmos-corpus: error: no input files match 'nope.jsonl'"
    result = run(
        "kosmos-corpus",
        *("text", "--input", "nope.jsonl", "--output", "out", "--samples-per-shard", "many"),
        cwd=tmp_path,
    )
    assert "argument --samples-per-shard: invalid int value: 'many'" in usage_error(result)


def test_a_fifo_among_the_inputs_is_one_line_not_a_hang(tmp_path: Path) -> None:
    import os

    (tmp_path / "in").mkdir()
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"id": "1", "text": "one"}])
    os.mkfifo(tmp_path / "in" / "b.jsonl")  # opening it for reading would block forever
    for given in (str(tmp_path / "in"), str(tmp_path / "in" / "b.jsonl")):
        result = run("kosmos-corpus", "text", "--input", given, "--output", "out", cwd=tmp_path)
        assert usage_error(result) == f"kosmos-corpus: error: {tmp_path}/in/b.jsonl is a FIFO"


@pytest.fixture(scope="module")
def empty_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A text run on German documents with the default --languages en: every document dropped.

    Inputs, output and drops are file:// URLs (any fsspec URL is accepted)."""
    root = tmp_path_factory.mktemp("empty")
    write_jsonl(root / "de.jsonl", [{"id": str(i), "text": german(i)} for i in range(4)])
    argv = [
        *("text", "--input", f"file://{root}/de.jsonl", "--output", f"file://{root}/out"),
        *("--drops", f"file://{root}/drops", "--no-progress", "--no-quality"),
    ]
    result = run("kosmos-corpus", *argv, cwd=root)
    assert result.returncode == 0, result.stderr
    assert "throughput over" in result.stdout and "dropped: language" in result.stdout
    return root, argv


def test_a_run_that_keeps_nothing_is_an_empty_valid_corpus(empty_corpus: tuple[Path, list[str]]) -> None:
    root, _ = empty_corpus
    manifest = json.loads((root / "out" / "manifest.json").read_text())
    assert manifest["shards"] == []
    assert manifest["counts"] == {"input": 4, "kept": 0, "dropped": {"language": 4}}
    drops = pq.read_table(root / "drops").to_pylist()
    assert sorted(d["reason"] for d in drops) == ["language"] * 4
    check = run("kosmos-shards", "validate", f"file://{root}/out", cwd=root)  # the shard tools take URLs too
    assert check.returncode == 0, check.stdout + check.stderr
    assert "OK - 0 shard(s), 0 samples, text" in check.stdout
    shown = run("kosmos-shards", "inspect", f"file://{root}/out", cwd=root)
    assert shown.returncode == 0 and "dropped: language" in shown.stdout


def test_the_trainer_refuses_an_empty_corpus_in_one_line(empty_corpus: tuple[Path, list[str]]) -> None:
    from kosmos_train.data.corpus import CorpusShards, DataError, SourceSpec

    root, _ = empty_corpus
    with pytest.raises(DataError, match=r"^corpus .*/out has 0 samples"):
        CorpusShards(SourceSpec(kind="text", path=str(root / "out")))


def test_an_output_holding_another_corpus_is_refused(empty_corpus: tuple[Path, list[str]]) -> None:
    root, argv = empty_corpus
    urls = root / "urls.txt"
    urls.write_text("http://127.0.0.1:1/a.jpg\n")
    other_kind = run(
        "kosmos-corpus", "image-text", "--input", str(urls), "--output", str(root / "out"), cwd=root
    )
    assert usage_error(other_kind) == (
        f"kosmos-corpus: error: --output {root}/out holds a text corpus, not image_text; "
        "pass --overwrite to replace it, or choose another --output"
    )
    other_settings = run("kosmos-corpus", *argv, "--languages", "de", cwd=root)
    line = usage_error(other_settings)
    assert "holds a text corpus made with other settings (language.languages: ['en'] -> ['de'])" in line
    assert json.loads((root / "out" / "manifest.json").read_text())["kind"] == "text"  # untouched


def test_the_same_run_again_resumes_and_overwrite_replaces(empty_corpus: tuple[Path, list[str]]) -> None:
    root, argv = empty_corpus
    again = run("kosmos-corpus", *argv, cwd=root)
    assert again.returncode == 0, again.stderr
    (root / "out" / "notes.txt").write_text("the user's own file")  # not part of the corpus
    replaced = run("kosmos-corpus", *argv, "--languages", "de", "--overwrite", cwd=root)
    assert replaced.returncode == 0, replaced.stderr
    manifest = json.loads((root / "out" / "manifest.json").read_text())
    assert manifest["config"]["language"]["languages"] == ["de"]
    assert manifest["counts"]["kept"] == 4 and len(manifest["shards"]) == 1
    assert (
        root / "out" / "notes.txt"
    ).read_text() == "the user's own file"  # --overwrite removes only the corpus
