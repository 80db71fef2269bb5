"""Small corpora written through the real `schemas` writer, for tests, the demo and the loader benchmark.

Pictures are drawn shapes in distinct colours, optionally after real photographs the caller passes
(tests and the demo use `pipelines.demo.photos.load_photos()`; `kosmos_train` imports only
`schemas`, so it does not import `pipelines` itself). Nothing is downloaded.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from schemas.keys import make_key, row_identity
from schemas.kinds import Kind
from schemas.manifest import Counts
from schemas.samples import ImageTextSample, InterleavedSample, Sample, TextSample
from schemas.writer import CorpusWriter, write_manifest

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 180, 60),
    "blue": (30, 60, 220),
    "yellow": (235, 210, 40),
    "purple": (140, 40, 170),
    "orange": (245, 140, 20),
    "black": (15, 15, 15),
    "white": (245, 245, 245),
}
SHAPES = ("circle", "square", "triangle", "cross")


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def shape_image(shape: str, colour: str, background: str = "white", size: int = 96) -> Image.Image:
    img = Image.new("RGB", (size, size), COLOURS[background])
    d = ImageDraw.Draw(img)
    m, c, fill = size // 6, COLOURS[colour], COLOURS[colour]
    if shape == "circle":
        d.ellipse([m, m, size - m, size - m], fill=fill)
    elif shape == "square":
        d.rectangle([m, m, size - m, size - m], fill=fill)
    elif shape == "triangle":
        d.polygon([(size // 2, m), (size - m, size - m), (m, size - m)], fill=fill)
    else:
        w = size // 6
        d.rectangle([size // 2 - w, m, size // 2 + w, size - m], fill=c)
        d.rectangle([m, size // 2 - w, size - m, size // 2 + w], fill=c)
    return img


def distinct_pictures(
    n: int, photos: Sequence[tuple[Image.Image, str]] = ()
) -> list[tuple[Image.Image, str]]:
    """n distinct (image, caption) pairs: the given photographs first, then coloured shapes."""
    out = list(photos[:n])
    backgrounds = ("white", "black")
    for bg in backgrounds:
        for colour in COLOURS:
            for shape in SHAPES:
                if len(out) >= n:
                    return out
                if colour != bg:
                    out.append((shape_image(shape, colour, bg), f"A {colour} {shape} on a {bg} background."))
    return out


def write_corpus(root: str | Path, kind: Kind, samples: Sequence[Sample], per_shard: int = 4) -> Path:
    """Write `samples` as a corpus of `kind` with a manifest; returns the root."""
    writer = CorpusWriter(str(root), kind, samples_per_shard=per_shard)
    writer.write_all(samples)
    write_manifest(
        str(root), kind, writer.close(), Counts(len(samples), len(samples), {}), config={"synthetic": True}
    )
    return Path(root)


def key(kind: Kind, name: str, i: int) -> str:
    return make_key(kind.value, row_identity(name, i))


def image_text_samples(
    pairs: Sequence[tuple[Image.Image, str]], name: str = "synthetic"
) -> list[ImageTextSample]:
    out = []
    for i, (img, caption) in enumerate(pairs):
        data = jpeg(img)
        out.append(
            ImageTextSample(
                key=key(Kind.IMAGE_TEXT, name, i),
                image=data,
                caption=caption,
                width=img.width,
                height=img.height,
            )
        )
    return out


def text_samples(docs: Sequence[str], name: str = "synthetic") -> list[TextSample]:
    return [TextSample(key=key(Kind.TEXT, name, i), text=t, lang="en") for i, t in enumerate(docs)]


def interleaved_samples(
    docs: Sequence[Sequence[str | Image.Image]], name: str = "synthetic"
) -> list[InterleavedSample]:
    out = []
    for i, doc in enumerate(docs):
        nodes: list = [n if isinstance(n, str) else (jpeg(n), "jpg", n.width, n.height) for n in doc]
        out.append(InterleavedSample.from_nodes(key(Kind.INTERLEAVED, name, i), nodes))
    return out
