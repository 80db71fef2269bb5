"""Key-only dedup: the survivors equal the previous algorithm (exact by whole-record grouping, then
near dedup of the survivors) written out in plain Python; text stays out of every shuffle (bytes
per document measured by the shuffle counter); spill files are cleaned up; the result does not
depend on worker count or input order."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from filters.minhash import MinHashConfig, MinHasher, band_keys, estimated_jaccard
from pipelines.dedup import Dedup, NearDedup, NearDedupConfig, RecordFields
from tests.generated_text import edit_words, english_documents

ONE_WORKER = ["--runner=DirectRunner", "--direct_num_workers=1"]
TWO_WORKERS = ["--runner=DirectRunner", "--direct_num_workers=2", "--direct_running_mode=multi_processing"]


def _labelled(n: int = 160, seed: int = 5) -> list[tuple[str, str]]:
    """Originals plus exact copies, near copies at several edit rates and copies of copies, all
    under random keys (so the original is not always the smallest)."""
    rng = random.Random(seed)
    docs = english_documents(n, words=220, start=500)
    records = [(f"{rng.randrange(16**8):08x}-o{i}", d) for i, d in enumerate(docs)]
    for i in range(0, n, 3):
        edits = (0, 1, 2, 4, 8, 16, 30)[i % 7]
        text = docs[i] if edits == 0 else edit_words(docs[i], edits, seed=i)
        records.append((f"{rng.randrange(16**8):08x}-c{i}", text))
        if i % 2 == 0:  # a copy of the copy: chains and three-member clusters
            records.append((f"{rng.randrange(16**8):08x}-cc{i}", edit_words(text, 3, seed=i + 1)))
    records.append(("empty-1", " ... "))
    records.append(("empty-2", ""))
    return records


def _previous_algorithm(records: list[tuple[str, str]], cfg: NearDedupConfig) -> dict[str, tuple[str, str]]:
    """key -> (reason, duplicate_of) for every dropped key, as the record-shuffling version decided:
    exact groups keep their smallest key; near dedup runs on the exact survivors: star edges from
    each bucket member to the bucket's smallest key, verified against it, components by union-find,
    every member but the component's smallest key dropped as its duplicate."""
    dropped: dict[str, tuple[str, str]] = {}
    by_hash: dict[str, list[str]] = {}
    text_of = dict(records)
    for key, text in records:
        by_hash.setdefault(hashlib.sha256(text.strip().encode()).hexdigest(), []).append(key)
    survivors = []
    for keys in by_hash.values():
        keys.sort()
        survivors.append(keys[0])
        dropped.update({k: ("exact_duplicate", keys[0]) for k in keys[1:]})
    hasher = MinHasher(cfg.minhash)
    sigs = dict(zip(survivors, hasher.signatures(text_of[k] for k in survivors), strict=True))
    params = cfg.lsh()
    buckets: dict[bytes, list[str]] = {}
    for key, sig in sigs.items():
        if not hasher.is_empty(sig):
            for bk in band_keys(sig, params):
                buckets.setdefault(bk, []).append(key)
    parent = {k: k for k in survivors}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for members in buckets.values():
        root = min(members)
        for m in members:
            if m != root and (not cfg.verify or estimated_jaccard(sigs[m], sigs[root]) >= cfg.threshold):
                a, b = find(m), find(root)
                parent[max(a, b)] = min(a, b)
    for key in survivors:
        label = find(key)
        if label != key:
            dropped[key] = ("near_duplicate", label)
    return dropped


def _run(records: list, options: list[str], transform: beam.PTransform, tmp: Path) -> tuple[dict, dict]:
    """(key -> (reason, duplicate_of) of the drops, {kept: [...], shuffle: bytes, spill: bytes})."""
    import json

    p = beam.Pipeline(options=PipelineOptions(options))
    res = p | beam.Create(records) | transform
    _ = (
        res.kept
        | "Keys" >> beam.Map(lambda r: r[0])
        | "WK" >> beam.io.WriteToText(str(tmp / "kept"), num_shards=1, shard_name_template="")
    )
    _ = (
        res.dropped
        | "J" >> beam.Map(json.dumps)
        | "WD" >> beam.io.WriteToText(str(tmp / "dropped"), num_shards=1, shard_name_template="")
    )
    result = p.run()
    result.wait_until_finish()
    drops = {}
    for line in (tmp / "dropped").read_text().splitlines():
        d = json.loads(line)
        drops[d["key"]] = (d["reason"], d["duplicate_of"])
    counters = result.metrics().query(MetricsFilter())["counters"]

    def total(name: str) -> int:
        return sum(c.committed or c.attempted or 0 for c in counters if c.key.metric.name == name)

    kept = sorted((tmp / "kept").read_text().split())
    return drops, {"kept": kept, "shuffle": total("shuffle_bytes"), "spill": total("spill_bytes")}


