"""Command-line option groups generated from the config dataclasses, shared by every pipeline.

A flag's default is read from its dataclass field (or from the pipeline config's default for that
sub-config), and its help from the field's docstring, so a default is written once, in the
dataclass. Every pipeline that fetches, resizes or scores images calls the same group function,
so `--timeout` or `--max-bytes` mean the same thing in `image-text` and `interleaved`.

Beam-free: building the parser must stay cheap (`--help`, flag errors exit before Beam loads).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: a pipeline's parser loads only its own groups' modules
    from filters.clip_score import ClipConfig
    from filters.image import ImageConfig
    from filters.langid import LanguageConfig
    from pipelines.io.fetch import FetchConfig

CLIP_PRETRAINED = "openai"
"""Weights `--clip-pretrained` names by default (the CLI's choice; ClipConfig's own default is random)."""


EXPLICIT_DEFAULT = re.compile(r"\(default[ :]")
"""A help text that states its default itself (when the value alone would not say it)."""


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default (or says it is required), taken from the parser."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or EXPLICIT_DEFAULT.search(text) or action.default is argparse.SUPPRESS:
            return text
        if action.required:
            return f"{text} (required)"
        return f"{text} (default: {shown_default(action)})"


def shown_default(action: argparse.Action) -> str:
    """How a default reads in --help: off/on for switches, `none` for an unset value."""
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return "off"  # a switch is not given unless asked for
    if action.default is None or action.default == []:
        return "none"
    if isinstance(action.default, (list, tuple)):
        return ",".join(str(v) for v in action.default)
    if isinstance(action.default, int) and not isinstance(action.default, bool) and action.default >= 10_000:
        return f"{action.default:,}"
    return "%(default)s"


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (a string literal right after a field) of a dataclass, by field name."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, after in zip(body, body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split()).rstrip(".")
    return docs


def defaults_of(cls: type) -> Any:
    """An instance of `cls` with every default (where the defaults live)."""
    return cls()


def nested_default(cls: type, name: str) -> Any:
    """The default value of field `name` of dataclass `cls` (calling its default factory)."""
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


@dataclass(frozen=True)
class Flag:
    """One command-line flag bound to one dataclass field."""

    flag: str
    field: str
    help: str | None = None
    """Overrides the field's docstring."""
    type: Callable[[str], Any] | None = None
    choices: Sequence[str] | None = None
    metavar: str | None = None

    def dest(self, prefix: str) -> str:
        return f"{prefix}_{self.field}"


def optional_number(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """A number, or none/off for a rule switched off."""

    def parse(text: str) -> Any:
        return None if text.strip().lower() in ("none", "off") else kind(text)

    parse.__name__ = kind.__name__
    return parse


def add_flags(group: Any, defaults: Any, flags: Sequence[Flag], prefix: str) -> None:
    """Add `flags` to `group`, each with the default of its field in `defaults` (an instance)."""
    docs = field_docs(type(defaults))
    for flag in flags:
        default = getattr(defaults, flag.field)
        text = flag.help or docs.get(flag.field) or flag.field.replace("_", " ")
        dest = flag.dest(prefix)
        if isinstance(default, bool):
            # A switch names the change: --no-x for a field on by default, --x for one off by default.
            action = "store_false" if default else "store_true"
            group.add_argument(flag.flag, dest=dest, action=action, default=default, help=text)
            continue
        kind = flag.type or _type_of(default)
        metavar = flag.metavar or (None if flag.choices else METAVARS.get(kind.__name__, "VALUE"))
        group.add_argument(
            flag.flag, dest=dest, type=kind, default=default, choices=flag.choices, metavar=metavar, help=text
        )


METAVARS = {"int": "N", "float": "X", "str": "TEXT"}


def _type_of(default: Any) -> Callable[[str], Any]:
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return float
    if default is None:
        return optional_number(float)
    return str


def values(args: argparse.Namespace, flags: Sequence[Flag], prefix: str) -> dict[str, Any]:
    """{field: value} of the flags as parsed."""
    return {f.field: getattr(args, f.dest(prefix)) for f in flags}


def build(cls_or_defaults: Any, args: argparse.Namespace, flags: Sequence[Flag], prefix: str) -> Any:
    """The config: `defaults` with every flagged field replaced by the parsed value."""
    base = cls_or_defaults() if isinstance(cls_or_defaults, type) else cls_or_defaults
    return dataclasses.replace(base, **values(args, flags, prefix))


def comma_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


# --- output / shards / run behaviour ---------------------------------------------------------------


def add_output_group(p: argparse.ArgumentParser, per_shard: str | None = "samples") -> None:
    """--output, --drops, --samples-per-shard (when the pipeline shards by count), --overwrite, progress."""
    from schemas.writer import DEFAULT_SAMPLES_PER_SHARD

    g = p.add_argument_group("output")
    g.add_argument(
        "--output",
        required=True,
        metavar="DIR",
        help="corpus directory (a local path or any fsspec URL: file://, memory://, gs://, s3://)",
    )
    g.add_argument(
        "--drops",
        metavar="DIR",
        default=None,
        help="write every dropped record (key, id, url, reason, detail, duplicate_of, stage) as Parquet here",
    )
    if per_shard:
        g.add_argument(
            "--samples-per-shard",
            type=int,
            metavar="N",
            default=DEFAULT_SAMPLES_PER_SHARD,
            help=f"{per_shard} per shard",
        )
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="remove a corpus already at --output first, whatever its kind or settings (a folder holding no corpus is never deleted)",
    )
    g.add_argument(
        "--no-progress",
        action="store_true",
        help="plain periodic log lines instead of progress bars (also when stderr is not a terminal)",
    )
    g.add_argument("--verbose", "-v", action="store_true", help="log Beam's own progress too")
    g.add_argument("--debug", action="store_true", help="show the traceback of a usage error")


