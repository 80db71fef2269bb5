"""Running a pipeline: Beam options pass straight through, local runs end with a summary."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.common import gc_policy
from pipelines.common.dofn_specs import remember_dofn_specs
from pipelines.common.local_runner import InProcessRunner, is_direct
from pipelines.common.option_views import remember_option_views
from pipelines.common.progress import ProgressDisplay, snapshot, throughput
from schemas.inspect import format_counts
from schemas.manifest import Manifest, read_manifest


def with_default_runner(beam_args: list[str]) -> list[str]:
    """Name the DirectRunner (run in this process, pipelines/common/local_runner.py) unless a runner
    is given."""
    if runner_name(beam_args) is None:
        return ["--runner=DirectRunner", *beam_args]
    return beam_args


def runner_name(beam_args: list[str]) -> str | None:
    """The `--runner` value among Beam's arguments (the last one given), or None."""
    name = None
    for i, a in enumerate(beam_args):
        if a == "--runner" and i + 1 < len(beam_args):
            name = beam_args[i + 1]
        elif a.startswith("--runner="):
            name = a.partition("=")[2]
    return name


def is_local(beam_args: list[str]) -> bool:
    """Whether the pipeline runs in this process (the DirectRunner, our default)."""
    return is_direct(runner_name(beam_args))


def run_pipeline(
    build: Callable[[beam.Pipeline], None], beam_args: list[str], display: ProgressDisplay | None = None
) -> tuple[object, float]:
    """Build and run the pipeline to completion, with `display` showing progress; (result, seconds)."""
    options = PipelineOptions(with_default_runner(beam_args))
    remember_dofn_specs()  # about 1.3 CPU-s less per local run
    remember_option_views()
    start = time.monotonic()
    runner = InProcessRunner() if is_local(beam_args) else None
    pipeline = beam.Pipeline(runner=runner, options=options)
    build(pipeline)
    gc_policy.graph_built()
    with display or contextlib.nullcontext():
        result = pipeline.run()
        result.wait_until_finish()
    return result, time.monotonic() - start


def summarize(output: str, seconds: float, result: object | None = None) -> Manifest:
    """Print the run's counts from its manifest (the single source of truth), then its throughput."""
    manifest = read_manifest(output)
    c = manifest.counts
    print(
        f"\n{manifest.kind.value} corpus written to {output}: {len(manifest.shards)} shard(s) in {seconds:.1f} s"
    )
    print(format_counts(c.input, c.kept, c.dropped))
    counts = counter_totals(result) if result is not None else {}
    print(throughput(counts or snapshot(), seconds))
    return manifest


def counter_totals(result: object) -> dict[str, dict[str, int]]:
    """Our progress counters as the runner aggregated them ({stage: {name: n}}); {} if it cannot say."""
    try:
        metrics = result.metrics().query()  # type: ignore[attr-defined]
    except (AttributeError, NotImplementedError, ValueError):
        return {}
    out: dict[str, dict[str, int]] = {}
    for counter in metrics.get("counters", []):
        value = counter.committed if counter.committed is not None else counter.attempted
        stage = out.setdefault(counter.key.metric.namespace, {})
        stage[counter.key.metric.name] = stage.get(counter.key.metric.name, 0) + int(value or 0)
    return out


def convergence_status(manifest: Manifest) -> int:
    """Exit status 3 (with advice) when near-dedup components were not final, else 0."""
    if manifest.extra.get("cc_converged") is False:
        print(
            f"error: connected components did not converge in {manifest.extra['cc_rounds']} rounds "
            f"({manifest.extra['cc_unconverged_labels']} still changed in the last); near-duplicates may remain. "
            "Rerun with a higher --cc-rounds.",
            file=sys.stderr,
        )
        return 3
    return 0


def configure_logging(verbose: bool) -> None:
    """Our own progress lines always; Beam's chatter only with --verbose."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("pipelines").setLevel(logging.INFO)
