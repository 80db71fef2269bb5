"""Per-core image transform: ours (filters.image) vs img2dataset's Resizer, on the same bytes.

Both sides do the full per-image job on one core: decode, size filters, resize to 256 (shorter
side, keep_ratio; also center_crop), encode JPEG q95. Inputs are real photographs (scikit-image's
`skimage.data`) rescaled and cropped to typical web sizes (longer side 500-2000 px) and encoded as
the web serves them (mostly JPEG q85, some PNG and WebP). The two sides alternate round by round,
so a busy machine slows both alike; each round is timed in CPU seconds of the process (every
decoder is held to one thread), the best round of each is reported, with the ratio.

    .venv/bin/python benchmarks/image_transform.py [--rounds 5] [--images 60]

It also checks that both produce the same picture (PSNR of our output against img2dataset's).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from filters.image import ImageConfig, ProcessedImage, process_image  # noqa: E402

PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "retina",
    "immunohistochemistry",
    "camera",
    "cat",
    "colorwheel",
    "coins",
    "moon",
)


def web_images(n: int, seed: int = 0) -> dict[str, list[bytes]]:
    """n photographs at web sizes, by input format: 70% JPEG q85, 20% PNG, 10% WebP."""
    import skimage.data

    rng = np.random.default_rng(seed)
    sources = [Image.fromarray(getattr(skimage.data, name)()).convert("RGB") for name in PHOTOS]
    out: dict[str, list[bytes]] = {"jpeg": [], "png": [], "webp": []}
    for i in range(n):
        src = sources[i % len(sources)]
        longer = int(rng.integers(500, 2001))
        aspect = float(rng.uniform(0.66, 1.5))
        w, h = (
            (longer, max(64, int(longer / aspect)))
            if aspect >= 1
            else (max(64, int(longer * aspect)), longer)
        )
        scale = max(w / src.width, h / src.height)
        big = src.resize((int(src.width * scale) + 1, int(src.height * scale) + 1), Image.Resampling.BICUBIC)
        left = int(rng.integers(0, big.width - w + 1))
        top = int(rng.integers(0, big.height - h + 1))
        im = big.crop((left, top, left + w, top + h))
        buf = io.BytesIO()
        kind = "jpeg" if i % 10 < 7 else ("png" if i % 10 < 9 else "webp")
        if kind == "jpeg":
            im.save(buf, "JPEG", quality=85)
        elif kind == "png":
            im.save(buf, "PNG")
        else:
            im.save(buf, "WEBP", quality=85)
        out[kind].append(buf.getvalue())
    return out


def ours(mode: str, resample: Image.Resampling | None = None) -> Callable[[bytes], bytes | None]:
    config = ImageConfig(resize_mode=mode, image_size=256, encode_format="jpg", encode_quality=95)  # type: ignore[arg-type]
    if resample is not None:
        config = replace(config, downscale_resample=resample)

    def run(data: bytes) -> bytes | None:
        result = process_image(data, config)
        return result.data if isinstance(result, ProcessedImage) else None

    return run


def img2dataset(mode: str) -> Callable[[bytes], bytes | None]:
    from img2dataset.resizer import Resizer

    resizer = Resizer(
        image_size=256,
        resize_mode=mode,
        resize_only_if_bigger=False,
        encode_quality=95,
        encode_format="jpg",
        min_image_size=64,
    )

    def run(data: bytes) -> bytes | None:
        img_str, *_rest, err = resizer(io.BytesIO(data))
        return None if err else img_str

    return run


def time_round(fn: Callable[[bytes], bytes | None], images: list[bytes]) -> float:
    """CPU seconds of this process for one pass (every decoder runs on one thread, so this is the
    per-core cost, and it holds on a machine shared with other jobs, where wall time does not)."""
    start = time.process_time()
    for data in images:
        fn(data)
    return time.process_time() - start


def psnr(a: bytes, b: bytes) -> float:
    x = np.asarray(Image.open(io.BytesIO(a)).convert("RGB"), dtype=np.float64)
    y = np.asarray(Image.open(io.BytesIO(b)).convert("RGB"), dtype=np.float64)
    if x.shape != y.shape:
        return float("nan")
    mse = float(((x - y) ** 2).mean())
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--images", type=int, default=60)
    args = parser.parse_args()

    import cv2
    import pyvips

    cv2.setNumThreads(1)
    pyvips.concurrency_set(1)
    sets = web_images(args.images)
    sets["web mix"] = sets["jpeg"] + sets["png"] + sets["webp"]
    mb = sum(len(d) for d in sets["web mix"]) / 1e6
    print(
        f"{len(sets['web mix'])} photographs, longer side 500-2000 px, {mb:.1f} MB "
        f"({len(sets['jpeg'])} JPEG, {len(sets['png'])} PNG, {len(sets['webp'])} WebP); "
        f"best of {args.rounds} rounds, one core\n"
    )
    rows = []
    cases = [
        (mode, kind, None)
        for mode in ("keep_ratio", "center_crop")
        for kind in ("jpeg", "png", "webp", "web mix")
    ]
    cases.append(("keep_ratio", "jpeg", Image.Resampling.LANCZOS))
    for mode, kind, resample in cases:
        images = sets[kind]
        a, b = ours(mode, resample), img2dataset(mode)
        a(images[0]), b(images[0])  # warm up
        ta, tb = [], []
        for _ in range(args.rounds):
            ta.append(time_round(a, images))
            tb.append(time_round(b, images))
        quality = np.nanmean([psnr(x, y) for x, y in ((a(d), b(d)) for d in images) if x and y])
        ra, rb = len(images) / min(ta), len(images) / min(tb)
        label = mode + (f" ({resample.name.lower()})" if resample is not None else "")
        rows.append((label, kind, len(images), ra, rb, ra / rb, quality))
    print(
        "| resize mode (ours: bilinear unless named) | input | images | ours img/s/core | "
        "img2dataset img/s/core | ratio | PSNR ours vs img2dataset |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for label, kind, n, ra, rb, ratio, q in rows:
        print(f"| {label} | {kind} | {n} | {ra:.1f} | {rb:.1f} | **{ratio:.2f}x** | {q:.1f} dB |")


if __name__ == "__main__":
    main()
