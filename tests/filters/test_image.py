"""filters.image: safe decode, filters with reasons, resize modes, re-encode, speed trick keeps quality."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from filters.base import Drop
from filters.image import ImageConfig, ProcessedImage, process_image, process_images, target_size
from tests.http_server import bomb_png, sample_images

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _open(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def _psnr(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a.convert("RGB"), dtype=np.float64)
    y = np.asarray(b.convert("RGB"), dtype=np.float64)
    mse = float(((x - y) ** 2).mean())
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


# name -> (kept?, reason if dropped, final (w, h) if kept, original (w, h) if kept)
FATES = {
    "astronaut.jpg": (True, None, (256, 256), (512, 512)),
    "astronaut-1600.jpg": (True, None, (256, 256), (1600, 1600)),
    "chelsea.png": (True, None, (385, 256), (451, 300)),
    "coffee.webp": (True, None, (384, 256), (600, 400)),
    "camera-gray.jpg": (True, None, (256, 256), (512, 512)),
    "rocket-cmyk.jpg": (True, None, (384, 256), (640, 427)),
    "logo-palette-alpha.png": (True, None, (256, 256), (500, 500)),
    "logo-rgba.png": (True, None, (256, 256), (500, 500)),
    "camera-16bit.png": (True, None, (256, 256), (512, 512)),
    "chelsea-exif-rot6.jpg": (True, None, (256, 385), (300, 451)),
    "coffee-animated.gif": (True, None, (384, 256), (600, 400)),
    "panorama.jpg": (True, None, (1536, 256), (1200, 200)),
    "astronaut-truncated.jpg": (False, "undecodable_image", None, None),
    "tiny.png": (False, "image_too_small", None, None),
    "single-color.png": (False, "single_color", None, None),
    "not-an-image.jpg": (False, "undecodable_image", None, None),
    "bomb.png": (False, "decompression_bomb", None, None),
}


@pytest.mark.parametrize("name", sorted(FATES))
def test_each_sample_fate_and_reason(name: str) -> None:
    kept, reason, size, original = FATES[name]
    result = process_image(sample_images()[name])
    if not kept:
        assert isinstance(result, Drop) and result.reason == reason, result
        return
    assert isinstance(result, ProcessedImage), result
    assert (result.width, result.height) == size
    assert (result.original_width, result.original_height) == original
    stored = _open(result.data)
    assert stored.format == "JPEG" and stored.mode == "RGB" and stored.size == size
    assert result.sha256 == hashlib.sha256(result.data).hexdigest()
    assert result.ext == "jpg"


def test_exif_orientation_is_applied() -> None:
    """The stored image shows the cat upright: equal to the rotated source, not to the raw one."""
    result = process_image(sample_images()["chelsea-exif-rot6.jpg"])
    assert isinstance(result, ProcessedImage)
    source = Image.open(io.BytesIO(sample_images()["chelsea.png"])).convert("RGB")
    upright = source.transpose(Image.Transpose.ROTATE_270).resize((256, 385), Image.Resampling.LANCZOS)
    wrong = source.transpose(Image.Transpose.ROTATE_90).resize((256, 385), Image.Resampling.LANCZOS)
    stored = _open(result.data)
    assert _psnr(stored, upright) > 28
    assert _psnr(stored, upright) > _psnr(stored, wrong) + 10


def test_cmyk_colours_survive() -> None:
    rgb = Image.fromarray(
        np.asarray(Image.open(io.BytesIO(sample_images()["rocket-cmyk.jpg"])).convert("RGB"))
    )
    result = process_image(sample_images()["rocket-cmyk.jpg"])
    assert isinstance(result, ProcessedImage)
    assert _psnr(_open(result.data), rgb.resize((384, 256), Image.Resampling.LANCZOS)) > 28


@pytest.mark.parametrize("name", ["logo-palette-alpha.png", "logo-rgba.png"])
def test_transparent_pixels_become_white_not_black(name: str) -> None:
    """The transparent background has black RGB under alpha 0: a naive convert shows black."""
    result = process_image(sample_images()[name])
    assert isinstance(result, ProcessedImage)
    corner = np.asarray(_open(result.data))[:8, :8].reshape(-1, 3)
    assert corner.min() > 235, corner.min()


def test_16bit_png_is_scaled_not_clipped() -> None:
    """Pillow's plain convert clips 16-bit values to 255 (an all-white image); we scale."""
    result = process_image(sample_images()["camera-16bit.png"])
    reference = process_image(sample_images()["camera-gray.jpg"])
    assert isinstance(result, ProcessedImage) and isinstance(reference, ProcessedImage)
    arr = np.asarray(_open(result.data).convert("L"), dtype=np.float64)
    assert arr.std() > 40
    assert _psnr(_open(result.data), _open(reference.data)) > 28


