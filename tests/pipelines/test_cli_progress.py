"""Progress and metrics: a live display on a terminal (recorded through a pty), Beam counters on the
DirectRunner's metrics, and memory:// paths end to end in one process."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import fsspec
import pyarrow.parquet as pq

from pipelines import cli
from pipelines.common import progress
from pipelines.demo.text import generated_document
from pipelines.runner import counter_totals, run_pipeline
from pipelines.text.graph import build_text_pipeline
from pipelines.text.options import config_from_args
from schemas.cli import main as shards_main
from schemas.manifest import read_manifest

BIN = Path(sys.executable).parent


def record_in_pty(argv: list[str], cwd: Path, timeout: float = 280) -> tuple[int, str]:
    """Run a command with a pty as its stdout and stderr (a terminal); (exit status, all it wrote)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # rows, columns
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower)
    os.close(follower)
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(timeout=30), b"".join(chunks).decode("utf-8", "replace")


def test_a_local_run_on_a_terminal_shows_counts_and_rates_updating(tmp_path: Path) -> None:
    for f in range(4):
        rows = [{"id": f"{f}-{i}", "text": generated_document(f * 1000 + i, sentences=6)} for i in range(800)]
        (tmp_path / f"docs-{f}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    status, screen = record_in_pty(
        [str(BIN / "kosmos-corpus"), "text", "--input", str(tmp_path), "--output", "out", "--no-near-dedup"],
        tmp_path,
    )
    assert status == 0, screen[-3000:]
    reads = [
        (int(n.replace(",", "")), float(r.replace(",", "")))
        for n, r in re.findall(r"read ([\d,]+) rows \(([\d,.]+) rows/s", screen)
    ]
    assert len({n for n, _ in reads}) >= 2, screen[-3000:]  # the count moved while the run went
    assert reads[-1][0] == 3200 and reads[-1][1] > 0
    assert re.search(r"files [1-3]/4, ETA \d+:\d\d", screen), screen[-3000:]  # total known: an ETA
    assert "files 4/4" in screen and re.search(r"kept [\d,]+ in 1 shard\(s\)", screen)
    assert "\x1b[" in screen or "\r" in screen  # redrawn in place, not appended
    assert "throughput over" in screen and "input rows/s" in screen


def test_without_a_terminal_progress_is_plain_log_lines(tmp_path: Path) -> None:
    display = progress.ProgressDisplay(bars=False, totals={"files": 2})
    with display:
        progress.count("read", "rows", 10)
        progress.count("read", "files")
        progress.count("fetch", "tried", 4)
        progress.count("fetch", "ok", 3)
        progress.count("fetch", "bytes", 3000)
        progress.count("dropped", "language", 2)
    lines = progress.render(progress.snapshot(), 2.0, {"files": 2})
    assert lines[0] == "read 10 rows (5.0 rows/s, files 1/2, ETA 0:02)"
    assert lines[1] == "fetch 4 tried (2.0 downloads/s), 75.0% ok, 3.0 kB"
    assert lines[2] == "dropped 2 (language 2)"
    assert progress.use_bars(no_progress=True) is False


def test_beam_counters_and_memory_urls_end_to_end(capsys) -> None:
    """memory:// for input, output and --drops (one process: memory:// lives in it), then the shard
    tools on the result; the runner's counters agree with the manifest."""
    fs = fsspec.filesystem("memory")
    rows = [{"id": str(i), "text": generated_document(i)} for i in range(30)]
    rows += [{"id": "dup", "text": rows[0]["text"]}, {"id": "short", "text": "Too short."}]
    fs.pipe("/cli-in/docs.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
    args, beam_args = cli.parse(
        [
            "text",
            "--input",
            "memory://cli-in",
            "--output",
            "memory://cli-out/text",
            "--drops",
            "memory://cli-out/drops",
        ]
    )
    cfg = config_from_args(args)
    assert cli.preflight("text", cfg) == {"files": 1}
    result, _ = run_pipeline(lambda p: build_text_pipeline(p, cfg), beam_args)
    counters = counter_totals(result)
    manifest = read_manifest("memory://cli-out/text")
    c = manifest.counts
    assert c.input == 32 and c.kept >= 1 and c.dropped.get("exact_duplicate") == 1
    assert counters["read"] == {"rows": 32, "files": 1}
    assert counters["write"]["kept"] == c.kept and counters["write"]["shards"] == len(manifest.shards)
    assert counters["dropped"] == c.dropped
    drops = [r for f in fs.glob("/cli-out/drops/*.parquet") for r in pq.read_table(fs.open(f)).to_pylist()]
    assert len(drops) == c.total_dropped
    assert shards_main(["validate", "memory://cli-out/text"]) == 0
    assert shards_main(["inspect", "memory://cli-out/text", "--json"]) == 0
    assert shards_main(["view", "memory://cli-out/text", "--out", "memory://cli-out/view.html"]) == 0
    assert b"<html" in fs.cat("/cli-out/view.html").lower()
    out = capsys.readouterr().out
    assert f"{c.kept} samples" in out


def test_fetch_counters_on_the_direct_runners_metrics(tmp_path: Path, http_server) -> None:
    """Downloads are counted in the DoFn's thread, so the runner's metrics hold them (the Dataflow UI)."""
    from pipelines.image_text.graph import build_image_text_pipeline
    from pipelines.image_text.options import config_from_args as image_text_config
    from tests.http_server import sample_images

    rows = [
        ("/img/chelsea.png", "A tabby cat looking to the side of the room."),
        ("/img/coffee.webp", "A cup of coffee on a saucer with a spoon."),
        ("/missing", "A photo that the server does not have at all."),
    ]
    urls = tmp_path / "urls.jsonl"
    urls.write_text("".join(json.dumps({"url": http_server.url(p), "caption": c}) + "\n" for p, c in rows))
    args, beam_args = cli.parse(
        [
            *("image-text", "--input", str(urls), "--output", str(tmp_path / "out"), "--clip-model", "none"),
            *("--allow-private-network", "--timeout", "15", "--retries", "0"),
        ]
    )
    cfg = image_text_config(args)
    result, _ = run_pipeline(lambda p: build_image_text_pipeline(p, cfg), beam_args)
    fetch = counter_totals(result)["fetch"]
    images = sample_images()
    bodies = len(images["chelsea.png"]) + len(images["coffee.webp"])
    assert fetch == {"tried": 3, "ok": 2, "bytes": bodies}
    assert read_manifest(str(tmp_path / "out")).counts.kept == 2


def test_a_worker_without_a_display_logs_its_counts_periodically(monkeypatch, caplog) -> None:
    """What a remote worker does: no display runs there, so count() itself logs now and then."""
    monkeypatch.setattr(progress, "WORKER_LOG_EVERY", 0.0)
    monkeypatch.setattr(progress._TALLY, "displayed", False)
    progress._TALLY.reset()
    with caplog.at_level("INFO", logger="pipelines.common.progress"):
        progress.count("fetch", "tried", 2)
        progress.count("fetch", "ok", 1)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("progress: ")]
    assert len(lines) == 2 and "fetch 2 tried" in lines[-1] and "50.0% ok" in lines[-1]
