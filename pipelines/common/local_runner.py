"""Local runs in this process: Beam's DirectRunner without its PrismRunner attempt.

Beam's DirectRunner (`SwitchingDirectRunner`) first hands a batch pipeline to the PrismRunner,
which downloads a runner binary from the internet and runs the job in another process. Offline
that attempt fails and Beam falls back (about 0.15 s of every run); online it would fetch and run
an executable at run time and take the job out of this process, where the progress display and
the run summary read their counters. Our pipelines are batch pipelines the FnApiRunner supports
(what the DirectRunner falls back to), so a local run goes there directly, with the pipeline's
options handed to its workers as the DirectRunner does (`--direct_num_workers` and
`--direct_running_mode` keep their meaning). Name `--runner=PrismRunner` to get Prism.
"""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineResult, PipelineRunner

DIRECT_RUNNER_NAMES = frozenset({"directrunner", "direct"})
"""`--runner` values (lower case) that mean this in-process runner."""


def is_direct(runner: str | None) -> bool:
    """Whether a `--runner` value (None: not given) names the local in-process runner."""
    return runner is None or runner.lower() in DIRECT_RUNNER_NAMES


class InProcessRunner(PipelineRunner):
    """The FnApiRunner, set up as Beam's DirectRunner sets it up, with no Prism attempt first."""

    def run_pipeline(self, pipeline: object, options: PipelineOptions) -> PipelineResult:
        # Imported here as the DirectRunner does: the FnApiRunner's modules are only needed to run.
        from apache_beam.portability.api import beam_provision_api_pb2
        from apache_beam.runners.portability.fn_api_runner import fn_runner
        from apache_beam.runners.portability.portable_runner import JobServiceHandle

        encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
        provision = fn_runner.ExtendedProvisionInfo(
            beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)
        )
        return fn_runner.FnApiRunner(provision_info=provision).run_pipeline(pipeline, options)
