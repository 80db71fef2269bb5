"""Exact and MinHash-LSH dedup transforms: the planted duplicates go, the right keys survive,
and the survivors are identical with 1 and 2 DirectRunner workers."""

from __future__ import annotations

import json
import random
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.common.drops import DROP_FIELDS
from pipelines.dedup import (
    ConnectedComponents,
    Dedup,
    ExactDedup,
    NearDedup,
    NearDedupConfig,
    RecordFields,
    cc_unconverged_from_metrics,
)
from tests.generated_text import english_document, english_documents

ONE_WORKER = ["--runner=DirectRunner", "--direct_num_workers=1"]
TWO_WORKERS = ["--runner=DirectRunner", "--direct_num_workers=2", "--direct_running_mode=multi_processing"]


def _edit(text: str, n_edits: int, seed: int) -> str:
    rng = random.Random(seed)
    words = text.split()
    for _ in range(n_edits):
        words[rng.randrange(len(words))] = rng.choice(["lorem", "quux", "zebra", "banana"])
    return " ".join(words)


@pytest.fixture(scope="module")
def corpus() -> tuple[list[tuple[str, str]], dict[str, str | None], dict[str, str]]:
    """(records, expected duplicate_of per key (None = kept), expected reason per dropped key)."""
    docs = english_documents(60, words=250)
    records = [(f"doc{i:03d}", d) for i, d in enumerate(docs)]
    expect: dict[str, str | None] = {k: None for k, _ in records}
    reason: dict[str, str] = {}
    # exact copies: a larger key is dropped; a smaller key wins over the original
    records.append(("doc010b", docs[10]))
    expect["doc010b"], reason["doc010b"] = "doc010", "exact_duplicate"
    # doc020 becomes a copy of doc021 (up to surrounding whitespace): "doc020" < "doc021" wins
    records[20] = ("doc020", "  " + docs[21] + "\n")
    expect["doc021"], reason["doc021"] = "doc020", "exact_duplicate"
    # near duplicates: 2-3 edited words in 250 (5-gram Jaccard ~0.9)
    for i in (30, 31, 32):
        records.append((f"doc{i:03d}n", _edit(docs[i], 2, i)))
        expect[f"doc{i:03d}n"], reason[f"doc{i:03d}n"] = f"doc{i:03d}", "near_duplicate"
    # a three-member cluster whose original has the largest key: "a" < "doc"
    records.append(("a040", _edit(docs[40], 3, 1)))
    records.append(("a041", _edit(docs[40], 2, 2)))
    expect["a040"] = None
    expect["a041"], reason["a041"] = "a040", "near_duplicate"
    expect["doc040"], reason["doc040"] = "a040", "near_duplicate"
    return records, expect, reason


def _run(
    records: list, options: list[str], transform: beam.PTransform, out: Path, key=lambda r: r[0]
) -> dict:
    """Run the transform; return kept keys, drop records and the convergence count, via files."""
    out.mkdir(parents=True, exist_ok=True)
    with beam.Pipeline(options=PipelineOptions(options)) as p:
        res = p | beam.Create(records) | transform
        _ = (
            res.kept
            | "KeptKey" >> beam.Map(key)
            | "WriteKept" >> beam.io.WriteToText(str(out / "kept"), num_shards=1, shard_name_template="")
        )
        _ = (
            res.dropped
            | "Json" >> beam.Map(json.dumps, sort_keys=True)
            | "WriteDropped"
            >> beam.io.WriteToText(str(out / "dropped"), num_shards=1, shard_name_template="")
        )
        if res.cc_unconverged is not None:
            _ = (
                res.cc_unconverged
                | "Str" >> beam.Map(str)
                | "WriteCC" >> beam.io.WriteToText(str(out / "cc"), num_shards=1, shard_name_template="")
            )

    def lines(name: str) -> list[str]:
        return (out / name).read_text().split("\n")[:-1] if (out / name).exists() else []

    return {
        "kept": sorted(lines("kept")),
        "dropped": sorted((json.loads(x) for x in lines("dropped")), key=lambda d: d["key"]),
        "cc": [int(x) for x in lines("cc")],
    }


@pytest.fixture(scope="module")
def one_worker_result(corpus, tmp_path_factory) -> dict:
    records, _, _ = corpus
    return _run(records, ONE_WORKER, Dedup(), tmp_path_factory.mktemp("one"))


def test_planted_exact_and_near_duplicates_are_removed(corpus, one_worker_result) -> None:
    _, expect, reason = corpus
    res = one_worker_result
    assert res["kept"] == sorted(k for k, dup in expect.items() if dup is None)
    got = {d["key"]: (d["reason"], d["duplicate_of"]) for d in res["dropped"]}
    assert got == {k: (reason[k], dup) for k, dup in expect.items() if dup is not None}
    for d in res["dropped"]:
        assert tuple(d) == DROP_FIELDS or sorted(d) == sorted(DROP_FIELDS)
        assert d["stage"] == ("exact_dedup" if d["reason"] == "exact_duplicate" else "near_dedup")
        assert d["id"] is None and d["url"] is None and d["detail"]
    assert res["cc"] == [0]


def test_two_workers_and_shuffled_input_give_identical_survivors(corpus, one_worker_result, tmp_path) -> None:
    records, _, _ = corpus
    shuffled = records[:]
    random.Random(7).shuffle(shuffled)
    res = _run(shuffled, TWO_WORKERS, Dedup(), tmp_path)
    assert res["kept"] == one_worker_result["kept"]
    assert res["dropped"] == one_worker_result["dropped"]
    assert res["cc"] == [0]


