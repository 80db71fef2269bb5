"""Inputs checked before a run: columns of each file, and `.json` files holding one JSON array."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from pipelines import cli
from pipelines.common.options import UsageError
from pipelines.io.input_rows import RowError, iter_rows
from pipelines.text.options import config_from_args


def test_a_json_array_is_read_as_rows_and_json_lines_still_are() -> None:
    array = json.dumps([{"url": "http://a/1.jpg", "caption": "one"}, {"url": "http://a/2.jpg"}, 3]).encode()
    rows = list(iter_rows(io.BytesIO(b"\n  " + array), "list.json"))
    assert rows[:2] == [(0, {"url": "http://a/1.jpg", "caption": "one"}), (1, {"url": "http://a/2.jpg"})]
    assert isinstance(rows[2][1], RowError) and rows[2][1].reason == "malformed_row"
    lines = b'{"text": "a"}\n\n{"text": "b"}\n'
    assert list(iter_rows(io.BytesIO(lines), "docs.json")) == [(0, {"text": "a"}), (1, {"text": "b"})]
    broken = list(iter_rows(io.BytesIO(b'[{"text": "a"}, {"te'), "cut.json"))
    assert [r.reason for _, r in broken] == ["malformed_row"]


def test_every_input_file_is_checked_for_the_columns_asked_for(tmp_path: Path) -> None:
    (tmp_path / "good.jsonl").write_text(json.dumps({"text": "a", "id": "1"}) + "\n")
    (tmp_path / "array.json").write_text(json.dumps([{"body": "b", "id": "2"}]))
    (tmp_path / "notes.txt").write_text("a plain text document has no columns to check")
    args, _ = cli.parse(["text", "--input", str(tmp_path), "--output", str(tmp_path / "out")])
    with pytest.raises(UsageError) as err:
        cli.preflight("text", config_from_args(args))
    assert str(err.value) == (
        f"{tmp_path}/array.json has no column 'text' (its columns: body, id); name the right one with --text-col"
    )
    args, _ = cli.parse(
        ["text", "--input", str(tmp_path / "good.jsonl"), str(tmp_path / "notes.txt"), "--output", "o"]
    )
    assert cli.preflight("text", config_from_args(args)) == {"files": 2}
