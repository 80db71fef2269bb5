"""Command-line flags of `kosmos-corpus image-text` and their mapping onto ImageTextConfig.

Defaults come from the config dataclasses (pipelines/common/options.py generates the flags).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from filters.caption import CaptionConfig
from filters.langid import LanguageConfig
from pipelines.common.options import (
    Flag,
    UsageError,
    add_clip_group,
    add_fetch_group,
    add_flags,
    add_image_group,
    add_language_group,
    add_output_group,
    build,
    clip_config,
    fetch_config,
    image_config,
    language_config,
    optional_number,
)

COLUMN_FLAGS = (
    Flag("--url-col", "url_col", help="URL column"),
    Flag("--caption-col", "caption_col", help="caption column"),
    Flag("--id-col", "id_col", type=str, help="id column carried into metadata as `id`"),
)
REINGEST_FLAGS = (
    Flag(
        "--reencode",
        "reencode",
        choices=("never", "needed", "always"),
        help="store downloaded/carried image bytes as they are: never re-encode (any JPEG/PNG/WebP), only when "
        "needed (the image does not already meet the size and format rules), or always",
    ),
    Flag(
        "--verify-hash",
        "verify_hash",
        type=str,
        metavar="COLUMN[:TYPE]",
        help="column of expected hashes of the downloaded bytes (img2dataset's verify_hash; TYPE default "
        "sha256); a mismatch is a hash_mismatch drop",
    ),
)
CAPTION_FLAGS = (
    Flag("--min-caption-words", "min_words", help="drop captions with fewer words"),
    Flag("--max-caption-words", "max_words", type=optional_number(int)),
)
RUN_FLAGS = (
    Flag("--fetch-batch", "fetch_batch", help="URLs fetched per round in a shard (bounds memory)"),
    Flag(
        "--clip-threshold",
        "clip_threshold",
        type=optional_number(float),
        help="keep pairs with CLIP cosine >= this (LAION-2B-en's rule for ViT-B-32); 'none' for no threshold",
    ),
    Flag(
        "--clip-top-fraction",
        "clip_top_fraction",
        type=optional_number(float),
        help="keep only this top fraction of the corpus by CLIP score (DataComp: 0.3)",
    ),
    Flag("--no-url-dedup", "dedup_urls", help="keep rows with an already-seen URL"),
    Flag("--no-image-dedup", "dedup_images", help="keep images with an already-seen sha256"),
    Flag(
        "--phash-distance",
        "phash_distance",
        type=optional_number(int),
        help="also drop near-duplicate images within this many pHash bits of a smaller key (e.g. 4)",
    ),
)


def _config_class() -> type:
    from pipelines.image_text.graph import ImageTextConfig

    return ImageTextConfig


def _defaults() -> Any:
    return _config_class()(inputs=(), output="")


def add_arguments(p: argparse.ArgumentParser) -> None:
    defaults = _defaults()
    p.add_argument(
        "--warc",
        nargs="+",
        default=[],
        metavar="PATH",
        help="WARC files: their (image URL, alt text) pairs are the input (LAION's recipe); "
        "with or instead of --input",
    )
    p.add_argument(
        "--input",
        nargs="+",
        default=[],
        metavar="PATH",
        help="URL lists: .parquet, .csv, .tsv, .jsonl, .json (array), .txt (one URL per line), "
        "optionally .gz; files, directories or globs",
    )
    add_flags(p.add_argument_group("columns"), defaults, COLUMN_FLAGS, "run")
    add_flags(p.add_argument_group("img2dataset / LAION / DataComp inputs"), defaults, REINGEST_FLAGS, "run")
    add_fetch_group(p, defaults.fetch)
    add_image_group(p, defaults.image)
    add_flags(p.add_argument_group("captions"), defaults.caption, CAPTION_FLAGS, "caption")
    add_language_group(p, "captions", _caption_language(defaults.caption))
    g = add_clip_group(p, enabled=True)
    add_flags(g, defaults, RUN_FLAGS[1:3], "run")
    add_flags(p.add_argument_group("dedup"), defaults, RUN_FLAGS[3:], "run")
    add_flags(p.add_argument_group("fetching"), defaults, RUN_FLAGS[:1], "run")
    add_output_group(p, per_shard="input rows (img2dataset's number_sample_per_shard)")


def _caption_language(caption: CaptionConfig) -> LanguageConfig:
    return LanguageConfig(languages=caption.languages, threshold=caption.language_threshold)


def config_from_args(args: argparse.Namespace):  # -> ImageTextConfig
    if not args.input and not args.warc:
        raise UsageError("give --input URL lists and/or --warc files")
    defaults = _defaults()
    language = language_config(args, _caption_language(defaults.caption))
    caption = build(defaults.caption, args, CAPTION_FLAGS, "caption")
    caption = dataclasses.replace(
        caption,
        languages=language.languages if language else (),
        language_threshold=language.threshold if language else caption.language_threshold,
    )
    cfg = dataclasses.replace(
        defaults,
        inputs=tuple(args.input),
        warcs=tuple(args.warc),
        output=args.output,
        fetch=fetch_config(args, defaults.fetch),
        image=image_config(args, defaults.image),
        caption=caption,
        clip=clip_config(args),
        clip_accelerator=args.clip_accelerator,
        samples_per_shard=args.samples_per_shard,
        drops_dir=args.drops,
    )
    cfg = build(cfg, args, COLUMN_FLAGS + RUN_FLAGS + REINGEST_FLAGS, "run")
    return dataclasses.replace(cfg, id_col=cfg.id_col or None)
