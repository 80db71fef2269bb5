"""`kosmos-shards validate` on good corpora and on every kind of deliberately broken shard."""

from __future__ import annotations

import io
import json
import tarfile

import pyarrow.parquet as pq
import pytest

from schemas.cli import main
from schemas.kinds import Kind
from tests.schemas.conftest import read_tar, write_tar


def run_validate(capsys, *targets: str) -> tuple[int, str]:
    rc = main(["validate", *targets])
    return rc, capsys.readouterr().out


def problem_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("PROBLEM")]


def assert_problem(out: str, shard: str, key: str | None, phrase: str) -> None:
    lines = problem_lines(out)
    hits = [line for line in lines if shard in line and (key is None or key in line) and phrase in line]
    assert hits, f"no problem naming {shard} / {key} / {phrase!r} in:\n" + "\n".join(lines)


def sample_keys(members: list[tuple[str, bytes]]) -> list[str]:
    keys: list[str] = []
    for name, _ in members:
        k = name.split(".")[0]
        if k not in keys:
            keys.append(k)
    return keys


@pytest.mark.parametrize("kind", list(Kind))
def test_good_corpus_passes(corpora, capsys, kind):
    rc, out = run_validate(capsys, str(corpora[kind]))
    assert rc == 0, out
    assert problem_lines(out) == []
    assert "OK - 2 shard(s), 6 samples" in out


def test_glob_of_tars_passes(corpora, capsys):
    rc, out = run_validate(capsys, str(corpora[Kind.IMAGE_TEXT] / "shard-*.tar"))
    assert rc == 0, out


