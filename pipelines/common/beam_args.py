"""What is left on a command line after our flags must be a pipeline option Beam knows.

Beam itself accepts any `--flag` silently (an unknown option is only logged), so a typo such as
`--smaples-per-shard 5` would run with the default. The options Beam knows are the ones its
`PipelineOptions` subclasses declare; anything else is a usage error naming the closest flag.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Iterable, Iterator, Sequence

from pipelines.common.options import UsageError


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


class _StrictParser(argparse.ArgumentParser):
    def error(self, message: str):  # a bad Beam option value: one line, exit 2
        raise UsageError(message)


def beam_parser() -> argparse.ArgumentParser:
    """A parser of every option of every PipelineOptions class loaded (Beam's own and plugins')."""
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    class Parser(_StrictParser, _BeamArgumentParser):
        pass

    parser = Parser(allow_abbrev=False, add_help=False, conflict_handler="resolve")
    for cls in dict.fromkeys(_subclasses(PipelineOptions)):
        cls._add_argparse_args(parser)
    return parser


def option_names(parser: argparse.ArgumentParser) -> list[str]:
    return [name for action in parser._actions for name in action.option_strings]


def suggestion(name: str, candidates: Iterable[str]) -> str:
    """' (did you mean --x?)' for the closest candidate, or ''."""
    candidates = list(candidates)
    longer = sorted(c for c in candidates if c.startswith(name) and len(name) > 3)  # an abbreviation
    close = longer[:1] or difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def check_beam_args(rest: Sequence[str], ours: Iterable[str]) -> list[str]:
    """`rest` when every item is an option Beam knows (with its value); else UsageError."""
    parser = beam_parser()
    known, unknown = parser.parse_known_args(list(rest))
    for item in unknown:
        if item.startswith("-"):
            name = item.partition("=")[0]
            raise UsageError(f"unknown option {name}{suggestion(name, [*ours, *option_names(parser)])}")
        raise UsageError(f"unexpected argument {item!r}")
    if getattr(known, "runner", None):
        check_runner(known.runner)
    return list(rest)


def check_runner(name: str) -> None:
    """UsageError unless Beam can make a runner of `name` (a known name or a runner's class path):
    Beam itself would fail only when the job starts, with a traceback."""
    from apache_beam.options.pipeline_options import StandardOptions
    from apache_beam.runners.runner import create_runner

    try:
        create_runner(name)
    except (ValueError, ImportError, AttributeError) as err:
        raise UsageError(
            f"--runner {name}: not a Beam runner{suggestion(name, StandardOptions.KNOWN_RUNNER_NAMES)}"
        ) from err
