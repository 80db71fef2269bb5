"""Command-line flags of `kosmos-corpus text` and their mapping onto TextPipelineConfig.

Defaults come from the config dataclasses (pipelines/common/options.py generates the flags).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from filters.decontamination import DecontaminationConfig
from filters.text_quality import TextQualityConfig
from pipelines.common.options import (
    Flag,
    UsageError,
    add_flags,
    add_language_group,
    add_output_group,
    build,
    comma_list,
    language_config,
    nested_default,
)
from pipelines.dedup.options import add_near_dedup_group, near_dedup_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    defaults = _defaults()
    p.add_argument(
        "--input",
        nargs="+",
        required=True,
        metavar="PATH",
        help="files, directories or globs: .jsonl/.ndjson, .json (JSON lines or one array), .parquet, "
        ".csv/.tsv, .txt (one document per file), optionally .gz/.zst/.xz/.bz2 (The Pile: .jsonl.zst); "
        "Hugging Face dataset folders (.arrow/.parquet); WARC (.warc[.gz]: main text of each HTML response) "
        "and WET (.wet[.gz]: Common Crawl's plain text)",
    )
    g = p.add_argument_group("columns")
    add_flags(g, defaults, COLUMN_FLAGS, "text")
    g = p.add_argument_group("documents")
    add_flags(g, defaults, DOCUMENT_FLAGS, "text")
    add_language_group(p, "documents", nested_default(_config_class(), "language"))
    g = p.add_argument_group("quality")
    g.add_argument("--no-quality", action="store_true", help="switch off all quality rules")
    g.add_argument(
        "--quality",
        action="append",
        default=[],
        metavar="GROUP.FIELD=VALUE",
        help="override one quality rule, e.g. gopher_quality.min_stop_words=off, c4.enabled=false, "
        "gopher_repetition.dup_line_frac=0.2 (groups: gopher_quality, gopher_repetition, c4)",
    )
    g = p.add_argument_group("decontamination")
    g.add_argument(
        "--decontaminate",
        nargs="+",
        default=[],
        metavar="FILE",
        help="evaluation files (jsonl/json/parquet/txt) whose n-grams must not appear",
    )
    add_flags(g, DecontaminationConfig(), DECONTAM_FLAGS, "decontam")
    g = p.add_argument_group("exact dedup")
    add_flags(g, defaults, DEDUP_FLAGS, "text")
    add_near_dedup_group(p, nested_default(_config_class(), "near_dedup"))
    add_output_group(p, per_shard="documents")


COLUMN_FLAGS = (
    Flag("--text-col", "text_col", help="text column"),
    Flag("--id-col", "id_col", help="id column carried into metadata as `id`"),
    Flag("--url-col", "url_col", help="URL column, if any"),
)
DOCUMENT_FLAGS = (
    Flag("--max-doc-chars", "max_doc_chars", help="drop longer documents as too_long"),
    Flag("--no-fix-encoding", "fix_encoding", help="skip ftfy's mojibake and entity fixes"),
    Flag(
        "--exclude-subsets",
        "exclude_subsets",
        type=lambda text: () if text.strip().lower() in ("", "none") else comma_list(text),
        metavar="NAME,NAME",
        help="drop rows of these subsets as excluded_subset (The Pile's meta.pile_set_name; the default "
        "are the four KOSMOS-1 left out); 'none' keeps every subset",
    ),
    Flag("--subset-field", "subset_field", help="dotted path of the subset name in a row"),
)
DECONTAM_FLAGS = (Flag("--decontam-ngram", "ngram", help="n-gram length (words) for decontamination"),)
DEDUP_FLAGS = (Flag("--no-exact-dedup", "exact_dedup", help="skip exact (content hash) dedup"),)


def _config_class() -> type:
    from pipelines.text.graph import TextPipelineConfig

    return TextPipelineConfig


def _defaults() -> Any:
    return _config_class()(inputs=(), output="")


def _coerce(text: str, current: Any) -> Any:
    if text.lower() in ("off", "none", "null"):
        return None
    if isinstance(current, bool):
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"expected true/false, got {text!r}")
        return text.lower() in ("true", "1", "yes")
    if isinstance(current, int):
        return int(text)
    if isinstance(current, float) or current is None:
        return float(text)
    raise ValueError(f"cannot set a {type(current).__name__} from the command line")


def apply_quality_overrides(config: TextQualityConfig, overrides: list[str]) -> TextQualityConfig:
    """`group.field=value` overrides on the quality config; a clear error for unknown names."""
    for item in overrides:
        path, sep, value = item.partition("=")
        group, dot, name = path.partition(".")
        if not sep or not dot:
            raise UsageError(f"--quality {item!r}: expected GROUP.FIELD=VALUE")
        if group not in {f.name for f in dataclasses.fields(config)}:
            raise UsageError(f"--quality {item!r}: unknown group {group!r}")
        sub = getattr(config, group)
        if name not in {f.name for f in dataclasses.fields(sub)}:
            raise UsageError(f"--quality {item!r}: {group} has no field {name!r}")
        try:
            new_value = _coerce(value, getattr(sub, name))
        except ValueError as e:
            raise UsageError(f"--quality {item!r}: {e}") from None
        config = dataclasses.replace(config, **{group: dataclasses.replace(sub, **{name: new_value})})
    return config


def config_from_args(args: argparse.Namespace):  # -> TextPipelineConfig
    defaults = _defaults()
    quality = None if args.no_quality else apply_quality_overrides(TextQualityConfig(), args.quality)
    decontam = (
        build(DecontaminationConfig(eval_paths=tuple(args.decontaminate)), args, DECONTAM_FLAGS, "decontam")
        if args.decontaminate
        else None
    )
    return build(
        dataclasses.replace(
            defaults,
            inputs=tuple(args.input),
            output=args.output,
            language=language_config(args, defaults.language),
            quality=quality,
            decontamination=decontam,
            near_dedup=near_dedup_config(args, nested_default(_config_class(), "near_dedup")),
            samples_per_shard=args.samples_per_shard,
            drops_dir=args.drops,
        ),
        args,
        COLUMN_FLAGS + DOCUMENT_FLAGS + DEDUP_FLAGS,
        "text",
    )
