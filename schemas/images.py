"""Decoding stored images for checks and previews (never for the pipeline's own filtering)."""

from __future__ import annotations

import io
import warnings

from PIL import Image

# Stored images are resized by the pipelines; anything far larger is suspicious.
MAX_STORED_PIXELS = 64_000_000
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
"""The only formats readers of shards and run directories let Pillow open: the formats the web serves
and the pipelines store. Others (EPS, which runs Ghostscript; PSD, ICNS, ...) are refused by name."""


def open_image(data: bytes) -> Image.Image:
    """Pillow's open, limited to IMAGE_FORMATS (UnidentifiedImageError for any other format)."""
    return Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)


def decode_problem(data: bytes) -> tuple[tuple[int, int] | None, str | None]:
    """((width, height), None) if the bytes decode fully, else (None, why)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open_image(data) as img:
                size = img.size
                if size[0] * size[1] > MAX_STORED_PIXELS:
                    return None, f"image of {size[0]}x{size[1]} pixels exceeds {MAX_STORED_PIXELS}"
                img.load()
                return size, None
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for bad data; each is a finding
        return None, f"image does not decode: {type(e).__name__}: {e}"


def thumbnail_jpeg(data: bytes, max_side: int = 256, quality: int = 80) -> bytes | None:
    """A small JPEG preview of an image, or None if it does not decode."""
    try:
        with open_image(data) as img:
            img.draft("RGB", (max_side, max_side))
            img = img.convert("RGB")
            img.thumbnail((max_side, max_side))
            out = io.BytesIO()
            img.save(out, "JPEG", quality=quality)
            return out.getvalue()
    except Exception:  # noqa: BLE001 - a preview of a broken image is simply left out
        return None
