"""The main job's current form: build a small sample corpus of each kind and validate it.

It writes through the same contract (schemas/) that every pipeline uses, from bundled real
photographs; the real crawling pipelines replace the generation step as they land.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from PIL import Image

from pipelines.sample_photos import encode, load_photos
from schemas.keys import make_key, row_identity
from schemas.kinds import Kind
from schemas.manifest import Counts
from schemas.samples import ImageTextSample, InterleavedSample, TextSample
from schemas.writer import CorpusWriter, write_manifest

MIN_SIDE = 64  # the KOSMOS-1 image rule

_SENTENCES = [
    "The museum opened a new wing dedicated to the history of space exploration.",
    "Visitors can see a full-size model of a rocket and the suits astronauts wore.",
    "A small cafe on the ground floor serves coffee roasted in the city.",
    "Photographs of galaxies taken by telescopes fill an entire wall.",
    "Local schools organise trips so that children can learn about the planets.",
    "The exhibition will stay open until the end of next year.",
]


@dataclass
class DemoResult:
    kind: Kind
    root: str
    counts: Counts


def _resize(img: Image.Image, side: int = 256) -> Image.Image:
    scale = side / min(img.size)
    return img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.BICUBIC)


def build_image_text(root: str) -> DemoResult:
    counts = Counts()
    writer = CorpusWriter(root, Kind.IMAGE_TEXT, samples_per_shard=8)
    rows = [(name, img, caption) for name, img, caption in load_photos()]
    rows.append(("tiny", Image.new("RGB", (32, 32), (90, 120, 200)), "A tiny blue square."))
    for index, (name, img, caption) in enumerate(rows):
        counts.input += 1
        key = make_key(Kind.IMAGE_TEXT, row_identity("demo/photos.tsv", index))
        if min(img.size) < MIN_SIDE:
            counts.drop("image_too_small")
            continue
        stored = _resize(img)
        writer.write(ImageTextSample(
            key=key, image=encode(stored, quality=90), caption=caption, width=stored.width,
            height=stored.height, original_width=img.width, original_height=img.height,
            url=f"skimage://{name}", id=name, clip_model="none",
        ))  # fmt: skip
        counts.kept += 1
    write_manifest(root, Kind.IMAGE_TEXT, writer.close(), counts, config={"demo": True, "min_side": MIN_SIDE, "clip_model": "none"})
    return DemoResult(Kind.IMAGE_TEXT, root, counts)


def build_interleaved(root: str) -> DemoResult:
    counts = Counts()
    writer = CorpusWriter(root, Kind.INTERLEAVED, samples_per_shard=4)
    photos = load_photos()
    for doc in range(6):
        counts.input += 1
        nodes: list[str | tuple[bytes, str, int, int]] = []
        for j in range(3):
            nodes.append(" ".join(_SENTENCES[(doc + j + k) % len(_SENTENCES)] for k in range(2)))
            _, img, _ = photos[(doc * 2 + j) % len(photos)]
            if j < 2:
                small = _resize(img)
                nodes.append((encode(small, quality=90), "jpg", small.width, small.height))
        key = make_key(Kind.INTERLEAVED, row_identity("demo/pages.warc", doc))
        writer.write(InterleavedSample.from_nodes(key, nodes, url=f"https://example.org/page-{doc}", id=f"page-{doc}"))
        counts.kept += 1
    write_manifest(root, Kind.INTERLEAVED, writer.close(), counts, config={"demo": True})
    return DemoResult(Kind.INTERLEAVED, root, counts)


def build_text(root: str) -> DemoResult:
    counts = Counts()
    writer = CorpusWriter(root, Kind.TEXT, samples_per_shard=10)
    documents = [
        "\n".join(_SENTENCES[(i + k) % len(_SENTENCES)] for k in range(4)) for i in range(len(_SENTENCES))
    ] + ["   "]
    for index, text in enumerate(documents):
        counts.input += 1
        if not text.strip():
            counts.drop("empty_text")
            continue
        key = make_key(Kind.TEXT, row_identity("demo/docs.jsonl", index))
        writer.write(TextSample(key=key, text=text, id=f"doc-{index}", source="demo", lang="en"))
        counts.kept += 1
    write_manifest(root, Kind.TEXT, writer.close(), counts, config={"demo": True})
    return DemoResult(Kind.TEXT, root, counts)


def build_demo(output: str) -> list[DemoResult]:
    """Write `<output>/{text,image_text,interleaved}` corpora."""
    return [
        build_text(os.path.join(output, "text")),
        build_image_text(os.path.join(output, "image_text")),
        build_interleaved(os.path.join(output, "interleaved")),
    ]
