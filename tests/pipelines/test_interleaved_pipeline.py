"""`kosmos-corpus interleaved`: WARC files -> KOSMOS-1 interleaved documents, against a real local server."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from pipelines.cli import main as corpus_main
from pipelines.common.drops import read_drops
from schemas.keys import make_key, warc_identity
from schemas.manifest import read_manifest
from schemas.reader import iter_corpus
from schemas.validate import validate
from tests.pipelines.warc_fixtures import generated_page, german_page, real_pages, write_warc

FAST = ["--timeout", "2", "--retries", "1", "--allow-private-network"]


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
        (
            "bad-images",
            generated_page(
                3, [f"{base}/tiny.png?x=1", f"{base}/single-color.png?x=1", img("rocket-cmyk.jpg", "b")]
            ),
        ),
        ("all-fail", generated_page(4, [f"{base}/missing?a", f"{base}/tiny.png?a"])),
        ("no-text-after", generated_page(5, [img("camera-gray.jpg", "n1")], paragraphs=1)),
    ]
    pages = [(f"{base}/gen/{name}", html) for name, html in generated]
    pages.append((f"{base}/gen/ordered", generated[0][1]))  # the same URL again
    pages.append((f"{base}/gen/ordered-copy", generated[0][1]))  # same text at another URL
    write_warc(tmp / "a.warc.gz", [(u, h) for u, h, _ in real[:20]] + pages)
    second = [  # the second WARC file holds generated pages too, so both shards exist in any clone
        ("german", german_page(6, [img("coffee.webp", "g1"), img("chelsea.png", "g2")])),
        ("second-file", generated_page(8, [img("astronaut.jpg", "s1"), img("coffee.webp", "s2")])),
    ]
    b_offsets = write_warc(
        tmp / "b.warc.gz", [(u, h) for u, h, _ in real[20:]] + [(f"{base}/gen/{n}", h) for n, h in second]
    )
    rc = corpus_main(
        [
            "interleaved",
            "--warc",
            str(tmp / "a.warc.gz"),
            str(tmp / "b.warc.gz"),
            "--output",
            str(tmp / "out"),
            "--drops",
            str(tmp / "drops"),
            "--one-image-keep-fraction",
            "1.0",
            *FAST,
        ]
    )
    names = [name for name, _ in generated] + ["ordered-again", "ordered-copy"]
    offsets = _offsets(tmp / "a.warc.gz")[len(real[:20]) :]
    keys = {
        name: make_key("interleaved", warc_identity("a.warc.gz", off))
        for name, off in zip(names, offsets, strict=True)
    }
    for (name, _), off in zip(second, b_offsets[len(real[20:]) :], strict=True):
        keys[name] = make_key("interleaved", warc_identity("b.warc.gz", off))
    return {
        "rc": rc,
        "out": tmp / "out",
        "drops": read_drops(str(tmp / "drops")),
        "real": real,
        "keys": keys,
        "base": base,
    }


def _offsets(path) -> list[int]:
    from pipelines.io.warc import read_warc_file

    return [p.offset for p in read_warc_file(str(path))]


def samples(corpus) -> list:
    return list(iter_corpus(str(corpus["out"])))


def test_counts_add_up_and_shards_validate(corpus):
    assert corpus["rc"] == 0
    manifest = read_manifest(str(corpus["out"]))
    c = manifest.counts
    assert c.input == len(corpus["real"]) + 9 == c.kept + sum(c.dropped.values())
    assert len(manifest.shards) == 2  # one per WARC file
    report = validate(str(corpus["out"]))
    assert report.ok, [str(p) for p in report.problems]
    assert manifest.extra["cc_converged"] is True


def test_language_rule_on_generated_pages(corpus):
    keys, drops = corpus["keys"], corpus["drops"]
    kept = {s.key for s in samples(corpus)}
    assert drops[keys["german"]]["reason"] == "language"
    assert keys["second-file"] in kept
    assert all(s.lang == "en" for s in samples(corpus))


@pytest.mark.real_pages
def test_language_rule_on_real_pages(corpus):
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
    assert [i.url.split("?")[0].rsplit("/", 1)[-1] for i in ordered.stored_images] == [
        "astronaut.jpg",
        "chelsea.png",
    ]
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
    pages = [
        (f"{base}/one/{i}", generated_page(1000 + i, [f"{base}/img/chelsea.png?one={i}"], paragraphs=2))
        for i in range(200)
    ]
    write_warc(tmp_path / "one.warc.gz", pages)
    kept_runs = []
    for run in ("first", "second"):
        out = tmp_path / run
        rc = corpus_main(
            [
                "interleaved",
                "--warc",
                str(tmp_path / "one.warc.gz"),
                "--output",
                str(out),
                "--no-near-dedup",
                "--boilerplate-image-docs",
                "0",
                *FAST,
            ]
        )
        assert rc == 0
        counts = read_manifest(str(out)).counts
        assert counts.input == 200
        sampled_out = counts.dropped.get("one_image_sampled_out", 0)
        assert 70 <= sampled_out <= 130, counts  # 35%-65% of 200
        assert counts.kept + sampled_out == 200
        kept_runs.append({s.key for s in iter_corpus(str(out))})
    assert kept_runs[0] == kept_runs[1]


def test_alt_text_pairs_feed_the_image_text_pipeline(tmp_path, http_server):
    """`kosmos-corpus image-text --warc`: (image URL, alt text) pairs from pages, LAION's recipe."""
    base = http_server.base_url
    alts = ["A tabby cat looking to the side of the room.", "A cup of coffee on a saucer with a spoon."]
    page = generated_page(7, [f"{base}/img/chelsea.png?alt=1", f"{base}/img/coffee.webp?alt=2"], alts=alts)
    page = page.replace(
        b"</article>",
        f'<p>Footer text here.</p><img src="{base}/static/site-logo.png" alt="Our company logo">'.encode()
        + b"</article>",
    )
    write_warc(tmp_path / "p.warc.gz", [(f"{base}/gen/alt", page)])
    out = tmp_path / "pairs"
    rc = corpus_main(
        [
            "image-text",
            "--warc",
            str(tmp_path / "p.warc.gz"),
            "--output",
            str(out),
            "--drops",
            str(tmp_path / "d"),
            "--clip-model",
            "none",
            "--timeout",
            "2",
            "--allow-private-network",
        ]
    )
    assert rc == 0
    assert sorted(s.caption for s in iter_corpus(str(out))) == sorted(alts)
    assert all(
        s.columns["page_url"] == f"{base}/gen/alt" for s in iter_corpus(str(out))
    )  # a top-level column
    drops = read_drops(str(tmp_path / "d"))
    assert [d["reason"] for d in drops.values()] == ["image_url_pattern"]
    assert http_server.request_count("/static/site-logo.png") == 0, "non-content images are never fetched"
    assert validate(str(out)).ok