def test_animated_gif_keeps_the_first_frame() -> None:
    result = process_image(sample_images()["coffee-animated.gif"], ImageConfig(encode_format="png"))
    assert isinstance(result, ProcessedImage)
    coffee = Image.open(io.BytesIO(sample_images()["coffee.webp"])).convert("RGB").resize((384, 256))
    flipped = coffee.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    stored = _open(result.data)
    assert _psnr(stored, coffee) > _psnr(stored, flipped) + 3


def test_jpeg_draft_path_matches_a_full_decode_resize() -> None:
    """The speed trick (DCT-scaled decode + reduce) stays visually equal to a full LANCZOS resize."""
    data = sample_images()["astronaut-1600.jpg"]
    result = process_image(data, ImageConfig(encode_format="png"))
    assert isinstance(result, ProcessedImage)
    full = _open(data).convert("RGB").resize((256, 256), Image.Resampling.LANCZOS)
    assert _psnr(_open(result.data), full) > 32


@pytest.mark.parametrize(
    ("mode", "size", "expected"),
    [
        ("no", 256, (600, 400)),
        ("keep_ratio", 256, (384, 256)),
        ("keep_ratio", 100, (150, 100)),
        ("keep_ratio_largest", 256, (256, 171)),
        ("center_crop", 256, (256, 256)),
        ("border", 256, (256, 256)),
    ],
)
def test_resize_modes(mode: str, size: int, expected: tuple[int, int]) -> None:
    result = process_image(sample_images()["coffee.webp"], ImageConfig(resize_mode=mode, image_size=size))  # type: ignore[arg-type]
    assert isinstance(result, ProcessedImage)
    assert (result.width, result.height) == expected == _open(result.data).size
    assert (result.original_width, result.original_height) == (600, 400)


def test_border_pads_with_white_and_keeps_the_photo_centred() -> None:
    result = process_image(
        sample_images()["coffee.webp"], ImageConfig(resize_mode="border", encode_format="png")
    )
    assert isinstance(result, ProcessedImage)
    arr = np.asarray(_open(result.data))
    assert (arr[:40] == 255).all() and (arr[-40:] == 255).all()  # 256x171 photo, 42/43 px white bands
    assert arr[100:150].std() > 20


def test_resize_only_if_bigger_never_upscales() -> None:
    data = sample_images()["chelsea.png"]
    up = process_image(data, ImageConfig(image_size=512))
    same = process_image(data, ImageConfig(image_size=512, resize_only_if_bigger=True))
    assert isinstance(up, ProcessedImage) and isinstance(same, ProcessedImage)
    assert (up.width, up.height) == (770, 512)
    assert (same.width, same.height) == (451, 300)


@pytest.mark.parametrize(("fmt", "pil"), [("jpg", "JPEG"), ("webp", "WEBP"), ("png", "PNG")])
def test_encode_formats(fmt: str, pil: str) -> None:
    result = process_image(sample_images()["astronaut.jpg"], ImageConfig(encode_format=fmt))  # type: ignore[arg-type]
    assert isinstance(result, ProcessedImage)
    assert result.ext == fmt and _open(result.data).format == pil
    assert result.sha256 == hashlib.sha256(result.data).hexdigest()


def test_jpeg_quality_changes_the_bytes() -> None:
    data = sample_images()["astronaut.jpg"]
    q95 = process_image(data)
    q50 = process_image(data, ImageConfig(encode_quality=50))
    assert isinstance(q95, ProcessedImage) and isinstance(q50, ProcessedImage)
    assert len(q50.data) < len(q95.data) and q50.sha256 != q95.sha256


