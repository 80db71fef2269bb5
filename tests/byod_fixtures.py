"""Corpora as users bring them: real img2dataset output (its CLI against tests/http_server.py).

img2dataset is run as its command-line tool (launched from a `python -` stdin script it hangs in
its multiprocessing start-up). Its output is what the trainer, `kosmos-shards` and the image-text
pipeline are tested on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.http_server import TestHTTPServer

# (server path, caption, LAION-style extra column): photographs in three formats.
PHOTOS: list[tuple[str, str, float]] = [
    ("/img/astronaut.jpg", "An astronaut with a helmet in front of a flag.", 0.31),
    ("/img/chelsea.png", "A tabby cat looking to the side of the room.", 0.33),
    ("/img/coffee.webp", "A cup of coffee on a saucer with a spoon.", 0.35),
    ("/img/rocket-cmyk.jpg", "A rocket standing on the launch pad under the sky.", 0.30),
    ("/img/camera-gray.jpg", "A man with a camera on a tripod in a field.", 0.29),
    ("/img/astronaut-1600.jpg", "The astronaut photo again at a much larger size.", 0.32),
]
MISSING = ("/missing", "A photo that the server does not have at all.", 0.1)


def write_url_list(path: Path, server: TestHTTPServer, rows=(*PHOTOS, MISSING)) -> Path:
    """A LAION-like URL list: url, caption, similarity (an extra column img2dataset keeps)."""
    pq.write_table(
        pa.table(
            {
                "url": [server.url(p) for p, _, _ in rows],
                "caption": [c for _, c, _ in rows],
                "similarity": [s for _, _, s in rows],
            }
        ),
        path,
    )
    return path


def run_img2dataset(
    url_list: Path, output: Path, output_format: str = "webdataset", image_size: int = 256, *extra: str
) -> Path:
    """img2dataset's CLI on a parquet URL list; returns its output folder."""
    exe = Path(sys.executable).parent / "img2dataset"
    args = [
        str(exe),
        *("--url_list", str(url_list), "--input_format", "parquet"),
        *("--url_col", "url", "--caption_col", "caption"),
        *("--save_additional_columns", '["similarity"]'),
        *("--output_folder", str(output), "--output_format", output_format),
        *("--processes_count", "1", "--thread_count", "4"),
        *("--image_size", str(image_size), "--resize_mode", "keep_ratio"),
        *("--timeout", "2", "--retries", "0", "--disallowed_header_directives", "[]"),
        *extra,
    ]
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    done = subprocess.run(
        args, env=env, cwd=url_list.parent, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return output


def img2dataset_stats(folder: Path) -> dict:
    return json.loads((folder / "00000_stats.json").read_text())