# --- fetching ----------------------------------------------------------------------------------------

FETCH_FLAGS = (
    Flag("--timeout", "timeout", type=float),
    Flag("--retries", "retries"),
    Flag("--max-per-host", "max_per_host"),
    Flag("--concurrency", "max_concurrency"),
    Flag("--max-bytes", "max_bytes"),
    Flag(
        "--no-robots", "respect_robots_txt", help="do not read robots.txt (X-Robots-Tag opt-outs still apply)"
    ),
    Flag("--allow-private-network", "allow_private_network"),
)


def add_fetch_group(p: argparse.ArgumentParser, defaults: FetchConfig | None = None) -> None:
    from pipelines.io.fetch import FetchConfig

    add_flags(p.add_argument_group("fetching"), defaults or FetchConfig(), FETCH_FLAGS, "fetch")


def fetch_config(args: argparse.Namespace, defaults: FetchConfig | None = None) -> FetchConfig:
    from pipelines.io.fetch import FetchConfig

    return build(defaults or FetchConfig(), args, FETCH_FLAGS, "fetch")


# --- images --------------------------------------------------------------------------------------------

IMAGE_FLAGS = (
    Flag("--min-image-size", "min_side"),
    Flag("--max-aspect-ratio", "max_aspect_ratio", type=optional_number(float)),
    Flag(
        "--resize-mode",
        "resize_mode",
        choices=("no", "keep_ratio", "keep_ratio_largest", "center_crop", "border"),
    ),
    Flag("--image-size", "image_size", help="target size of resizing in px (see --resize-mode)"),
    Flag("--encode-format", "encode_format", choices=("jpg", "png", "webp")),
    Flag("--encode-quality", "encode_quality"),
)


def add_image_group(p: argparse.ArgumentParser, defaults: ImageConfig | None = None) -> None:
    from filters.image import ImageConfig

    add_flags(p.add_argument_group("images"), defaults or ImageConfig(), IMAGE_FLAGS, "image")


def image_config(args: argparse.Namespace, defaults: ImageConfig | None = None) -> ImageConfig:
    from filters.image import ImageConfig

    return build(defaults or ImageConfig(), args, IMAGE_FLAGS, "image")


# --- CLIP ------------------------------------------------------------------------------------------------

CLIP_FLAGS = (
    Flag("--clip-batch-size", "batch_size", help="image-text pairs per CLIP forward pass"),
    Flag("--clip-device", "device"),
    Flag("--clip-model-config", "model_config", type=str, metavar="JSON"),
)


def add_clip_group(p: argparse.ArgumentParser, enabled: bool, title: str = "CLIP") -> argparse._ArgumentGroup:
    """--clip-model (`none` = no scoring; the default depends on the pipeline), weights and device."""
    from filters.clip_score import ClipConfig

    defaults = ClipConfig()
    g = p.add_argument_group(title)
    g.add_argument(
        "--clip-model",
        metavar="NAME",
        default=defaults.model if enabled else "none",
        help="open_clip architecture, 'local-dir:PATH' or 'hf-hub:ORG/REPO'; 'none' skips CLIP",
    )
    g.add_argument(
        "--clip-pretrained",
        metavar="TAG|PATH",
        default=CLIP_PRETRAINED,
        help="pretrained tag or local checkpoint path (ignored for local-dir:/hf-hub: models)",
    )
    add_flags(g, defaults, CLIP_FLAGS, "clip")
    g.add_argument(
        "--clip-accelerator",
        default=None,
        metavar="SPEC",
        help="Beam accelerator hint for the download + CLIP step only, "
        "e.g. 'type:nvidia-l4;count:1;install-nvidia-driver' (Dataflow right fitting)",
    )
    return g


def clip_config(args: argparse.Namespace) -> ClipConfig | None:
    """None for `--clip-model none`; a self-contained model (local-dir:, hf-hub:) brings its weights."""
    if args.clip_model.lower() == "none":
        return None
    from filters.clip_score import ClipConfig

    self_contained = args.clip_model.startswith(("local-dir:", "hf-hub:"))
    return build(
        ClipConfig(model=args.clip_model, pretrained=None if self_contained else args.clip_pretrained),
        args,
        CLIP_FLAGS,
        "clip",
    )


# --- language ------------------------------------------------------------------------------------------


def add_language_group(p: argparse.ArgumentParser, what: str, defaults: LanguageConfig | None = None) -> None:
    """--languages / --lang-threshold / --no-language, the same in every pipeline."""
    from filters.langid import LanguageConfig

    defaults = defaults or LanguageConfig()
    g = p.add_argument_group("language")
    g.add_argument(
        "--languages",
        type=comma_list,
        default=defaults.languages,
        metavar="CODES",
        help=f"accepted fastText lid.176 codes of the {what}, comma-separated",
    )
    g.add_argument(
        "--lang-threshold",
        type=float,
        metavar="X",
        default=defaults.threshold,
        help="minimum score of an accepted language",
    )
    g.add_argument("--no-language", action="store_true", help=f"keep {what} in every language")


def language_config(
    args: argparse.Namespace, defaults: LanguageConfig | None = None
) -> LanguageConfig | None:
    """None when the filter is off (`--no-language`, or the older `--languages any`)."""
    if args.no_language or tuple(c.lower() for c in args.languages) in ((), ("any",)):
        return None
    from filters.langid import LanguageConfig

    return dataclasses.replace(
        defaults or LanguageConfig(), languages=tuple(args.languages), threshold=args.lang_threshold
    )


class UsageError(Exception):
    """A mistake of the user (a flag, a path, a column): one line on stderr and exit 2."""
