"""Round trips of each sample kind, keys, and schema-version checks."""

from __future__ import annotations

import json

import pytest

from schemas.keys import make_key, member_name_problem, row_identity, split_member_name, warc_identity
from schemas.kinds import Kind, SchemaError, kind_of_schema_id
from schemas.reader import ShardReadError, iter_corpus, iter_shard
from schemas.samples import ImageTextSample, InterleavedSample, TextSample, sample_from_members
from tests.schemas.conftest import SAMPLES


@pytest.mark.parametrize("kind", list(Kind))
def test_round_trip_through_shards(corpora, kind):
    written = SAMPLES[kind](6)
    read = list(iter_corpus(str(corpora[kind])))
    assert [s.key for s in read] == [s.key for s in written]
    for a, b in zip(read, written, strict=True):
        assert a == b, f"sample {a.key} changed on the round trip"


def test_interleaved_layout_matches_contract():
    sample = InterleavedSample.from_nodes("k", ["a", (b"x", "jpg", 1, 1), "b", (b"y", "png", 2, 2)])
    members = sample.members()
    assert set(members) == {"json", "0.jpg", "1.png"}
    doc = json.loads(members["json"])
    assert doc["texts"] == ["a", None, "b", None]
    assert [i and i["member"] for i in doc["images"]] == [None, "0.jpg", None, "1.png"]
    assert doc["schema"] == "kosmos.interleaved/1"
    assert doc["image_members"] == ["0.jpg", "1.png"]


def test_image_text_members_and_sha():
    s = ImageTextSample(key="k", image=b"\xff\xd8bytes", caption="cap", width=3, height=4)
    assert set(s.members()) == {"jpg", "txt", "json"}
    assert json.loads(s.members()["json"])["sha256"] == s.sha256 and len(s.sha256) == 64


def test_keys_are_stable_dot_free_and_per_row():
    a = make_key("image_text", row_identity("part/0001.parquet", 7))
    assert a == make_key("image_text", row_identity("part/0001.parquet", 7))
    assert len(a) == 24 and "." not in a and int(a, 16) >= 0
    # Two rows with the same URL are different inputs: different keys.
    assert a != make_key("image_text", row_identity("part/0001.parquet", 8))
    assert a != make_key("text", row_identity("part/0001.parquet", 7))
    assert make_key("interleaved", warc_identity("CC-1.warc.gz", 10)) != make_key(
        "interleaved", warc_identity("CC-1.warc.gz", 11)
    )


def test_member_names():
    assert split_member_name("abc.0.jpg") == ("abc", "0.jpg")
    for bad in ("../etc/passwd.txt", "/abs.txt", "dir/k.txt", "k..txt", "noext"):
        assert member_name_problem(bad), bad
    assert member_name_problem("k.json") is None


def test_unknown_schema_version_is_rejected_clearly():
    with pytest.raises(SchemaError, match="version 2.*reads version 1"):
        kind_of_schema_id("kosmos.image_text/2")
    with pytest.raises(SchemaError, match="unknown sample kind"):
        kind_of_schema_id("kosmos.video/1")
    meta = json.loads(TextSample(key="k", text="t").members()["json"])
    meta["schema"] = "kosmos.text/9"
    with pytest.raises(SchemaError, match="version 9"):
        sample_from_members("k", {"txt": b"t", "json": json.dumps(meta).encode()})


def test_reader_names_shard_and_key_on_bad_sample(corpus_copy):
    from tests.schemas.conftest import read_tar, write_tar

    root = corpus_copy(Kind.TEXT)
    tar = root / "shard-000000.tar"
    members = read_tar(tar)
    bad_key = members[2][0].split(".")[0]
    members[3 if members[3][0].endswith("json") else 2] = (f"{bad_key}.json", b"{not json")
    write_tar(tar, members)
    with pytest.raises(ShardReadError, match=f"shard-000000.tar.*{bad_key}"):
        list(iter_shard(str(tar)))
