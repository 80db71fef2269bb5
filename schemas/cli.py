"""`kosmos-shards`: validate, inspect and view corpora written by the pipelines."""

from __future__ import annotations

import argparse
import json
import sys
import traceback

from schemas.inspect import format_table, inspect_corpus
from schemas.kinds import SchemaError
from schemas.validate import report_json, validate
from schemas.view import view_corpus


def _cmd_validate(args: argparse.Namespace) -> int:
    status = 0
    for target in args.targets:
        report = validate(target, decode_images=not args.no_decode)
        status = max(status, 0 if report.ok else 1)
        if args.json:
            print(report_json(report))
            continue
        for problem in report.problems:
            print(f"PROBLEM {problem}")
        for warning in report.warnings:
            print(f"warning {warning}")
        for check in report.not_checked:
            print(f"not checked (needs manifest.json): {check}")
        verdict = "OK" if report.ok else f"FAILED with {len(report.problems)} problem(s)"
        kind = report.kind.value if report.kind else "unknown kind"
        print(f"{target}: {verdict} - {len(report.shards)} shard(s), {report.samples} samples, {kind}")
    return status


def _cmd_inspect(args: argparse.Namespace) -> int:
    info = inspect_corpus(args.dir, limit=args.limit)
    print(json.dumps(info, indent=2) if args.json else format_table(info))
    return 0


def _cmd_view(args: argparse.Namespace) -> int:
    shown = view_corpus(args.dir, args.out, n=args.samples)
    print(f"wrote {args.out} with {shown} samples")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kosmos-shards", description=__doc__, allow_abbrev=False)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check every shard against the contract; exit 1 on any problem")
    p.add_argument(
        "targets",
        nargs="+",
        metavar="DIR|GLOB",
        help="corpus directory (with manifest.json), a glob of tars, or a foreign webdataset folder "
        "(img2dataset, LAION, COYO, DataComp; also a brace pattern 'shards/{00000..00099}.tar')",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-decode", action="store_true", help="skip decoding images (faster)")
    p.set_defaults(func=_cmd_validate)
    p = sub.add_parser("inspect", help="counts, sizes, length and image-size statistics, drop reasons")
    p.add_argument("dir", metavar="DIR", help="corpus directory")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--limit",
        type=int,
        default=None,
        help="compute sample statistics over the first N samples (default: all)",
    )
    p.set_defaults(func=_cmd_inspect)
    p = sub.add_parser("view", help="write a self-contained HTML contact sheet")
    p.add_argument("dir", metavar="DIR", help="corpus directory")
    p.add_argument("--out", required=True, help="HTML file to write")
    p.add_argument("--samples", "-n", type=int, default=48, help="how many samples to show (default: 48)")
    p.set_defaults(func=_cmd_view)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (SchemaError, FileNotFoundError, PermissionError, IsADirectoryError) as e:
        # Not a corpus, a missing path: the user's to fix, one line (--debug shows where).
        if args.debug:
            traceback.print_exc()
        print(f"kosmos-shards: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
