"""Hostile input rows: every value a reader can produce becomes a kept record or a counted drop.

Unit level (pipelines.io.input_rows on bytes) and end to end (the text and image-text pipelines on
files holding the hostile rows beside good ones: rc 0, input == kept + dropped, a valid corpus).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main as corpus_main
from pipelines.common.drops import read_drops
from pipelines.io.input_rows import RowError, iter_rows
from pipelines.io.row_check import value_problem
from schemas.manifest import read_manifest
from schemas.reader import iter_corpus
from schemas.validate import validate
from tests.pipelines.text_fixtures import generated_document

HOSTILE_JSON_LINES = [
    '{"id": "surrogate", "text": "a lone \\ud800 surrogate"}',
    '{"id": "surrogate-key", "\\udfff": 1, "text": "x"}',
    '{"id": "deep", "text": "x", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}",
    '{"id": "deep-but-parseable", "text": "x", "meta": ' + "[" * 500 + "]" * 500 + "}",
    '{"id": "digits", "text": "x", "n": ' + "9" * 5000 + "}",
    '{"id": "big-int", "text": "x", "n": ' + str(2**70) + "}",
    '{"id": "surrogate-in-list", "text": "x", "tags": ["ok", "\\udc80"]}',
]


def _rows(data: bytes, name: str) -> list[dict | RowError]:
    return [row for _, row in iter_rows(io.BytesIO(data), name)]


def test_hostile_json_values_are_malformed_rows_with_file_and_row() -> None:
    good = json.dumps({"id": "good", "text": "fine"})
    rows = _rows("\n".join([good, *HOSTILE_JSON_LINES, good]).encode(), "in.jsonl")
    assert len(rows) == 2 + len(HOSTILE_JSON_LINES)  # input == kept + dropped
    assert isinstance(rows[0], dict) and isinstance(rows[-1], dict)
    bad = rows[1:-1]
    assert all(isinstance(r, RowError) and r.reason == "malformed_row" for r in bad), bad
    assert all("in.jsonl" in r.detail for r in bad)
    assert "surrogate" in bad[0].detail and "deeply" in bad[2].detail and "deeper than" in bad[3].detail
    assert "4300" in bad[4].detail or "digits" in bad[4].detail
    assert "64 bits" in bad[5].detail


def test_json_array_file_with_hostile_values() -> None:
    deep = "[" * 50_000 + "]" * 50_000
    assert _rows(f'[{{"text": "a"}}, {{"x": {deep}}}]'.encode(), "a.json")[0].reason == "malformed_row"
    rows = _rows(b'[{"text": "a"}, {"text": "\\ud800"}, {"n": ' + b"1" * 4400 + b"}]", "b.json")
    assert [getattr(r, "reason", "kept") for r in rows] == ["malformed_row"]  # the whole array is unreadable
    rows = _rows(b'[{"text": "a"}, {"text": "\\ud800"}]', "c.json")
    assert [getattr(r, "reason", "kept") for r in rows] == ["kept", "malformed_row"]


def hostile_parquet(path: Path | None = None) -> bytes:
    """Four rows: fine, a timestamp past year 9999, invalid UTF-8 in a string column, fine."""
    texts = [b"fine text", b"fine text", b"bad \xff\xfe bytes", b"fine text"]
    table = pa.table(
        {
            "id": ["p0", "p1", "p2", "p3"],
            "text": pa.array(texts, pa.binary()).view(pa.string()),
            "ts": pa.array([10**15, 300_000_000_000 * 10**6, 10**15, 10**15], pa.timestamp("us")),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    if path is not None:
        path.write_bytes(buf.getvalue())
    return buf.getvalue()


def test_parquet_values_python_cannot_hold_drop_only_their_row() -> None:
    rows = _rows(hostile_parquet(), "in.parquet")
    assert len(rows) == 4
    assert isinstance(rows[0], dict) and isinstance(rows[3], dict)
    assert [r.reason for r in rows[1:3]] == ["malformed_row", "malformed_row"], rows
    assert "in.parquet row 1" in rows[1].detail and "in.parquet row 2" in rows[2].detail


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_csv_with_a_byte_order_mark_keeps_its_first_column(suffix: str) -> None:
    sep = "," if suffix == ".csv" else "\t"
    data = f"\ufeffid{sep}text\r\na{sep}one\r\nb{sep}two\r\n".encode()
    rows = _rows(data, "t" + suffix)
    assert rows == [{"id": "a", "text": "one"}, {"id": "b", "text": "two"}]


def test_value_problem_is_iterative_and_bounded() -> None:
    deep: list = []
    node = deep
    for _ in range(10_000):  # deeper than the recursion limit: a recursive walk would crash
        node.append([])
        node = node[0]
    assert "deeper than" in value_problem({"x": deep})
    assert value_problem({"a": [1, {"b": "c"}], "n": 2**62, "t": True, "f": 1e308}) is None


def test_txt_url_lists_with_tab_captions() -> None:
    rows = _rows(b"http://a/1.jpg\tA red car.\nhttp://a/2.jpg\n\n", "urls.txt")
    rows = [
        r
        for _, r in iter_rows(io.BytesIO(b"http://a/1.jpg\tA red car.\nhttp://a/2.jpg\n\n"), "u.txt", "lines")
    ]
    assert rows == [{"text": "http://a/1.jpg", "caption": "A red car."}, {"text": "http://a/2.jpg"}]


# ---- end to end ----------------------------------------------------------------------------------------


def _check_corpus(out: Path, drops_dir: Path, expected_input: int) -> tuple[dict, dict]:
    report = validate(str(out))
    assert report.ok, report.problems
    manifest = read_manifest(str(out))
    counts = manifest.counts
    assert counts.input == expected_input
    assert counts.input == counts.kept + sum(counts.dropped.values())
    assert counts.kept == sum(1 for _ in iter_corpus(str(out)))
    return counts.dropped, read_drops(str(drops_dir))


def test_text_pipeline_survives_hostile_rows(tmp_path: Path) -> None:
    good = [json.dumps({"id": f"g{i}", "text": generated_document(i)}) for i in range(3)]
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text("\n".join([good[0], *HOSTILE_JSON_LINES, good[1], good[2]]) + "\n")
    parquet = tmp_path / "docs.parquet"
    hostile_parquet(parquet)
    csv_path = tmp_path / "docs.csv"
    csv_path.write_bytes(("\ufeffid,text\r\nc1," + json.dumps(generated_document(7)) + "\r\n").encode())
    rc = corpus_main(
        ["text", "--input", str(jsonl), str(parquet), str(csv_path), "--output", str(tmp_path / "out")]
        + ["--drops", str(tmp_path / "drops")]
    )
    assert rc == 0
    dropped, drops = _check_corpus(tmp_path / "out", tmp_path / "drops", 3 + len(HOSTILE_JSON_LINES) + 4 + 1)
    assert dropped["malformed_row"] == len(HOSTILE_JSON_LINES) + 2
    details = [d["detail"] for d in drops.values() if d["reason"] == "malformed_row"]
    assert any("docs.parquet row 1" in d for d in details) and any("docs.jsonl" in d for d in details)
    ids = {s.id for s in iter_corpus(str(tmp_path / "out"))}
    assert "c1" in ids  # the BOM did not eat the id column


def test_image_text_pipeline_survives_hostile_rows(tmp_path: Path, http_server) -> None:
    base = http_server.base_url
    lines = [
        json.dumps(
            {"url": base + "/img/chelsea.png", "caption": "A tabby cat looking to the side of the room."}
        ),
        '{"url": "' + base + '/img/coffee.webp", "caption": "A cup \\ud800 of coffee on a saucer."}',
        '{"url": "' + base + '/img/astronaut.jpg", "caption": "An astronaut.", "n": ' + "7" * 5000 + "}",
        '{"url": "'
        + base
        + '/img/rocket-cmyk.jpg", "caption": "x", "m": '
        + "[" * 100_000
        + "]" * 100_000
        + "}",
    ]
    src = tmp_path / "urls.jsonl"
    src.write_text("\n".join(lines) + "\n")
    csv_path = tmp_path / "more.csv"
    csv_path.write_bytes(
        f"\ufeffurl,caption\r\n{base}/img/coffee.webp,A cup of coffee on a saucer with a spoon.\r\n".encode()
    )
    rc = corpus_main(
        ["image-text", "--input", str(src), str(csv_path), "--output", str(tmp_path / "out")]
        + [
            "--drops",
            str(tmp_path / "drops"),
            "--allow-private-network",
            "--timeout",
            "2",
            "--clip-model",
            "none",
        ]
    )
    assert rc == 0
    dropped, _ = _check_corpus(tmp_path / "out", tmp_path / "drops", 5)
    assert dropped == {"malformed_row": 3}
