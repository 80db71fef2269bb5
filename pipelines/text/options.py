"""Command-line flags of `kosmos-corpus text` and their mapping onto TextPipelineConfig.

Beam-free and import-light so `--help` is instant.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from filters.decontamination import DecontaminationConfig
from filters.langid import LanguageConfig
from filters.minhash import MinHashConfig
from filters.text_quality import TextQualityConfig
from pipelines.dedup import NearDedupConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--input",
        nargs="+",
        required=True,
        metavar="PATH",
        help="files, directories or globs: .jsonl/.json/.ndjson, .parquet, .csv/.tsv, .txt (one document per file), optionally .gz",
    )
    p.add_argument(
        "--output", required=True, metavar="DIR", help="corpus directory (local or any Beam/fsspec URL)"
    )
    p.add_argument(
        "--drops",
        metavar="DIR",
        default=None,
        help="write every dropped record (key, id, url, reason, detail, duplicate_of, stage) as Parquet here",
    )
    p.add_argument("--text-col", default="text", help="text column (default: text)")
    p.add_argument("--id-col", default="id", help="id column carried into metadata as `id` (default: id)")
    p.add_argument("--url-col", default="url", help="URL column, if any (default: url)")
    p.add_argument(
        "--max-doc-chars",
        type=int,
        default=1_000_000,
        help="drop longer documents as too_long (default 1,000,000)",
    )
    p.add_argument("--no-fix-encoding", action="store_true", help="skip ftfy's mojibake and entity fixes")
    p.add_argument(
        "--languages", default="en", help="accepted fastText lid.176 codes, comma-separated (default: en)"
    )
    p.add_argument(
        "--lang-threshold",
        type=float,
        default=0.65,
        help="minimum language score (default 0.65, datatrove's)",
    )
    p.add_argument("--no-language", action="store_true", help="keep every language")
    p.add_argument("--no-quality", action="store_true", help="switch off all quality rules")
    p.add_argument(
        "--quality",
        action="append",
        default=[],
        metavar="GROUP.FIELD=VALUE",
        help="override one quality rule, e.g. gopher_quality.min_stop_words=off, c4.enabled=false, "
        "gopher_repetition.dup_line_frac=0.2 (groups: gopher_quality, gopher_repetition, c4)",
    )
    p.add_argument(
        "--decontaminate",
        nargs="+",
        default=[],
        metavar="FILE",
        help="evaluation files (jsonl/json/parquet/txt) whose n-grams must not appear",
    )
    p.add_argument(
        "--decontam-ngram", type=int, default=13, help="n-gram length for decontamination (default 13 words)"
    )
    p.add_argument("--no-exact-dedup", action="store_true", help="skip exact (content hash) dedup")
    p.add_argument("--no-near-dedup", action="store_true", help="skip MinHash LSH near dedup")
    p.add_argument(
        "--threshold", type=float, default=0.8, help="Jaccard threshold for near-duplicates (default 0.8)"
    )
    p.add_argument("--num-perm", type=int, default=128, help="MinHash permutations (default 128)")
    p.add_argument("--ngram", type=int, default=5, help="word n-gram shingles (default 5)")
    p.add_argument(
        "--bands",
        type=int,
        default=None,
        help="LSH bands (default: datasketch's optimum for threshold and num-perm)",
    )
    p.add_argument("--rows", type=int, default=None, help="LSH rows per band (give with --bands)")
    p.add_argument(
        "--no-verify", action="store_true", help="do not check candidate pairs by estimated Jaccard"
    )
    p.add_argument(
        "--cc-rounds",
        type=int,
        default=8,
        help="connected-components rounds; the run fails if labels still change in the last (default 8)",
    )
    p.add_argument(
        "--samples-per-shard", type=int, default=10_000, help="documents per shard (default 10,000)"
    )
    p.add_argument("--verbose", "-v", action="store_true", help="log progress")


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
            raise SystemExit(f"--quality {item!r}: expected GROUP.FIELD=VALUE")
        if group not in {f.name for f in dataclasses.fields(config)}:
            raise SystemExit(f"--quality {item!r}: unknown group {group!r}")
        sub = getattr(config, group)
        if name not in {f.name for f in dataclasses.fields(sub)}:
            raise SystemExit(f"--quality {item!r}: {group} has no field {name!r}")
        try:
            new_value = _coerce(value, getattr(sub, name))
        except ValueError as e:
            raise SystemExit(f"--quality {item!r}: {e}") from None
        config = dataclasses.replace(config, **{group: dataclasses.replace(sub, **{name: new_value})})
    return config


def config_from_args(args: argparse.Namespace):  # -> TextPipelineConfig (import kept lazy for --help)
    from pipelines.text.graph import TextPipelineConfig

    if (args.bands is None) != (args.rows is None):
        raise SystemExit("--bands and --rows go together")
    language = (
        None
        if args.no_language
        else LanguageConfig(
            languages=tuple(code.strip() for code in args.languages.split(",") if code.strip()),
            threshold=args.lang_threshold,
        )
    )
    quality = None if args.no_quality else apply_quality_overrides(TextQualityConfig(), args.quality)
    decontam = (
        DecontaminationConfig(eval_paths=tuple(args.decontaminate), ngram=args.decontam_ngram)
        if args.decontaminate
        else None
    )
    near = (
        None
        if args.no_near_dedup
        else NearDedupConfig(
            minhash=MinHashConfig(num_perm=args.num_perm, ngram=args.ngram),
            threshold=args.threshold,
            bands=args.bands,
            rows=args.rows,
            verify=not args.no_verify,
            cc_rounds=args.cc_rounds,
        )
    )
    return TextPipelineConfig(
        inputs=tuple(args.input),
        output=args.output,
        text_col=args.text_col,
        id_col=args.id_col,
        url_col=args.url_col,
        fix_encoding=not args.no_fix_encoding,
        max_doc_chars=args.max_doc_chars,
        language=language,
        quality=quality,
        decontamination=decontam,
        exact_dedup=not args.no_exact_dedup,
        near_dedup=near,
        samples_per_shard=args.samples_per_shard,
        drops_dir=args.drops,
    )
