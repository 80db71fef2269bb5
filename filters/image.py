"""Safe image decode, image filters, resize and re-encode: bytes in, stored bytes (or a Drop) out.

Pure and Beam-free: `process_image(data, config)` is what a pipeline calls per fetched body
(`process_images` for a batch). It never raises for bad input; every failure is a `Drop` with a
reason from `schemas.drop_reasons`.

Why it is faster than a decode-everything resizer (img2dataset's OpenCV path):
  * the header is read first, so size/area/aspect/bomb/output-size checks cost no pixel decoding;
  * each format goes to its fastest decoder that still fails on truncation (filters.image_decode):
    JPEG through Pillow with libjpeg's DCT scaling (`Image.draft`: a 2000 px photo is decoded at
    1/4 or 1/8 for 256 px), PNG through libvips (faster inflate and unfiltering, a shrink fused
    into the read, `fail_on=truncated`), WebP through libwebp's scaled decode (shrunk while
    converting from YUV; header from libwebp, not Pillow) once the RIFF container is whole;
  * `resize(..., reducing_gap=...)` box-reduces by an integer factor before the final filter;
  * EXIF orientation is applied to the small result (every resize mode commutes with it).

Work per image is bounded before and during decoding: pixels (the bomb limit), the resized output
(an extreme aspect ratio is a drop, never a 256 x 2,000,000 upscale), progressive JPEG scans (each
scan is a pass over every coefficient), and decode wall time (libvips is stopped mid-decode; the
other decoders are bounded by pixels and scans and checked after decoding).
"""

from __future__ import annotations

import hashlib
import io
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from PIL import Image

from filters import image_decode
from filters.base import Drop

ResizeMode = Literal["no", "keep_ratio", "keep_ratio_largest", "center_crop", "border"]
EncodeFormat = Literal["jpg", "webp", "png"]

_PIL_FORMAT = {"jpg": "JPEG", "webp": "WEBP", "png": "PNG"}
_EXIF_ORIENTATION = 0x0112
_LEVELS = np.arange(256, dtype=np.float64)
# EXIF orientation value -> transpose that shows the image upright (same table as ImageOps.exif_transpose).
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class ImageConfig:
    """Image filter and transform settings. Defaults: KOSMOS-1 rules, else img2dataset's defaults."""

    min_side: int = 64
    """Drop when the shorter side is below this (KOSMOS-1: images below 64x64 px are dropped)."""
    max_aspect_ratio: float | None = None
    """Drop when longer/shorter side exceeds this; None = off (img2dataset's default; DataComp uses 3)."""
    max_area: int | None = None
    """Drop when width*height exceeds this (image_too_large); None = off (img2dataset's default)."""
    max_pixels: int = Image.MAX_IMAGE_PIXELS or 89_478_485
    """Decompression-bomb limit in pixels, checked from the header before decoding (Pillow's default).
    Pillow itself refuses more than twice its global limit, which is also reported as a bomb."""
    single_color_max_std: float = 2.0
    """Drop as single colour when every channel's pixel std (0-255 scale) is at most this; <0 = off."""
    resize_mode: ResizeMode = "keep_ratio"
    """As img2dataset: no | keep_ratio (shorter side = image_size) | keep_ratio_largest (longer side)
    | center_crop (square) | border (longer side, padded to a white square)."""
    image_size: int = 256
    resize_only_if_bigger: bool = False
    """As img2dataset: when True, never upscale."""
    encode_format: EncodeFormat = "jpg"
    encode_quality: int = 95
    """JPEG/WebP quality (img2dataset's default 95); for PNG this is ignored (see png_compress_level)."""
    png_compress_level: int = 6
    reducing_gap: float | None = 2.0
    """Pillow's resize(reducing_gap): box-reduce first while the image is this many times larger than
    the target; 2.0 is visually indistinguishable from a full filter and several times faster."""
    downscale_resample: Image.Resampling = Image.Resampling.BILINEAR
    """Filter when shrinking. Pillow's BILINEAR is antialiased (a triangle filter as wide as the scale),
    a little sharper than img2dataset's area (BOX) and ~2.5x cheaper than LANCZOS after the DCT-scaled
    decode; set LANCZOS for the sharpest result."""
    upscale_resample: Image.Resampling = Image.Resampling.LANCZOS
    """Filter when enlarging (img2dataset: lanczos)."""
    background: tuple[int, int, int] = (255, 255, 255)
    """Colour transparent pixels are composited onto, and the border padding colour (img2dataset: white)."""
    formats: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
    """Pillow openers allowed (JPEG also yields multi-picture MPO); others (EPS calls Ghostscript, ...) are refused."""
    max_output_side: int = 16_384
    """Drop when the resized image's longer side would exceed this (bad_aspect_ratio; image_too_large
    for resize_mode "no" or an image_size above it), decided from the header: a 64 x 500,000 strip is never upscaled to
    256 x 2,000,000, and no output exceeds what JPEG/WebP can store (65,535 / 16,383 px)."""
    max_jpeg_scans: int = 100
    """Drop (image_too_costly) a JPEG with more scans than this: each progressive scan is another pass
    over every coefficient, so 20,000 scans cost minutes. Real progressive JPEGs have about 10."""
    max_decode_seconds: float = 5.0
    """Wall-time budget for decoding one image (image_too_costly past it). libvips decodes are stopped
    when it runs out; Pillow/OpenCV/libwebp decodes are bounded by pixels and scans and checked afterwards."""
    fast_decoders: bool = True
    """Use libvips (PNG) and libwebp/OpenCV (WebP) when installed; False = Pillow for every format."""


