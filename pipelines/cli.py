"""`kosmos-corpus`: build corpora. Subcommands import their (heavy) dependencies lazily."""

from __future__ import annotations

import argparse
import os
import sys


def _cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.demo import build_site_and_inputs, pipeline_commands
    from pipelines.demo_server import DemoSite
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
            summary.append(f"  {kind:<12} exit {rc}  kosmos-shards validate: {verdict}  contact sheet: {page}")
            status = max(status, rc, 0 if report.ok else 1)
    print("\nsummary (CLIP scoring was skipped: --clip-model none, no weights can be downloaded here)")
    print("\n".join(summary))
    return status


def _cmd_text(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines.runner import configure_logging, convergence_status, run_pipeline, summarize
    from pipelines.text import build_text_pipeline
    from pipelines.text_options import config_from_args

    configure_logging(args.verbose)
    cfg = config_from_args(args)
    _, seconds = run_pipeline(lambda p: build_text_pipeline(p, cfg), beam_args)
    return convergence_status(summarize(cfg.output, seconds))


def _cmd_interleaved(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines.interleaved import build_interleaved_pipeline
    from pipelines.interleaved_options import config_from_args
    from pipelines.runner import configure_logging, convergence_status, run_pipeline, summarize

    configure_logging(args.verbose)
    cfg = config_from_args(args)
    _, seconds = run_pipeline(lambda p: build_interleaved_pipeline(p, cfg), beam_args)
    return convergence_status(summarize(cfg.output, seconds))


def _cmd_image_text(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines.image_text import build_image_text_pipeline
    from pipelines.image_text_options import config_from_args
    from pipelines.runner import configure_logging, run_pipeline, summarize

    configure_logging(args.verbose)
    cfg = config_from_args(args)
    _, seconds = run_pipeline(lambda p: build_image_text_pipeline(p, cfg), beam_args)
    summarize(cfg.output, seconds)
    return 0


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
    from pipelines.text_options import add_text_arguments

    p = sub.add_parser(
        "text", help="text documents -> language/quality/decontamination filters -> exact + near dedup -> text shards",
        epilog="Unknown flags are Beam pipeline options (--runner, --direct_num_workers, ...).",
    )  # fmt: skip
    add_text_arguments(p)
    p.set_defaults(func=_cmd_text)
    from pipelines.image_text_options import add_image_text_arguments

    p = sub.add_parser(
        "image-text", help="URL + caption lists -> fetch, image/caption/CLIP filters, dedup -> image-text shards",
        epilog="Unknown flags are Beam pipeline options (--runner, --direct_num_workers, ...).",
    )  # fmt: skip
    add_image_text_arguments(p)
    p.set_defaults(func=_cmd_image_text)
    from pipelines.interleaved_options import add_interleaved_arguments

    p = sub.add_parser(
        "interleaved", help="Common Crawl WARC files -> KOSMOS-1 interleaved image-text documents",
        epilog="Unknown flags are Beam pipeline options (--runner, --direct_num_workers, ...).",
    )  # fmt: skip
    add_interleaved_arguments(p)
    p.set_defaults(func=_cmd_interleaved)
    return parser


def main(argv: list[str] | None = None) -> int:
    args, beam_args = build_parser().parse_known_args(argv)
    return args.func(args, beam_args)


if __name__ == "__main__":
    sys.exit(main())
