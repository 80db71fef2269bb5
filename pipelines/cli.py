"""`kosmos-corpus`: build corpora. Subcommands import their (heavy) dependencies lazily."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
from typing import Any

from pipelines.common.options import DefaultsHelpFormatter, UsageError


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


# img2dataset's option names: the same setting here (accepted, with a note), or what to do instead.
IMG2DATASET: dict[str, tuple[str | None, str]] = {
    "--url_list": ("--input", ""),
    "--output_folder": ("--output", ""),
    "--url_col": ("--url-col", ""),
    "--caption_col": ("--caption-col", ""),
    "--thread_count": ("--concurrency", ""),
    "--number_sample_per_shard": ("--samples-per-shard", ""),
    "--image_size": ("--image-size", ""),
    "--resize_mode": ("--resize-mode", ""),
    "--min_image_size": ("--min-image-size", ""),
    "--max_aspect_ratio": ("--max-aspect-ratio", ""),
    "--encode_format": ("--encode-format", ""),
    "--encode_quality": ("--encode-quality", ""),
    "--processes_count": (
        None,
        "worker processes are Beam's: --direct_num_workers N --direct_running_mode multi_processing "
        "locally, --num_workers / --max_num_workers on Dataflow",
    ),
    "--output_format": (None, "the output is always WebDataset tars with a Parquet metadata file per shard"),
    "--input_format": (
        None,
        "the format comes from each file's extension (.parquet, .csv, .tsv, .json, .jsonl, .txt, .tar; "
        "optionally .gz)",
    ),
    "--enable_wandb": (
        None,
        "there is no wandb logging: progress is shown locally and as Beam metrics counters, "
        "and the run ends with its summary",
    ),
    "--save_additional_columns": (None, "other input columns are kept in each sample's metadata `extra`"),
    "--distributor": (None, "choose where it runs with Beam's --runner (DirectRunner, DataflowRunner, ...)"),
    "--incremental_mode": (None, "a rerun with the same settings resumes; --overwrite starts over"),
    "--disallowed_header_directives": (None, "X-Robots-Tag opt-outs are always honoured"),
}
# Flags of earlier versions whose meaning was split or renamed.
RENAMED: dict[str, dict[str, str]] = {
    "image-text": {"--min-words": "--min-caption-words"},
    "interleaved": {"--min-words": "--min-doc-words"},
}


def _translate(command: str, argv: list[str], ours: set[str]) -> list[str]:
    """img2dataset option names replaced by ours (a note on stderr), or a UsageError saying what to use."""
    out = []
    for arg in argv:
        name, eq, value = arg.partition("=")
        renamed = RENAMED.get(command, {}).get(name)
        if renamed:
            raise UsageError(f"{name} is now {renamed} in kosmos-corpus {command}")
        if name in IMG2DATASET:
            flag, instead = IMG2DATASET[name]
            if flag is None or flag not in ours:
                raise UsageError(
                    f"{name} is img2dataset's option; here {instead or 'there is no such setting'}"
                )
            print(f"note: {name} is img2dataset's name for {flag}", file=sys.stderr)
            arg = flag + eq + value
        out.append(arg)
    return out


def _only_builds_the_job(beam_args: list[str]) -> bool:
    """Flags with which a runner writes a job description (a Dataflow template, a dry run) instead of running."""
    for arg in beam_args:
        name, _, value = arg.partition("=")
        if name in ("--template_location", "--output_executable_path") or (
            name == "--dry_run" and value.lower() != "false"
        ):
            return True
    return False


def _expand(paths: tuple[str, ...], accept: Any = None) -> list[tuple[str, str]]:
    from pipelines.common.inputs import expand_inputs

    try:
        return expand_inputs(paths) if accept is None else expand_inputs(paths, accept)
    except (FileNotFoundError, ValueError, OSError) as e:
        raise UsageError(str(e)) from e


def _check_columns(files: list[tuple[str, str]], wanted: dict[str, str]) -> None:
    """Each input holds the columns asked for ({column: its flag}); files whose columns cannot be told
    (plain text, tars, unreadable: a counted drop later) are skipped."""
    from concurrent.futures import ThreadPoolExecutor

    from pipelines.io.columns import missing_columns

    with ThreadPoolExecutor(16) as pool:
        results = pool.map(lambda f: missing_columns(f[0], list(wanted)), files)
        for (url, _), result in zip(files, results, strict=True):
            if result and result[0]:
                missing, found = result
                raise UsageError(
                    f"{url} has no column {missing[0]!r} (its columns: {', '.join(sorted(found)) or 'none'}); "
                    f"name the right one with {wanted[missing[0]]}"
                )


def preflight(command: str, cfg: Any) -> dict[str, int]:
    """Inputs exist and hold the columns asked for, before anything runs; totals for the progress display."""
    from pipelines.common.inputs import is_warc_file

    if command == "text":
        files = _expand(cfg.inputs)
        _check_columns(files, {cfg.text_col: "--text-col"})
    elif command == "image-text":
        files = _expand(cfg.inputs) if cfg.inputs else []
        _check_columns(files, {cfg.url_col: "--url-col", cfg.caption_col: "--caption-col"})
        files += _expand(cfg.warcs, is_warc_file) if cfg.warcs else []
    else:
        files = _expand(cfg.warcs, is_warc_file)
    return {"files": len(files)}


def _cmd_pipeline(args: argparse.Namespace, beam_args: list[str]) -> int:
    """Run one pipeline to completion, print its counts, and fail if near-dedup did not converge."""
    from pipelines.common.output_dir import check_output
    from pipelines.common.progress import ProgressDisplay, use_bars
    from pipelines.runner import configure_logging, convergence_status, is_local, run_pipeline, summarize
    from schemas.kinds import parse_kind

    _, options_module, builder = PIPELINES[args.command]
    cfg = importlib.import_module(options_module).config_from_args(args)
    totals = preflight(args.command, cfg)
    check_output(
        cfg.output, parse_kind(args.command.replace("-", "_")), cfg.manifest_config(), args.overwrite
    )
    module, function = builder.split(":")
    build = getattr(importlib.import_module(module), function)
    configure_logging(args.verbose)
    local = is_local(beam_args)
    display = ProgressDisplay(use_bars(args.no_progress), totals) if local else None
    if display is not None and display.use_bars and not args.verbose:
        logging.getLogger("pipelines").setLevel(logging.WARNING)  # the bars say it; lines would break them
    result, seconds = run_pipeline(lambda p: build(p, cfg), beam_args, display)
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
    return convergence_status(summarize(cfg.output, seconds, result))


class _Parser(argparse.ArgumentParser):
    """A flag mistake is one line (the usage error and where help is), exit 2."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `only`, the other pipelines' flags are left out (their modules not imported)."""
    parser = _Parser(
        prog="kosmos-corpus",
        description=__doc__,
        allow_abbrev=False,
        formatter_class=DefaultsHelpFormatter,
        epilog="Other flags must be Beam pipeline options (--runner, --direct_num_workers, --project, ...).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "demo",
        help="build and validate a small sample corpus of each kind",
        allow_abbrev=False,
        formatter_class=DefaultsHelpFormatter,
    )
    p.add_argument("--output", default="out/demo", help="output directory")
    p.add_argument("--debug", action="store_true", help="show the traceback of a usage error")
    p.set_defaults(func=lambda a, _beam: _cmd_demo(a))
    for name, (help_text, options_module, _) in PIPELINES.items():
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            allow_abbrev=False,
            formatter_class=DefaultsHelpFormatter,
            epilog="Other flags must be Beam pipeline options (--runner, --direct_num_workers, ...).",
        )
        if only not in (None, name):
            continue
        importlib.import_module(options_module).add_arguments(p)
        g = p.add_argument_group("held-out split")
        g.add_argument(
            "--holdout-fraction",
            type=float,
            metavar="X",
            default=0.0,
            help="move this share of samples, chosen by a hash of the key, to a held-out corpus",
        )
        g.add_argument(
            "--holdout-output", metavar="DIR", help="held-out corpus location (default: OUTPUT-holdout)"
        )
        p.set_defaults(func=_cmd_pipeline)
    return parser


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our flags strictly (no abbreviations, img2dataset names translated); the rest must be Beam's."""
    from pipelines.common.beam_args import check_beam_args

    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=command if command in PIPELINES else "")
    subs = subparsers(parser)
    ours: set[str] = set()
    if command in subs:
        ours = {o for a in subs[command]._actions for o in a.option_strings}
        argv = _translate(command, argv, ours)
    args, rest = parser.parse_known_args(argv)
    if rest:
        check_beam_args(rest, sorted(ours))
    return args, rest


def main(argv: list[str] | None = None) -> int:
    """The console script (argv None: this process is ours, see gc_policy) or a caller's argv list."""
    from pipelines.common import gc_policy

    if argv is None:
        gc_policy.own_process()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args, beam_args = parse(argv)
        return args.func(args, beam_args)
    except UsageError as e:
        if "--debug" in argv:
            traceback.print_exc()
        print(f"kosmos-corpus: error: {e}", file=sys.stderr)
        return 2
    finally:
        gc_policy.exiting()


if __name__ == "__main__":
    sys.exit(main())