@dataclass(frozen=True)
class ProcessedImage:
    """A kept image: the bytes to store and the facts the metadata records."""

    data: bytes = field(repr=False)
    ext: str
    """File extension of `data` (jpg, webp, png): the WebDataset member name suffix."""
    width: int
    height: int
    original_width: int
    original_height: int
    """Size as displayed (after EXIF orientation), before resizing."""
    sha256: str
    """Hex sha256 of `data`, the stored bytes (img2dataset's `sha256` column)."""
    source_format: str
    """Pillow's name for the input format (JPEG, PNG, ...)."""
    image: Image.Image | None = field(default=None, compare=False, repr=False)
    """The final RGB image, so a later step (CLIP) need not decode `data` again; drop it before
    shipping records between workers if memory matters."""


def process_images(datas: Iterable[bytes], config: ImageConfig | None = None) -> list[ProcessedImage | Drop]:
    """`process_image` over a batch, in order (what a DoFn over batches calls)."""
    config = config or ImageConfig()
    return [process_image(d, config) for d in datas]


def process_image(data: bytes, config: ImageConfig | None = None) -> ProcessedImage | Drop:
    """Decode, filter, resize and re-encode one image; a Drop with a reason on any failure."""
    config = config or ImageConfig()
    try:
        im = _open(data, config)
    except Image.DecompressionBombError as err:
        return Drop("decompression_bomb", str(err))
    except Exception as err:  # noqa: BLE001 - any decoder error is a property of the bytes
        return Drop("undecodable_image", f"{type(err).__name__}: {err}")
    source_format = im.format or "unknown"
    # Size checks first, from the header: they are symmetric in width/height, so the EXIF
    # orientation is not needed yet (reading EXIF from a PNG makes Pillow decode the pixels).
    decision = check_size(*im.size, config)
    if decision is None:
        decision = check_work(data, source_format, config)
    if decision is not None:
        return decision
    start = time.monotonic()
    fast = image_decode.fast_decoder(source_format) if config.fast_decoders else None
    try:
        if fast is not None:
            im, w, h, orientation = _decode_fast(fast, data, im, config)
        else:
            orientation = _orientation(im)
            w, h = (im.height, im.width) if orientation in (5, 6, 7, 8) else im.size
            im = _decode_for_target(im, w, h, orientation, config)
    except Image.DecompressionBombError as err:
        return Drop("decompression_bomb", str(err))
    except image_decode.DecodeBudgetExceeded as err:
        return Drop("image_too_costly", str(err))
    except Exception as err:  # noqa: BLE001 - truncated/corrupt pixel data
        return Drop("undecodable_image", f"{type(err).__name__}: {err}")
    elapsed = time.monotonic() - start
    if elapsed > config.max_decode_seconds:
        return Drop("image_too_costly", f"decoding took {elapsed:.1f} s > {config.max_decode_seconds} s")
    try:
        im = resize(im, w, h, orientation, config)
        if is_single_color(im, config.single_color_max_std):
            return Drop("single_color", f"pixel std <= {config.single_color_max_std}")
        out = encode(im, config)
    except Exception as err:  # noqa: BLE001 - never crash the job; counted and named
        return Drop("internal_error", f"image transform: {type(err).__name__}: {err}")
    return ProcessedImage(
        data=out,
        ext=config.encode_format,
        width=im.width,
        height=im.height,
        original_width=w,
        original_height=h,
        sha256=hashlib.sha256(out).hexdigest(),
        source_format=source_format,
        image=im,
    )


