"""The text pipeline through Beam's portable job API with an external worker pool."""

from __future__ import annotations

import json

import pytest

from pipelines.cli import main as corpus_main
from schemas.manifest import read_manifest
from schemas.reader import iter_corpus
from schemas.validate import validate
from tests.pipelines.beam_services import portable_runner_args
from tests.pipelines.text_fixtures import generated_document, near_copy


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
    report = validate(str(out))
    assert report.ok, [str(p) for p in report.problems]
    counts = read_manifest(str(out)).counts
    assert counts.input == 15 and counts.kept == 12
    assert counts.dropped == {"exact_duplicate": 1, "near_duplicate": 1, "malformed_row": 1}
    assert len({s.key for s in iter_corpus(str(out))}) == 12
