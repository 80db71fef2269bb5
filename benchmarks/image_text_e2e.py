"""End to end, same URL list from the same local server: `kosmos-corpus image-text` vs `img2dataset`.

A server process on 127.0.0.1 serves N distinct real photographs at web sizes (crops of
scikit-image's photos, longer side 500-2000 px, JPEG q85). Both tools get the same parquet URL list
(with English captions), one process each, resize to 256 (keep_ratio) and write webdataset shards.
Ours runs on the DirectRunner with its extra filters on (caption language and placeholder rules,
robots.txt, opt-out headers, single-colour check, URL and image-sha256 dedup). Reported: wall
time, CPU time (user + system of the tool's whole process tree), samples per CPU-second (the
figure that holds on a shared machine), successes and peak RSS; the two alternate per round.
`--mix` serves the web mix of benchmarks/image_transform.py instead (70% JPEG, 20% PNG, 10% WebP).

    .venv/bin/python benchmarks/image_text_e2e.py [--images 2000] [--rounds 2] [--mix]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from process_tree import run_tree  # benchmarks/process_tree.py (scripts run from benchmarks/)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = r"""
import io, sys, time
import numpy as np
from PIL import Image
sys.path.insert(0, sys.argv[2])
from pipelines.demo.server import DemoSite
from pipelines.demo.photos import load_photos
photos = [img for _, img, _ in load_photos()]
rng = np.random.default_rng(0)
site = DemoSite({})
with site:
    for i in range(int(sys.argv[1])):
        img = photos[i % len(photos)]
        side = int(rng.integers(500, 2001))
        scale = side / max(img.size)
        big = img.resize((max(64, int(img.width * scale)), max(64, int(img.height * scale))))
        x, y = int(rng.integers(0, 8)), int(rng.integers(0, 8))
        crop = big.crop((x, y, big.width - int(rng.integers(0, 8)), big.height - int(rng.integers(0, 8))))
        buf = io.BytesIO()
        kind = "jpeg" if sys.argv[3] == "jpeg" or i % 10 < 7 else ("png" if i % 10 < 9 else "webp")
        crop.save(buf, kind.upper(), **({"quality": 85} if kind != "png" else {}))
        site.add(f"/img/{i}.jpg", buf.getvalue(), f"image/{kind}")
    print(site.base_url, flush=True)
    time.sleep(3600)
"""


def count_samples(folder: str) -> int:
    import tarfile

    n = 0
    for name in os.listdir(folder):
        if name.endswith(".tar") and not name.startswith("."):
            with tarfile.open(os.path.join(folder, name)) as tar:
                n += sum(1 for m in tar.getmembers() if m.name.endswith(".jpg"))
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--mix", action="store_true", help="serve 70%% JPEG, 20%% PNG, 10%% WebP")
    args = ap.parse_args()
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.demo.photos import PHOTO_CAPTIONS

    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(args.images), REPO, "mix" if args.mix else "jpeg"],
        stdout=subprocess.PIPE,
        text=True,
    )
    work = tempfile.mkdtemp(prefix="e2e-")
    try:
        base = server.stdout.readline().strip()
        captions = list(PHOTO_CAPTIONS.values())
        urls = os.path.join(work, "urls.parquet")
        pq.write_table(
            pa.table(
                {
                    "url": [f"{base}/img/{i}.jpg" for i in range(args.images)],
                    "caption": [captions[i % len(captions)] for i in range(args.images)],
                }
            ),
            urls,
        )
        commands = {
            "img2dataset 1.47": [
                os.path.join(bin_dir, "img2dataset"),
                "--url_list",
                urls,
                "--input_format",
                "parquet",
                "--url_col",
                "url",
                "--caption_col",
                "caption",
                "--output_format",
                "webdataset",
                "--processes_count",
                "1",
                "--thread_count",
                "64",
                "--image_size",
                "256",
                "--resize_mode",
                "keep_ratio",
                "--timeout",
                "10",
                "--retries",
                "0",
                "--number_sample_per_shard",
                "10000",
                "--output_folder",
            ],
            "kosmos-corpus image-text": [
                os.path.join(bin_dir, "kosmos-corpus"),
                "image-text",
                "--input",
                urls,
                "--clip-model",
                "none",
                "--allow-private-network",
                "--timeout",
                "10",
                "--concurrency",
                "64",
                "--output",
            ],
        }
        results: dict[str, list[tuple[float, float, int, float]]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, cmd in commands.items():
                out = os.path.join(work, "out")
                shutil.rmtree(out, ignore_errors=True)
                seconds, cpu, peak, rc, _ = run_tree([*cmd, out], env)
                if rc != 0:
                    raise SystemExit(f"{name} failed with exit code {rc}")
                results[name].append((seconds, peak, count_samples(out), cpu))
        print(
            f"\n{args.images} URLs ({'web mix' if args.mix else 'JPEG'}), one process each, best of "
            f"{args.rounds} rounds (alternating), {os.cpu_count()} cores\n"
        )
        print("| tool | wall s | samples/s | CPU s | samples per CPU-s | samples written | peak RSS MB |")
        print("|---|---|---|---|---|---|---|")
        best, per_cpu = {}, {}
        for name, runs in results.items():
            seconds, _, written, _ = min(runs)
            cpu = min(r[3] for r in runs)
            peak = max(r[1] for r in runs)
            best[name], per_cpu[name] = written / seconds, written / cpu
            print(
                f"| {name} | {seconds:.1f} | {written / seconds:.0f} | {cpu:.1f} | {written / cpu:.0f} | "
                f"{written} | {peak:.0f} |"
            )
        ours, anchor = "kosmos-corpus image-text", "img2dataset 1.47"
        print(f"\nratio ours / img2dataset: samples/s {best[ours] / best[anchor]:.2f}x, ", end="")
        print(f"samples per CPU-second {per_cpu[ours] / per_cpu[anchor]:.2f}x")
    finally:
        server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, REPO)
    main()
