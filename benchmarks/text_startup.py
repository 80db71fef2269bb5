"""Where the CPU time of a tiny `kosmos-corpus text` run goes, phase by phase (start-up, not documents).

Runs the CLI in this process on the first family of benchmarks/text_vs_datatrove.py (7 documents, or
`--families N`), with timers wrapped around the phases: imports (`kosmos-corpus` parses its flags,
which imports the pipeline's modules and Beam), checks (config, input preflight, output check),
graph build, Beam's pre-run round trip of the graph, runner translation (graph -> proto -> fused
stages), execution of the stages, the summary and the interpreter's exit. Prints one table of CPU seconds (user + system of the
measured process) per phase, the transform and stage counts and the peak RSS.

    .venv/bin/python benchmarks/text_startup.py [--families 1] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

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
    from text_vs_datatrove import families as make_families

    docs = sorted(d for fam in make_families(families, 0) for d in fam)
    path = folder / "input" / "docs.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps({"id": k, "text": t}) + "\n" for k, t in docs), encoding="utf-8")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", type=int, default=1)
    ap.add_argument("--child", help=argparse.SUPPRESS)  # internal: the measured process
    args = ap.parse_args()
    if args.child:
        child(Path(args.child))
        return
    sys.path.insert(0, str(REPO / "benchmarks"))
    from process_tree import run_tree

    with tempfile.TemporaryDirectory(prefix="text-startup-") as tmp:
        write_input(Path(tmp), args.families)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
        run = run_tree([sys.executable, __file__, "--child", tmp], env, keep_stderr=True)
        if run.returncode:
            raise SystemExit(f"the measured run failed:\n{run.stderr[-3000:]}")
        result = json.loads((Path(tmp) / "phases.json").read_text())
    phases, counts = result["phases"], result["counts"]
    in_process = sum(phases.values())
    phases["interpreter exit (process CPU - in-process CPU)"] = run.cpu_s - in_process
    print("| phase | CPU s |\n|---|---|")
    for phase, seconds in phases.items():
        print(f"| {phase} | {seconds:.2f} |")
    print(f"| **process total** | **{run.cpu_s:.2f}** |")
    print(
        f"\ntransforms applied: {counts.get('transforms', 0)}, fused stages: {counts.get('stages', 0)}, "
        f"bundles run: {counts.get('bundles', 0)}; peak RSS {run.peak_mb:.0f} MB"
    )


def child(tmp: Path) -> None:
    """The measured process: `kosmos-corpus text` run as its console script runs it, with timers."""
    import pipelines.cli as cli  # noqa: PLC0415 - timed on purpose

    TOTALS["imports"] += time.process_time()  # the interpreter and `import pipelines.cli`
    instrument(cli)
    sys.argv = [
        "kosmos-corpus",
        "text",
        "--input",
        str(tmp / "input" / "docs.jsonl"),
        "--output",
        f"{tmp}/out",
        "--drops",
        f"{tmp}/drops",
        "--no-fix-encoding",
        "--no-progress",
        "--runner=DirectRunner",
        "--direct_num_workers=1",
    ]
    rc = cli.main()  # no argv: the process is the CLI's, as with the console script
    total = time.process_time()  # of this process since it started
    if rc:
        raise SystemExit(f"kosmos-corpus text exited {rc}")
    phases = {
        "imports (interpreter, flag parsing: the pipeline's modules and Beam)": TOTALS["imports"],
        "checks (config, input preflight, output check)": TOTALS["checks"],
        "graph build": TOTALS["graph build"],
        "translation (graph -> proto, round trip, validation)": TOTALS["run"]
        - TOTALS["execution"]
        - TOTALS["fusion"],
        "fusion (proto -> stages)": TOTALS["fusion"],
        "execution (all stages)": TOTALS["execution"],
        "summary": TOTALS["summary"],
    }
    phases["other (unwrapped)"] = total - sum(phases.values())
    (tmp / "phases.json").write_text(json.dumps({"phases": phases, "counts": COUNTS}))


def instrument(cli: object) -> None:
    """Timers around the phases of one run (wrapping Beam's and our functions, nothing changed).
    Beam is instrumented once the flags are parsed, so its import happens where the CLI imports it."""
    original_parse = cli.parse

    def parse(argv):
        start = time.process_time()
        cli._in_parse = True
        try:
            out = original_parse(argv)
            instrument_run(cli)
            return out
        finally:
            cli._in_parse = False
            TOTALS["imports"] += time.process_time() - start

    cli.parse = parse


def instrument_run(cli: object) -> None:
    """Timers around the phases after flag parsing."""
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    import pipelines.common.output_dir as output_dir
    import pipelines.runner as runner

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
