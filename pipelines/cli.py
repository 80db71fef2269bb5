"""`kosmos-corpus`: build corpora. Subcommands import their (heavy) dependencies lazily."""

from __future__ import annotations

import argparse
import importlib
import os
import sys


def _cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.demo.build import build_site_and_inputs, pipeline_commands
    from pipelines.demo.server import DemoSite
    from schemas.inspect import format_table, inspect_corpus
    from schemas.validate import validate
    from schemas.view import view_corpus

    status = 0
    summary = []
    with DemoSite({}) as site:
        inputs = build_site_and_inputs(os.path.join(args.output, "input"), site)
        print(f"demo site on {site.base_url}; inputs in {os.path.join(args.output, 'input')}")
        for kind, argv in pipeline_commands(inputs, args.output).items():
            print(f"\n$ kosmos-corpus {' '.join(argv)}")
            rc = main(argv)
            root = os.path.join(args.output, kind)
            report = validate(root)
            print(format_table(inspect_corpus(root)))
            page = os.path.join(args.output, f"{kind}.html")
            view_corpus(root, page)
            for problem in report.problems:
                print(f"PROBLEM {problem}")
            verdict = "valid" if report.ok else "INVALID"
            summary.append(
                f"  {kind:<12} exit {rc}  kosmos-shards validate: {verdict}  contact sheet: {page}"
            )
            status = max(status, rc, 0 if report.ok else 1)
    print("\nsummary (CLIP scoring was skipped: --clip-model none, no weights can be downloaded here)")
    print("\n".join(summary))
    return status


# name -> (help, options module, builder "module:function"); modules load only when chosen.
PIPELINES: dict[str, tuple[str, str, str]] = {
    "text": (
        "text documents -> language/quality/decontamination filters -> exact + near dedup -> text shards",
        "pipelines.text.options",
        "pipelines.text.graph:build_text_pipeline",
    ),
    "image-text": (
        "URL + caption lists (or img2dataset shards) -> fetch, image/caption/CLIP filters, dedup -> image-text shards",
        "pipelines.image_text.options",
        "pipelines.image_text.graph:build_image_text_pipeline",
    ),
    "interleaved": (
        "Common Crawl WARC files -> KOSMOS-1 interleaved image-text documents",
        "pipelines.interleaved.options",
        "pipelines.interleaved.graph:build_interleaved_pipeline",
    ),
}


def _only_builds_the_job(beam_args: list[str]) -> bool:
    """Flags with which a runner writes a job description (a Dataflow template, a dry run) instead of running."""
    for arg in beam_args:
        name, _, value = arg.partition("=")
        if name in ("--template_location", "--output_executable_path") or (
            name == "--dry_run" and value.lower() != "false"
        ):
            return True
    return False


def _cmd_pipeline(args: argparse.Namespace, beam_args: list[str]) -> int:
    """Run one pipeline to completion, print its counts, and fail if near-dedup did not converge."""
    from pipelines.runner import configure_logging, convergence_status, run_pipeline, summarize

    _, options_module, builder = PIPELINES[args.command]
    module, function = builder.split(":")
    build = getattr(importlib.import_module(module), function)
    configure_logging(args.verbose)
    cfg = importlib.import_module(options_module).config_from_args(args)
    result, seconds = run_pipeline(lambda p: build(p, cfg), beam_args)
    state = str(getattr(result, "state", "DONE"))
    if not state.endswith("DONE") or _only_builds_the_job(beam_args):
        print(
            f"pipeline state {state}: the job was built or submitted, not run here, so there is no summary yet"
        )
        return 1 if state.endswith(("FAILED", "CANCELLED")) else 0
    if args.holdout_fraction:
        from pipelines.holdout import run_holdout_split

        held = run_holdout_split(cfg.output, args.holdout_output, args.holdout_fraction, beam_args)
        print(f"held-out split ({args.holdout_fraction:.2%} of keys by hash) written to {held}")
    return convergence_status(summarize(cfg.output, seconds))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kosmos-corpus",
        description=__doc__,
        epilog="Unknown flags are Beam pipeline options (--runner, --direct_num_workers, --project, ...).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="build and validate a small sample corpus of each kind")
    p.add_argument("--output", default="out/demo", help="output directory (default out/demo)")
    p.set_defaults(func=lambda a, _beam: _cmd_demo(a))
    for name, (help_text, options_module, _) in PIPELINES.items():
        p = sub.add_parser(
            name,
            help=help_text,
            epilog="Unknown flags are Beam pipeline options (--runner, --direct_num_workers, ...).",
        )
        importlib.import_module(options_module).add_arguments(p)
        p.add_argument(
            "--holdout-fraction",
            type=float,
            default=0.0,
            help="move this share of samples, chosen by a hash of the key, to a held-out corpus (default 0)",
        )
        p.add_argument(
            "--holdout-output", metavar="DIR", help="held-out corpus location (default OUTPUT-holdout)"
        )
        p.set_defaults(func=_cmd_pipeline)
    return parser


def main(argv: list[str] | None = None) -> int:
    args, beam_args = build_parser().parse_known_args(argv)
    return args.func(args, beam_args)


if __name__ == "__main__":
    sys.exit(main())
