"""Re-ingesting img2dataset output (webdataset and parquet) without loss, and the ids and hashes others check."""

from __future__ import annotations

import glob
import hashlib
import json
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main as corpus_main
from schemas.reader import iter_corpus
from schemas.validate import validate
from tests.byod_fixtures import PHOTOS, img2dataset_stats, run_img2dataset, write_url_list
from tests.http_server import sample_images

FLAGS = [
    "--timeout",
    "1",
    "--retries",
    "0",
    "--clip-model",
    "none",
    "--languages",
    "any",
    "--allow-private-network",
]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def i2d(tmp_path_factory, _http_server_session) -> dict[str, Path]:
    """img2dataset's webdataset and parquet outputs of the same LAION-like URL list."""
    root = tmp_path_factory.mktemp("i2d")
    urls = write_url_list(root / "urls.parquet", _http_server_session)
    return {fmt: run_img2dataset(urls, root / fmt, fmt) for fmt in ("webdataset", "parquet")}


def tar_members(path: Path) -> dict[str, dict[str, bytes]]:
    out: dict[str, dict[str, bytes]] = {}
    with tarfile.open(path) as tar:
        for m in tar.getmembers():
            key, _, field = m.name.partition(".")
            out.setdefault(key, {})[field] = tar.extractfile(m).read()
    return out


def test_webdataset_reingest_keeps_img2dataset_bytes_and_fetches_nothing(i2d, tmp_path, http_server):
    folder = i2d["webdataset"]
    members = tar_members(folder / "00000.tar")
    out = tmp_path / "out"
    http_server.reset()
    assert (
        corpus_main(
            ["image-text", "--input", str(folder), "--output", str(out), "--reencode", "needed", *FLAGS]
        )
        == 0
    )
    assert http_server.request_count() == 0, "a row that carries its image was fetched"
    samples = list(iter_corpus(str(out)))
    assert len(samples) == len(PHOTOS)  # the folder's .parquet and _stats.json are not more rows
    for s in samples:
        source = members[s.columns["source_key"]]
        meta = json.loads(source["json"])
        assert s.sha256 == sha(source["jpg"]) and s.image == source["jpg"]  # img2dataset's bytes, as they are
        assert s.original_sha256 == meta["sha256"]  # img2dataset's hash of what it downloaded
        assert (s.original_width, s.original_height) == (meta["original_width"], meta["original_height"])
        assert (s.width, s.height) == (meta["width"], meta["height"])
        assert s.columns["similarity"] == meta["similarity"] and s.columns["status"] == "success"
        assert s.extra is None and len(s.uid) == 32 and int(s.uid, 16) >= 0
    assert {s.original_width for s in samples} >= {512, 1600}  # the true original sizes, not 256
    stats = json.loads((out / "shard-000000.stats.json").read_text())
    assert (stats["count"], stats["successes"], stats["failed_to_download"], stats["failed_to_resize"]) == (
        6,
        6,
        0,
        0,
    )
    assert stats["status_dict"] == {"success": 6}
    fields = {"count", "successes", "failed_to_download", "failed_to_resize", "status_dict"}
    assert fields <= set(img2dataset_stats(folder)) & set(stats)  # img2dataset's names, beside ours
    assert validate(str(out)).ok
    # A glob of the corpus folder's Parquet files is exactly the kept samples, their columns top level.
    table = pa.concat_tables(pq.read_table(p) for p in sorted(glob.glob(str(out / "*.parquet"))))
    assert sorted(table.column("key").to_pylist()) == sorted(s.key for s in samples)
    for column in ("caption", "url", "original_sha256", "uid", "similarity", "status", "exif", "source_key"):
        assert column in table.column_names and table.column(column).null_count == 0, column
    always = tmp_path / "always"
    assert (
        corpus_main(
            ["image-text", "--input", str(folder), "--output", str(always), "--reencode", "always", *FLAGS]
        )
        == 0
    )
    again = {s.columns["source_key"]: s for s in iter_corpus(str(always))}
    for s in samples:
        assert again[s.columns["source_key"]].sha256 != s.sha256  # re-encoded ...
        assert again[s.columns["source_key"]].original_sha256 == s.original_sha256  # ... same original


def test_parquet_output_rows_with_image_bytes_are_never_fetched(i2d, tmp_path, http_server):
    table = pq.read_table(i2d["parquet"] / "00000.parquet")
    assert "jpg" in table.column_names
    out = tmp_path / "out"
    http_server.reset()
    rc = corpus_main(
        ["image-text", "--input", str(i2d["parquet"] / "00000.parquet"), "--output", str(out), *FLAGS]
    )
    assert rc == 0
    assert all(http_server.request_count(path) == 0 for path, _, _ in PHOTOS)
    by_url = {row["url"]: row for row in table.to_pylist()}
    samples = list(iter_corpus(str(out)))
    assert len(samples) == len(PHOTOS)
    for s in samples:
        assert s.sha256 == sha(by_url[s.url]["jpg"]) and s.original_sha256 == by_url[s.url]["sha256"]
        json_member = tar_members(out / "shard-000000.tar")[s.key]["json"]
        assert len(json_member) < 2_000  # the bytes are the image, never stringified into the metadata
    assert validate(str(out)).ok


def test_verify_hash_mismatch_is_a_drop_and_datacomp_uid_is_kept(tmp_path, http_server):
    photos = sample_images()
    rows = [
        ("/img/astronaut.jpg", sha(photos["astronaut.jpg"]), "a" * 32),
        ("/img/chelsea.png", sha(photos["chelsea.png"]), "b" * 32),
        ("/img/coffee.webp", "0" * 64, "c" * 32),  # not the served bytes' hash
    ]
    pq.write_table(
        pa.table(
            {
                "url": [http_server.url(p) for p, _, _ in rows],
                "caption": ["An astronaut in a white suit.", "A cat on a chair.", "A cup of coffee."],
                "sha256": [h for _, h, _ in rows],
                "uid": [u for _, _, u in rows],
            }
        ),
        tmp_path / "datacomp.parquet",
    )
    out = tmp_path / "out"
    args = [
        "image-text",
        "--input",
        str(tmp_path / "datacomp.parquet"),
        "--output",
        str(out),
        "--verify-hash",
        "sha256",
    ]
    assert corpus_main([*args, *FLAGS]) == 0
    samples = {s.uid: s for s in iter_corpus(str(out))}
    assert set(samples) == {"a" * 32, "b" * 32}
    assert samples["a" * 32].original_sha256 == rows[0][1]  # the downloaded bytes' hash, stored beside ours
    stats = json.loads((out / "shard-000000.stats.json").read_text())
    assert stats["dropped"] == {"hash_mismatch": 1} and stats["failed_to_download"] == 1
    assert stats["status_dict"] == {"success": 2, "hash_mismatch": 1}
