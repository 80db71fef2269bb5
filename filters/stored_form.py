"""Whether downloaded image bytes may be stored as they are (`--reencode never|needed|always`).

Re-encoding a JPEG that already has the target size loses quality and changes its hash, so an
img2dataset corpus re-ingested with `needed` keeps img2dataset's bytes (and their sha256). Pure and
header-only: the size filters and the single-colour check still run on the decoded image elsewhere.
"""

from __future__ import annotations

import io
from typing import Literal

from PIL import Image

from filters.image import ImageConfig, target_size

Reencode = Literal["never", "needed", "always"]
REENCODE_MODES: tuple[str, ...] = ("never", "needed", "always")
# Pillow format -> the member extension the contract stores.
STORABLE_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
_EXIF_ORIENTATION = 0x0112


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except Exception:  # noqa: BLE001 - unreadable EXIF: treat as needing the full path
        return 0


def meets_stored_form(width: int, height: int, orientation: int, mode: str, config: ImageConfig) -> bool:
    """True when an image of this size, EXIF orientation and pixel mode is what resizing would produce:
    the target size for its resize mode (square for center_crop/border), upright, RGB or grey, opaque."""
    if orientation != 1 or mode not in ("RGB", "L"):
        return False
    if config.resize_mode in ("center_crop", "border"):
        return width == height == config.image_size
    return target_size(width, height, config) == (width, height)


def stored_as_is(data: bytes, mode: Reencode, config: ImageConfig) -> tuple[str, int, int] | None:
    """(member extension, width, height) to store `data` under unchanged, or None to re-encode it.

    never: any JPEG/PNG/WebP is kept (other formats cannot be stored and are re-encoded);
    needed: kept when it already meets the size rules and is in the encode format (one member
    extension per corpus, which Hugging Face's webdataset loader needs); always: never kept."""
    if mode == "always":
        return None
    try:
        with Image.open(io.BytesIO(data)) as im:
            ext = STORABLE_FORMATS.get(im.format or "")
            if ext is None or getattr(im, "n_frames", 1) != 1:
                return None
            size = im.size
            if mode != "never" and (
                ext != config.encode_format or not meets_stored_form(*size, _orientation(im), im.mode, config)
            ):
                return None
    except Exception:  # noqa: BLE001 - bytes Pillow cannot read are the decode path's to judge
        return None
    return ext, *size
