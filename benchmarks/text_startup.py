"""Where the CPU time of a tiny `kosmos-corpus text` run goes, phase by phase (start-up, not documents).

Runs the CLI in this process on the first family of benchmarks/text_vs_datatrove.py (7 documents, or
`--families N`), with timers wrapped around the phases: imports (`kosmos-corpus` parses its flags,
which imports the pipeline's modules and Beam), checks (config, input preflight, output check),
graph build, Beam's pre-run round trip of the graph, runner translation (graph -> proto -> fused
stages), execution of the stages, and the summary. Prints one table of CPU seconds (user + system of
this process) per phase, and the transform and stage counts.

    .venv/bin/python benchmarks/text_startup.py [--families 1] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

_T0 = time.process_time()
TOTALS: dict[str, float] = defaultdict(float)
COUNTS: dict[str, int] = {}


def timed(owner: object, name: str, phase: str) -> None:
    """Wrap owner.name so its inclusive CPU time (outermost call only) adds to `phase`."""
    inner = getattr(owner, name)
    depth = [0]

    def wrapper(*args, **kwargs):
        depth[0] += 1
        start = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                TOTALS[phase] += time.process_time() - start

    setattr(owner, name, wrapper)


def write_input(folder: Path, families: int) -> Path:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from text_vs_datatrove import families as make_families

    docs = sorted(d for fam in make_families(families, 0) for d in fam)
    path = folder / "input" / "docs.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps({"id": k, "text": t}) + "\n" for k, t in docs), encoding="utf-8")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="text-startup-") as tmp:
        src = write_input(Path(tmp), args.families)
        before = time.process_time()
        import pipelines.cli as cli  # noqa: PLC0415 - timed on purpose

        TOTALS["imports"] += time.process_time() - before
        instrument(cli)
        argv = [
            "text",
            "--input",
            str(src),
            "--output",
            f"{tmp}/out",
            "--drops",
            f"{tmp}/drops",
            "--no-fix-encoding",
            "--no-progress",
            "--runner=DirectRunner",
            "--direct_num_workers=1",
        ]
        start = time.process_time()
        rc = cli.main(argv)
        total = time.process_time() - start + TOTALS["imports"]
    if rc:
        raise SystemExit(f"kosmos-corpus text exited {rc}")
    phases = {
        "imports (flag parsing imports the pipeline and Beam)": TOTALS["imports"],
        "checks (config, input preflight, output check)": TOTALS["checks"],
        "graph build": TOTALS["graph build"],
        "translation (graph -> proto, round trip, validation)": TOTALS["run"]
        - TOTALS["execution"]
        - TOTALS["fusion"],
        "fusion (proto -> stages)": TOTALS["fusion"],
        "execution (all stages)": TOTALS["execution"],
    }
    phases["summary"] = TOTALS["summary"]
    phases["other (unwrapped)"] = total - sum(phases.values())
    print("| phase | CPU s |\n|---|---|")
    for phase, seconds in phases.items():
        print(f"| {phase} | {seconds:.2f} |")
    print(f"| **total in process** | **{total:.2f}** |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\ninterpreter start to first import: {_T0:.2f} CPU s; transforms: {COUNTS.get('transforms', 0)}, "
        f"fused stages: {COUNTS.get('stages', 0)}, bundles run: {COUNTS.get('bundles', 0)}; "
        f"peak RSS {peak:.0f} MiB"
    )


def instrument(cli: object) -> None:
    """Timers around the phases of one run (wrapping Beam's and our functions, nothing changed)."""
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    import pipelines.common.output_dir as output_dir
    import pipelines.runner as runner

    original_parse = cli.parse

    def parse(argv):
        cli._in_parse = True
        try:
            return original_parse(argv)
        finally:
            cli._in_parse = False

    cli.parse = parse
    timed(cli, "parse", "imports")
    timed(cli, "preflight", "checks")
    timed(output_dir, "check_output", "checks")
    timed(runner, "summarize", "summary")
    import importlib

    original_import = importlib.import_module

    def import_module(name, package=None):
        if getattr(cli, "_in_parse", False):
            return original_import(name, package)
        start = time.process_time()
        try:
            return original_import(name, package)
        finally:
            TOTALS["imports"] += time.process_time() - start

    cli.importlib = type("_Importlib", (), {"import_module": staticmethod(import_module)})
    original_run_pipeline = runner.run_pipeline

    def run_pipeline(build, beam_args, display=None):
        def counted_build(p):
            start = time.process_time()
            build(p)
            TOTALS["graph build"] += time.process_time() - start
            COUNTS["transforms"] = len(p.applied_labels)

        return original_run_pipeline(counted_build, beam_args, display)

    runner.run_pipeline = run_pipeline
    timed(beam.Pipeline, "run", "run")
    original_create_stages = fn_runner.FnApiRunner.create_stages

    def create_stages(self, proto):
        out = original_create_stages(self, proto)
        COUNTS["stages"] = len(out[1])
        return out

    fn_runner.FnApiRunner.create_stages = create_stages
    timed(fn_runner.FnApiRunner, "create_stages", "fusion")
    timed(fn_runner.FnApiRunner, "run_stages", "execution")
    original_bundle = fn_runner.FnApiRunner._run_bundle

    def run_bundle(self, *args, **kwargs):
        COUNTS["bundles"] = COUNTS.get("bundles", 0) + 1
        return original_bundle(self, *args, **kwargs)

    fn_runner.FnApiRunner._run_bundle = run_bundle


if __name__ == "__main__":
    main()
