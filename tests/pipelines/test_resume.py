"""Resume keeps nothing stale: a resumed run's kept set equals a fresh run's, always.

Shards are reused only when the content of their input rows and the settings are unchanged:
URLs and captions edited in place in the same file, and a WARC added beside a finished one whose
pages repeat the finished shard's, both give the fresh run's corpus.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.cli import main as corpus_main
from pipelines.io.warc import write_test_warc
from schemas.manifest import read_manifest
from schemas.reader import iter_corpus
from schemas.validate import validate
from tests.pipelines.warc_fixtures import generated_page

FAST = ["--timeout", "2", "--retries", "1", "--clip-model", "none", "--allow-private-network"]
CAPTIONS = [
    "An astronaut holding a helmet in front of a flag.",
    "A tabby cat looking to the side of the room.",
    "A cup of coffee on a saucer with a spoon.",
    "A rocket standing on the launch pad under the sky.",
    "A man with a camera on a tripod in a field.",
    "The logo of a software library for images.",
]
PHOTOS = ["astronaut.jpg", "chelsea.png", "coffee.webp", "rocket-cmyk.jpg", "camera-16bit.png", "chelsea.png"]


def kept_set(root: Path) -> set[tuple]:
    """What a corpus holds, by content: key, caption or text, image digests."""
    assert validate(str(root)).ok
    counts = read_manifest(str(root)).counts
    assert counts.input == counts.kept + sum(counts.dropped.values())
    out = set()
    for s in iter_corpus(str(root)):
        if hasattr(s, "caption"):
            out.add((s.key, s.caption, s.sha256, s.url))
        else:
            out.add((s.key, s.url, tuple(s.texts), tuple(i.sha256 if i else None for i in s.images)))
    return out


def _urls(path: Path, base: str, photos: list[str], captions: list[str]) -> Path:
    rows = [
        {"url": f"{base}/img/{p}?r={i}", "caption": c}
        for i, (p, c) in enumerate(zip(photos, captions, strict=True))
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _image_text(src: Path, out: Path) -> int:
    return corpus_main(
        ["image-text", "--input", str(src), "--output", str(out), "--samples-per-shard", "3", *FAST]
    )


def test_urls_and_captions_edited_in_place(tmp_path: Path, http_server) -> None:
    base = http_server.base_url
    src = _urls(tmp_path / "urls.jsonl", base, PHOTOS, CAPTIONS)
    assert _image_text(src, tmp_path / "out") == 0
    first = kept_set(tmp_path / "out")
    # the same file, same paths and row numbers: other photos and other captions
    photos = ["coffee.webp", "rocket-cmyk.jpg", *PHOTOS[2:5], "astronaut.jpg"]
    captions = [CAPTIONS[0], "A rocket on its launch pad, ready for the flight.", *CAPTIONS[2:]]
    _urls(src, base, photos, captions)
    http_server.reset()
    assert _image_text(src, tmp_path / "out") == 0
    assert http_server.request_count() > 0  # the edited rows were fetched again
    (tmp_path / "fresh").mkdir()
    fresh_src = _urls(tmp_path / "fresh" / "urls.jsonl", base, photos, captions)
    assert _image_text(fresh_src, tmp_path / "fresh" / "out") == 0
    resumed = kept_set(tmp_path / "out")
    assert resumed == kept_set(tmp_path / "fresh" / "out")
    assert resumed != first


def test_a_duplicate_image_comes_back_when_its_winner_is_edited_away(tmp_path: Path, http_server) -> None:
    """Rows 1 and 5 serve the same photo: one is a duplicate_image. Editing the winner's URL to another
    photo must bring the loser back on a resumed run (it was removed from a finished shard)."""
    base = http_server.base_url
    src = _urls(tmp_path / "urls.jsonl", base, PHOTOS, CAPTIONS)
    assert _image_text(src, tmp_path / "out") == 0
    dropped = read_manifest(str(tmp_path / "out")).counts.dropped
    assert dropped.get("duplicate_image") == 1
    winner = min((k, i) for i in (1, 5) for k, c, _, _ in kept_set(tmp_path / "out") if c == CAPTIONS[i])[
        1
    ]  # the row that kept the photo
    photos = list(PHOTOS)
    photos[winner] = "astronaut-1600.jpg"
    _urls(src, base, photos, CAPTIONS)
    assert _image_text(src, tmp_path / "out") == 0
    (tmp_path / "fresh").mkdir()
    assert (
        _image_text(_urls(tmp_path / "fresh" / "u.jsonl", base, photos, CAPTIONS), tmp_path / "fresh" / "out")
        == 0
    )
    resumed = kept_set(tmp_path / "out")
    assert "duplicate_image" not in read_manifest(str(tmp_path / "out")).counts.dropped
    assert {c for _, c, _, _ in resumed} == set(CAPTIONS)
    assert {(c, h) for _, c, h, _ in resumed} == {
        (c, h) for _, c, h, _ in kept_set(tmp_path / "fresh" / "out")
    }


def _pages(base: str, tag: str, n: int) -> list[tuple[str, bytes, None]]:
    return [
        (
            f"{base}/gen/{tag}{i}",
            generated_page(
                300 + i + (50 if tag == "b" else 0),
                [f"{base}/img/chelsea.png?p={tag}{i}", f"{base}/img/coffee.webp?p={tag}{i}"],
            ),
            None,
        )
        for i in range(n)
    ]


def _interleaved(warcs: list[Path], out: Path) -> int:
    return corpus_main(
        [
            "interleaved",
            "--warc",
            *map(str, warcs),
            "--output",
            str(out),
            "--one-image-keep-fraction",
            "1.0",
            *FAST,
        ]
    )


def test_an_added_warc_repeating_a_finished_shards_pages(tmp_path: Path, http_server) -> None:
    base = http_server.base_url
    a = tmp_path / "a.warc.gz"
    write_test_warc(str(a), [(u, h, None) for u, h, _ in _pages(base, "a", 3)])
    assert _interleaved([a], tmp_path / "out") == 0
    assert len(kept_set(tmp_path / "out")) == 3
    b = tmp_path / "b.warc.gz"  # the same three pages again (same URLs, same text), and three new ones
    write_test_warc(str(b), [(u, h, None) for u, h, _ in _pages(base, "a", 3) + _pages(base, "b", 3)])
    # Adding an input to a finished corpus is a resume, not a refusal: the CLI lets it through.
    assert _interleaved([a, b], tmp_path / "out") == 0
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    for w in (a, b):
        (fresh / w.name).write_bytes(w.read_bytes())
    assert _interleaved([fresh / "a.warc.gz", fresh / "b.warc.gz"], fresh / "out") == 0
    resumed = kept_set(tmp_path / "out")
    assert len(resumed) == 6  # 3 + 3 new, the repeats dropped as duplicates wherever they sit
    assert resumed == kept_set(fresh / "out")
    counts = read_manifest(str(tmp_path / "out")).counts
    assert (
        counts.input == 9
        and counts.dropped.get("duplicate_url", 0) + counts.dropped.get("near_duplicate", 0) == 3
    )


@pytest.mark.parametrize("rows", [[{"url": "u", "caption": "c"}], [{"url": "u", "caption": "d"}]])
def test_shard_source_depends_on_content_not_position(rows: list[dict]) -> None:
    import dataclasses

    from pipelines.common.resume import shard_source
    from pipelines.image_text.graph import ImageTextConfig

    x = ImageTextConfig(inputs=("a.jsonl",), output="out")
    base = shard_source([{"key": "k", "url": "u", "caption": "c"}], x)
    same = shard_source([{"key": "k", **rows[0]}], x)
    assert (same == base) is (rows[0]["caption"] == "c")
    assert shard_source([{"key": "k", "image": b"\x00" * 3}], x) != shard_source(
        [{"key": "k", "image": b"\x01" * 3}], x
    )
    stricter = dataclasses.replace(x, image=dataclasses.replace(x.image, min_side=128))
    assert shard_source([{"key": "k"}], x) != shard_source([{"key": "k"}], stricter)
    # An added input, another output path or a faster fetch does not make a finished shard stale.
    elsewhere = dataclasses.replace(
        x, inputs=("a.jsonl", "b.jsonl"), output="other", fetch=dataclasses.replace(x.fetch, timeout=99.0)
    )
    assert shard_source([{"key": "k"}], x) == shard_source([{"key": "k"}], elsewhere)
