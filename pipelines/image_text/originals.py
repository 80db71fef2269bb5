"""The downloaded bytes' part in a sample: kept as they are when allowed, hashed, verified.

Beam-free helpers for the download phase of one shard (pipelines/image_text/shard.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from filters.image import ImageConfig, ProcessedImage
from filters.stored_form import stored_as_is


def hash_problem(row: dict[str, Any], data: bytes | None) -> str | None:
    """Why the downloaded bytes do not match the row's expected hash (img2dataset's verify_hash), or None."""
    expected = row.get("expected_hash")
    if not expected or data is None:
        return None
    kind, want = expected
    try:
        got = hashlib.new(kind, data).hexdigest()
    except (ValueError, TypeError):
        return f"unknown hash type {kind!r}"
    return None if got == want else f"{kind} of the downloaded bytes is {got}, the input expects {want}"


def keep_original(data: bytes, image: ProcessedImage, reencode: str, config: ImageConfig) -> ProcessedImage:
    """`image` with the downloaded bytes in place of the re-encoded ones when `reencode` allows it."""
    form = stored_as_is(data, reencode, config)  # type: ignore[arg-type]
    if form is None:
        return image
    ext, width, height = form
    return dataclasses.replace(
        image, data=data, ext=ext, width=width, height=height, sha256=hashlib.sha256(data).hexdigest()
    )


def with_original_sha256(row: dict[str, Any], data: bytes) -> dict[str, Any]:
    """The row with `original_sha256`: img2dataset's hash of what it downloaded, else the bytes' own."""
    return {**row, "original_sha256": row.get("original_sha256") or hashlib.sha256(data).hexdigest()}
