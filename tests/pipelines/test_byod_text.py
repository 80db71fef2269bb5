"""The text data users already have: The Pile (.jsonl.zst), .xz/.bz2, Hugging Face folders, WARC/WET."""

from __future__ import annotations

import bz2
import io
import json
import lzma
import random
import tracemalloc
from pathlib import Path

import zstandard

from pipelines.cli import main as corpus_main
from pipelines.common.drops import read_drops
from pipelines.io.documents import iter_document_rows
from pipelines.io.input_rows import RowError
from pipelines.io.warc import write_test_warc
from schemas.manifest import read_manifest
from schemas.reader import iter_corpus
from schemas.validate import validate
from tests.generated_text import english_document

PILE_SETS = [
    "Pile-CC",
    "Github",
    "Wikipedia (en)",
    "ArXiv",
    "StackExchange",
    "PubMed Central",
    "FreeLaw",
    "Books3",
]
EXCLUDED = {"Github", "ArXiv", "StackExchange", "PubMed Central"}  # what KOSMOS-1 left out


def pile_rows(n: int, start: int = 0) -> list[dict]:
    return [
        {"text": english_document(start + i), "meta": {"pile_set_name": PILE_SETS[i % len(PILE_SETS)]}}
        for i in range(n)
    ]


def jsonl_bytes(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def write_zst(path: Path, rows: list[dict]) -> Path:
    path.write_bytes(zstandard.ZstdCompressor(level=3).compress(jsonl_bytes(rows)))
    return path


def words(text: str) -> str:
    """The text with whitespace normalised (the filters may tidy line breaks)."""
    return " ".join(text.split())


def run(inputs: list[Path], out: Path, *flags: str) -> tuple[int, dict]:
    rc = corpus_main(
        [
            "text",
            "--input",
            *map(str, inputs),
            "--output",
            str(out / "corpus"),
            "--drops",
            str(out / "drops"),
            *flags,
        ]
    )
    return rc, read_drops(str(out / "drops"))


def test_pile_jsonl_zst_keeps_subset_name_and_excludes_kosmos1_subsets(tmp_path):
    rows = pile_rows(16)
    pile = write_zst(tmp_path / "00.jsonl.zst", rows)
    rc, drops = run([pile], tmp_path)
    assert rc == 0
    counts = read_manifest(str(tmp_path / "corpus")).counts
    assert counts.dropped == {"excluded_subset": 8}  # exclusion is a counted drop, nothing else is lost
    assert counts.input == 16 and counts.kept == 8
    samples = list(iter_corpus(str(tmp_path / "corpus")))
    kept_sets = sorted(s.extra["meta"]["pile_set_name"] for s in samples)
    assert kept_sets == sorted(
        r["meta"]["pile_set_name"] for r in rows if r["meta"]["pile_set_name"] not in EXCLUDED
    )
    assert {words(s.text) for s in samples} == {
        words(r["text"]) for r in rows if r["meta"]["pile_set_name"] not in EXCLUDED
    }
    excluded = [d for d in drops.values() if d["reason"] == "excluded_subset"]
    assert len(excluded) == 8 and all("is excluded" in d["detail"] for d in excluded)
    assert validate(str(tmp_path / "corpus")).ok


def test_xz_bz2_and_json_zst_stream_in_and_none_keeps_every_subset(tmp_path):
    a, b, c = pile_rows(4, 100), pile_rows(4, 200), pile_rows(4, 300)
    (tmp_path / "a.jsonl.xz").write_bytes(lzma.compress(jsonl_bytes(a)))
    (tmp_path / "b.jsonl.bz2").write_bytes(bz2.compress(jsonl_bytes(b)))
    write_zst(tmp_path / "c.json.zst", c)
    (tmp_path / "README.md").write_text("not an input")  # a folder's other files are left out
    rc, _ = run([tmp_path], tmp_path / "run", "--exclude-subsets", "none")
    assert rc == 0
    texts = {words(s.text) for s in iter_corpus(str(tmp_path / "run" / "corpus"))}
    assert texts == {words(r["text"]) for r in a + b + c}


def test_cut_zst_keeps_rows_before_the_fault_and_counts_the_rest(tmp_path):
    """Four zstd frames of two rows each, the last frame cut: six rows kept, the cut one counted."""
    rows = pile_rows(8, 400)
    frames = [
        zstandard.ZstdCompressor(level=3).compress(jsonl_bytes(rows[i : i + 2])) for i in range(0, 8, 2)
    ]
    (tmp_path / "cut.jsonl.zst").write_bytes(b"".join(frames)[:-20])
    (tmp_path / "bad.jsonl.xz").write_bytes(b"this is not xz at all" * 10)
    inputs = [tmp_path / "cut.jsonl.zst", tmp_path / "bad.jsonl.xz"]
    rc, _ = run(inputs, tmp_path / "run", "--exclude-subsets", "none")
    assert rc == 0
    counts = read_manifest(str(tmp_path / "run" / "corpus")).counts
    assert counts.input == counts.kept + sum(counts.dropped.values())
    assert counts.dropped == {"bad_input_file": 2}  # the cut frame and the file that is not xz
    assert counts.kept == 6


def test_hugging_face_folders_arrow_and_parquet(tmp_path):
    import datasets  # the dev extra

    texts = [english_document(500 + i) for i in range(5)]
    ds = datasets.Dataset.from_dict({"text": texts, "id": [f"doc{i}" for i in range(5)]})
    ds.save_to_disk(str(tmp_path / "saved"))  # data-*.arrow + dataset_info.json + state.json
    ds.to_parquet(str(tmp_path / "hub" / "train-00000-of-00001.parquet"))
    for folder in ("saved", "hub"):
        rc, drops = run([tmp_path / folder], tmp_path / f"run-{folder}")
        assert rc == 0, folder
        samples = list(iter_corpus(str(tmp_path / f"run-{folder}" / "corpus")))
        assert sorted(words(s.text) for s in samples) == sorted(map(words, texts)) and not drops
        assert sorted(s.id for s in samples) == [f"doc{i}" for i in range(5)]


def _page(body_text: str) -> bytes:
    paragraphs = "".join(f"<p>{p}</p>" for p in body_text.split("\n\n"))
    return (
        "<html><head><title>t</title></head><body><nav><a href='/'>Home</a> <a href='/a'>About us</a>"
        f" <a href='/c'>Contact</a></nav><article>{paragraphs}</article>"
        "<footer>Copyright 2024 Example Inc. All rights reserved.</footer></body></html>"
    ).encode()


def write_test_wet(path: Path, docs: list[tuple[str, str]]) -> None:
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for url, text in docs:
            record = writer.create_warc_record(
                url,
                "conversion",
                payload=io.BytesIO(text.encode()),
                warc_headers_dict={"Content-Type": "text/plain"},
            )
            writer.write_record(record)


def test_warc_main_text_and_wet_plain_text(tmp_path):
    docs = [english_document(600 + i) for i in range(3)]
    write_test_warc(
        str(tmp_path / "pages.warc.gz"),
        [(f"http://example.com/{i}", _page(d), None) for i, d in enumerate(docs)],
    )
    wet_docs = [(f"http://example.org/{i}", english_document(700 + i)) for i in range(3)]
    write_test_wet(tmp_path / "CC-MAIN-test.warc.wet.gz", wet_docs)
    rc, _ = run([tmp_path], tmp_path / "run")
    assert rc == 0
    samples = {s.url: s for s in iter_corpus(str(tmp_path / "run" / "corpus"))}
    assert len(samples) == 6
    for i, doc in enumerate(docs):
        text = samples[f"http://example.com/{i}"].text
        assert words(text) == words(doc)  # the article's paragraphs, in order
        assert "Copyright" not in text and "About us" not in text  # boilerplate left out
    for url, doc in wet_docs:
        assert words(samples[url].text) == words(doc)  # WET plain text as it is


def _peak_bytes(path: Path) -> int:
    tracemalloc.start()
    with open(path, "rb") as f:
        n = sum(1 for _, row in iter_document_rows(f, path.name) if not isinstance(row, RowError))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert n > 0
    return peak


def test_zst_reading_memory_is_flat_in_file_size(tmp_path):
    """tracemalloc peak while reading a 10x larger .jsonl.zst stays within 1.5x (it is streamed)."""
    vocabulary = english_document(1, words=2000).split()
    r = random.Random(0)
    rows = [
        {"text": " ".join(r.choices(vocabulary, k=150)), "meta": {"pile_set_name": "Pile-CC"}}
        for _ in range(20_000)
    ]
    small = write_zst(tmp_path / "small.jsonl.zst", rows[:2_000])
    big = write_zst(tmp_path / "big.jsonl.zst", rows)
    peak_small, peak_big = _peak_bytes(small), _peak_bytes(big)
    assert peak_big < 1.5 * peak_small + (256 << 10), (peak_small, peak_big)
    assert peak_big < len(jsonl_bytes(rows)) / 10  # a tenth of the big file's text, at most


def test_up_front_column_check_looks_inside_compressed_files(tmp_path):
    from pipelines.io.columns import missing_columns

    rows = pile_rows(2, 800)
    write_zst(tmp_path / "p.jsonl.zst", rows)
    (tmp_path / "p.jsonl.xz").write_bytes(lzma.compress(jsonl_bytes(rows)))
    for name in ("p.jsonl.zst", "p.jsonl.xz"):
        assert missing_columns(str(tmp_path / name), ["text", "body"]) == (["body"], {"text", "meta"})
