"""Command-line flags of `kosmos-corpus interleaved` and their mapping onto InterleavedConfig."""

from __future__ import annotations

import argparse

from filters.clip_score import ClipConfig
from filters.image import ImageConfig
from filters.interleaved_rules import DocumentRulesConfig, SpamConfig
from filters.langid import LanguageConfig
from filters.minhash import MinHashConfig
from filters.text_quality import GopherQualityConfig, GopherRepetitionConfig
from pipelines.dedup import NearDedupConfig
from pipelines.io.fetch import FetchConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--warc",
        nargs="+",
        required=True,
        metavar="PATH",
        help=".warc / .warc.gz files, directories or globs (local or any Beam filesystem: gs://, s3://)",
    )
    p.add_argument("--output", required=True, metavar="DIR", help="corpus directory; one shard per WARC file")
    p.add_argument(
        "--drops",
        metavar="DIR",
        default=None,
        help="write every dropped page (key, url, reason, ...) as Parquet here",
    )
    g = p.add_argument_group("document rules (KOSMOS-1)")
    g.add_argument("--languages", default="en", help="accepted fastText codes, comma-separated (default en)")
    g.add_argument("--lang-threshold", type=float, default=0.65)
    g.add_argument("--no-language", action="store_true")
    g.add_argument(
        "--min-words", type=int, default=10, help="minimum words of document text (default 10, OBELICS')"
    )
    g.add_argument(
        "--no-quality", action="store_true", help="switch off the Gopher quality and repetition rules"
    )
    g.add_argument("--max-emoji-per-word", type=float, default=0.1)
    g.add_argument("--max-hashtags-per-word", type=float, default=0.1)
    g.add_argument("--max-urls-per-word", type=float, default=0.1)
    g.add_argument(
        "--max-link-char-fraction",
        type=float,
        default=0.5,
        help="largest share of document text inside links",
    )
    g.add_argument(
        "--max-images", type=int, default=5, help="images kept per document, first in order (default 5)"
    )
    g.add_argument(
        "--one-image-keep-fraction",
        type=float,
        default=0.5,
        help="share of one-image documents kept (default 0.5)",
    )
    g = p.add_argument_group("dedup")
    g.add_argument("--no-url-dedup", action="store_true")
    g.add_argument("--no-near-dedup", action="store_true")
    g.add_argument(
        "--threshold", type=float, default=0.8, help="near-duplicate Jaccard threshold (default 0.8)"
    )
    g.add_argument("--cc-rounds", type=int, default=8)
    g.add_argument(
        "--boilerplate-image-docs",
        type=int,
        default=10,
        help="remove image URLs found in more than this many documents (default 10, OBELICS'); 0 = off",
    )
    g = p.add_argument_group("images")
    g.add_argument(
        "--min-image-size", type=int, default=64, help="minimum shorter side in px (default 64, KOSMOS-1)"
    )
    g.add_argument("--image-size", type=int, default=256, help="stored shorter side (default 256)")
    g.add_argument("--timeout", type=float, default=10.0)
    g.add_argument("--retries", type=int, default=2)
    g.add_argument("--no-robots", action="store_true")
    g.add_argument("--allow-private-network", action="store_true", help="tests and local demos only")
    g = p.add_argument_group("CLIP alignment (off by default)")
    g.add_argument(
        "--clip-model",
        default="none",
        help="open_clip architecture to align images with paragraphs (default none)",
    )
    g.add_argument("--clip-pretrained", default="openai")
    g.add_argument(
        "--clip-min-similarity",
        type=float,
        default=0.15,
        help="drop images whose best paragraph cosine is lower (MMC4: 0.15)",
    )
    g.add_argument(
        "--clip-accelerator",
        default=None,
        metavar="SPEC",
        help="Beam accelerator hint for the download + CLIP step only, e.g. 'type:nvidia-l4;count:1;install-nvidia-driver'",
    )
    p.add_argument("--verbose", "-v", action="store_true")


def config_from_args(args: argparse.Namespace):  # -> InterleavedConfig
    from pipelines.interleaved.graph import InterleavedConfig

    languages = tuple(c.strip() for c in args.languages.split(",") if c.strip())
    clip = (
        None
        if args.clip_model.lower() == "none"
        else ClipConfig(model=args.clip_model, pretrained=args.clip_pretrained)
    )
    return InterleavedConfig(
        warcs=tuple(args.warc),
        output=args.output,
        drops_dir=args.drops,
        language=None
        if args.no_language
        else LanguageConfig(languages=languages, threshold=args.lang_threshold),
        gopher_quality=None if args.no_quality else GopherQualityConfig(min_doc_words=args.min_words),
        gopher_repetition=None if args.no_quality else GopherRepetitionConfig(),
        spam=SpamConfig(
            max_emoji_per_word=args.max_emoji_per_word,
            max_hashtags_per_word=args.max_hashtags_per_word,
            max_urls_per_word=args.max_urls_per_word,
            max_link_char_fraction=args.max_link_char_fraction,
        ),
        rules=DocumentRulesConfig(
            max_images=args.max_images, one_image_keep_fraction=args.one_image_keep_fraction
        ),
        url_dedup=not args.no_url_dedup,
        near_dedup=None
        if args.no_near_dedup
        else NearDedupConfig(minhash=MinHashConfig(), threshold=args.threshold, cc_rounds=args.cc_rounds),
        boilerplate_image_docs=args.boilerplate_image_docs or None,
        fetch=FetchConfig(
            timeout=args.timeout,
            retries=args.retries,
            respect_robots_txt=not args.no_robots,
            allow_private_network=args.allow_private_network,
        ),
        image=ImageConfig(min_side=args.min_image_size, image_size=args.image_size),
        clip=clip,
        clip_min_similarity=args.clip_min_similarity,
        clip_accelerator=args.clip_accelerator,
    )
