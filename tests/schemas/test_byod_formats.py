"""Our corpora as others load them (Hugging Face datasets, a `*.parquet` glob), and foreign folders in kosmos-shards."""

from __future__ import annotations

import glob
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import webdataset as wds
from PIL import Image

from schemas.cli import main as shards_main
from schemas.inspect import inspect_corpus
from schemas.kinds import Kind
from schemas.manifest import Counts
from schemas.reader import iter_corpus
from schemas.samples import InterleavedSample
from schemas.validate import validate
from schemas.view import view_corpus
from schemas.writer import CorpusWriter, write_manifest
from tests.schemas.conftest import jpeg, key


def varied_documents() -> list[InterleavedSample]:
    """Documents with 0, 1, 2 and 3 images: member sets differ from sample to sample."""
    docs = []
    for i in range(4):
        nodes: list = [f"first paragraph of document {i}"]
        for j in range(i):
            nodes += [
                (jpeg(80 + j, 64, (40 * j, 90, 10 * i)), "jpg", 80 + j, 64),
                f"paragraph {j} after image {j}",
            ]
        docs.append(InterleavedSample.from_nodes(key(Kind.INTERLEAVED, 100 + i), nodes, url=f"http://p/{i}"))
    return docs


@pytest.fixture(scope="module")
def interleaved(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("varied")
    writer = CorpusWriter(str(root), Kind.INTERLEAVED, samples_per_shard=3)
    writer.write_all(varied_documents())
    write_manifest(str(root), Kind.INTERLEAVED, writer.close(), Counts(4, 4, {}))
    return root


def load(builder: str, files: str, tmp_path: Path):
    import datasets  # the dev extra

    return datasets.load_dataset(
        builder, data_files={"train": files}, split="train", cache_dir=str(tmp_path / "hf")
    )


def test_datasets_loads_each_kind_the_documented_way(corpora, interleaved, tmp_path):
    text = load("webdataset", f"{corpora[Kind.TEXT]}/*.tar", tmp_path)
    ours = {s.key: s for s in iter_corpus(str(corpora[Kind.TEXT]))}
    assert sorted(text["__key__"]) == sorted(ours)
    for row in text:
        assert row["txt"] == ours[row["__key__"]].text and row["json"]["id"] == ours[row["__key__"]].id

    pairs = load("webdataset", f"{corpora[Kind.IMAGE_TEXT]}/*.tar", tmp_path)
    ours = {s.key: s for s in iter_corpus(str(corpora[Kind.IMAGE_TEXT]))}
    assert sorted(pairs["__key__"]) == sorted(ours)
    for row in pairs:
        sample = ours[row["__key__"]]
        assert row["txt"] == sample.caption and row["jpg"].size == (sample.width, sample.height)
        assert row["json"]["sha256"] == sample.sha256

    docs = load("parquet", f"{interleaved}/*.parquet", tmp_path)
    ours = {s.key: s for s in iter_corpus(str(interleaved))}
    assert sorted(docs["key"]) == sorted(ours)
    for row in docs:
        sample = ours[row["key"]]
        assert row["texts"] == sample.texts  # texts and images in document order, None where the other is
        assert [im is None for im in row["images"]] == [im is None for im in sample.images]
        for got, want in zip(row["images"], sample.images, strict=True):
            if want is not None:
                assert got.size == (want.width, want.height)
                buf = io.BytesIO()
                got.save(buf, "PNG")
                assert (
                    Image.open(buf).convert("RGB").tobytes()
                    == Image.open(io.BytesIO(want.data)).convert("RGB").tobytes()
                )
    assert sorted(len(s.stored_images) for s in ours.values()) == [0, 1, 2, 3]


def test_parquet_glob_of_each_corpus_is_exactly_its_samples(corpora, interleaved):
    for root in (*corpora.values(), interleaved):
        table = pa.concat_tables(pq.read_table(p) for p in sorted(glob.glob(f"{root}/*.parquet")))
        samples = list(iter_corpus(str(root)))
        assert sorted(table.column("key").to_pylist()) == sorted(s.key for s in samples), root
        assert table.column("key").null_count == 0


def _foreign_folder(root: Path, broken: bool) -> Path:
    """An img2dataset-like folder: 00000.tar (jpg + txt + json) and 00000_stats.json."""
    root.mkdir()
    good = 3
    with wds.TarWriter(str(root / "00000.tar")) as tar:
        for i in range(good):
            image = jpeg(120, 90 + i, (30 * i, 60, 90))
            meta = {
                "url": f"http://x/{i}.jpg",
                "key": f"00000000{i}",
                "status": "success",
                "width": 120,
                "height": 90 + i,
            }
            tar.write(
                {
                    "__key__": f"00000000{i}",
                    "jpg": image,
                    "txt": f"caption {i}".encode(),
                    "json": json.dumps(meta).encode(),
                }
            )
        if broken:
            tar.write({"__key__": "000000009", "jpg": b"\xff\xd8\xff not a JPEG", "txt": b"broken image"})
    stats = {
        "count": 4,
        "successes": good + int(broken),
        "status_dict": {"success": good + int(broken), "HTTP Error 404": 1},
    }
    (root / "00000_stats.json").write_text(json.dumps(stats))
    return root


def test_kosmos_shards_on_a_foreign_folder_reports_what_needs_a_manifest(tmp_path, capsys):
    clean = _foreign_folder(tmp_path / "clean", broken=False)
    report = validate(str(clean))
    assert report.ok and report.mode == "foreign" and report.samples == 3 and report.kind is Kind.IMAGE_TEXT
    assert any("manifest" in check for check in report.not_checked)
    assert shards_main(["validate", str(clean)]) == 0
    assert "not checked (needs manifest.json)" in capsys.readouterr().out

    broken = _foreign_folder(tmp_path / "broken", broken=True)
    report = validate(str(broken))
    assert not report.ok and any(
        p.key == "000000009" and "not an image" in p.message for p in report.problems
    )
    assert shards_main(["validate", f"{broken}/{{00000..00000}}.tar"]) == 1  # a brace pattern works too
    report = validate(f"{clean}/{{00000..00001}}.tar")
    assert [(p.shard, p.message) for p in report.problems] == [
        ("00001.tar", "the pattern names this shard but it does not exist")
    ]

    info = inspect_corpus(str(clean))
    assert info["counts"]["kept"] == 3 and info["counts"]["dropped"] == {"HTTP Error 404": 1}
    assert info["stats"]["samples"] == 3
    assert view_corpus(str(broken), str(tmp_path / "sheet.html")) == 3  # the broken sample is left out
    html = (tmp_path / "sheet.html").read_text()
    assert all(f"caption {i}" in html for i in range(3)) and "broken image" not in html
