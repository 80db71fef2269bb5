"""`kosmos_train train --data image_text=DIR` on real img2dataset output, with no conversion."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import webdataset as wds
from PIL import Image

from kosmos_train.data.corpus import DataError, SourceSpec, open_source
from kosmos_train.data.foreign import ForeignShards
from kosmos_train.data.sources import SkipLog, SourceReader
from schemas.samples import ImageTextSample
from tests.byod_fixtures import PHOTOS, run_img2dataset, write_url_list
from tests.http_server import TestHTTPServer

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}


@pytest.fixture(scope="module")
def i2d(tmp_path_factory) -> Path:
    """A real img2dataset webdataset folder (00000.tar + _stats.json + .parquet) from a local server."""
    root = tmp_path_factory.mktemp("i2d")
    with TestHTTPServer() as server:
        return run_img2dataset(write_url_list(root / "urls.parquet", server), root / "laion")


def _jpeg(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (96, 80), color).save(buf, "JPEG")
    return buf.getvalue()


def test_trains_tiny_on_an_img2dataset_folder_directly(i2d, tmp_path):
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "kosmos_train.cli",
        "train",
        "--config",
        "tiny",
        "--data",
        f"image_text={i2d}",
    ]
    cmd += ["--output", str(run), "--steps", "3", "--log-every", "1", "--no-progress"]
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    log = [json.loads(line) for line in (run / "logs" / "train.jsonl").read_text().splitlines()]
    steps = [e for e in log if "loss/image_text" in e]
    assert [e["step"] for e in steps] == [1, 2, 3]
    assert all(e["images/image_text"] > 0 and e["skipped/image_text"] == 0 for e in steps)
    assert (run / "model.safetensors").exists() and (run / "tokenizer.model").exists()


def test_brace_pattern_and_glob_read_the_tars_and_bad_samples_are_counted(i2d, tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    shutil.copy(i2d / "00000.tar", shards / "00000.tar")
    with wds.TarWriter(str(shards / "00001.tar")) as tar:
        tar.write({"__key__": "good", "jpg": _jpeg((200, 30, 30)), "txt": b"A red square on a plain page."})
        tar.write({"__key__": "notimage", "jpg": b"this is not a JPEG", "txt": b"Broken bytes."})
        tar.write({"__key__": "nocaption", "png": _jpeg((0, 0, 200))})
        tar.write({"__key__": "twoimages", "jpg": _jpeg((1, 2, 3)), "png": _jpeg((3, 2, 1)), "txt": b"Two."})
        tar.write({"__key__": "badjson", "jpg": _jpeg((9, 9, 9)), "txt": b"Grey.", "json": b"{not json"})
    for pattern in (f"{shards}/{{00000..00001}}.tar", f"{shards}/*.tar", str(shards)):
        source = open_source(SourceSpec("image_text", pattern))
        assert isinstance(source, ForeignShards) and len(source.urls) == 2, pattern
    with pytest.raises(DataError, match="00002.tar does not exist"):
        open_source(SourceSpec("image_text", f"{shards}/{{00000..00002}}.tar"))  # named but missing
    source = open_source(SourceSpec("image_text", f"{shards}/{{00000..00001}}.tar"))
    items = [item for url in source.urls for item in source.items(url)]
    good = [s for _, _, s in items if isinstance(s, ImageTextSample)]
    bad = {k for _, k, s in items if isinstance(s, Exception)}
    assert len(good) == len(PHOTOS) + 1 and bad == {"notimage", "nocaption", "twoimages", "badjson"}
    red = next(s for s in good if s.key == "good")
    assert (red.width, red.height, red.caption) == (96, 80, "A red square on a plain page.")
    laion = next(s for s in good if s.key == "000000000")
    assert laion.url.endswith("/img/astronaut.jpg") and laion.original_width == 512
    assert laion.extra["similarity"] == pytest.approx(0.31) and laion.extra["status"] == "success"
    skips = SkipLog("image_text")
    reader = SourceReader(source, 0, 1, seed=0, shuffle_buffer=1, skips=skips)
    seen = {reader.next().key for _ in range(2 * len(good))}  # two epochs
    assert seen == {s.key for s in good}
    assert skips.count >= len(bad)  # every broken sample reported and skipped, none passed on
