"""Kill each pipeline at every rename point (and fill the disk at every write) of a rerun.

The fault-injection hook of schemas/storage.py (KOSMOS_FAULT_AT=<point>:<n>) is set in a forked
child running the pipeline: `rename:n` kills it with SIGKILL right before the n-th rename into a
final name (no cleanup runs, temporaries stay behind), `write:n` fails the n-th temporary write
with ENOSPC. The rerun starts from a finished corpus of the old input and a changed input, the
case where stale files could be mistaken for new ones. After each fault: nothing unlisted or
unverified is read (no manifest at all, or exactly what it lists at the listed sizes and hashes),
the next rerun finishes, and its kept set equals an uninterrupted run's.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from pipelines.cli import main as corpus_main
from pipelines.io.warc import write_test_warc
from schemas.kinds import SchemaError
from schemas.manifest import read_manifest
from schemas.reader import iter_corpus
from schemas.storage import FAULT_ENV, FAULT_LOG_ENV
from schemas.validate import validate
from tests.pipelines.text_fixtures import generated_document
from tests.pipelines.warc_fixtures import generated_page

FAST = ["--timeout", "2", "--retries", "0", "--clip-model", "none", "--allow-private-network"]


def kept(root: Path) -> set[tuple]:
    assert validate(str(root)).ok
    return {
        (s.key, getattr(s, "text", None) or getattr(s, "caption", None) or s.url)
        for s in iter_corpus(str(root))
    }


def readable_or_absent(root: Path) -> set | None:
    """None when there is no manifest; else what it lists, every listed shard verified while read."""
    try:
        manifest = read_manifest(str(root))
    except SchemaError:
        return None
    samples = list(iter_corpus(str(root)))  # ShardReadError if a listed shard is not the listed one
    assert len(samples) == manifest.counts.kept
    return {s.key for s in samples}


def _child(argv: list[str], fault: str) -> None:
    os.environ[FAULT_ENV] = fault
    try:
        code = corpus_main(argv)
    except BaseException:  # noqa: BLE001 - a failing run is an outcome here, reported by its code
        code = 3
    os._exit(code)


def _in_child(argv: list[str], fault: str) -> int | None:
    """Run the pipeline in a child with the fault set; its exit code (-9 when killed).

    The child forks from a forkserver that imported the pipelines once and runs no threads, so it
    starts fast and cannot inherit a lock held by one of this process's threads (HTTP server, fetcher)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["pipelines.cli", "tests.pipelines.test_faults"])
    proc = ctx.Process(target=_child, args=(argv, fault))
    proc.start()
    proc.join(240)
    if proc.is_alive():
        proc.kill()
        pytest.fail(f"the run with {fault} hung")
    return proc.exitcode


# ---- the three pipelines, each with an input A and a changed input B -------------------------------------


def _text(tmp: Path, base: str, version: str) -> list[str]:
    src = tmp / "docs.jsonl"
    docs = [generated_document(i) for i in range(3)]
    if version == "B":
        docs[1] = generated_document(7)
    src.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(docs)))
    return ["text", "--input", str(src), "--samples-per-shard", "3"]


def _image_text(tmp: Path, base: str, version: str) -> list[str]:
    src = tmp / "urls.jsonl"
    rows = [
        ("chelsea.png", "A tabby cat looking to the side of the room."),
        ("coffee.webp", "A cup of coffee on a saucer with a spoon."),
        ("rocket-cmyk.jpg", "A rocket standing on the launch pad under the sky."),
    ]
    if version == "B":
        rows[2] = ("astronaut.jpg", "An astronaut holding a helmet in front of a flag.")
    src.write_text("".join(json.dumps({"url": f"{base}/img/{p}?f=1", "caption": c}) + "\n" for p, c in rows))
    return ["image-text", "--input", str(src), "--samples-per-shard", "3", *FAST]


def _interleaved(tmp: Path, base: str, version: str) -> list[str]:
    seeds = [500, 501] if version == "A" else [500, 502]
    pages = [
        (
            f"{base}/gen/f{s}",
            generated_page(s, [f"{base}/img/chelsea.png?f={s}", f"{base}/img/coffee.webp?f={s}"]),
            None,
        )
        for s in seeds
    ]
    write_test_warc(str(tmp / "f.warc.gz"), pages)
    return ["interleaved", "--warc", str(tmp / "f.warc.gz"), "--one-image-keep-fraction", "1.0", *FAST]


