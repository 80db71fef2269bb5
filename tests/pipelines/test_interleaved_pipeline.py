"""`kosmos-corpus interleaved`: WARC files -> KOSMOS-1 interleaved documents, against a real local server."""

from __future__ import annotations

import glob
import io

import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipelines.cli import main as corpus_main
from schemas.keys import make_key, warc_identity
from schemas.manifest import read_manifest
from schemas.reader import iter_corpus
from schemas.validate import validate
from tests.pipelines.warc_fixtures import generated_page, real_pages, write_warc

FAST = ["--timeout", "2", "--retries", "1", "--allow-private-network"]


def drops_of(folder) -> dict[str, dict]:
    out = {}
    for f in glob.glob(str(folder / "*.parquet")):
        for row in pq.read_table(f).to_pylist():
            out[row["key"]] = row
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, _http_server_session):
    server = _http_server_session
    base = server.base_url
    tmp = tmp_path_factory.mktemp("interleaved")
    real = real_pages(base)
    img = lambda name, tag: f"{base}/img/{name}?doc={tag}"  # noqa: E731 - distinct URLs for one photo
    generated = [
        ("ordered", generated_page(1, [img("astronaut.jpg", "o1"), img("chelsea.png", "o2")])),
        ("eight", generated_page(2, [img("coffee.webp", f"e{i}") for i in range(8)])),
        ("bad-images", generated_page(3, [f"{base}/tiny.png?x=1", f"{base}/single-color.png?x=1", img("rocket-cmyk.jpg", "b")])),
        ("all-fail", generated_page(4, [f"{base}/missing?a", f"{base}/tiny.png?a"])),
        ("no-text-after", generated_page(5, [img("camera-gray.jpg", "n1")], paragraphs=1)),
    ]
    pages = [(f"{base}/gen/{name}", html) for name, html in generated]
    pages.append((f"{base}/gen/ordered", generated[0][1]))  # the same URL again
    pages.append((f"{base}/gen/ordered-copy", generated[0][1]))  # same text at another URL
    write_warc(tmp / "a.warc.gz", [(u, h) for u, h, _ in real[:20]] + pages)
    write_warc(tmp / "b.warc.gz", [(u, h) for u, h, _ in real[20:]])
    rc = corpus_main(["interleaved", "--warc", str(tmp / "a.warc.gz"), str(tmp / "b.warc.gz"), "--output", str(tmp / "out"),
                      "--drops", str(tmp / "drops"), "--one-image-keep-fraction", "1.0", *FAST])  # fmt: skip
    names = [name for name, _ in generated] + ["ordered-again", "ordered-copy"]
    offsets = _offsets(tmp / "a.warc.gz")[len(real[:20]) :]
    keys = {name: make_key("interleaved", warc_identity("a.warc.gz", off)) for name, off in zip(names, offsets, strict=True)}
    return {"rc": rc, "out": tmp / "out", "drops": drops_of(tmp / "drops"), "real": real, "keys": keys, "base": base}


def _offsets(path) -> list[int]:
    from pipelines.warc_source import read_warc_file

    return [p.offset for p in read_warc_file(str(path))]


def samples(corpus) -> list:
    return list(iter_corpus(str(corpus["out"])))


def test_counts_add_up_and_shards_validate(corpus):
    assert corpus["rc"] == 0
    manifest = read_manifest(str(corpus["out"]))
    c = manifest.counts
    assert c.input == len(corpus["real"]) + 7 == c.kept + sum(c.dropped.values())
    assert len(manifest.shards) == 2  # one per WARC file
    report = validate(str(corpus["out"]))
    assert report.ok, [str(p) for p in report.problems]
    assert manifest.extra["cc_converged"] is True


def test_language_rule_on_real_pages(corpus):
    if not corpus["real"]:
        pytest.skip("../shared/data/webpages not present")
    kept_urls = {s.url for s in samples(corpus)}
    by_url = {d["url"]: d for d in corpus["drops"].values()}
    foreign = [u for u, _, lang in corpus["real"] if lang in ("de", "fr")]
    assert foreign and not set(foreign) & kept_urls, "German and French pages must not be kept"
    reasons = {by_url[u]["reason"] for u in foreign}
    assert "language" in reasons
    english_kept = [u for u, _, lang in corpus["real"] if lang == "en" and u in kept_urls]
    assert len(english_kept) >= 3, "English pages with usable images must come through"
    assert all(s.lang == "en" for s in samples(corpus))


def test_document_rules(corpus):
    for s in samples(corpus):
        stored = s.stored_images
        assert 1 <= len(stored) <= 5
        for image in stored:
            with Image.open(io.BytesIO(image.data)) as im:
                assert min(im.size) >= 64
                lo, hi = im.convert("L").getextrema()
                assert hi - lo > 10, "no single-coloured image is stored"
        positions = [i for i, img in enumerate(s.images) if img is not None]
        texts = [i for i, t in enumerate(s.texts) if t is not None]
        assert any(texts[0] < p < texts[-1] for p in positions), "images are interspersed in text"


def test_generated_pages_fates(corpus):
    keys, drops = corpus["keys"], corpus["drops"]
    by_key = {s.key: s for s in samples(corpus)}
    # three records of one page: the same URL twice, and the same text at another URL
    group = sorted([keys["ordered"], keys["ordered-again"], keys["ordered-copy"]])
    assert group[0] in by_key and not set(group[1:]) & set(by_key)
    same_url = max(keys["ordered"], keys["ordered-again"])
    assert drops[same_url]["reason"] == "duplicate_url"
    ordered = by_key[group[0]]
    assert [i.url.split("?")[0].rsplit("/", 1)[-1] for i in ordered.stored_images] == ["astronaut.jpg", "chelsea.png"]
    assert ordered.texts[0] is not None and ordered.images[1] is not None and ordered.texts[2] is not None
    assert len(by_key[keys["eight"]].stored_images) == 5
    bad = by_key[keys["bad-images"]]
    assert [i.url.split("?")[0].rsplit("/", 1)[-1] for i in bad.stored_images] == ["rocket-cmyk.jpg"]
    assert drops[keys["all-fail"]]["reason"] == "no_images"
    assert drops[keys["no-text-after"]]["reason"] == "not_interspersed"
    stats = read_manifest(str(corpus["out"])).counts.dropped
    assert stats.get("duplicate_url") == 1 and stats.get("near_duplicate", 0) >= 1


def test_one_image_rule_is_reproducible(tmp_path, http_server):
    base = http_server.base_url
    pages = [(f"{base}/one/{i}", generated_page(1000 + i, [f"{base}/img/chelsea.png?one={i}"], paragraphs=2)) for i in range(200)]
    write_warc(tmp_path / "one.warc.gz", pages)
    kept_runs = []
    for run in ("first", "second"):
        out = tmp_path / run
        rc = corpus_main(["interleaved", "--warc", str(tmp_path / "one.warc.gz"), "--output", str(out),
                          "--no-near-dedup", "--boilerplate-image-docs", "0", *FAST])  # fmt: skip
        assert rc == 0
        counts = read_manifest(str(out)).counts
        assert counts.input == 200
        sampled_out = counts.dropped.get("one_image_sampled_out", 0)
        assert 70 <= sampled_out <= 130, counts  # 35%-65% of 200
        assert counts.kept + sampled_out == 200
        kept_runs.append({s.key for s in iter_corpus(str(out))})
    assert kept_runs[0] == kept_runs[1]
