"""Near-dedup flags generated from NearDedupConfig / MinHashConfig (shared by text and interleaved)."""

from __future__ import annotations

import argparse
import dataclasses

from pipelines.common.options import Flag, UsageError, add_flags, build, optional_number
from pipelines.dedup.near import NearDedupConfig

NEAR_FLAGS = (
    Flag(
        "--threshold",
        "threshold",
        type=float,
        help="Jaccard similarity that makes two documents near-duplicates",
    ),
    Flag(
        "--bands",
        "bands",
        type=optional_number(int),
        help="LSH bands (none: datasketch's optimum; give with --rows)",
    ),
    Flag("--rows", "rows", type=optional_number(int), help="LSH rows per band (give with --bands)"),
    Flag("--no-verify", "verify", help="do not check candidate pairs by estimated Jaccard"),
    Flag(
        "--cc-rounds",
        "cc_rounds",
        help="connected-components rounds; the run fails if labels still change in the last",
    ),
)
MINHASH_FLAGS = (
    Flag("--num-perm", "num_perm", help="MinHash permutations"),
    Flag("--ngram", "ngram", help="word n-gram length of the shingles"),
)


def add_near_dedup_group(p: argparse.ArgumentParser, defaults: NearDedupConfig | None = None) -> None:
    defaults = defaults or NearDedupConfig()
    g = p.add_argument_group("near dedup (MinHash LSH)")
    g.add_argument("--no-near-dedup", action="store_true", help="skip MinHash LSH near dedup")
    add_flags(g, defaults, NEAR_FLAGS, "near")
    add_flags(g, defaults.minhash, MINHASH_FLAGS, "minhash")


def near_dedup_config(
    args: argparse.Namespace, defaults: NearDedupConfig | None = None
) -> NearDedupConfig | None:
    if args.no_near_dedup:
        return None
    if (args.near_bands is None) != (args.near_rows is None):
        raise UsageError("--bands and --rows go together")
    defaults = defaults or NearDedupConfig()
    return dataclasses.replace(
        build(defaults, args, NEAR_FLAGS, "near"),
        minhash=build(defaults.minhash, args, MINHASH_FLAGS, "minhash"),
    )