def test_corrupt_warc_record_is_counted_and_the_rest_read(tmp_path, http_server):
    base = http_server.base_url
    pages = [
        (
            f"{base}/gen/c{i}",
            generated_page(40 + i, [f"{base}/img/chelsea.png?c={i}", f"{base}/img/coffee.webp?c={i}"]),
        )
        for i in range(3)
    ]
    offsets = write_warc(tmp_path / "c.warc.gz", pages)
    data = bytearray((tmp_path / "c.warc.gz").read_bytes())
    data[offsets[1] + 30 : offsets[1] + 60] = b"\x00" * 30  # garble the middle record's gzip member
    (tmp_path / "c.warc.gz").write_bytes(bytes(data))
    rc = corpus_main(
        ["interleaved", "--warc", str(tmp_path / "c.warc.gz"), "--output", str(tmp_path / "out"), *FAST]
    )
    assert rc == 0
    counts = read_manifest(str(tmp_path / "out")).counts
    assert counts.dropped.get("bad_warc_record") == 1
    assert counts.kept == 2 and counts.input == 3


def test_rerun_skips_the_downloads_of_complete_warc_files(tmp_path, http_server):
    base = http_server.base_url
    for name in ("x", "y"):
        pages = [
            (
                f"{base}/{name}/{i}",
                generated_page(
                    60 + i + (10 if name == "y" else 0),
                    [f"{base}/img/chelsea.png?{name}={i}", f"{base}/img/coffee.webp?{name}={i}"],
                ),
            )
            for i in range(3)
        ]
        write_warc(tmp_path / f"{name}.warc.gz", pages)
    args = [
        "interleaved",
        "--warc",
        str(tmp_path / "x.warc.gz"),
        str(tmp_path / "y.warc.gz"),
        "--output",
        str(tmp_path / "out"),
        *FAST,
    ]
    assert corpus_main(args) == 0
    first = read_manifest(str(tmp_path / "out"))
    # a run killed before the second WARC's shard was complete: no stats, no manifest yet
    for suffix in (".tar", ".parquet", ".stats.json"):
        (tmp_path / "out" / f"shard-000001{suffix}").unlink()
    (tmp_path / "out" / "manifest.json").unlink()
    http_server.reset()
    assert corpus_main(args) == 0
    requested = [path for _, path, _ in http_server.requests]
    assert not [p for p in requested if "?x=" in p], "the complete WARC's images were fetched again"
    assert sum("?y=" in p for p in requested) == 6
    second = read_manifest(str(tmp_path / "out"))
    assert second.counts == first.counts and [s.sha256 for s in second.shards] == [
        s.sha256 for s in first.shards
    ]
    assert validate(str(tmp_path / "out")).ok


def test_a_bug_on_one_page_is_a_counted_drop_not_a_crash(tmp_path, http_server, monkeypatch):
    import pipelines.interleaved.graph as interleaved

    real_extract = interleaved.extract_document

    def flaky(raw, url, *args, **kwargs):
        if url.endswith("/boom"):
            raise RuntimeError("simulated extractor bug")
        return real_extract(raw, url, *args, **kwargs)

    monkeypatch.setattr(interleaved, "extract_document", flaky)
    base = http_server.base_url
    pages = [
        (
            f"{base}/ok/{i}",
            generated_page(80 + i, [f"{base}/img/chelsea.png?b={i}", f"{base}/img/coffee.webp?b={i}"]),
        )
        for i in range(2)
    ]
    pages.append((f"{base}/boom", generated_page(90, [f"{base}/img/chelsea.png?b=9"])))
    write_warc(tmp_path / "b.warc.gz", pages)
    rc = corpus_main(
        [
            "interleaved",
            "--warc",
            str(tmp_path / "b.warc.gz"),
            "--output",
            str(tmp_path / "out"),
            "--drops",
            str(tmp_path / "d"),
            *FAST,
        ]
    )
    assert rc == 0
    counts = read_manifest(str(tmp_path / "out")).counts
    assert counts.input == 3 and counts.kept == 2 and counts.dropped == {"internal_error": 1}
    [drop] = read_drops(str(tmp_path / "d")).values()
    assert drop["url"].endswith("/boom") and "simulated extractor bug" in drop["detail"]
