"""Command-line flags of `kosmos-corpus image-text` and their mapping onto ImageTextConfig."""

from __future__ import annotations

import argparse

from filters.caption import CaptionConfig
from filters.clip_score import ClipConfig
from filters.image import ImageConfig
from pipelines.io.fetch import FetchConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--warc",
        nargs="+",
        default=[],
        metavar="PATH",
        help="WARC files: their (image URL, alt text) pairs are the input (LAION's recipe); with or instead of --input",
    )
    p.add_argument(
        "--input",
        nargs="+",
        default=[],
        metavar="PATH",
        help="URL lists: .parquet, .csv, .tsv, .jsonl, .txt (one URL per line), optionally .gz; files, directories or globs",
    )
    p.add_argument(
        "--output", required=True, metavar="DIR", help="corpus directory (local or any Beam/fsspec URL)"
    )
    p.add_argument(
        "--drops",
        metavar="DIR",
        default=None,
        help="write every dropped row (key, id, url, reason, detail, duplicate_of, stage) as Parquet here",
    )
    p.add_argument("--url-col", default="url", help="URL column (default: url)")
    p.add_argument("--caption-col", default="caption", help="caption column (default: caption)")
    p.add_argument("--id-col", default="id", help="id column carried into metadata as `id` (default: id)")
    p.add_argument(
        "--samples-per-shard",
        type=int,
        default=10_000,
        help="input rows per shard (default 10,000, img2dataset's)",
    )
    g = p.add_argument_group("fetching")
    g.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per request (default 10, img2dataset's)"
    )
    g.add_argument("--retries", type=int, default=2, help="retries on 429/5xx/connection errors (default 2)")
    g.add_argument("--max-per-host", type=int, default=8, help="concurrent requests per host (default 8)")
    g.add_argument("--concurrency", type=int, default=64, help="concurrent requests per worker (default 64)")
    g.add_argument(
        "--fetch-batch",
        type=int,
        default=256,
        help="URLs fetched per round in a shard (bounds memory; default 256)",
    )
    g.add_argument("--max-bytes", type=int, default=32 * 1024 * 1024, help="largest body (default 32 MiB)")
    g.add_argument(
        "--no-robots", action="store_true", help="do not read robots.txt (X-Robots-Tag opt-outs still apply)"
    )
    g.add_argument(
        "--allow-private-network",
        action="store_true",
        help="allow private, loopback and link-local addresses (tests and local demos only)",
    )
    g = p.add_argument_group("images")
    g.add_argument(
        "--min-image-size", type=int, default=64, help="minimum shorter side in px (default 64, KOSMOS-1)"
    )
    g.add_argument(
        "--max-aspect-ratio", type=float, default=None, help="maximum long/short side ratio (default: off)"
    )
    g.add_argument(
        "--resize-mode",
        default="keep_ratio",
        choices=["no", "keep_ratio", "keep_ratio_largest", "center_crop", "border"],
    )
    g.add_argument("--image-size", type=int, default=256, help="target size for resizing (default 256)")
    g.add_argument("--encode-format", default="jpg", choices=["jpg", "png", "webp"])
    g.add_argument("--encode-quality", type=int, default=95)
    g = p.add_argument_group("captions")
    g.add_argument("--min-words", type=int, default=3, help="minimum caption words (default 3)")
    g.add_argument(
        "--languages",
        default="en",
        help="accepted caption languages, comma-separated; 'any' switches the filter off (default en)",
    )
    g.add_argument("--lang-threshold", type=float, default=0.65)
    g = p.add_argument_group("CLIP")
    g.add_argument(
        "--clip-model",
        default="ViT-B-32",
        help="open_clip architecture, or 'none' to skip scoring (default ViT-B-32)",
    )
    g.add_argument(
        "--clip-pretrained",
        default="openai",
        help="pretrained tag or local checkpoint path (default openai; ignored for local-dir:/hf-hub: models)",
    )
    g.add_argument(
        "--clip-model-config",
        default=None,
        metavar="JSON",
        help="open_clip model config to register first, for an architecture open_clip lacks",
    )
    g.add_argument(
        "--clip-threshold",
        type=_float_or_none,
        default=0.28,
        help="keep pairs with cosine >= this (default 0.28, LAION-2B-en for ViT-B-32); 'none' for no threshold",
    )
    g.add_argument(
        "--clip-top-fraction",
        type=float,
        default=None,
        help="keep only this top fraction of the corpus by score (DataComp: 0.3)",
    )
    g.add_argument("--clip-batch-size", type=int, default=128)
    g.add_argument("--clip-device", default="auto")
    g.add_argument(
        "--clip-accelerator",
        default=None,
        metavar="SPEC",
        help="Beam accelerator hint for the download + CLIP step only, e.g. 'type:nvidia-l4;count:1;install-nvidia-driver' (Dataflow right fitting)",
    )
    g = p.add_argument_group("dedup")
    g.add_argument("--no-url-dedup", action="store_true", help="keep rows with an already-seen URL")
    g.add_argument("--no-image-dedup", action="store_true", help="keep images with an already-seen sha256")
    g.add_argument(
        "--phash-distance",
        type=int,
        default=None,
        help="also drop near-duplicate images within this many pHash bits of a smaller key (off by default; e.g. 4)",
    )
    p.add_argument("--verbose", "-v", action="store_true", help="log Beam's progress too")


def _float_or_none(text: str) -> float | None:
    return None if text.strip().lower() in ("none", "off") else float(text)


def config_from_args(args: argparse.Namespace):  # -> ImageTextConfig (kept lazy for --help)
    from pipelines.image_text.graph import ImageTextConfig

    languages = (
        ()
        if args.languages.strip().lower() == "any"
        else tuple(c.strip() for c in args.languages.split(",") if c.strip())
    )
    clip = None
    if args.clip_model.lower() != "none":
        self_contained = args.clip_model.startswith(("local-dir:", "hf-hub:"))  # weights come with the model
        clip = ClipConfig(
            model=args.clip_model,
            pretrained=None if self_contained else args.clip_pretrained,
            model_config=args.clip_model_config,
            batch_size=args.clip_batch_size,
            device=args.clip_device,
        )
    if not args.input and not args.warc:
        raise SystemExit("kosmos-corpus image-text: give --input URL lists and/or --warc files")
    return ImageTextConfig(
        inputs=tuple(args.input),
        warcs=tuple(args.warc),
        output=args.output,
        url_col=args.url_col,
        caption_col=args.caption_col,
        id_col=args.id_col or None,
        fetch=FetchConfig(
            timeout=args.timeout,
            retries=args.retries,
            max_per_host=args.max_per_host,
            max_concurrency=args.concurrency,
            max_bytes=args.max_bytes,
            respect_robots_txt=not args.no_robots,
            allow_private_network=args.allow_private_network,
        ),
        image=ImageConfig(
            min_side=args.min_image_size,
            max_aspect_ratio=args.max_aspect_ratio,
            resize_mode=args.resize_mode,
            image_size=args.image_size,
            encode_format=args.encode_format,
            encode_quality=args.encode_quality,
        ),
        caption=CaptionConfig(
            min_words=args.min_words, languages=languages, language_threshold=args.lang_threshold
        ),
        clip=clip,
        clip_threshold=args.clip_threshold,
        clip_top_fraction=args.clip_top_fraction,
        dedup_urls=not args.no_url_dedup,
        dedup_images=not args.no_image_dedup,
        phash_distance=args.phash_distance,
        clip_accelerator=args.clip_accelerator,
        samples_per_shard=args.samples_per_shard,
        fetch_batch=args.fetch_batch,
        drops_dir=args.drops,
    )
