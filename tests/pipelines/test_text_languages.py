"""`kosmos-corpus text --languages xx`: documents are judged by the rules of their identified language."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from filters.text_quality import TextQualityFilter
from pipelines.cli import main as corpus_main
from pipelines.common.drops import read_drops
from schemas.keys import make_key, row_identity
from schemas.manifest import read_manifest
from schemas.reader import iter_corpus
from tests.generated_text import english_document
from tests.multilingual_text import (
    CHINESE_SENTENCES,
    GERMAN_SENTENCES,
    good_documents,
    planted_bad_chinese,
    planted_bad_german,
)


def _run(tmp: Path, lang: str, rows: list[dict]) -> tuple[dict, set[str], object]:
    src = tmp / "docs.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    rc = corpus_main(
        [
            "text",
            "--input",
            str(src),
            "--output",
            str(tmp / "out"),
            "--drops",
            str(tmp / "drops"),
            "--languages",
            lang,
        ]
    )
    assert rc == 0
    kept = {s.key for s in iter_corpus(str(tmp / "out"))}
    return read_drops(str(tmp / "drops")), kept, read_manifest(str(tmp / "out"))


@pytest.mark.parametrize(
    ("lang", "good", "bad"),
    [
        ("de", good_documents(GERMAN_SENTENCES, 16), planted_bad_german()),
        ("zh", good_documents(CHINESE_SENTENCES, 16, sep=""), planted_bad_chinese()),
    ],
)
def test_languages_flag_keeps_what_that_languages_rules_keep(tmp_path, capsys, lang, good, bad) -> None:
    rows = [{"id": f"good-{i}", "text": t} for i, t in enumerate(good)]
    rows += [{"id": f"bad-{name}", "text": text} for name, (text, _) in bad.items()]
    rows += [{"id": "english", "text": english_document(7)}]
    drops, kept, manifest = _run(tmp_path, lang, rows)
    keys = [make_key("text", row_identity("docs.jsonl", i)) for i in range(len(rows))]
    rules = TextQualityFilter()
    expected_kept = {
        k for k, r in zip(keys, rows, strict=True) if r["id"].startswith("good") and rules(r["text"], lang)[0]
    }
    assert len(expected_kept) == len(good)  # every good document passes its language's rules
    assert kept == expected_kept
    reasons = {r["id"]: drops[k]["reason"] for k, r in zip(keys, rows, strict=True) if k in drops}
    for name, (_, reason) in bad.items():
        assert reasons[f"bad-{name}"] == reason, name
    assert reasons["english"] == "language"
    assert manifest.counts.input == len(rows) == manifest.counts.kept + sum(manifest.counts.dropped.values())
    for sample in iter_corpus(str(tmp_path / "out")):
        assert sample.lang == lang
    assert "own rules for " + lang in capsys.readouterr().out  # named in the run's output
    # the same documents under English rules: the good ones would have been lost
    assert sum(bool(rules(t)[0]) for t in good) == 0
