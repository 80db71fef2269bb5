"""Fast pixel decoders for filters.image, each one failing (never returning a partial picture) on a
cut or corrupt file, plus decode-work measures read from the bytes.

* PNG -> libvips (pyvips with its binary wheel): its PNG reader inflates and unfilters faster than
  Pillow's and OpenCV's, the resize runs on the rows as they are read, and `fail_on=truncated`
  turns a cut file into an error. The decode runs under a wall-time budget: libvips reports
  progress and is killed when the budget is spent.
* WebP -> libwebp's own scaled decode (filters.webp_scaled): the picture is shrunk to the target
  while it is converted from YUV, about twice as fast as decoding it whole and resizing. Pictures
  with alpha and animations go to OpenCV's libwebp at full size (composited before shrinking).
  Either way only after the RIFF container is checked whole, and libwebp fails on a cut bitstream.

All libraries are optional: without them (or with `ImageConfig.fast_decoders=False`) every format
goes through Pillow, as before.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from functools import cache
from typing import Protocol

import numpy as np
from PIL import Image

from filters import webp_scaled

_EXIF_ORIENTATION = 0x0112
_MAX_RIFF_CHUNKS = 10_000  # past this many chunks (real files: a few, or one per frame) stop looking
_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(="|>)([0-9])')


class DecodeBudgetExceeded(Exception):
    """Decoding was stopped because it ran past the per-image wall-time budget."""


class Decoder(Protocol):
    """decode() returns the stored picture (EXIF orientation not applied), shrunk to `target` (in
    stored orientation) when that is smaller, else at full size."""

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


def orientation_from_info(info: dict) -> int:
    """EXIF orientation (1 = as stored) from a Pillow-style `info` dict, the way Pillow's getexif
    reads it (EXIF block, PNG "Raw profile type exif" text, XMP tiff:Orientation), without
    Pillow's PNG fallback of decoding every pixel to look for an eXIf chunk after the data."""
    exif_bytes = info.get("exif")
    try:
        if exif_bytes is None and "Raw profile type exif" in info:
            exif_bytes = bytes.fromhex("".join(info["Raw profile type exif"].split("\n")[3:]))
        if exif_bytes:
            exif = Image.Exif()
            exif.load(exif_bytes)
            if _EXIF_ORIENTATION in exif:
                return int(exif[_EXIF_ORIENTATION] or 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block means "as stored"
        return 1
    xmp = info.get("XML:com.adobe.xmp") or info.get("xmp")
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8", "replace")
    match = _XMP_ORIENTATION.search(xmp) if xmp else None
    return int(match[2]) if match else 1


def riff_chunks(data: bytes) -> dict[bytes, bytes]:
    """The first chunk of each kind in a RIFF file (fourcc -> payload), as far as the bytes go."""
    chunks: dict[bytes, bytes] = {}
    pos = 12
    for _ in range(_MAX_RIFF_CHUNKS):
        if pos + 8 > len(data):
            break
        fourcc, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        chunks.setdefault(fourcc, data[pos + 8 : pos + 8 + size])
        pos += 8 + size + (size & 1)
    return chunks


@dataclass(frozen=True)
class WebPHeader:
    """The parts of a Pillow header that filters.image reads, for a WebP, from libwebp's feature
    probe and the RIFF chunk list: Pillow's opener builds an animation decoder (~1 ms a file)."""

    size: tuple[int, int]
    info: dict = field(default_factory=dict)
    format: str = "WEBP"


def webp_header(data: bytes) -> WebPHeader | None:
    """The header of a RIFF/WEBP file when the scaled libwebp decoder will handle it, else None
    (not a WebP, or no usable libwebp/OpenCV: Pillow opens it). A WebP whose header libwebp cannot
    read raises webp_scaled.WebPDecodeError (an undecodable image)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or fast_decoder("WEBP") != LibWebPDecoder():
        return None
    features = webp_scaled.features(data)
    chunks = riff_chunks(data)
    info = {key: chunks[fourcc] for key, fourcc in (("exif", b"EXIF"), ("xmp", b"XMP ")) if fourcc in chunks}
    return WebPHeader((features.width, features.height), info)


@dataclass(frozen=True)
class VipsDecoder:
    """libvips load + resize (lanczos3, as its thumbnail) in one pass, killed past the budget.

    A plain load followed by `resize` does what `thumbnail_buffer` did, a little cheaper (about 5%
    per PNG measured side by side) and with one header read instead of two: the EXIF orientation
    (an eXIf chunk before the pixels, which Pillow's header already holds) is left to the caller's
    resize, on the small picture. Pixel decoding is nearly all of the cost (zlib-ng inflate).
    """

    def orientation(self, data: bytes, header: Image.Image) -> int:
        return orientation_from_info(header.info)

    def decode(
        self, data: bytes, target: tuple[int, int], background: tuple[int, int, int], budget_s: float
    ) -> Image.Image:
        pyvips = _pyvips()
        image = pyvips.Image.new_from_buffer(data, "", access="sequential", fail_on="truncated")
        if target[0] * target[1] < image.width * image.height:
            hscale, vscale = target[0] / image.width, target[1] / image.height
            if image.hasalpha():  # shrink premultiplied, so no halo comes from transparent pixels
                fmt = image.format
                image = image.premultiply().resize(hscale, vscale=vscale).unpremultiply().cast(fmt)
            else:
                image = image.resize(hscale, vscale=vscale)
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

    def orientation(self, data: bytes, header: Image.Image) -> int:
        return orientation_from_info(header.info)  # WebP EXIF/XMP are RIFF chunks, read with the header

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


@dataclass(frozen=True)
class LibWebPDecoder:
    """libwebp's scaled decode (filters.webp_scaled) for still pictures without alpha: shrunk to the
    target (stored orientation) while decoding, by area averaging as OpenCV's INTER_AREA. Pictures
    with alpha (libwebp rescales colour and alpha apart, which would leave halos) and animations
    keep the OpenCV path: full-size decode, composite, shrink. A cut RIFF is refused first."""

    def orientation(self, data: bytes, header: Image.Image) -> int:
        return orientation_from_info(header.info)

    def decode(
        self, data: bytes, target: tuple[int, int], background: tuple[int, int, int], budget_s: float
    ) -> Image.Image:
        if not riff_complete(data):
            raise ValueError("WebP file is shorter than its RIFF header declares (truncated)")
        features = webp_scaled.features(data)
        if features.has_alpha or features.has_animation:
            return OpenCVWebPDecoder().decode(data, target, background, budget_s)
        shrink = target[0] * target[1] < features.width * features.height
        return Image.fromarray(webp_scaled.decode(data, target if shrink else None))


def _shrink(arr: np.ndarray, target: tuple[int, int]) -> np.ndarray:
    """Area-average down to `target` (w, h) if that is smaller; unchanged otherwise.

    One INTER_AREA step, as img2dataset does. A whole-factor step first is about 2.5x faster in
    OpenCV but has to cut the last rows and columns, which shifts the picture by up to a pixel of
    the output (~28 dB from one step on a detailed photo); only pictures with alpha, animations and
    machines without a loadable libwebp take this path.
    """
    import cv2

    height, width = arr.shape[:2]
    if target[0] * target[1] >= width * height:
        return arr
    return cv2.resize(arr, target, interpolation=cv2.INTER_AREA)


def fast_decoder(source_format: str) -> Decoder | None:
    """The fast decoder for a Pillow format name, or None (Pillow decodes it)."""
    if source_format == "PNG" and _pyvips() is not None:
        return VipsDecoder()
    if source_format == "WEBP" and _has_cv2():
        return LibWebPDecoder() if webp_scaled.available() else OpenCVWebPDecoder()
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
