"""Drop records are validated where they are made, and every pipeline counts them by one rule."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from pipelines.common.drops import DROP_FIELDS, check_counts, counts_of, drop_of


def test_drop_record_has_the_drops_schema_fields_and_is_validated() -> None:
    d = drop_of({"key": "k1", "id": "i", "url": "http://x/", "text": "..."}, "language", "de 0.99", "filter")
    assert tuple(d) == DROP_FIELDS
    assert d == {
        "key": "k1",
        "id": "i",
        "url": "http://x/",
        "reason": "language",
        "detail": "de 0.99",
        "duplicate_of": None,
        "stage": "filter",
    }
    with pytest.raises(ValueError, match="unknown drop reason"):
        drop_of({"key": "k1"}, "not_a_reason", "", "filter")
    with pytest.raises(ValueError, match="needs a key"):
        drop_of({"key": ""}, "language", "", "filter")
    with pytest.raises(ValueError, match="stage"):
        drop_of({"key": "k1"}, "language", "", "Filter Stage")
    with pytest.raises(ValueError, match="id must be a string"):
        drop_of({"key": "k1", "id": 7}, "language", "", "filter")
    assert len(drop_of({"key": "k1"}, "internal_error", "x" * 10_000, "filter")["detail"]) == 2000


def test_counts_are_kept_plus_drop_records_per_reason() -> None:
    drops = [
        drop_of({"key": f"k{i}"}, r, "", "filter") for i, r in enumerate(["language", "spam", "language"])
    ]
    c = counts_of(5, drops)
    assert (c.input, c.kept, c.dropped) == (8, 5, {"language": 2, "spam": 1})
    assert counts_of(5, drops, input_count=8) == c
    with pytest.raises(RuntimeError, match="9 records read but kept 5 \\+ dropped 3 = 8"):
        counts_of(5, drops, input_count=9)
    with pytest.raises(RuntimeError, match="lost or counted twice"):
        check_counts(c, 7)


def test_image_text_shard_counts_come_from_its_fates_not_parquet_metadata(tmp_path, http_server) -> None:
    from filters.registry import build_filters
    from pipelines.image_text.graph import ImageTextConfig, row_item
    from pipelines.image_text.shard import ShardDownloader, candidates_path, read_candidates
    from pipelines.io.fetch import FetchConfig

    base = http_server.base_url
    raw = [
        {"url": f"{base}/img/chelsea.png?f=1", "caption": "A cat sitting on a mat."},
        {"url": f"{base}/tiny.png?f=2", "caption": "A tiny picture of a dog."},
        {"url": f"{base}/img/coffee.webp?f=3", "caption": "Portrait of <PERSON> at the awards."},
    ]
    fetch = FetchConfig(timeout=5, retries=0, allow_private_network=True)
    it = ImageTextConfig(inputs=(), output=str(tmp_path), fetch=fetch)
    filters = build_filters("image_text", it)
    rows = [
        row_item(r, k * 24, f"row {i}", it, filters) for i, (r, k) in enumerate(zip(raw, "abc", strict=True))
    ]
    cfg = it.download()
    downloader = ShardDownloader(cfg)
    try:
        stats, drops = downloader.run(0, rows)
    finally:
        downloader.close()
    assert (stats.input, stats.kept, stats.dropped) == (3, 1, {"image_too_small": 1, "placeholder_tag": 1})
    assert sorted(d["reason"] for d in drops) == ["image_too_small", "placeholder_tag"]
    table = pq.read_table(candidates_path(str(tmp_path), stats.shard))
    assert not table.schema.metadata, "no counts travel in Parquet schema metadata"
    assert sorted(r["reason"] or "kept" for r in table.to_pylist()) == [
        "image_too_small",
        "kept",
        "placeholder_tag",
    ]
    kept, counts = read_candidates(str(tmp_path), stats.shard)
    assert [r["key"] for r in kept] == ["a" * 24] and "reason" not in kept[0]
    assert (counts.input, counts.kept, counts.dropped) == (stats.input, stats.kept, stats.dropped)