def test_dict_records_with_id_url_and_ready_hash(tmp_path) -> None:
    # e.g. image samples deduplicated by sha256: the hash accessor replaces text hashing
    recs = [
        {"k": "s3", "sha": "aa", "id": "i3", "u": "http://x/3"},
        {"k": "s1", "sha": "aa", "id": "i1", "u": "http://x/1"},
        {"k": "s2", "sha": "bb", "id": "i2", "u": None},
    ]
    fields = RecordFields(
        key=lambda r: r["k"],
        text=lambda r: "",
        hash=lambda r: r["sha"],
        id=lambda r: r["id"],
        url=lambda r: r["u"],
    )
    res = _run(recs, ONE_WORKER, ExactDedup(fields, stage="image_dedup"), tmp_path, key=lambda r: r["k"])
    assert res["kept"] == ["s1", "s2"]
    assert res["dropped"] == [
        {
            "key": "s3",
            "id": "i3",
            "url": "http://x/3",
            "reason": "exact_duplicate",
            "detail": "same hash aa as s1",
            "duplicate_of": "s1",
            "stage": "image_dedup",
        }
    ]
    assert res["cc"] == []


def test_verification_rejects_chance_bucket_collisions(tmp_path) -> None:
    # Pairs of documents sharing half their text (5-gram Jaccard about 1/3) with 32 bands of 1 row:
    # nearly every pair becomes a candidate; checking the estimated Jaccard removes them all.
    pages = [english_document(100 + i, words=600).split() for i in range(8)]
    docs = []
    for i, w in enumerate(pages):
        docs.append((f"d{i:02d}a", " ".join(w[:200] + w[200:400])))
        docs.append((f"d{i:02d}b", " ".join(w[:200] + w[400:600])))
    loose = NearDedupConfig(bands=32, rows=1, verify=False)
    res = _run(docs, ONE_WORKER, NearDedup(config=loose), tmp_path / "loose")
    assert len(res["kept"]) <= len(docs) // 2 + 1  # the half-overlapping pairs were merged
    strict = NearDedupConfig(bands=32, rows=1, verify=True)
    res = _run(docs, ONE_WORKER, NearDedup(config=strict), tmp_path / "strict")
    assert res["kept"] == sorted(k for k, _ in docs) and res["dropped"] == []


def test_texts_without_words_are_never_near_duplicates(tmp_path) -> None:
    recs = [("e1", ""), ("e2", " ... "), ("e3", "!!"), ("w1", "word"), ("w2", "Word!")]
    res = _run(recs, ONE_WORKER, NearDedup(), tmp_path)
    assert res["kept"] == ["e1", "e2", "e3", "w1"]
    assert [(d["key"], d["duplicate_of"]) for d in res["dropped"]] == [("w2", "w1")]


def _components(
    edges: list[tuple[str, str]], rounds: int, out: Path
) -> tuple[dict[str, str], int, int | None]:
    with beam.Pipeline(options=PipelineOptions(ONE_WORKER)) as p:
        labels, unconverged = p | beam.Create(edges) | ConnectedComponents(rounds, stage="cc_test")
        _ = (
            labels
            | "J" >> beam.MapTuple(lambda a, b: f"{a} {b}")
            | "W" >> beam.io.WriteToText(str(out / "labels"), num_shards=1, shard_name_template="")
        )
        _ = (
            unconverged
            | "S" >> beam.Map(str)
            | "WC" >> beam.io.WriteToText(str(out / "cc"), num_shards=1, shard_name_template="")
        )
        result = p.run()
        result.wait_until_finish()
    labels_out = dict(line.split() for line in (out / "labels").read_text().split("\n")[:-1])
    return labels_out, int((out / "cc").read_text()), cc_unconverged_from_metrics(result, "cc_test")


def test_connected_components_converge_and_report_when_they_do_not(tmp_path) -> None:
    rng = random.Random(5)
    names = [f"n{i:03d}" for i in range(120)]
    path = names[:100]
    rng.shuffle(path)  # a 100-node path whose smallest key sits anywhere along it
    edges = [(a, b) for a, b in zip(path, path[1:], strict=False)]
    edges += [("n100", "n101"), ("n101", "n102"), ("n110", "n111")]  # two more components
    labels, changed, metric = _components(edges, 8, tmp_path / "eight")
    assert changed == 0 and metric == 0
    want = {n: min(path) for n in path} | {
        "n100": "n100",
        "n101": "n100",
        "n102": "n100",
        "n110": "n110",
        "n111": "n110",
    }
    assert labels == want
    labels, changed, metric = _components(edges, 2, tmp_path / "two")
    assert changed > 0 and metric == changed
    assert labels != want
    with pytest.raises(ValueError):
        ConnectedComponents(0)


def test_banding_defaults_buy_recall_only_when_verifying() -> None:
    from filters.minhash import LSHParams

    assert NearDedupConfig().lsh() == LSHParams(14, 9)  # datasketch optimum with weights (0.1, 0.9)
    assert NearDedupConfig(verify=False).lsh() == LSHParams(9, 13)  # datasketch's default weights
    assert NearDedupConfig(bands=20, rows=6).lsh() == LSHParams(20, 6)
    with pytest.raises(ValueError):
        NearDedup(config=NearDedupConfig(bands=20, rows=7))  # 140 > 128 permutations
