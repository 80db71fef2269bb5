"""Command-line flags of `kosmos-corpus interleaved` and their mapping onto InterleavedConfig.

Defaults come from the config dataclasses (pipelines/common/options.py generates the flags).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from pipelines.common.options import (
    Flag,
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
from pipelines.dedup.options import add_near_dedup_group, near_dedup_config

QUALITY_FLAGS = (
    Flag(
        "--min-doc-words", "min_doc_words", type=optional_number(int), help="minimum words of document text"
    ),
)
SPAM_FLAGS = (
    Flag(
        "--max-emoji-per-word",
        "max_emoji_per_word",
        type=optional_number(float),
        help="emoji per word above which a document is spam",
    ),
    Flag(
        "--max-hashtags-per-word",
        "max_hashtags_per_word",
        type=optional_number(float),
        help="hashtags per word above which a document is spam",
    ),
    Flag(
        "--max-urls-per-word",
        "max_urls_per_word",
        type=optional_number(float),
        help="URLs per word above which a document is spam",
    ),
    Flag("--max-link-char-fraction", "max_link_char_fraction", type=optional_number(float)),
)
RULE_FLAGS = (
    Flag("--max-images", "max_images"),
    Flag("--one-image-keep-fraction", "one_image_keep_fraction"),
)
RUN_FLAGS = (
    Flag("--no-url-dedup", "url_dedup", help="keep pages with an already-seen URL"),
    Flag(
        "--boilerplate-image-docs",
        "boilerplate_image_docs",
        type=optional_number(int),
        help="remove image URLs found in more than this many documents (OBELICS' rule); none = off",
    ),
    Flag(
        "--clip-min-similarity",
        "clip_min_similarity",
        help="drop images whose best paragraph CLIP cosine is lower (MMC4's rule)",
    ),
)


def _config_class() -> type:
    from pipelines.interleaved.graph import InterleavedConfig

    return InterleavedConfig


def _defaults() -> Any:
    return _config_class()(warcs=(), output="")


def add_arguments(p: argparse.ArgumentParser) -> None:
    defaults = _defaults()
    p.add_argument(
        "--warc",
        nargs="+",
        required=True,
        metavar="PATH",
        help=".warc / .warc.gz files, directories or globs (a local path or any fsspec URL); one shard each",
    )
    add_language_group(p, "documents", defaults.language)
    g = p.add_argument_group("document rules (KOSMOS-1)")
    g.add_argument(
        "--no-quality", action="store_true", help="switch off the Gopher quality and repetition rules"
    )
    add_flags(g, defaults.gopher_quality, QUALITY_FLAGS, "quality")
    add_flags(g, defaults.spam, SPAM_FLAGS, "spam")
    add_flags(g, defaults.rules, RULE_FLAGS, "rules")
    add_node_rule_flags(p.add_argument_group("paragraph rules (OBELICS node level)"), defaults.node_rules)
    add_flags(p.add_argument_group("dedup"), defaults, RUN_FLAGS[:2], "run")
    add_near_dedup_group(p, defaults.near_dedup)
    add_fetch_group(p, defaults.fetch)
    add_image_group(p, defaults.image)
    g = add_clip_group(p, enabled=False, title="CLIP alignment of images with paragraphs")
    add_flags(g, defaults, RUN_FLAGS[2:], "run")
    add_output_group(p, per_shard=None)


def add_node_rule_flags(g: argparse._ArgumentGroup, d: Any) -> None:
    """Switches and thresholds of filters.node_rules (each removes and counts paragraphs)."""
    g.add_argument("--no-node-rules", action="store_true", help="switch off the three paragraph rules below")
    g.add_argument(
        "--max-flagged-word-ratio",
        type=optional_number(float),
        default=d.flagged_words.max_ratio,
        help="adult/spam words per word above which a paragraph is removed; none = off (default %(default)s)",
    )
    g.add_argument(
        "--max-paragraph-repetition",
        type=optional_number(float),
        default=d.repetition.max_ratio,
        help="share of a paragraph's words in repeated 3-grams above which it is removed; none = off "
        "(default %(default)s)",
    )
    g.add_argument(
        "--domain-boilerplate-pages",
        type=optional_number(int),
        default=d.domain_lines.min_pages,
        help="remove paragraphs found on at least this many pages of one site; none = off (default %(default)s)",
    )


def node_rules_config(args: argparse.Namespace, d: Any) -> Any:
    off = args.no_node_rules
    return dataclasses.replace(
        d,
        flagged_words=dataclasses.replace(
            d.flagged_words,
            enabled=not off and args.max_flagged_word_ratio is not None,
            max_ratio=args.max_flagged_word_ratio if args.max_flagged_word_ratio is not None else 1.0,
        ),
        repetition=dataclasses.replace(
            d.repetition,
            enabled=not off and args.max_paragraph_repetition is not None,
            max_ratio=args.max_paragraph_repetition if args.max_paragraph_repetition is not None else 1.0,
        ),
        domain_lines=dataclasses.replace(
            d.domain_lines,
            enabled=not off and bool(args.domain_boilerplate_pages),
            min_pages=args.domain_boilerplate_pages or d.domain_lines.min_pages,
        ),
    )


def config_from_args(args: argparse.Namespace):  # -> InterleavedConfig
    defaults = _defaults()
    cfg = dataclasses.replace(
        defaults,
        warcs=tuple(args.warc),
        output=args.output,
        drops_dir=args.drops,
        language=language_config(args, defaults.language),
        gopher_quality=None
        if args.no_quality
        else build(defaults.gopher_quality, args, QUALITY_FLAGS, "quality"),
        gopher_repetition=None if args.no_quality else defaults.gopher_repetition,
        spam=build(defaults.spam, args, SPAM_FLAGS, "spam"),
        rules=build(defaults.rules, args, RULE_FLAGS, "rules"),
        near_dedup=near_dedup_config(args, defaults.near_dedup),
        fetch=fetch_config(args, defaults.fetch),
        image=image_config(args, defaults.image),
        clip=clip_config(args),
        clip_accelerator=args.clip_accelerator,
        node_rules=node_rules_config(args, defaults.node_rules),
    )
    cfg = build(cfg, args, RUN_FLAGS, "run")
    return dataclasses.replace(cfg, boilerplate_image_docs=cfg.boilerplate_image_docs or None)  # 0 = off too
