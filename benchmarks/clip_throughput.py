"""CLIP scoring throughput (image-caption pairs per second) through filters.clip_score.

Random weights (nothing can be downloaded here; speed does not depend on the weight values).
Each pair is the full scorer path: open_clip preprocessing of a 256 px photograph (the size the
image filter stores), image and text encoding, cosine. One warm-up batch, then the best of
`--repeats` timed passes over `--batches` batches.

    .venv/bin/python benchmarks/clip_throughput.py [--model ViT-B-32] [--batch-sizes 32 128]
        [--device cpu|cuda] [--precision fp32|fp16|bf16] [--threads N] [--no-trim-text]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from PIL import Image  # noqa: E402

from filters.clip_score import ClipConfig, ClipScorer  # noqa: E402
from filters.image import ImageConfig, ProcessedImage, process_image  # noqa: E402


def photos(n: int) -> list[Image.Image]:
    """n real photographs at the stored size (shorter side 256), cycling through skimage.data."""
    import skimage.data

    names = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "retina", "cat", "colorwheel")
    base = []
    for name in names:
        buf = io.BytesIO()
        Image.fromarray(getattr(skimage.data, name)()).convert("RGB").save(buf, "JPEG", quality=90)
        result = process_image(buf.getvalue(), ImageConfig())
        assert isinstance(result, ProcessedImage)
        base.append(Image.open(io.BytesIO(result.data)).convert("RGB"))
    return [base[i % len(base)] for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--batches", type=int, default=2, help="timed batches per pass")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--no-trim-text", action="store_true", help="run the text tower on all 77 tokens")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    captions = [
        f"A photograph of item number {i} on a table, seen from above." for i in range(max(args.batch_sizes))
    ]
    device_name = (
        torch.cuda.get_device_name(0)
        if args.device.startswith("cuda")
        else f"CPU, {torch.get_num_threads()} threads"
    )
    trim = "77-token text" if args.no_trim_text else "text trimmed to the longest caption"
    print(
        f"{args.model}, random weights, {args.precision}, {device_name}, {trim}, torch {torch.__version__}\n"
    )
    print("| model | device | precision | text | batch | pairs/s | ms per batch |")
    print("|---|---|---|---|---:|---:|---:|")
    for bs in args.batch_sizes:
        scorer = ClipScorer(
            ClipConfig(
                model=args.model,
                device=args.device,
                precision=args.precision,
                batch_size=bs,
                trim_text=not args.no_trim_text,
            )
        )
        images, texts = photos(bs), captions[:bs]
        scorer.score(images, texts)  # warm-up (and the one-time model load)
        best = float("inf")
        for _ in range(args.repeats):
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(args.batches):
                scorer.score(images, texts)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            best = min(best, (time.perf_counter() - start) / args.batches)
        text = "77 tokens" if args.no_trim_text else "trimmed"
        print(
            f"| {args.model} | {device_name} | {args.precision} | {text} | {bs} | {bs / best:.1f} | {best * 1000:.0f} |"
        )


if __name__ == "__main__":
    main()