def test_truncated_tar(corpus_copy, capsys):
    root = corpus_copy(Kind.IMAGE_TEXT)
    tar = root / "shard-000001.tar"
    data = tar.read_bytes()
    tar.write_bytes(data[: len(data) // 2 + 100])
    rc, out = run_validate(capsys, str(root))
    assert rc == 1
    assert_problem(out, "shard-000001.tar", None, "truncated")
    assert_problem(out, "shard-000001.tar", None, "differ from the manifest")
    assert_problem(out, "shard-000001.tar", None, "corrupt or truncated tar after member")


def test_tar_cut_at_a_member_boundary(corpus_copy, capsys):
    """tarfile reads such a file without error; the missing end-of-archive marker gives it away."""
    root = corpus_copy(Kind.TEXT)
    tar = root / "shard-000000.tar"
    members = read_tar(tar)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        header_end = buf.tell()
    tar.write_bytes(buf.getvalue()[:header_end])
    rc, out = run_validate(capsys, str(root))
    assert rc == 1
    assert_problem(out, "shard-000000.tar", None, "end-of-archive")


def test_missing_member(corpus_copy, capsys):
    root = corpus_copy(Kind.IMAGE_TEXT)
    tar = root / "shard-000000.tar"
    members = read_tar(tar)
    victim = sample_keys(members)[1]
    write_tar(tar, [(n, d) for n, d in members if n != f"{victim}.txt"])
    rc, out = run_validate(capsys, str(root))
    assert rc == 1
    assert_problem(out, "shard-000000.tar", victim, "required member 'txt' is missing")


def test_duplicate_key_across_shards(corpus_copy, capsys):
    root = corpus_copy(Kind.TEXT)
    first = read_tar(root / "shard-000000.tar")
    dup = sample_keys(first)[0]
    second = read_tar(root / "shard-000001.tar")
    write_tar(root / "shard-000001.tar", second + [(n, d) for n, d in first if n.startswith(dup + ".")])
    rc, out = run_validate(capsys, str(root))
    assert rc == 1
    assert_problem(out, "shard-000001.tar", dup, "duplicate key: also in shard shard-000000.tar")


def test_non_contiguous_members(corpus_copy, capsys):
    root = corpus_copy(Kind.IMAGE_TEXT)
    tar = root / "shard-000000.tar"
    members = read_tar(tar)
    k0 = sample_keys(members)[0]
    moved = [m for m in members if m[0] == f"{k0}.txt"]
    rest = [m for m in members if m[0] != f"{k0}.txt"]
    write_tar(tar, rest + moved)
    rc, out = run_validate(capsys, str(root))
    assert rc == 1
    assert_problem(out, "shard-000000.tar", k0, "not contiguous")


def test_bad_json(corpus_copy, capsys):
    root = corpus_copy(Kind.INTERLEAVED)
    tar = root / "shard-000000.tar"
    members = read_tar(tar)
    victim = sample_keys(members)[2]
    write_tar(tar, [(n, b'{"texts": [' if n == f"{victim}.json" else d) for n, d in members])
    rc, out = run_validate(capsys, str(root))
    assert rc == 1
    assert_problem(out, "shard-000000.tar", victim, "invalid JSON")


def test_json_against_schema(corpus_copy, capsys):
    root = corpus_copy(Kind.INTERLEAVED)
    tar = root / "shard-000001.tar"
    members = read_tar(tar)
    victim = sample_keys(members)[0]

    def tamper(name: str, data: bytes) -> bytes:
        if name != f"{victim}.json":
            return data
        doc = json.loads(data)
        doc["texts"][1] = "both a text and an image"  # position 1 holds an image
        doc["num_images"] = "two"
        return json.dumps(doc).encode()

    write_tar(tar, [(n, tamper(n, d)) for n, d in members])
    rc, out = run_validate(capsys, str(root))
    assert rc == 1
    assert_problem(out, "shard-000001.tar", victim, "position 1 must hold exactly one")
    assert_problem(out, "shard-000001.tar", victim, "field 'num_images'")


def test_undecodable_image(corpus_copy, capsys):
    root = corpus_copy(Kind.INTERLEAVED)
    tar = root / "shard-000000.tar"
    members = read_tar(tar)
    victim = sample_keys(members)[1]
    write_tar(tar, [(n, d[:200] if n == f"{victim}.1.jpg" else d) for n, d in members])
    rc, out = run_validate(capsys, str(root))
    assert rc == 1
    assert_problem(out, "shard-000000.tar", victim, "member '1.jpg': image does not decode")


def test_count_mismatch_with_parquet_and_manifest(corpus_copy, capsys):
    root = corpus_copy(Kind.TEXT)
    table = pq.read_table(root / "shard-000000.parquet")
    pq.write_table(table.slice(0, 2), root / "shard-000000.parquet")
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["shards"][1]["samples"] = 4
    (root / "manifest.json").write_text(json.dumps(manifest))
    rc, out = run_validate(capsys, str(root))
    assert rc == 1
    assert_problem(out, "shard-000000.tar", None, "parquet has 2 rows")
    assert_problem(out, "shard-000001.tar", None, "manifest says 4 samples, the tar holds 3")


def test_manifest_counts_and_reasons(corpus_copy, capsys):
    root = corpus_copy(Kind.TEXT)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["counts"]["dropped"] = {"cosmic_rays": 1}
    (root / "manifest.json").write_text(json.dumps(manifest))
    rc, out = run_validate(capsys, str(root))
    assert rc == 1
    assert_problem(out, "manifest.json", None, "unknown drop reason 'cosmic_rays'")
    assert_problem(out, "manifest.json", None, "do not add up")


def test_dotted_key(corpus_copy, capsys):
    root = corpus_copy(Kind.TEXT)
    tar = root / "shard-000000.tar"
    members = read_tar(tar)
    k0 = sample_keys(members)[0]
    write_tar(tar, [(n.replace(k0, "abc.def", 1), d) for n, d in members])
    rc, out = run_validate(capsys, str(root))
    assert rc == 1
    assert_problem(out, "shard-000000.tar", "abc", "dotted key")


def test_path_traversal_and_non_regular_members(corpus_copy, capsys):
    root = corpus_copy(Kind.TEXT)
    tar = root / "shard-000000.tar"
    members = read_tar(tar)
    write_tar(tar, members + [("../../etc/evil.txt", b"x")])
    with tarfile.open(tar, "a") as t:
        link = tarfile.TarInfo("link.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(link)
    rc, out = run_validate(capsys, str(root))
    assert rc == 1
    assert_problem(out, "shard-000000.tar", None, "path traversal")
    assert_problem(out, "shard-000000.tar", None, "'link.txt' is not a regular file")


def test_missing_shard_and_missing_manifest(corpus_copy, capsys):
    root = corpus_copy(Kind.IMAGE_TEXT)
    (root / "shard-000001.tar").unlink()
    rc, out = run_validate(capsys, str(root))
    assert rc == 1
    assert_problem(out, "shard-000001.tar", None, "cannot open shard")
    (root / "manifest.json").unlink()
    rc, out = run_validate(capsys, str(root))
    assert rc == 1
    assert_problem(out, "manifest.json", None, "no manifest.json")


def test_garbage_file_is_a_problem_not_a_crash(corpus_copy, capsys):
    root = corpus_copy(Kind.IMAGE_TEXT)
    (root / "shard-000000.tar").write_bytes(b"\x00garbage" * 999)
    rc, out = run_validate(capsys, str(root))
    assert rc == 1
    assert_problem(out, "shard-000000.tar", None, "")