PIPELINES: dict[str, Callable[[Path, str, str], list[str]]] = {
    "text": _text,
    "image-text": _image_text,
    "interleaved": _interleaved,
}


@pytest.mark.timeout(1200)  # a pipeline run per rename point, twice: minutes on two shared cores
@pytest.mark.parametrize("pipeline", list(PIPELINES))
def test_kill_at_every_rename_point_of_a_rerun(
    pipeline: str, tmp_path: Path, http_server, monkeypatch
) -> None:
    make = PIPELINES[pipeline]
    inputs, finished = tmp_path / "in", tmp_path / "finished"
    inputs.mkdir()
    assert corpus_main([*make(inputs, http_server.base_url, "A"), "--output", str(finished)]) == 0
    reference = tmp_path / "reference"  # an uninterrupted rerun with input B over the finished corpus
    shutil.copytree(finished, reference)
    log = tmp_path / "points.log"
    monkeypatch.setenv(FAULT_LOG_ENV, str(log))
    argv = make(inputs, http_server.base_url, "B")
    assert corpus_main([*argv, "--output", str(reference)]) == 0
    monkeypatch.delenv(FAULT_LOG_ENV)
    expected = kept(reference)
    renames = [line.split()[0] for line in log.read_text().splitlines() if line.startswith("rename:")]
    assert len(renames) >= 3, renames
    for point in renames:
        work = tmp_path / f"work-{point.replace(':', '-')}"
        shutil.copytree(finished, work)
        code = _in_child([*argv, "--output", str(work)], point)
        assert code == -signal.SIGKILL, f"{pipeline} {point}: the child exited with {code}, not killed"
        assert any(p.name.startswith(".") and ".tmp-" in p.name for p in work.rglob("*")), (
            "a leftover temporary"
        )
        seen = readable_or_absent(work)
        assert seen is None or seen == {k for k, _ in kept(work)}, point
        assert corpus_main([*argv, "--output", str(work)]) == 0, point
        assert kept(work) == expected, f"{pipeline}: rerun after a kill at {point} kept another set"
        assert not [p for p in work.iterdir() if p.name.startswith(".")], "leftovers were removed"


def test_full_disk_at_every_write_point(tmp_path: Path, http_server, monkeypatch) -> None:
    inputs, finished = tmp_path / "in", tmp_path / "finished"
    inputs.mkdir()
    assert corpus_main([*_text(inputs, "", "A"), "--output", str(finished)]) == 0
    argv = _text(inputs, "", "B")
    reference = tmp_path / "reference"
    shutil.copytree(finished, reference)
    log = tmp_path / "points.log"
    monkeypatch.setenv(FAULT_LOG_ENV, str(log))
    assert corpus_main([*argv, "--output", str(reference)]) == 0
    monkeypatch.delenv(FAULT_LOG_ENV)
    writes = [line.split()[0] for line in log.read_text().splitlines() if line.startswith("write:")]
    assert len(writes) >= 3
    for point in writes:
        work = tmp_path / f"work-{point.replace(':', '-')}"
        shutil.copytree(finished, work)
        assert _in_child([*argv, "--output", str(work)], point) != 0  # the run fails, loudly
        assert readable_or_absent(work) is None  # the old manifest was withdrawn; nothing half-new is listed
        assert not [p for p in work.iterdir() if p.name.startswith(".")], "a full disk leaves no temporary"
        assert corpus_main([*argv, "--output", str(work)]) == 0
        assert kept(work) == kept(reference)


@pytest.mark.timeout(600)
def test_two_concurrent_runs_into_one_folder(tmp_path: Path) -> None:
    """A second run starting while the first writes removes none of the first's live temporaries."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    argv = [*_text(inputs, "", "A"), "--output", str(tmp_path / "out")]
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["pipelines.cli", "tests.pipelines.test_faults"])
    procs = [ctx.Process(target=_child, args=(argv, "none:0")) for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(300)
    assert [proc.exitcode for proc in procs] == [0, 0]
    reference = tmp_path / "reference"
    assert corpus_main([*_text(inputs, "", "A"), "--output", str(reference)]) == 0
    assert kept(tmp_path / "out") == kept(reference)