def test_configurable_filters() -> None:
    images = sample_images()
    panorama = process_image(images["panorama.jpg"], ImageConfig(max_aspect_ratio=3.0))
    assert isinstance(panorama, Drop) and panorama.reason == "bad_aspect_ratio"
    big = process_image(images["astronaut-1600.jpg"], ImageConfig(max_area=1000 * 1000))
    assert isinstance(big, Drop) and big.reason == "image_too_large"
    small = process_image(images["chelsea.png"], ImageConfig(min_side=301))
    assert isinstance(small, Drop) and small.reason == "image_too_small"
    assert isinstance(process_image(images["tiny.png"], ImageConfig(min_side=32)), ProcessedImage)
    flat = process_image(images["single-color.png"], ImageConfig(single_color_max_std=-1))
    assert isinstance(flat, ProcessedImage)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_our_bomb_limit_applies_below_pillows_hard_limit() -> None:
    """100 Mpx is between Pillow's warning (89 Mpx) and its error (179 Mpx): our own check drops it."""
    result = process_image(bomb_png(10_000, 10_000))
    assert isinstance(result, Drop) and result.reason == "decompression_bomb"
    lowered = process_image(sample_images()["astronaut.jpg"], ImageConfig(max_pixels=512 * 511))
    assert isinstance(lowered, Drop) and lowered.reason == "decompression_bomb"


def test_refused_formats_are_undecodable() -> None:
    buf = io.BytesIO()
    Image.open(io.BytesIO(sample_images()["astronaut.jpg"])).save(buf, "PPM")
    assert isinstance(process_image(buf.getvalue()), Drop)
    assert isinstance(process_image(buf.getvalue(), ImageConfig(formats=("PPM",))), ProcessedImage)


