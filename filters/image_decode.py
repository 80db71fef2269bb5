"""Fast pixel decoders for filters.image, each one failing (never returning a partial picture) on a
cut or corrupt file, plus decode-work measures read from the bytes.

* PNG -> libvips (pyvips with its binary wheel): its PNG reader inflates and unfilters faster than
  Pillow's and OpenCV's, the resize runs fused with the read (`thumbnail_buffer`), and
  `fail_on=truncated` turns a cut file into an error. The decode runs under a wall-time budget:
  libvips reports progress and is killed when the budget is spent.
* WebP -> OpenCV's libwebp (about 1.6x Pillow's decoder here), but only after the RIFF container
  is checked whole: libwebp fails on a cut bitstream, and the size check makes that explicit.

Both libraries are optional: without them (or with `ImageConfig.fast_decoders=False`) every format
goes through Pillow, as before.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import cache
from typing import Protocol

import numpy as np
from PIL import Image

_EXIF_ORIENTATION = 0x0112


class DecodeBudgetExceeded(Exception):
    """Decoding was stopped because it ran past the per-image wall-time budget."""


class Decoder(Protocol):
    applies_orientation: bool
    """True when decode() returns the picture upright (EXIF orientation applied), and `target` is then
    the displayed size; False: the stored picture, `target` in stored orientation."""

    def orientation(self, data: bytes, header: Image.Image) -> int: ...

    def decode(
        self, data: bytes, target: tuple[int, int], background: tuple[int, int, int], budget_s: float
    ) -> Image.Image: ...


def jpeg_scan_count(data: bytes) -> int:
    """Start-of-scan markers in a JPEG. Entropy-coded data stuffs every 0xFF with 0x00, so FF DA
    occurs only as a marker (or inside metadata such as an embedded thumbnail: an over-count,
    never an under-count)."""
    return data.count(b"\xff\xda")


def riff_complete(data: bytes) -> bool:
    """True when a RIFF (WebP) file holds at least the bytes its header declares."""
    if len(data) < 12 or data[:4] != b"RIFF":
        return False
    return len(data) >= int.from_bytes(data[4:8], "little") + 8


@dataclass(frozen=True)
class VipsDecoder:
    """libvips thumbnail decode: shrink fused into the read, orientation applied, killed past budget."""

    applies_orientation: bool = True

    def orientation(self, data: bytes, header: Image.Image) -> int:
        pyvips = _pyvips()
        image = pyvips.Image.new_from_buffer(data, "")  # header only
        if image.get_typeof("orientation"):
            return int(image.get("orientation"))
        return 1

    def decode(
        self, data: bytes, target: tuple[int, int], background: tuple[int, int, int], budget_s: float
    ) -> Image.Image:
        pyvips = _pyvips()
        image = pyvips.Image.thumbnail_buffer(
            data, target[0], height=target[1], size="force", option_string="fail_on=truncated"
        )
        if image.interpretation not in ("srgb", "b-w") or image.format != "uchar":
            image = image.colourspace("srgb")  # 16-bit -> 8-bit sRGB, alpha carried along
        if image.hasalpha():
            image = image.flatten(background=list(background))
        if image.bands == 1:
            image = image.bandjoin([image, image])
        if image.format != "uchar":
            image = image.cast("uchar")
        deadline = time.monotonic() + budget_s
        killed: list[bool] = []

        def on_eval(img: object, _progress: object) -> None:
            if time.monotonic() > deadline:
                killed.append(True)
                img.set_kill(True)  # type: ignore[attr-defined]

        image.set_progress(True)
        image.signal_connect("eval", on_eval)
        try:
            pixels = image.write_to_memory()
        except pyvips.Error:
            if killed:
                raise DecodeBudgetExceeded(f"decoding ran past {budget_s} s") from None
            raise
        return Image.frombuffer("RGB", (image.width, image.height), pixels, "raw", "RGB", 0, 1)


@dataclass(frozen=True)
class OpenCVWebPDecoder:
    """OpenCV's libwebp, shrunk to the target (stored orientation) by area averaging (as img2dataset);
    our resize applies orientation and any enlargement. A cut RIFF is refused first."""

    applies_orientation: bool = False

    def orientation(self, data: bytes, header: Image.Image) -> int:
        try:
            return int(header.getexif().get(_EXIF_ORIENTATION, 1) or 1)  # WebP EXIF is a header chunk
        except Exception:  # noqa: BLE001 - a broken EXIF block means "as stored"
            return 1

    def decode(
        self, data: bytes, target: tuple[int, int], background: tuple[int, int, int], budget_s: float
    ) -> Image.Image:
        import cv2

        if not riff_complete(data):
            raise ValueError("WebP file is shorter than its RIFF header declares (truncated)")
        arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if arr is None:
            raise ValueError("libwebp could not decode the file")
        if arr.ndim == 2:
            arr = cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
        if arr.shape[2] == 4:  # composite at full size, so no halo comes from resizing straight alpha
            alpha = arr[:, :, 3:4].astype(np.uint16)
            bgr_background = np.asarray(background[::-1], dtype=np.uint16)
            arr = ((arr[:, :, :3] * alpha + bgr_background * (255 - alpha) + 127) // 255).astype(np.uint8)
        return Image.fromarray(cv2.cvtColor(_shrink(arr, target), cv2.COLOR_BGR2RGB), "RGB")


def _shrink(arr: np.ndarray, target: tuple[int, int]) -> np.ndarray:
    """Area-average down to `target` (w, h) if that is smaller; unchanged otherwise.

    The picture is first reduced by the largest whole factor k that keeps it at least the target
    size, which OpenCV's INTER_AREA does several times faster than an arbitrary scale (the last < k
    rows/columns are cut for that: under 0.5% of a side); then one INTER_AREA step to the exact size,
    from less than twice the target. Both steps average areas, as one INTER_AREA step would.
    """
    import cv2

    height, width = arr.shape[:2]
    if target[0] * target[1] >= width * height:
        return arr
    k = int(min(width / target[0], height / target[1]))
    if k >= 2:
        h, w = height - height % k, width - width % k
        arr = cv2.resize(arr[:h, :w], (w // k, h // k), interpolation=cv2.INTER_AREA)
    return cv2.resize(arr, target, interpolation=cv2.INTER_AREA)


def fast_decoder(source_format: str) -> Decoder | None:
    """The fast decoder for a Pillow format name, or None (Pillow decodes it)."""
    if source_format == "PNG" and _pyvips() is not None:
        return VipsDecoder()
    if source_format == "WEBP" and _has_cv2():
        return OpenCVWebPDecoder()
    return None


@cache
def _pyvips():
    """pyvips configured for one thread per decode and no operation cache, or None if missing."""
    try:
        import pyvips
    except (ImportError, OSError):
        return None
    if "VIPS_CONCURRENCY" not in os.environ:
        pyvips.concurrency_set(1)  # one image per core: parallelism comes from the pipeline's workers
    pyvips.cache_set_max(0)  # every image is decoded once: caching only holds memory
    return pyvips


@cache
def _has_cv2() -> bool:
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        return False
    return True
