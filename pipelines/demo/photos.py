"""Real photographs for demos and tests, from the scikit-image wheel (no download needed).

Each comes with a human-written caption, so the demo corpus and trainer tests have real
image-caption pairs. Falls back to generated pictures when scikit-image is not installed.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

# skimage.data name -> caption
PHOTO_CAPTIONS: dict[str, str] = {
    "astronaut": "An astronaut in a white spacesuit holding a helmet, with an American flag behind her.",
    "coffee": "A cup of coffee on a saucer with a spoon, seen from above on a wooden table.",
    "chelsea": "A tabby cat with green eyes looking to the side.",
    "rocket": "A rocket standing on its launch pad under a blue sky.",
    "camera": "A black and white photo of a man with a camera on a tripod.",
    "hubble_deep_field": "Thousands of distant galaxies in a deep field image of space.",
    "immunohistochemistry": "A microscope image of stained tissue cells in brown and blue.",
    "coins": "Old coins lying on a dark background, in black and white.",
    "colorwheel": "A colour wheel showing the full spectrum of hues.",
    "moon": "The surface of the moon with craters, in grey tones.",
    "brick": "A close-up photograph of an old red brick wall.",
    "grass": "A close-up photograph of green grass growing in a meadow.",
    "retina": "A photograph of the retina at the back of a human eye.",
    "cat": "A cat lying down and looking at the camera.",
}


def _as_rgb(array: np.ndarray) -> Image.Image:
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    img = Image.fromarray(array)
    return img.convert("RGB")


def _generated(name: str, index: int) -> Image.Image:
    """A simple picture (coloured shapes) when scikit-image is missing."""
    rng = np.random.default_rng(index)
    img = Image.new("RGB", (320, 240), tuple(int(c) for c in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x, y = (int(v) for v in rng.integers(0, 280, 2))
        draw.ellipse([x, y % 200, x + 40, y % 200 + 40], fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    return img


def load_photos(limit: int | None = None) -> list[tuple[str, Image.Image, str]]:
    """(name, RGB image, caption) for the bundled photographs."""
    try:
        import skimage.data as data
    except ImportError:  # pragma: no cover - scikit-image is in the dev extra
        data = None
    out = []
    for i, (name, caption) in enumerate(PHOTO_CAPTIONS.items()):
        if limit is not None and i >= limit:
            break
        img = _as_rgb(getattr(data, name)()) if data is not None else _generated(name, i)
        out.append((name, img, caption))
    return out


def encode(img: Image.Image, fmt: str = "JPEG", **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()
