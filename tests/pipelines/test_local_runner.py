"""Local runs stay in this process: no PrismRunner attempt (it downloads a binary when online)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.runners.portability import prism_runner
from apache_beam.testing.util import assert_that, equal_to

from pipelines.common import progress
from pipelines.common.local_runner import is_direct
from pipelines.demo.text import generated_document
from pipelines.runner import is_local, run_pipeline, runner_name, with_default_runner
from schemas.manifest import read_manifest


@pytest.fixture
def prism_refused(monkeypatch) -> list[str]:
    """Record (and fail) any attempt to hand the job to the PrismRunner."""
    attempts: list[str] = []

    def refuse(self, pipeline, options):
        attempts.append("prism")
        raise AssertionError("the PrismRunner was tried")

    monkeypatch.setattr(prism_runner.PrismRunner, "run_pipeline", refuse)
    return attempts


def _squares(p: beam.Pipeline) -> None:
    out = p | beam.Create(range(5)) | beam.Map(lambda x: x * x)
    assert_that(out, equal_to([0, 1, 4, 9, 16]))


@pytest.mark.parametrize(
    "beam_args",
    [
        [],
        ["--runner=DirectRunner"],
        ["--runner", "direct"],
        ["--direct_num_workers=2", "--runner=directrunner"],
    ],
)
def test_local_runs_never_try_prism(beam_args: list[str], prism_refused: list[str]) -> None:
    result, _ = run_pipeline(_squares, beam_args)
    assert result.state == beam.runners.runner.PipelineState.DONE
    assert prism_refused == []


def test_beams_own_direct_runner_would_try_prism(prism_refused: list[str]) -> None:
    """The reason for the in-process runner: Beam's DirectRunner hands this pipeline to Prism first."""
    p = beam.Pipeline(options=beam.options.pipeline_options.PipelineOptions(["--runner=DirectRunner"]))
    _squares(p)
    p.run().wait_until_finish()  # Beam falls back after the failed attempt
    assert prism_refused == ["prism"]


def test_counters_reach_this_process() -> None:
    """Progress counters are read in the launching process: the DoFns must run in it."""
    before = progress.snapshot().get("test", {}).get("seen", 0)

    def count(x: int) -> int:
        progress.count("test", "seen", 1)
        return x

    result, _ = run_pipeline(lambda p: p | beam.Create(range(7)) | beam.Map(count), [])
    assert progress.snapshot()["test"]["seen"] - before == 7
    assert result.state == beam.runners.runner.PipelineState.DONE


@pytest.mark.parametrize(
    ("beam_args", "name", "local"),
    [
        ([], None, True),
        (["--runner=DataflowRunner", "--project=p"], "DataflowRunner", False),
        (["--runner", "PortableRunner"], "PortableRunner", False),
        (["--runner=PrismRunner"], "PrismRunner", False),
        (["--runner=DirectRunner", "--runner=DataflowRunner"], "DataflowRunner", False),
    ],
)
def test_runner_names(beam_args: list[str], name: str | None, local: bool) -> None:
    assert runner_name(beam_args) == name
    assert is_local(beam_args) is local
    assert is_direct(name) is local
    assert runner_name(with_default_runner(beam_args)) == (name or "DirectRunner")


def test_the_cli_with_two_worker_processes_keeps_its_meaning(tmp_path) -> None:
    """--direct_num_workers/--direct_running_mode still reach the FnApiRunner: the same corpus."""
    rows = [{"id": str(i), "text": generated_document(i)} for i in range(40)]
    rows.append({"id": "copy", "text": rows[3]["text"]})
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    counts = []
    for name, extra in (
        ("one", []),
        ("two", ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]),
    ):
        argv = ["text", "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / name), *extra]
        done = subprocess.run(
            [str(Path(sys.executable).parent / "kosmos-corpus"), *argv],
            capture_output=True,
            text=True,
            timeout=280,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        c = read_manifest(str(tmp_path / name)).counts
        counts.append((c.input, c.kept, dict(c.dropped)))
    assert counts[0] == counts[1]
    assert counts[0][0] == 41 and counts[0][2].get("exact_duplicate") == 1
