"""Pure helpers of re-ingest: may bytes be stored as they are, what a row carries, verify_hash, sidecars."""

from __future__ import annotations

import hashlib
import io

from PIL import Image

from filters.image import ImageConfig
from filters.stored_form import stored_as_is
from pipelines.image_text.originals import hash_problem
from pipelines.io.img2dataset import carried_facts, carried_image, input_columns, without_sidecars


def encoded(
    size: tuple[int, int], fmt: str = "JPEG", mode: str = "RGB", orientation: int | None = None
) -> bytes:
    im = Image.new(mode, size, 120 if mode == "L" else (10, 120, 200) if mode == "RGB" else (1, 2, 3, 4))
    buf = io.BytesIO()
    kwargs = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def test_needed_keeps_only_bytes_already_at_the_target_size_and_format():
    cfg = ImageConfig()  # keep_ratio, 256, jpg
    assert stored_as_is(encoded((256, 384)), "needed", cfg) == ("jpg", 256, 384)
    assert stored_as_is(encoded((384, 256), mode="L"), "needed", cfg) == ("jpg", 384, 256)
    assert stored_as_is(encoded((300, 400)), "needed", cfg) is None  # would be resized
    assert stored_as_is(encoded((256, 300), "PNG"), "needed", cfg) is None  # not the encode format
    assert stored_as_is(encoded((256, 300), mode="CMYK"), "needed", cfg) is None  # converted to RGB
    assert stored_as_is(encoded((256, 300), orientation=6), "needed", cfg) is None  # EXIF rotation applied
    assert stored_as_is(encoded((256, 256), "GIF", mode="L"), "never", cfg) is None  # GIF cannot be stored
    assert stored_as_is(encoded((300, 400), "PNG"), "never", cfg) == ("png", 300, 400)
    assert stored_as_is(encoded((256, 384)), "always", cfg) is None
    assert stored_as_is(b"not an image", "never", cfg) is None
    square = ImageConfig(resize_mode="center_crop")
    assert stored_as_is(encoded((256, 256)), "needed", square) == ("jpg", 256, 256)
    assert stored_as_is(encoded((256, 300)), "needed", square) is None


def test_what_an_img2dataset_row_carries():
    jpg = encoded((256, 300))
    row = {
        "url": "http://x/a.jpg",
        "caption": "A cat.",
        "jpg": jpg,
        "key": "000000001",
        "status": "success",
        "error_message": None,
        "width": 256,
        "height": 300,
        "original_width": 1024,
        "original_height": 1200,
        "sha256": "A" * 64,
        "similarity": 0.31,
        "lang": "en",
    }
    assert carried_image(row) == jpg and carried_image({"jpg": None, "url": "u"}) is None
    assert carried_facts(row, True) == {
        "original_width": 1024,
        "original_height": 1200,
        "original_sha256": "a" * 64,
    }
    assert carried_facts(row, False) == {
        "original_width": 1024,
        "original_height": 1200,
    }  # an expected hash only
    assert input_columns(row, {"url", "caption", None}, True) == {
        "source_key": "000000001",  # one of our names: prefixed, never lost
        "status": "success",
        "error_message": None,
        "similarity": 0.31,
        "source_lang": "en",
    }
    assert carried_facts({"uid": " 0f ", "original_width": 0, "original_height": 5}, False) == {"uid": "0f"}


def test_verify_hash_and_img2dataset_sidecars():
    data = b"downloaded bytes"
    good = {"expected_hash": ("sha256", hashlib.sha256(data).hexdigest())}
    assert hash_problem(good, data) is None and hash_problem({}, data) is None
    assert "expects" in hash_problem({"expected_hash": ("sha256", "0" * 64)}, data)
    assert hash_problem({"expected_hash": ("md5", hashlib.md5(data).hexdigest())}, data) is None
    assert "unknown hash type" in hash_problem({"expected_hash": ("nope", "x")}, data)
    files = [("d/00000.tar", "00000.tar"), ("d/00000.parquet", "00000.parquet"), ("d/00000_stats.json", "x")]
    files += [("d/urls.parquet", "urls.parquet")]
    assert without_sidecars(files) == [("d/00000.tar", "00000.tar"), ("d/urls.parquet", "urls.parquet")]
    assert without_sidecars([("d/00000.parquet", "00000.parquet")]) == [("d/00000.parquet", "00000.parquet")]
