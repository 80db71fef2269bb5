"""Small corpora of each kind, written through the real writer, shared by the schema tests."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pytest
from PIL import Image

from schemas.keys import make_key, row_identity
from schemas.kinds import Kind
from schemas.manifest import Counts
from schemas.samples import ImageTextSample, InterleavedSample, TextSample
from schemas.writer import CorpusWriter, write_manifest


def jpeg(width: int, height: int, color: tuple[int, int, int]) -> bytes:
    img = Image.new("RGB", (width, height), color)
    for x in range(0, width, 7):  # some texture so it is not a flat colour
        img.putpixel((x, x % height), (255 - color[0], 0, 0))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def key(kind: Kind, i: int) -> str:
    return make_key(kind.value, row_identity("input.jsonl", i))


def image_text_samples(n: int) -> list[ImageTextSample]:
    return [
        ImageTextSample(
            key=key(Kind.IMAGE_TEXT, i),
            image=jpeg(96 + i, 80, (10 * i, 100, 200)),
            caption=f"a photo number {i}",
            width=96 + i,
            height=80,
            url=f"http://h/{i}.jpg",
            id=str(i),
        )
        for i in range(n)
    ]


def interleaved_samples(n: int) -> list[InterleavedSample]:
    out = []
    for i in range(n):
        nodes = [
            f"intro {i}",
            (jpeg(100, 70, (200, 10 * i, 0)), "jpg", 100, 70),
            f"middle {i}",
            (jpeg(90, 90, (0, 50, 10 * i)), "jpg", 90, 90),
            f"end {i}",
        ]
        out.append(
            InterleavedSample.from_nodes(
                key(Kind.INTERLEAVED, i),
                nodes,
                url=f"http://page/{i}",
                warc_file="a.warc.gz",
                warc_offset=1000 * i,
            )
        )
    return out


def text_samples(n: int) -> list[TextSample]:
    return [
        TextSample(
            key=key(Kind.TEXT, i), text=f"document {i}\nsecond line", id=str(i), lang="en", lang_score=0.9
        )
        for i in range(n)
    ]


SAMPLES = {
    Kind.IMAGE_TEXT: image_text_samples,
    Kind.INTERLEAVED: interleaved_samples,
    Kind.TEXT: text_samples,
}


def write_corpus(
    root: Path, kind: Kind, n: int = 6, per_shard: int = 3, dropped: dict[str, int] | None = None
) -> Path:
    writer = CorpusWriter(str(root), kind, samples_per_shard=per_shard)
    writer.write_all(SAMPLES[kind](n))
    dropped = dropped or {"language": 2}
    write_manifest(
        str(root), kind, writer.close(), Counts(n + sum(dropped.values()), n, dropped), config={"test": True}
    )
    return root


@pytest.fixture(scope="session")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> dict[Kind, Path]:
    base = tmp_path_factory.mktemp("corpora")
    return {kind: write_corpus(base / kind.value, kind) for kind in Kind}


@pytest.fixture
def corpus_copy(corpora: dict[Kind, Path], tmp_path: Path):
    """A fresh, writable copy of a good corpus, to break on purpose."""

    def copy(kind: Kind) -> Path:
        dest = tmp_path / kind.value
        shutil.copytree(corpora[kind], dest)
        return dest

    return copy


def read_tar(path: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(path) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]


def write_tar(path: Path, members: list[tuple[str, bytes]]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
