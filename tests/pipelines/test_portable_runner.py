"""The three pipelines through Beam's portable job API with an external worker pool.

This is the path Spark and Flink take: a job service translates the graph and SDK workers in
separate processes run it, so every DoFn is pickled and shipped, and nothing may rely on state
that lives only in the launching process. The image and page fetches cross process boundaries
too: the SDK workers download from the test's HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json

import pytest

from pipelines.cli import main as corpus_main
from schemas.keys import make_key, row_identity
from schemas.manifest import read_manifest
from schemas.reader import iter_corpus
from schemas.validate import validate
from tests.pipelines.beam_services import portable_runner_args
from tests.pipelines.text_fixtures import generated_document, near_copy
from tests.pipelines.warc_fixtures import generated_page, write_warc


def assert_valid(out) -> None:
    report = validate(str(out))
    assert report.ok, [str(p) for p in report.problems]


@pytest.mark.slow
def test_text_pipeline_on_portable_runner(tmp_path):
    rows = [{"id": f"d{i}", "text": generated_document(i)} for i in range(12)]
    rows.append({"id": "exact", "text": rows[0]["text"]})
    rows.append({"id": "near", "text": near_copy(rows[1]["text"], 1, edits=1)})
    rows.append({"id": "broken"})
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "corpus"
    with portable_runner_args(tmp_path) as beam_flags:
        rc = corpus_main(["text", "--input", str(src), "--output", str(out), *beam_flags])
    assert rc == 0
    assert_valid(out)
    counts = read_manifest(str(out)).counts
    assert counts.input == 15 and counts.kept == 12
    assert counts.dropped == {"exact_duplicate": 1, "near_duplicate": 1, "malformed_row": 1}
    assert len({s.key for s in iter_corpus(str(out))}) == 12


# (path on the test server, caption, fate): a few kept photos and one drop of each stage kind
# (URL dedup before fetching, a fetch error, an image filter, a caption filter). Of the two
# "same-url" rows the smallest key is kept and the other is a duplicate_url drop.
IMAGE_ROWS = [
    ("/img/astronaut.jpg", "An astronaut holding a helmet in front of a flag.", "same-url"),
    ("/img/chelsea.png", "A tabby cat looking to the side of the room.", "kept"),
    ("/img/coffee.webp", "A cup of coffee on a saucer with a spoon.", "kept"),
    ("/img/rocket-cmyk.jpg", "A rocket standing on the launch pad under the sky.", "kept"),
    ("/img/astronaut.jpg", "The same astronaut photo listed a second time.", "same-url"),
    ("/missing", "A photo that the server does not have at all.", "http_error"),
    ("/tiny.png", "A very small thumbnail of an astronaut in space.", "image_too_small"),
    ("/img/coffee.webp", "<PERSON> drinking coffee at the table in the morning.", "placeholder_tag"),
]


@pytest.mark.slow
def test_image_text_pipeline_on_portable_runner(tmp_path, http_server):
    src = tmp_path / "urls.jsonl"
    src.write_text(
        "".join(
            json.dumps({"url": http_server.base_url + path, "caption": caption, "id": f"row{i}"}) + "\n"
            for i, (path, caption, _) in enumerate(IMAGE_ROWS)
        )
    )
    out = tmp_path / "corpus"
    with portable_runner_args(tmp_path) as beam_flags:
        rc = corpus_main(
            [
                "image-text",
                "--input",
                str(src),
                "--output",
                str(out),
                "--samples-per-shard",
                "4",
                "--allow-private-network",
                "--timeout",
                "2",
                "--retries",
                "1",
                "--clip-model",
                "none",
                *beam_flags,
            ]
        )
    assert rc == 0
    assert_valid(out)
    manifest = read_manifest(str(out))
    keys = [make_key("image_text", row_identity("urls.jsonl", i)) for i in range(len(IMAGE_ROWS))]
    fates = dict(zip(keys, [fate for _, _, fate in IMAGE_ROWS], strict=True))
    same_url = sorted(k for k, fate in fates.items() if fate == "same-url")
    fates.update({same_url[0]: "kept", same_url[1]: "duplicate_url"})
    assert manifest.counts.input == len(IMAGE_ROWS)
    assert manifest.counts.kept == 4
    assert manifest.counts.dropped == {f: 1 for f in fates.values() if f != "kept"}
    assert len(manifest.shards) == 2  # 8 rows, 4 per shard
    want = {k for k, fate in fates.items() if fate == "kept"}
    assert {s.key for s in iter_corpus(str(out))} == want
    # the SDK workers (other processes) really fetched from this process's server
    assert http_server.request_count("/img/chelsea.png") >= 1


@pytest.mark.slow
def test_interleaved_pipeline_on_portable_runner(tmp_path, http_server):
    base = http_server.base_url
    img = lambda name, tag: f"{base}/img/{name}?doc={tag}"  # noqa: E731 - distinct URLs for one photo
    pages = [
        (f"{base}/gen/ordered", generated_page(1, [img("astronaut.jpg", "o1"), img("chelsea.png", "o2")])),
        (f"{base}/gen/three", generated_page(2, [img("coffee.webp", f"t{i}") for i in range(3)])),
        (f"{base}/gen/all-fail", generated_page(4, [f"{base}/missing?a", f"{base}/tiny.png?a"])),
    ]
    pages.append((f"{base}/gen/ordered", pages[0][1]))  # the same URL again
    write_warc(tmp_path / "a.warc.gz", pages[:2])
    write_warc(tmp_path / "b.warc.gz", pages[2:])
    out = tmp_path / "corpus"
    with portable_runner_args(tmp_path) as beam_flags:
        rc = corpus_main(
            [
                "interleaved",
                "--warc",
                str(tmp_path / "a.warc.gz"),
                str(tmp_path / "b.warc.gz"),
                "--output",
                str(out),
                "--one-image-keep-fraction",
                "1.0",
                "--allow-private-network",
                "--timeout",
                "2",
                "--retries",
                "1",
                *beam_flags,
            ]
        )
    assert rc == 0
    assert_valid(out)
    manifest = read_manifest(str(out))
    assert len(manifest.shards) == 2  # one per WARC file
    assert manifest.counts.input == 4 and manifest.counts.kept == 2
    assert manifest.counts.dropped == {"duplicate_url": 1, "no_images": 1}
    docs = {s.url: s for s in iter_corpus(str(out))}
    assert set(docs) == {f"{base}/gen/ordered", f"{base}/gen/three"}
    names = [i.url.split("?")[0].rsplit("/", 1)[-1] for i in docs[f"{base}/gen/ordered"].stored_images]
    assert names == ["astronaut.jpg", "chelsea.png"]
    assert len(docs[f"{base}/gen/three"].stored_images) == 3