def test_garbage_never_raises() -> None:
    """Random bytes and every truncation of a real JPEG give a result, never an exception."""
    rng = np.random.default_rng(0)
    photo = sample_images()["astronaut.jpg"]
    inputs = [b"", b"\xff\xd8", rng.bytes(5000), b"\x89PNG\r\n\x1a\n" + rng.bytes(200)]
    inputs += [photo[:n] for n in range(0, len(photo), len(photo) // 40)]
    results = process_images(inputs)
    assert len(results) == len(inputs)
    assert all(isinstance(r, (Drop, ProcessedImage)) for r in results)
    assert all(r.reason == "undecodable_image" for r in results[:4])


def test_batch_keeps_order() -> None:
    images = sample_images()
    results = process_images([images["tiny.png"], images["astronaut.jpg"], images["bomb.png"]])
    assert [type(r).__name__ for r in results] == ["Drop", "ProcessedImage", "Drop"]


def test_target_size_matches_img2dataset_rules() -> None:
    assert target_size(600, 400, ImageConfig()) == (384, 256)
    assert target_size(400, 600, ImageConfig()) == (256, 384)
    assert target_size(600, 400, ImageConfig(resize_mode="border")) == (256, 171)
    assert target_size(100, 80, ImageConfig(resize_only_if_bigger=True)) == (100, 80)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_size_checks_decode_no_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bomb, too-small and aspect drops are decided from the header: decoding would fail here."""
    from PIL import ImageFile

    def no_decoding(self: object) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    images = sample_images()
    cases = [
        (bomb_png(10_000, 10_000), ImageConfig(), "decompression_bomb"),
        (images["tiny.png"], ImageConfig(), "image_too_small"),
        (images["panorama.jpg"], ImageConfig(max_aspect_ratio=3), "bad_aspect_ratio"),
        (images["chelsea.png"], ImageConfig(max_area=100_000), "image_too_large"),
    ]
    for data, config, reason in cases:
        result = process_image(data, config)
        assert isinstance(result, Drop) and result.reason == reason, result


# --- fast decoders and per-image work bounds ------------------------------------------------------


def _encoded(name: str, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(sample_images()[name])).convert("RGB").save(buf, fmt, **kw)
    return buf.getvalue()


def _many_scans(scans: int) -> bytes:
    """A progressive JPEG whose last (refinement) scan is repeated: each copy is one more full pass."""
    data = _encoded("astronaut.jpg", "JPEG", progressive=True, quality=90)
    last_sos, eoi = data.rindex(b"\xff\xda"), data.rindex(b"\xff\xd9")
    return data[:eoi] + data[last_sos:eoi] * (scans - data.count(b"\xff\xda")) + data[eoi:]


def test_fast_decoders_are_installed_and_chosen() -> None:
    from filters import image_decode

    assert isinstance(image_decode.fast_decoder("PNG"), image_decode.VipsDecoder)
    assert isinstance(image_decode.fast_decoder("WEBP"), image_decode.LibWebPDecoder)
    assert image_decode.fast_decoder("JPEG") is None  # Pillow's DCT-scaled draft is faster


@pytest.mark.parametrize("name", ["chelsea.png", "coffee.webp", "logo-rgba.png", "camera-16bit.png"])
def test_fast_decoders_give_the_pillow_picture(name: str) -> None:
    fast = process_image(sample_images()[name], ImageConfig(encode_format="png"))
    slow = process_image(sample_images()[name], ImageConfig(encode_format="png", fast_decoders=False))
    assert isinstance(fast, ProcessedImage) and isinstance(slow, ProcessedImage)
    assert (fast.width, fast.height, fast.original_width, fast.original_height) == (
        slow.width,
        slow.height,
        slow.original_width,
        slow.original_height,
    )
    assert _psnr(_open(fast.data), _open(slow.data)) > 30


@pytest.mark.parametrize(
    ("fmt", "kw"),
    [("PNG", {}), ("PNG", {"compress_level": 1}), ("WEBP", {"quality": 80}), ("WEBP", {"lossless": True})],
)
@pytest.mark.parametrize("cut", [0.3, 0.6, 0.9, 0.99])
def test_truncated_png_and_webp_are_undecodable_on_the_fast_path(fmt: str, kw: dict, cut: float) -> None:
    data = _encoded("coffee.webp", fmt, **kw)
    result = process_image(data[: int(len(data) * cut)])
    assert isinstance(result, Drop) and result.reason == "undecodable_image", result


@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("cut", [0.3, 0.6, 0.9, 0.99])
def test_truncated_jpeg_is_undecodable(progressive: bool, cut: float) -> None:
    data = _encoded("astronaut-1600.jpg", "JPEG", quality=85, progressive=progressive)
    result = process_image(data[: int(len(data) * cut)])
    assert isinstance(result, Drop) and result.reason == "undecodable_image", result


def test_extreme_aspect_ratio_is_dropped_before_any_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 64 x 500,000 strip would become 256 x 2,000,000 (3.45 GB): dropped from the header alone."""
    from PIL import ImageFile

    from filters import image_decode

    def no_decoding(*_args: object, **_kw: object) -> None:
        raise AssertionError("pixels were decoded")

    tall, wide = bomb_png(64, 500_000), bomb_png(500_000, 64)
    photo = sample_images()["coffee.webp"]  # 600 x 400
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    monkeypatch.setattr(image_decode.VipsDecoder, "decode", no_decoding)
    monkeypatch.setattr(image_decode.OpenCVWebPDecoder, "decode", no_decoding)
    monkeypatch.setattr(image_decode.LibWebPDecoder, "decode", no_decoding)
    cases = [
        (tall, ImageConfig(), "bad_aspect_ratio"),
        (wide, ImageConfig(), "bad_aspect_ratio"),
        (wide, ImageConfig(resize_mode="center_crop"), "bad_aspect_ratio"),
        (tall, ImageConfig(resize_mode="no"), "image_too_large"),
        (photo, ImageConfig(image_size=20_000), "image_too_large"),
    ]
    for data, config, reason in cases:
        result = process_image(data, config)
        assert isinstance(result, Drop) and result.reason == reason, result
    assert isinstance(process_image(tall, ImageConfig(resize_mode="keep_ratio_largest")), Drop)


def test_output_size_limit_keeps_ordinary_panoramas() -> None:
    result = process_image(sample_images()["panorama.jpg"])
    assert isinstance(result, ProcessedImage) and (result.width, result.height) == (1536, 256)
    tight = process_image(sample_images()["panorama.jpg"], ImageConfig(max_output_side=1000))
    assert isinstance(tight, Drop) and tight.reason == "bad_aspect_ratio"


def test_jpegs_with_too_many_scans_are_too_costly() -> None:
    """A progressive JPEG with thousands of scans (minutes of CPU) is a drop before decoding."""
    for scans in (2_000, 20_000):
        result = process_image(_many_scans(scans))
        assert isinstance(result, Drop) and result.reason == "image_too_costly", result
        assert f"{scans} JPEG scans" in result.detail
    progressive = _encoded("astronaut.jpg", "JPEG", progressive=True)
    assert isinstance(process_image(progressive), ProcessedImage)  # ~10 scans: fine by default
    tight = process_image(progressive, ImageConfig(max_jpeg_scans=3))
    assert isinstance(tight, Drop) and tight.reason == "image_too_costly"


@pytest.mark.parametrize("name", ["chelsea.png", "camera-16bit.png", "coffee.webp", "astronaut-1600.jpg"])
def test_decode_time_budget(name: str) -> None:
    """Past the wall-time budget the image is a drop (libvips is stopped mid-decode)."""
    result = process_image(sample_images()[name], ImageConfig(max_decode_seconds=0.0))
    assert isinstance(result, Drop) and result.reason == "image_too_costly", result
    assert isinstance(process_image(sample_images()[name]), ProcessedImage)


def test_vips_decode_is_stopped_when_the_budget_runs_out() -> None:
    from filters import image_decode

    big = _encoded("astronaut-1600.jpg", "PNG")
    decoder = image_decode.VipsDecoder()
    with pytest.raises(image_decode.DecodeBudgetExceeded):
        decoder.decode(big, (256, 256), (255, 255, 255), budget_s=0.0)
    assert decoder.decode(big, (256, 256), (255, 255, 255), budget_s=10.0).size == (256, 256)


# --- WebP through libwebp's scaled decode ---------------------------------------------------------


def _coffee() -> Image.Image:
    return Image.open(io.BytesIO(sample_images()["coffee.webp"])).convert("RGB")


def _with_alpha(im: Image.Image) -> Image.Image:
    """An RGBA picture whose left third is fully transparent (black underneath) and the rest opaque."""
    rgba = im.convert("RGBA")
    alpha = np.full((im.height, im.width), 255, dtype=np.uint8)
    alpha[:, : im.width // 3] = 0
    arr = np.asarray(rgba).copy()
    arr[:, : im.width // 3, :3] = 0
    arr[:, :, 3] = alpha
    return Image.fromarray(arr)


def _webp(im: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "WEBP", **kw)
    return buf.getvalue()


def test_scaled_webp_decode_has_the_size_and_picture_of_a_full_decode_and_area_resize() -> None:
    import cv2

    from filters import webp_scaled

    assert webp_scaled.available()
    data = sample_images()["coffee.webp"]  # 600 x 400
    full = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert webp_scaled.features(data) == webp_scaled.Features(600, 400, False, False)
    for size in [(384, 256), (150, 100), (599, 399)]:
        scaled = webp_scaled.decode(data, size)
        assert scaled.shape == (size[1], size[0], 3) and scaled.dtype == np.uint8
        reference = cv2.resize(full, size, interpolation=cv2.INTER_AREA)
        assert _psnr(Image.fromarray(scaled), Image.fromarray(reference)) > 38, size
    unscaled = webp_scaled.decode(data)
    assert unscaled.shape == (400, 600, 3) and _psnr(Image.fromarray(unscaled), Image.fromarray(full)) > 45


def test_scaled_webp_path_gives_the_picture_of_a_full_decode() -> None:
    """process_image's scaled WebP decode against one INTER_AREA step from a full decode, and
    against the Pillow path, in every resize mode (a 1600 px photo shrunk 6x)."""
    import cv2

    from filters import image_decode

    data = _webp(Image.open(io.BytesIO(sample_images()["astronaut-1600.jpg"])).convert("RGB"), quality=85)
    full = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    area = Image.fromarray(cv2.resize(full, (256, 256), interpolation=cv2.INTER_AREA))
    assert _psnr(image_decode.LibWebPDecoder().decode(data, (256, 256), (255, 255, 255), 5.0), area) > 45
    for mode in ("keep_ratio", "center_crop", "border", "no"):
        config = ImageConfig(resize_mode=mode, encode_format="png")  # type: ignore[arg-type]
        scaled = process_image(data, config)
        pillow = process_image(data, replace(config, fast_decoders=False))
        assert isinstance(scaled, ProcessedImage) and isinstance(pillow, ProcessedImage)
        assert (scaled.width, scaled.height, scaled.original_width) == (pillow.width, pillow.height, 1600)
        assert _psnr(_open(scaled.data), _open(pillow.data)) > 35, mode
        if mode == "keep_ratio":
            assert _psnr(_open(scaled.data), area) > 45


def test_opencv_webp_path_shrinks_in_one_area_step() -> None:
    """The full-decode path (alpha, animations, no libwebp) gives img2dataset's one INTER_AREA step,
    not a whole-factor step that cuts rows first (a sub-pixel shift: ~28 dB on this photo)."""
    import cv2

    from filters import image_decode

    data = _webp(Image.open(io.BytesIO(sample_images()["astronaut-1600.jpg"])).convert("RGB"), quality=85)
    full = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    for target in ((256, 256), (300, 300), (171, 171)):  # factors 6.25, 5.33, 9.36: all cut rows before
        area = cv2.cvtColor(cv2.resize(full, target, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        ours = image_decode.OpenCVWebPDecoder().decode(data, target, (255, 255, 255), 5.0)
        assert np.array_equal(np.asarray(ours), area), target


@pytest.mark.parametrize("lossless", [False, True])
def test_webp_with_alpha_keeps_the_full_size_composite(lossless: bool) -> None:
    """libwebp would rescale colour and alpha apart (a dark halo): alpha pictures are composited whole."""
    from filters import image_decode, webp_scaled

    data = _webp(_with_alpha(_coffee()), lossless=lossless, quality=90)
    assert webp_scaled.features(data).has_alpha
    args = (data, (384, 256), (255, 255, 255), 5.0)
    ours = image_decode.LibWebPDecoder().decode(*args)
    assert np.array_equal(np.asarray(ours), np.asarray(image_decode.OpenCVWebPDecoder().decode(*args)))
    result = process_image(data, ImageConfig(encode_format="png"))
    assert isinstance(result, ProcessedImage) and (result.width, result.height) == (384, 256)
    arr = np.asarray(_open(result.data))
    assert arr[:, :120].min() > 240  # the transparent third is white, not black
    assert arr[:, 130:].std() > 20  # the photo is there


def test_animated_webp_keeps_the_first_frame() -> None:
    coffee = _coffee()
    frames = [coffee, coffee.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    buf = io.BytesIO()
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], duration=100, quality=90)
    result = process_image(buf.getvalue(), ImageConfig(encode_format="png"))
    assert isinstance(result, ProcessedImage) and (result.width, result.height) == (384, 256)
    stored = _open(result.data)
    assert _psnr(stored, coffee.resize((384, 256))) > _psnr(stored, frames[1].resize((384, 256))) + 3


@pytest.mark.parametrize(
    "kw",
    [{"quality": 80}, {"lossless": True}, {"quality": 80, "alpha": True}, {"lossless": True, "alpha": True}],
    ids=["lossy", "lossless", "lossy-alpha", "lossless-alpha"],
)
@pytest.mark.parametrize("cut", [0.05, 0.3, 0.6, 0.9, 0.99])
def test_truncated_webp_is_undecodable(kw: dict, cut: float) -> None:
    """Cut WebPs are dropped, by the RIFF check in process_image and by libwebp's own status when
    the RIFF header is patched to the cut length (the decoder never returns a partial picture)."""
    from filters import webp_scaled

    kw = dict(kw)
    im = _with_alpha(_coffee()) if kw.pop("alpha", False) else _coffee()
    data = _webp(im, **kw)
    cut_data = data[: int(len(data) * cut)]
    result = process_image(cut_data)
    assert isinstance(result, Drop) and result.reason == "undecodable_image", result
    relabelled = cut_data[:4] + (len(cut_data) - 8).to_bytes(4, "little") + cut_data[8:]
    result = process_image(relabelled)
    assert isinstance(result, Drop) and result.reason == "undecodable_image", result
    if len(cut_data) > 30:
        with pytest.raises(webp_scaled.WebPDecodeError):
            webp_scaled.decode(relabelled, (100, 66))


def test_webp_exif_orientation_is_applied_from_the_riff_header() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _webp(_coffee(), quality=90, exif=exif.tobytes())
    fast = process_image(data, ImageConfig(encode_format="png"))
    slow = process_image(data, ImageConfig(encode_format="png", fast_decoders=False))
    assert isinstance(fast, ProcessedImage) and isinstance(slow, ProcessedImage)
    assert (fast.width, fast.height, fast.original_width, fast.original_height) == (256, 384, 400, 600)
    assert (slow.width, slow.height) == (256, 384)
    assert _psnr(_open(fast.data), _open(slow.data)) > 35


def test_png_exif_orientation_is_applied_on_the_libvips_path() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    _coffee().save(buf, "PNG", exif=exif.tobytes())
    fast = process_image(buf.getvalue(), ImageConfig(encode_format="png"))
    slow = process_image(buf.getvalue(), ImageConfig(encode_format="png", fast_decoders=False))
    assert isinstance(fast, ProcessedImage) and isinstance(slow, ProcessedImage)
    assert (fast.width, fast.height) == (slow.width, slow.height) == (256, 384)
    assert _psnr(_open(fast.data), _open(slow.data)) > 35


def test_webp_size_checks_come_from_libwebps_header(monkeypatch: pytest.MonkeyPatch) -> None:
    """Size, bomb and output-size drops for a WebP are decided before any decoder runs."""
    from filters import image_decode

    def no_decoding(*_args: object, **_kw: object) -> None:
        raise AssertionError("pixels were decoded")

    strip = _webp(Image.new("RGB", (16_383, 64), (10, 200, 30)), quality=50)  # 16,383 x 64 -> 65,532 x 256
    photo = sample_images()["coffee.webp"]
    monkeypatch.setattr(image_decode.LibWebPDecoder, "decode", no_decoding)
    monkeypatch.setattr(image_decode.OpenCVWebPDecoder, "decode", no_decoding)
    cases = [
        (strip, ImageConfig(), "bad_aspect_ratio"),
        (photo, ImageConfig(max_pixels=600 * 399), "decompression_bomb"),
        (photo, ImageConfig(min_side=401), "image_too_small"),
        (photo, ImageConfig(max_aspect_ratio=1.4), "bad_aspect_ratio"),
    ]
    for data, config, reason in cases:
        result = process_image(data, config)
        assert isinstance(result, Drop) and result.reason == reason, result
    assert isinstance(process_image(b"RIFF\x10\x00\x00\x00WEBPVP8 \x04\x00\x00\x00abcd"), Drop)


def test_without_a_loadable_libwebp_the_opencv_path_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    from filters import image_decode, webp_scaled

    data = sample_images()["coffee.webp"]
    expected = process_image(data, ImageConfig(encode_format="png"))
    webp_scaled._library.cache_clear()
    monkeypatch.setattr(webp_scaled, "_candidates", lambda: ["/nonexistent/libwebp.so.7"])
    try:
        assert not webp_scaled.available()
        assert isinstance(image_decode.fast_decoder("WEBP"), image_decode.OpenCVWebPDecoder)
        assert image_decode.webp_header(data) is None  # Pillow reads the header
        fallback = process_image(data, ImageConfig(encode_format="png"))
        assert isinstance(fallback, ProcessedImage) and isinstance(expected, ProcessedImage)
        assert (fallback.width, fallback.height) == (expected.width, expected.height) == (384, 256)
        assert _psnr(_open(fallback.data), _open(expected.data)) > 38
        cut = process_image(data[: len(data) // 2])
        assert isinstance(cut, Drop) and cut.reason == "undecodable_image"
    finally:
        webp_scaled._library.cache_clear()
    monkeypatch.undo()
    assert webp_scaled.available()


def test_single_colour_check_equals_imagestat() -> None:
    from PIL import ImageStat

    from filters.image import is_single_color

    rng = np.random.default_rng(1)
    flat = np.full((64, 64, 3), 120, dtype=np.uint8)
    images = [_coffee(), Image.fromarray(flat)]
    for spread in (1, 2, 3, 4, 5):  # around the default threshold of 2.0
        noisy = np.clip(flat.astype(int) + rng.integers(-spread, spread + 1, flat.shape), 0, 255)
        images.append(Image.fromarray(noisy.astype(np.uint8)))
    for im in images:
        for max_std in (0.0, 1.5, 2.0, 2.5, 3.0):
            assert is_single_color(im, max_std) == (max(ImageStat.Stat(im).stddev) <= max_std)
    assert is_single_color(images[1], 2.0) and not is_single_color(images[0], 2.0)
