"""Running a pipeline: Beam options pass straight through, local runs end with a summary."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from schemas.inspect import format_counts
from schemas.manifest import Manifest, read_manifest

LOCAL_RUNNERS = {"DirectRunner", "direct", "PortableRunner"}


def with_default_runner(beam_args: list[str]) -> list[str]:
    """Name the DirectRunner unless a runner is given: Beam would otherwise try PrismRunner first,
    which needs a download and fails offline."""
    if any(a == "--runner" or a.startswith("--runner=") for a in beam_args):
        return beam_args
    return ["--runner=DirectRunner", *beam_args]


def run_pipeline(build: Callable[[beam.Pipeline], None], beam_args: list[str]) -> tuple[object, float]:
    """Build and run the pipeline to completion; (result, seconds)."""
    options = PipelineOptions(with_default_runner(beam_args))
    start = time.monotonic()
    pipeline = beam.Pipeline(options=options)
    build(pipeline)
    result = pipeline.run()
    result.wait_until_finish()
    return result, time.monotonic() - start


def summarize(output: str, seconds: float) -> Manifest:
    """Print the run's counts from its manifest (the single source of truth) and return it."""
    manifest = read_manifest(output)
    c = manifest.counts
    print(
        f"\n{manifest.kind.value} corpus written to {output}: {len(manifest.shards)} shard(s) in {seconds:.1f} s"
    )
    print(format_counts(c.input, c.kept, c.dropped))
    return manifest


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
