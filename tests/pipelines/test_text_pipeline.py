"""`kosmos-corpus text` end to end on the DirectRunner: filters, dedup, shards, counts, drops."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from pipelines.cli import main as corpus_main
from pipelines.common.drops import read_drops
from schemas.keys import make_key, row_identity
from schemas.manifest import read_manifest
from schemas.reader import iter_corpus
from schemas.validate import validate
from tests.generated_text import english_document, german_document
from tests.pipelines.text_fixtures import generated_document, near_copy


def key_of(relpath: str, row: int) -> str:
    return make_key("text", row_identity(relpath, row))


def run(inputs: list[Path], out: Path, *flags: str) -> tuple[int, dict[str, dict]]:
    rc = corpus_main(
        [
            "text",
            "--input",
            *map(str, inputs),
            "--output",
            str(out / "corpus"),
            "--drops",
            str(out / "drops"),
            *flags,
        ]
    )
    return rc, read_drops(str(out / "drops"))


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """One run over generated documents (short and long, English and German) with planted exact
    and near duplicates."""
    tmp = tmp_path_factory.mktemp("text")
    rows = [{"id": f"gen-{i}", "text": generated_document(i)} for i in range(30)]
    rows += [{"id": f"prose-{i}", "text": english_document(1000 + i, words=400)} for i in range(12)]
    german = [{"id": f"de-{i}", "text": german_document(i)} for i in range(2)]
    rows += german
    pairs = []  # (original row, duplicate row, expected reason)
    for original, reason in [(2, "exact_duplicate"), (7, "near_duplicate"), (11, "near_duplicate")]:
        text = (
            rows[original]["text"]
            if reason == "exact_duplicate"
            else near_copy(rows[original]["text"], original, edits=1)
        )
        rows.append({"id": f"dup-of-{original}", "text": text})
        pairs.append((original, len(rows) - 1, reason))
    first_prose = 30
    rows.append({"id": "prose-near-dup", "text": near_copy(rows[first_prose]["text"], 1, edits=5)})
    pairs.append((first_prose, len(rows) - 1, "near_duplicate"))
    path = write_jsonl(tmp / "docs.jsonl", rows)
    rc, drops = run([path], tmp)
    return {
        "rc": rc,
        "rows": rows,
        "pairs": pairs,
        "drops": drops,
        "root": tmp / "corpus",
        "german": len(german),
    }


def test_counts_add_up_and_shards_validate(planted):
    assert planted["rc"] == 0
    manifest = read_manifest(str(planted["root"]))
    c = manifest.counts
    assert c.input == len(planted["rows"]) == c.kept + sum(c.dropped.values())
    assert len(planted["drops"]) == sum(c.dropped.values())
    report = validate(str(planted["root"]))
    assert report.ok, [str(p) for p in report.problems]
    assert manifest.extra["cc_converged"] is True
    assert manifest.config["near_dedup"]["threshold"] == 0.8


def test_planted_duplicates_removed_smallest_key_kept(planted):
    survivors = {s.key for s in iter_corpus(str(planted["root"]))}
    drops = planted["drops"]
    for a, b, reason in planted["pairs"]:
        ka, kb = key_of("docs.jsonl", a), key_of("docs.jsonl", b)
        keep, lose = min(ka, kb), max(ka, kb)
        assert keep in survivors, f"pair {a}/{b}: the smaller key must survive"
        assert lose not in survivors
        assert drops[lose]["reason"] == reason
        assert drops[lose]["duplicate_of"] == keep
    losers = {max(key_of("docs.jsonl", a), key_of("docs.jsonl", b)) for a, b, _ in planted["pairs"]}
    distinct = {key_of("docs.jsonl", i) for i in range(42)} - losers
    assert distinct <= survivors, "distinct generated documents must not be removed"


def test_language_filter_and_metadata(planted):
    drops = planted["drops"]
    language = {d["id"] for d in drops.values() if d["reason"] == "language"}
    assert language == {f"de-{i}" for i in range(planted["german"])}
    samples = list(iter_corpus(str(planted["root"])))
    assert all(s.lang == "en" and s.lang_score >= 0.65 for s in samples)
    assert {s.source for s in samples} == {"docs.jsonl"}
    ids = {s.id for s in samples}
    assert "gen-0" in ids and "gen-29" in ids and "prose-11" in ids


def test_bad_inputs_are_counted_drops(tmp_path):
    good = generated_document(99)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(
        json.dumps({"id": "ok", "text": good}).encode()
        + b"\n"
        + b'{"id": "broken", "text": \n'
        + b'{"id": "latin1", "text": "caf\xe9 au lait"}\n'
        + json.dumps({"id": "notext", "body": good}).encode()
        + b"\n"
        + json.dumps({"id": "number", "text": 42}).encode()
        + b"\n"
        + json.dumps({"id": "empty", "text": "   \n  "}).encode()
        + b"\n"
        + b"[1, 2, 3]\n"
    )
    whole = gzip.compress(
        "".join(
            json.dumps({"id": f"gz{i}", "text": generated_document(200 + i)}) + "\n" for i in range(40)
        ).encode()
    )
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    big = tmp_path / "big.jsonl"
    with big.open("w") as f:
        f.write(json.dumps({"id": "huge", "text": "lorem " * 9_000_000}) + "\n")  # 54 MB, one line
    plain = tmp_path / "note.txt"
    plain.write_text(generated_document(300))
    rc, drops = run([bad, cut, big, plain], tmp_path, "--no-near-dedup")
    assert rc == 0
    by_id = {d["id"]: d for d in drops.values() if d["id"]}
    details = [d["detail"] for d in drops.values()]
    reasons = sorted(d["reason"] for d in drops.values())
    assert any(d.startswith("bad.jsonl:2: invalid JSON") for d in details)
    assert any(d.startswith("bad.jsonl:3: not UTF-8") for d in details)
    assert by_id["notext"]["reason"] == "malformed_row" and "no column 'text'" in by_id["notext"]["detail"]
    assert by_id["number"]["reason"] == "malformed_row"
    assert by_id["empty"]["reason"] == "empty_text"
    assert by_id["huge"]["reason"] == "too_long"
    assert any(d.startswith("bad.jsonl:7") and "expected an object" in d for d in details)
    assert reasons.count("bad_input_file") == 1
    assert any(d.startswith("cut.jsonl.gz: unreadable after row") for d in details)
    manifest = read_manifest(str(tmp_path / "corpus"))
    c = manifest.counts
    assert c.input == c.kept + sum(c.dropped.values())
    kept_ids = {s.id for s in iter_corpus(str(tmp_path / "corpus"))}
    assert "ok" in kept_ids
    assert any(i and i.startswith("gz") for i in kept_ids), "rows before the gzip cut are kept"
    sources = {s.source for s in iter_corpus(str(tmp_path / "corpus"))}
    assert "note.txt" in sources
    assert validate(str(tmp_path / "corpus")).ok


def test_unconverged_components_fail_the_run(tmp_path, capsys):
    rows = [{"id": f"v{i}", "text": near_copy(generated_document(5), i, edits=1)} for i in range(6)]
    rc, _ = run([write_jsonl(tmp_path / "d.jsonl", rows)], tmp_path, "--cc-rounds", "1")
    manifest = read_manifest(str(tmp_path / "corpus"))
    if manifest.extra["cc_converged"]:
        pytest.fail(f"6 near-copies should need more than one round: {manifest.extra}")
    assert rc == 3
    assert "--cc-rounds" in capsys.readouterr().err


def test_missing_input_is_a_clear_error(tmp_path, capsys):
    assert (
        corpus_main(["text", "--input", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "o")]) == 2
    )
    assert (
        capsys.readouterr().err == f"kosmos-corpus: error: no input files match '{tmp_path / 'nope.jsonl'}'\n"
    )


def test_holdout_fraction_splits_reproducibly(tmp_path):
    from schemas.keys import holdout_score

    rows = [{"id": f"h{i}", "text": generated_document(500 + i)} for i in range(40)]
    src = write_jsonl(tmp_path / "docs.jsonl", rows)
    out, held = tmp_path / "corpus", tmp_path / "held"
    args = [
        "text",
        "--input",
        str(src),
        "--output",
        str(out),
        "--holdout-fraction",
        "0.25",
        "--holdout-output",
        str(held),
    ]
    for _ in range(2):  # the second run repeats the first exactly
        assert corpus_main(args) == 0
        main_keys = {s.key for s in iter_corpus(str(out))}
        held_keys = {s.key for s in iter_corpus(str(held))}
        assert not main_keys & held_keys and len(main_keys | held_keys) == 40
        assert all(holdout_score(k) < 0.25 for k in held_keys) and all(
            holdout_score(k) >= 0.25 for k in main_keys
        )
        assert 4 <= len(held_keys) <= 18
        counts = read_manifest(str(out)).counts
        assert counts.dropped == {"held_out": len(held_keys)} and counts.input == 40
        assert read_manifest(str(held)).counts.kept == len(held_keys)
        assert validate(str(out)).ok and validate(str(held)).ok


def test_holdout_split_is_safe_to_retry_and_refuses_another_fraction(tmp_path, monkeypatch):
    import pipelines.holdout as holdout

    rows = [{"id": f"r{i}", "text": generated_document(700 + i)} for i in range(30)]
    src = write_jsonl(tmp_path / "docs.jsonl", rows)
    out, held = tmp_path / "corpus", tmp_path / "held"
    args = [
        "text",
        "--input",
        str(src),
        "--output",
        str(out),
        "--holdout-output",
        str(held),
        "--holdout-fraction",
        "0.3",
    ]
    real_rewrite = holdout.SplitShard._rewrite_main

    def crash(self, *a, **k):
        raise RuntimeError("worker lost after writing the held-out shard")

    monkeypatch.setattr(holdout.SplitShard, "_rewrite_main", crash)
    with pytest.raises(Exception, match="worker lost"):
        corpus_main(args)
    monkeypatch.setattr(holdout.SplitShard, "_rewrite_main", real_rewrite)
    from pipelines.holdout import run_holdout_split

    run_holdout_split(str(out), str(held), 0.3, [])  # the retry of the split alone
    main_keys = {s.key for s in iter_corpus(str(out))}
    held_keys = {s.key for s in iter_corpus(str(held))}
    assert len(main_keys) + len(held_keys) == 30 and not main_keys & held_keys
    assert read_manifest(str(out)).counts.dropped == {"held_out": len(held_keys)}
    with pytest.raises(Exception, match="was split with --holdout-fraction 0.3"):
        run_holdout_split(str(out), str(held), 0.5, [])