def _decode_fast(
    decoder: image_decode.Decoder,
    data: bytes,
    header: Image.Image | image_decode.WebPHeader,
    config: ImageConfig,
) -> tuple[Image.Image, int, int, int]:
    """(RGB image in stored orientation, displayed width, displayed height, orientation to apply).

    Each fast decoder shrinks to the target (in stored orientation) while decoding, never enlarges
    (our resize does, with its upscale filter), and leaves the EXIF orientation to our resize.
    """
    orientation = decoder.orientation(data, header)
    stored_w, stored_h = header.size
    w, h = (stored_h, stored_w) if orientation in (5, 6, 7, 8) else (stored_w, stored_h)
    tw, th = target_size(w, h, config)
    if orientation in (5, 6, 7, 8):
        tw, th = th, tw
    if config.resize_mode == "no":
        tw, th = stored_w, stored_h
    im = decoder.decode(data, (tw, th), config.background, config.max_decode_seconds)
    return im, w, h, orientation


def check_size(width: int, height: int, config: ImageConfig) -> Drop | None:
    """The size filters, from header dimensions only (no pixels decoded): a Drop or None."""
    if width < 1 or height < 1:
        return Drop("undecodable_image", f"{width}x{height}: no pixels")
    if width * height > config.max_pixels:
        return Drop("decompression_bomb", f"{width}x{height} > {config.max_pixels} pixels")
    if min(width, height) < config.min_side:
        return Drop("image_too_small", f"{width}x{height}, shorter side < {config.min_side}")
    if config.max_area is not None and width * height > config.max_area:
        return Drop("image_too_large", f"{width}x{height} > {config.max_area} pixels")
    if (
        config.max_aspect_ratio is not None
        and max(width, height) / max(1, min(width, height)) > config.max_aspect_ratio
    ):
        return Drop("bad_aspect_ratio", f"{width}x{height}, ratio > {config.max_aspect_ratio}")
    tw, th = target_size(width, height, config)
    if max(tw, th) > config.max_output_side:
        # With an ordinary target size only the aspect ratio can push the output past the limit.
        too_large = config.resize_mode == "no" or config.image_size > config.max_output_side
        reason = "image_too_large" if too_large else "bad_aspect_ratio"
        return Drop(reason, f"{width}x{height} would become {tw}x{th}, side > {config.max_output_side}")
    return None


def check_work(data: bytes, source_format: str, config: ImageConfig) -> Drop | None:
    """Decode-work limits read from the bytes without decoding: a Drop or None."""
    if source_format in ("JPEG", "MPO"):
        scans = image_decode.jpeg_scan_count(data)
        if scans > config.max_jpeg_scans:
            return Drop("image_too_costly", f"{scans} JPEG scans > {config.max_jpeg_scans}")
    return None


def is_single_color(im: Image.Image, max_std: float) -> bool:
    """True when every channel's pixel standard deviation is at most `max_std` (a blank/flat image).

    Computed from Pillow's C histogram (ImageStat's formula, with numpy over the 256 levels instead
    of ImageStat's Python loops: half the cost), ten times cheaper than a float copy of the pixels."""
    if max_std < 0:
        return False
    hist = np.asarray(im.histogram(), dtype=np.float64).reshape(-1, 256)
    count = hist.sum(axis=1)
    total, total2 = hist @ _LEVELS, hist @ (_LEVELS * _LEVELS)
    variance = (total2 - total * total / count) / count
    return float(np.sqrt(np.maximum(variance, 0.0)).max()) <= max_std


def target_size(width: int, height: int, config: ImageConfig) -> tuple[int, int]:
    """The resized (pre-crop/pad) size for a `width` x `height` image, as img2dataset computes it."""
    mode, size = config.resize_mode, config.image_size
    if mode == "no":
        return width, height
    side = min(width, height) if mode in ("keep_ratio", "center_crop") else max(width, height)
    if config.resize_only_if_bigger and side <= size:
        return width, height
    scale = size / side
    if width <= height if mode in ("keep_ratio", "center_crop") else width >= height:
        return size, max(1, round(height * scale))
    return max(1, round(width * scale)), size


