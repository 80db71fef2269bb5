"""Input rows from every supported format, and every fault as a RowError naming file and line."""

from __future__ import annotations

import gzip
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.io.input_rows import RowError, format_of, iter_rows


def rows(data: bytes, name: str, **kw) -> list:
    return [r for _, r in iter_rows(io.BytesIO(data), name, **kw)]


def test_formats():
    assert format_of("a/b.jsonl.gz") == (".jsonl", True)
    assert format_of("x.PARQUET") == (".parquet", False)
    with pytest.raises(ValueError, match="unsupported input format"):
        format_of("x.xml")


def test_jsonl_skips_blank_lines_and_reports_line_numbers():
    out = rows(b'{"text": "a"}\n\n{bad\n{"text": "c"}\n', "f.jsonl")
    assert out[0] == {"text": "a"}
    assert isinstance(out[1], RowError) and out[1].detail.startswith("f.jsonl:3: invalid JSON")
    assert out[2] == {"text": "c"}


def test_csv_and_tsv_with_bad_bytes_and_ragged_rows():
    out = rows(b"url,caption\nhttp://a,hello\nhttp://b,caf\xe9\nhttp://c,x,extra\n", "l.csv")
    assert out[0] == {"url": "http://a", "caption": "hello"}
    assert out[1].reason == "bad_encoding" and "l.csv:3" in out[1].detail
    assert out[2].reason == "malformed_row" and "l.csv:4" in out[2].detail
    assert rows(b"url\tcaption\nhttp://a\thi\n", "l.tsv") == [{"url": "http://a", "caption": "hi"}]


def test_parquet_plain_and_gzipped():
    buf = io.BytesIO()
    pq.write_table(pa.table({"text": ["a", "b", "c"], "id": [1, 2, 3]}), buf)
    assert rows(buf.getvalue(), "t.parquet") == [
        {"text": "a", "id": 1},
        {"text": "b", "id": 2},
        {"text": "c", "id": 3},
    ]
    assert len(rows(gzip.compress(buf.getvalue()), "t.parquet.gz")) == 3
    broken = rows(buf.getvalue()[:40], "t.parquet")
    assert len(broken) == 1 and broken[0].reason == "bad_input_file"


def test_text_modes():
    assert rows(b"one whole\ndocument", "d.txt") == [{"text": "one whole\ndocument"}]
    assert rows(b"http://a\n\nhttp://b\n", "u.txt", txt_mode="lines") == [
        {"text": "http://a"},
        {"text": "http://b"},
    ]
    assert rows(b"\xff\xfe bad", "d.txt")[0].reason == "bad_encoding"


def test_cut_gzip_keeps_rows_before_the_cut():
    data = gzip.compress(b"".join(b'{"text": "row %d"}\n' % i for i in range(2000)))
    out = rows(data[: len(data) // 2], "c.jsonl.gz")
    good = [r for r in out if isinstance(r, dict)]
    assert 0 < len(good) < 2000
    assert isinstance(out[-1], RowError) and out[-1].reason == "bad_input_file"
    assert out[-1].detail.startswith(f"c.jsonl.gz: unreadable after row {len(good)}")


def test_a_long_csv_field_is_a_row_not_the_end_of_the_file():
    long_text = "word " * 40_000  # 200,000 characters: above csv's default field limit
    data = f"text\nfirst\n{long_text}\nthird\n".encode()
    out = rows(data, "docs.csv")
    assert [r["text"][:5] for r in out] == ["first", "word ", "third"]


def test_input_roots(tmp_path):
    from pipelines.common.inputs import expand_inputs

    for crawl in ("crawl-a", "crawl-b"):
        (tmp_path / crawl).mkdir()
        (tmp_path / crawl / "part-0.jsonl").write_text('{"text": "x"}\n')
    # a directory given without a trailing slash is a directory
    assert [rel for _, rel in expand_inputs((str(tmp_path / "crawl-a"),))] == ["part-0.jsonl"]
    assert [rel for _, rel in expand_inputs((str(tmp_path),))] == [
        "crawl-a/part-0.jsonl",
        "crawl-b/part-0.jsonl",
    ]
    # same relative path under two roots would give two rows the same key: refused
    with pytest.raises(ValueError, match="same path relative"):
        expand_inputs((str(tmp_path / "crawl-a"), str(tmp_path / "crawl-b")))
