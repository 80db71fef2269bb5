"""Shard writer: atomic appearance, completeness marker, non-local filesystems."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from schemas.kinds import Kind, SchemaError
from schemas.manifest import Counts, read_manifest
from schemas.reader import iter_corpus
from schemas.writer import CorpusWriter, ShardWriter, shard_is_complete, write_manifest
from tests.schemas.conftest import image_text_samples, text_samples

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def visible(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder) if not n.startswith("."))


def test_killed_writer_leaves_no_final_name(tmp_path):
    """A process killed mid-shard (SIGKILL: no cleanup runs) leaves only hidden temporaries."""
    script = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {REPO!r})
        from schemas.writer import ShardWriter
        from schemas.kinds import Kind
        from tests.schemas.conftest import image_text_samples
        w = ShardWriter({str(tmp_path)!r}, Kind.IMAGE_TEXT, 0)
        for s in image_text_samples(5):
            w.write(s)
        w._file.flush()
        print("written", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "written"
        hidden = [n for n in os.listdir(tmp_path) if n.startswith(".")]
        assert hidden and os.path.getsize(tmp_path / hidden[0]) > 0, "the writer should be mid-shard"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert visible(tmp_path) == []
    assert not shard_is_complete(str(tmp_path), "shard-000000.tar")


def test_exception_inside_writer_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with ShardWriter(str(tmp_path), Kind.TEXT, 3) as w:
            for s in text_samples(3):
                w.write(s)
            raise RuntimeError("worker died")
    assert os.listdir(tmp_path) == []


def test_complete_shard_has_three_files_and_marker(tmp_path):
    with ShardWriter(str(tmp_path), Kind.TEXT, 7, prefix="docs") as w:
        for s in text_samples(2):
            w.write(s)
    assert visible(tmp_path) == ["docs-000007.parquet", "docs-000007.stats.json", "docs-000007.tar"]
    assert shard_is_complete(str(tmp_path), "docs-000007.tar")


def test_writer_rejects_wrong_kind_dotted_and_duplicate_keys(tmp_path):
    w = ShardWriter(str(tmp_path), Kind.TEXT, 0)
    s = text_samples(1)[0]
    w.write(s)
    with pytest.raises(SchemaError, match="duplicate key"):
        w.write(s)
    with pytest.raises(SchemaError, match="cannot hold"):
        w.write(image_text_samples(1)[0])
    dotted = text_samples(1)[0]
    dotted.key = "a.b"
    with pytest.raises(SchemaError, match="dot"):
        w.write(dotted)
    w.abort()
    assert os.listdir(tmp_path) == []


def test_same_samples_give_identical_bytes(tmp_path):
    digests = []
    for run in ("a", "b"):
        with ShardWriter(str(tmp_path / run), Kind.IMAGE_TEXT, 0) as w:
            for s in image_text_samples(3):
                w.write(s)
        digests.append((tmp_path / run / "shard-000000.tar").read_bytes())
    assert digests[0] == digests[1]


def test_manifest_refuses_counts_that_do_not_add_up(tmp_path):
    writer = CorpusWriter(str(tmp_path), Kind.TEXT, samples_per_shard=2)
    writer.write_all(text_samples(3))
    stats = writer.close()
    with pytest.raises(SchemaError, match="do not add up"):
        write_manifest(str(tmp_path), Kind.TEXT, stats, Counts(input=5, kept=3, dropped={"language": 1}))
    with pytest.raises(SchemaError, match="unknown drop reason"):
        write_manifest(str(tmp_path), Kind.TEXT, stats, Counts(input=4, kept=3, dropped={"cosmic_rays": 1}))
    assert not (tmp_path / "manifest.json").exists()


def test_writes_to_an_fsspec_url():
    """Any fsspec filesystem works (memory:// stands in for gs:// and s3://)."""
    root = "memory://corpus-test/out"
    writer = CorpusWriter(root, Kind.IMAGE_TEXT, samples_per_shard=2)
    writer.write_all(image_text_samples(3))
    manifest = write_manifest(root, Kind.IMAGE_TEXT, writer.close(), Counts(3, 3, {}))
    assert [e.path for e in manifest.shards] == ["shard-000000.tar", "shard-000001.tar"]
    assert read_manifest(root).samples == 3
    assert [s.caption for s in iter_corpus(root)] == [s.caption for s in image_text_samples(3)]


def test_rewriting_a_shard_withdraws_its_completion_marker_first(tmp_path, monkeypatch):
    """A crash between moving the new tar and moving its stats must not leave the old marker."""
    with ShardWriter(str(tmp_path), Kind.TEXT, 0) as w:
        for s in text_samples(3):
            w.write(s)
    assert shard_is_complete(str(tmp_path), "shard-000000.tar")
    import schemas.writer as writer_module

    real_publish, calls = writer_module.publish, []

    def crash_after_the_tar(fs, tmp, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("killed")
        real_publish(fs, tmp, path)

    monkeypatch.setattr(writer_module, "publish", crash_after_the_tar)
    with pytest.raises(OSError):
        with ShardWriter(str(tmp_path), Kind.TEXT, 0) as w:
            w.write(text_samples(1)[0])
    assert not shard_is_complete(str(tmp_path), "shard-000000.tar")


def test_a_full_disk_leaves_the_old_shard_whole(tmp_path, monkeypatch):
    """Every byte is written before any rename: a full disk touches no final name."""
    with ShardWriter(str(tmp_path), Kind.TEXT, 0) as w:
        for s in text_samples(3):
            w.write(s)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setenv("KOSMOS_FAULT_AT", "write:2")  # the stats temporary hits a full disk
    with pytest.raises(OSError, match="No space"):
        with ShardWriter(str(tmp_path), Kind.TEXT, 0) as w:
            w.write(text_samples(1)[0])
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temporaries left either