def _open(data: bytes, config: ImageConfig) -> Image.Image | image_decode.WebPHeader:
    """Read the header only. Pillow warns between MAX_IMAGE_PIXELS and 2x, raises above; our own
    limit is then checked by check_size before any pixel is decoded. A WebP for the scaled libwebp
    decoder has its header read by libwebp (Pillow's opener costs a tenth of the decode)."""
    if config.fast_decoders and "WEBP" in config.formats:
        header = image_decode.webp_header(data)
        if header is not None:
            return header
    return Image.open(io.BytesIO(data), formats=list(config.formats))


def _orientation(im: Image.Image) -> int:
    """EXIF orientation (1 = as stored). Only JPEG/MPO/WebP/TIFF carry it in practice; for PNG,
    Pillow would decode every pixel to find an eXIf chunk after the image data, so the pixels are
    decoded (once; load() is cached) only here, after the size checks."""
    try:
        exif = im.getexif()
    except (SyntaxError, ValueError, KeyError, TypeError, struct.error):  # a broken EXIF block
        return 1
    try:
        return int(exif.get(_EXIF_ORIENTATION, 1) or 1)
    except (TypeError, ValueError):
        return 1


def _decode_for_target(im: Image.Image, w: int, h: int, orientation: int, config: ImageConfig) -> Image.Image:
    """Decode pixels (JPEG at the smallest DCT scale still >= target) and convert to RGB."""
    if im.format in ("JPEG", "MPO") and config.resize_mode != "no":
        tw, th = target_size(w, h, config)
        if orientation in (5, 6, 7, 8):
            tw, th = th, tw
        if (tw, th) != im.size:
            im.draft("RGB", (tw, th))
    im.load()
    return to_rgb(im, config.background)


def to_rgb(im: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB: 16/32-bit scaled (not clipped), alpha composited on `background`."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im)
        if im.mode == "F":
            arr8 = np.clip(arr, 0, 255).astype(np.uint8)
        else:
            # 16-bit data (also PNG 16-bit grey, which Pillow opens as I;16 or I) -> top 8 bits.
            arr8 = (np.clip(arr.astype(np.int64), 0, 65535) // 257).astype(np.uint8)
        return Image.fromarray(arr8, "L").convert("RGB")
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        base = Image.new("RGB", rgba.size, background)
        base.paste(rgba, mask=rgba.getchannel("A"))
        return base
    return im.convert("RGB")  # L, 1, P, CMYK (Adobe-inverted handled by Pillow), YCbCr, LAB, HSV


def resize(im: Image.Image, w: int, h: int, orientation: int, config: ImageConfig) -> Image.Image:
    """Resize (in the stored orientation), crop/pad, then apply the EXIF orientation to the small result."""
    tw, th = target_size(w, h, config)
    stored = (th, tw) if orientation in (5, 6, 7, 8) else (tw, th)
    if stored != im.size:
        shrink = stored[0] * stored[1] < im.width * im.height
        resample = config.downscale_resample if shrink else config.upscale_resample
        im = im.resize(stored, resample, reducing_gap=config.reducing_gap if shrink else None)
    transpose = _ORIENTATION_TRANSPOSE.get(orientation)
    if transpose is not None:
        im = im.transpose(transpose)
    size = config.image_size
    if config.resize_mode == "center_crop" and (im.width > size or im.height > size):
        left, top = max(0, (im.width - size) // 2), max(0, (im.height - size) // 2)
        im = im.crop((left, top, left + min(size, im.width), top + min(size, im.height)))
    elif config.resize_mode == "border" and (im.width < size or im.height < size):
        im = _pad(im, size, config.background)
    return im


def _pad(im: Image.Image, size: int, background: tuple[int, int, int]) -> Image.Image:
    """Centre `im` on a background canvas at least `size` x `size` (img2dataset's PadIfNeeded)."""
    cw, ch = max(size, im.width), max(size, im.height)
    canvas = Image.new("RGB", (cw, ch), background)
    canvas.paste(im, ((cw - im.width) // 2, (ch - im.height) // 2))
    return canvas


def encode(im: Image.Image, config: ImageConfig) -> bytes:
    """Encode to the configured format (jpg q95 by default, as img2dataset)."""
    buf = io.BytesIO()
    fmt = _PIL_FORMAT[config.encode_format]
    if fmt == "PNG":
        im.save(buf, fmt, compress_level=config.png_compress_level)
    else:
        im.save(buf, fmt, quality=config.encode_quality)
    return buf.getvalue()
