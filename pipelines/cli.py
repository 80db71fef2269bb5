"""`kosmos-corpus`: build corpora. Subcommands import their (heavy) dependencies lazily."""

from __future__ import annotations

import argparse
import os
import sys


def _cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.demo import build_demo
    from schemas.inspect import format_table, inspect_corpus
    from schemas.validate import validate
    from schemas.view import view_corpus

    status = 0
    for result in build_demo(args.output):
        report = validate(result.root)
        print(format_table(inspect_corpus(result.root)))
        page = os.path.join(args.output, f"{result.kind.value}.html")
        view_corpus(result.root, page)
        verdict = "valid" if report.ok else "INVALID"
        print(f"  -> kosmos-shards validate: {verdict}; contact sheet: {page}\n")
        for problem in report.problems:
            print(f"PROBLEM {problem}")
        status = max(status, 0 if report.ok else 1)
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kosmos-corpus", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="build and validate a small sample corpus of each kind")
    p.add_argument("--output", default="out/demo", help="output directory (default out/demo)")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