@pytest.fixture(scope="module")
def labelled() -> list[tuple[str, str]]:
    return _labelled()


@pytest.mark.parametrize(
    "cfg",
    [
        NearDedupConfig(),
        NearDedupConfig(minhash=MinHashConfig(scheme="affine32")),
        NearDedupConfig(verify=False),
    ],
    ids=["native-verified", "datasketch-compatible", "unverified"],
)
def test_survivors_equal_the_previous_algorithm(labelled, cfg: NearDedupConfig, tmp_path: Path) -> None:
    drops, info = _run(labelled, ONE_WORKER, Dedup(config=cfg, temp_dir=str(tmp_path / "spill")), tmp_path)
    expected = _previous_algorithm(labelled, cfg)
    assert drops == expected
    assert info["kept"] == sorted(k for k, _ in labelled if k not in expected)
    reasons = {r for r, _ in drops.values()}
    assert reasons == {"exact_duplicate", "near_duplicate"}  # the set exercises both
    assert len(drops) > 40


def test_text_never_enters_a_shuffle(labelled, tmp_path: Path) -> None:
    """Bytes shuffled per document (keys, hashes, band values, signatures) stay under 1.5 KB with
    verification on, far below the records' own size (which only goes to the spill files)."""
    _, info = _run(labelled, ONE_WORKER, Dedup(temp_dir=str(tmp_path / "spill")), tmp_path)
    per_doc = info["shuffle"] / len(labelled)
    text_per_doc = sum(len(t.encode()) for _, t in labelled) / len(labelled)
    assert 500 < per_doc <= 1500, per_doc
    assert info["spill"] > sum(len(t.encode()) for _, t in labelled)  # every record went to a file
    assert per_doc < text_per_doc  # with 220-word documents the records are bigger than the keys
    _, unverified = _run(labelled, ONE_WORKER, Dedup(config=NearDedupConfig(verify=False)), tmp_path / "u")
    assert unverified["shuffle"] / len(labelled) < per_doc - 400  # the signatures are most of it


def test_spill_files_are_removed_after_the_run(labelled, tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    _run(labelled[:50], ONE_WORKER, NearDedup(temp_dir=str(spill)), tmp_path)
    assert spill.exists() and not any(spill.rglob("*.records"))
    assert not any(spill.iterdir())  # nor the run's spill folder


def test_two_workers_and_shuffled_input_give_the_same_drops(labelled, tmp_path: Path) -> None:
    one, _ = _run(labelled, ONE_WORKER, Dedup(temp_dir=str(tmp_path / "s1")), tmp_path / "one")
    shuffled = list(labelled)
    random.Random(9).shuffle(shuffled)
    two, _ = _run(shuffled, TWO_WORKERS, Dedup(temp_dir=str(tmp_path / "s2")), tmp_path / "two")
    assert one == two


def test_dict_records_keep_every_field_through_the_spill(tmp_path: Path) -> None:
    """Records come back from the spill files unchanged (types included)."""
    records = [
        {"key": f"k{i}", "text": t, "score": i / 3, "tags": ["a", i], "raw": bytes([i]), "none": None}
        for i, t in enumerate(english_documents(6, words=120, start=900))
    ]
    records.append({**records[2], "key": "k9"})  # an exact copy of k2
    fields = RecordFields(key=lambda r: r["key"], text=lambda r: r["text"])
    p = beam.Pipeline(options=PipelineOptions(ONE_WORKER))
    res = p | beam.Create(records) | Dedup(fields, temp_dir=str(tmp_path / "spill"))
    _ = res.kept | beam.Map(repr) | beam.io.WriteToText(str(tmp_path / "kept"), shard_name_template="")
    p.run().wait_until_finish()
    import ast

    kept = sorted((ast.literal_eval(x) for x in (tmp_path / "kept").read_text().splitlines()), key=str)
    assert kept == sorted(records[:6], key=str)
