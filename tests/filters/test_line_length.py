"""filters.line_length: the filter itself, and the text pipeline running it from its registration."""

from __future__ import annotations

import json

import pytest

from filters.base import Drop, Keep
from filters.line_length import DEFAULT_MAX_LINE_CHARS, MaxLineLength
from filters.registry import build_filters, registered
from tests.generated_text import english_document


def test_long_line_is_dropped_with_its_length() -> None:
    f = MaxLineLength(max_chars=100)
    assert f({"text": "short line.\n" + "x" * 100}) == Keep()
    d = f({"text": "short line.\n" + "x" * 101 + "\nmore."})
    assert isinstance(d, Drop) and d.reason == "line_too_long" and "101 characters > 100" in d.detail
    assert f({"text": ""}) == Keep()
    with pytest.raises(ValueError):
        MaxLineLength(max_chars=0)


def test_prose_passes_the_default() -> None:
    assert MaxLineLength()({"text": english_document(3, words=2000)}) == Keep()


def test_registered_for_text_after_quality_before_decontamination() -> None:
    names = [r.name for r in registered("text")]
    assert names.index("quality") < names.index("max_line_length") < names.index("decontamination")


def test_text_pipeline_picks_it_up_from_the_registration(tmp_path) -> None:
    from pipelines.cli import main as corpus_main
    from pipelines.common.drops import read_drops
    from pipelines.text.graph import TextPipelineConfig

    assert "max_line_length" in [n for n, _ in build_filters("text", TextPipelineConfig((), ""))]
    one_line = english_document(1, words=5000).replace("\n\n", " ")  # a scraped page without breaks
    assert len(one_line) > DEFAULT_MAX_LINE_CHARS
    rows = [{"id": "prose", "text": english_document(2)}, {"id": "one-line", "text": one_line}]
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["text", "--input", str(src), "--output", str(tmp_path / "out"), "--drops", str(tmp_path / "d")]
    assert corpus_main([*args, "--no-near-dedup"]) == 0
    drops = {d["id"]: d for d in read_drops(str(tmp_path / "d")).values()}
    assert list(drops) == ["one-line"] and drops["one-line"]["reason"] == "line_too_long"
    assert drops["one-line"]["stage"] == "filter"
