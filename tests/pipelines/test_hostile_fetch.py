"""Hostile servers against pipelines.io.fetch: compressed bombs, slow bodies, odd headers, opt-outs.

Each family is fed several of its kind; the batch tests check that one hostile URL costs nothing
to the healthy URLs of its batch and that every URL is accounted for (input == kept + dropped).
"""

from __future__ import annotations

import time
import zlib
from dataclasses import replace

import pytest

from filters.base import Drop
from pipelines.io.fetch import (
    ROBOTS_CACHE,
    BodyDecodeError,
    BodyTooLarge,
    BoundedBody,
    Fetched,
    UnsupportedEncoding,
    fetch_urls,
    opted_out,
    parse_retry_after,
)
from pipelines.io.fetch.body import PIECE
from tests.http_server import BOMB_BYTES, TestHTTPServer, bomb_body, encode_body, sample_images
from tests.pipelines.test_fetch import LOCAL

BOMBS = ["br", "zstd", "gzip", "deflate", "gzip,gzip", "br,gzip", "zstd,br"]


def _fate(result: Fetched | Drop) -> str:
    return result.reason if isinstance(result, Drop) else "kept"


# ---- compressed-response bombs -----------------------------------------------------------------------


@pytest.mark.parametrize("codings", BOMBS)
def test_bounded_body_never_inflates_past_the_limit(codings: str) -> None:
    """The decoder stops within one step (64 KiB) of the limit, however small the wire body."""
    wire = bomb_body(codings)
    assert len(wire) < 1_000_000 < BOMB_BYTES  # a bomb: tiny on the wire
    body = BoundedBody(codings, limit=2_000_000)
    with pytest.raises(BodyTooLarge):
        for i in range(0, len(wire), 16_384):
            body.feed(wire[i : i + 16_384])
            assert max(body._produced, default=0) <= 2_000_000 + 2 * PIECE
        body.finish()


@pytest.mark.parametrize("codings", ["br", "zstd", "gzip", "deflate", "gzip,gzip", "br,zstd"])
def test_honest_encodings_decode_to_the_photo(http_server: TestHTTPServer, codings: str) -> None:
    [result] = fetch_urls([http_server.url(f"/encoded/{codings}")], LOCAL)
    assert isinstance(result, Fetched), result
    assert result.content == sample_images()["astronaut.jpg"]


def test_bombs_are_too_large_and_cost_the_batch_nothing(http_server: TestHTTPServer) -> None:
    healthy = [http_server.url(f"/img/astronaut.jpg?copy={i}") for i in range(40)]
    hostile = {http_server.url(f"/bomb/{c}"): "too_large" for c in BOMBS}
    hostile[http_server.url("/drip")] = "timeout"
    hostile[http_server.url("/corrupt-gzip")] = "connection_error"
    hostile[http_server.url("/encoded/gzip,gzip,gzip,gzip")] = "bad_content_type"
    urls = list(hostile) + healthy
    start = time.monotonic()
    results = fetch_urls(urls, LOCAL)
    elapsed = time.monotonic() - start
    fates = [_fate(r) for r in results]
    assert fates[: len(hostile)] == list(hostile.values()), results[: len(hostile)]
    assert fates[len(hostile) :] == ["kept"] * len(healthy)
    assert len(results) == len(urls) == fates.count("kept") + sum(f != "kept" for f in fates)
    assert elapsed < 10, elapsed  # nothing waited for the bombs


def test_per_url_deadline_bounds_a_slow_body(http_server: TestHTTPServer) -> None:
    """A body trickling in under the per-attempt timeout still ends at the per-URL deadline."""
    cfg = replace(LOCAL, timeout=30.0, deadline=1.5)
    start = time.monotonic()
    results = fetch_urls([http_server.url("/drip"), http_server.url("/img/chelsea.png")], cfg)
    assert [_fate(r) for r in results] == ["timeout", "kept"]
    assert "deadline" in results[0].detail
    assert time.monotonic() - start < 5


def test_corrupt_and_unknown_encodings_are_errors_not_crashes() -> None:
    with pytest.raises(BodyDecodeError):
        body = BoundedBody("gzip", 1000)
        body.feed(b"not gzip")
    with pytest.raises(BodyDecodeError):  # cut short
        body = BoundedBody("br", 10_000)
        body.feed(encode_body(b"x" * 5000, "br")[:-3])
        body.finish()
    with pytest.raises(UnsupportedEncoding):
        BoundedBody("compress", 1000)
    gz = zlib.compress(b"hello", wbits=31)
    body = BoundedBody("gzip", 1000)
    body.feed(gz + gz)  # two gzip members, as gzip(1) concatenates them
    assert body.finish() == b"hellohello"


# ---- robots.txt bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("robots_body", "headers", "private_fate"),
    [
        (b"\xef\xbb\xbfUser-agent: *\nDisallow: /private/\n", None, "robots_disallowed"),  # UTF-8 BOM
        (
            encode_body(b"User-agent: *\nDisallow: /private/\n", "br"),
            {"Content-Encoding": "br"},
            "robots_disallowed",
        ),
        (bomb_body("br"), {"Content-Encoding": "br"}, "kept"),  # truncated at 512 KiB of zeros: no rules
        (b"not gzip at all", {"Content-Encoding": "gzip"}, "robots_disallowed"),  # unreadable = unreachable
        (bomb_body("gzip,gzip"), {"Content-Encoding": "gzip, gzip"}, "kept"),
    ],
)
def test_robots_txt_bodies(robots_body: bytes, headers: dict | None, private_fate: str) -> None:
    ROBOTS_CACHE.clear()
    with TestHTTPServer(robots_body=robots_body, robots_headers=headers) as server:
        start = time.monotonic()
        [result] = fetch_urls([server.url("/private/astronaut.jpg")], LOCAL)
        assert _fate(result) == private_fate, result
        assert time.monotonic() - start < 5
    ROBOTS_CACHE.clear()


def test_corrupt_gzip_robots_txt_is_a_robots_drop_not_internal_error() -> None:
    ROBOTS_CACHE.clear()
    with TestHTTPServer(
        robots_body=b"\x1f\x8b\x08garbage", robots_headers={"Content-Encoding": "gzip"}
    ) as server:
        results = fetch_urls([server.url("/img/astronaut.jpg"), server.url("/img/chelsea.png")], LOCAL)
        assert [r.reason for r in results] == ["robots_disallowed"] * 2
        assert "unreadable" in results[0].detail
        assert server.request_count("/img/astronaut.jpg") == 0
    ROBOTS_CACHE.clear()


# ---- odd headers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["٣²", "²", "１２０", "1e400", "-5", "Mon, 01 Jan 99999 00:00:00 GMT", "\x00"]
)
def test_odd_retry_after_values_are_ignored(value: str) -> None:
    assert parse_retry_after(value) is None


def test_non_ascii_retry_after_falls_back_to_backoff(http_server: TestHTTPServer) -> None:
    results = fetch_urls(
        [http_server.url("/retry-after-odd/a"), http_server.url("/retry-after-odd/b")], LOCAL
    )
    assert all(isinstance(r, Fetched) and r.attempts == 2 for r in results), results
    [gone] = fetch_urls([http_server.url("/retry-after-odd/c")], replace(LOCAL, retries=0))
    assert isinstance(gone, Drop) and gone.reason == "http_error"


# ---- X-Robots-Tag grammar -----------------------------------------------------------------------------

XRT_EXPECTED = {
    "noai-then-date": "opted_out",
    "date-then-noai": "opted_out",
    "scoped-list": "opted_out",
    "scoped-continues": "opted_out",
    "other-scope-list": "kept",
    "two-headers": "opted_out",
    "past-date": "opted_out",
    "future-date": "kept",
}


def test_x_robots_tag_cases_through_the_fetcher(http_server: TestHTTPServer) -> None:
    urls = [http_server.url(f"/x-robots-tag/{case}") for case in XRT_EXPECTED]
    results = fetch_urls(urls, LOCAL)
    assert dict(zip(XRT_EXPECTED, map(_fate, results), strict=True)) == XRT_EXPECTED


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["noai, unavailable_after: 25 Jun 2030 15:00:00 PST"], "noai"),
        (["unavailable_after: Sunday, 01-Jul-35 07:00:00 PST, noai"], "noai"),
        (["googlebot: noindex, kosmos-corpus: noai"], "noai"),
        (["kosmos-corpus: noai, googlebot: noindex"], "noai"),
        (["googlebot: noindex, noimageai"], None),  # the scope continues: noimageai is googlebot's
        (["googlebot: noindex", "noimageai"], "noimageai"),  # a new header starts unscoped
        (["KOSMOS-CORPUS: NoAI"], "noai"),
        (["googlebot: unavailable_after: 2001-01-01"], None),
        (["kosmos-corpus: unavailable_after: 2001-01-01"], "unavailable_after: 2001-01-01"),
        (
            ["unavailable_after: Sunday, 01-Jul-01 07:00:00 GMT"],
            "unavailable_after: Sunday, 01-Jul-01 07:00:00 GMT",
        ),
        (["unavailable_after: not a date, nofollow"], None),
        (["max-image-preview: large, max-snippet: 20"], None),
        ([", ,", ":", "kosmos-corpus:"], None),
    ],
)
def test_x_robots_tag_grammar(values: list[str], expected: str | None) -> None:
    assert opted_out(values) == expected


# ---- end to end ---------------------------------------------------------------------------------------


def test_image_text_run_counts_every_hostile_url(tmp_path, http_server) -> None:
    """The same families through `kosmos-corpus image-text`: exact reasons, counts add up, a valid corpus."""
    import json

    from pipelines.cli import main as corpus_main
    from schemas.manifest import read_manifest
    from schemas.reader import iter_corpus
    from schemas.validate import validate

    caption = "A tabby cat looking to the side of the room."
    paths = {
        "/bomb/br": "too_large",
        "/bomb/zstd": "too_large",
        "/bomb/gzip,gzip": "too_large",
        "/x-robots-tag/noai-then-date": "opted_out",
        "/x-robots-tag/scoped-list": "opted_out",
        "/retry-after-odd/e2e": "kept",
        "/img/chelsea.png?ok=1": "kept",
        "/encoded/br": "kept",
    }
    src = tmp_path / "urls.jsonl"
    src.write_text("".join(json.dumps({"url": http_server.url(p), "caption": caption}) + "\n" for p in paths))
    rc = corpus_main(
        ["image-text", "--input", str(src), "--output", str(tmp_path / "out"), "--no-image-dedup"]
        + ["--allow-private-network", "--timeout", "2", "--retries", "1", "--clip-model", "none"]
    )
    assert rc == 0
    assert validate(str(tmp_path / "out")).ok
    counts = read_manifest(str(tmp_path / "out")).counts
    assert counts.input == len(paths) == counts.kept + sum(counts.dropped.values())
    assert counts.dropped == {"too_large": 3, "opted_out": 2}
    assert counts.kept == sum(1 for _ in iter_corpus(str(tmp_path / "out"))) == 3
