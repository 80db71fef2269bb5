"""Near-dedup quality: precision/recall/F1 of the removed set against an exact all-pairs reference.

Labelled set: the main text of the real web pages (tests/real_pages.py) is cut into documents of
about 300 words; each gets one variant per edit rate (random word substitutions, deletions and
insertions at that rate per word; rate 0 is an exact copy). Every document has a random key, so
the original is not always the smallest. Ground truth: exact 5-gram Jaccard (same normalisation
and shingles as the pipeline) for ALL pairs; pairs with J >= 0.8 are linked, and from each
connected component all but the smallest key should be removed. Prediction: the keys dropped by
pipelines.dedup.Dedup (exact + MinHash LSH) on the DirectRunner.

    .venv/bin/python benchmarks/dedup_quality.py [--seed N] [--configs default,balanced,unverified,unverified-recall]

Prints a markdown table per configuration and the recall per edit rate.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import apache_beam as beam  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402

from filters.minhash import MinHashConfig  # noqa: E402
from filters.text_normalize import shingle_set  # noqa: E402
from pipelines.dedup import Dedup, NearDedupConfig  # noqa: E402

PAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "webpages"
EDIT_RATES = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2)
DOC_WORDS = 300
THRESHOLD = 0.8

CONFIGS = {
    "default": NearDedupConfig(),  # verified, recall-weighted banding, native MinHash scheme
    # the same with datasketch-compatible signatures (the scheme before the native one)
    "default-affine32": NearDedupConfig(minhash=MinHashConfig(scheme="affine32")),
    "balanced": NearDedupConfig(lsh_weights=(0.5, 0.5)),  # datasketch's default weights, verified
    "unverified": NearDedupConfig(verify=False),  # like datatrove: no candidate check
    "unverified-recall": NearDedupConfig(verify=False, lsh_weights=(0.1, 0.9)),
}


def page_texts() -> list[str]:
    """Main text of every page (resiliparse main-content extraction), in labels.tsv order."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    texts = []
    with (PAGES / "labels.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            raw = (PAGES / row["file"]).read_bytes()
            texts.append(extract_plain_text(bytes_to_str(raw, detect_encoding(raw)), main_content=True))
    return texts


def edit(words: list[str], rate: float, vocab: list[str], rng: random.Random) -> list[str]:
    """Random substitutions, deletions and insertions, each word edited with probability `rate`."""
    out: list[str] = []
    for w in words:
        if rng.random() >= rate:
            out.append(w)
            continue
        op = rng.randrange(3)
        if op == 0:
            out.append(rng.choice(vocab))
        elif op == 2:
            out += [w, rng.choice(vocab)]
    return out


def build_dataset(seed: int = 0) -> tuple[list[tuple[str, str]], dict[str, float]]:
    """(records, edit rate per key; originals get -1)."""
    rng = random.Random(seed)
    words_per_page = [t.split() for t in page_texts()]
    vocab = sorted({w for ws in words_per_page for w in ws})
    bases = [
        ws[i : i + DOC_WORDS] for ws in words_per_page for i in range(0, len(ws) - DOC_WORDS + 1, DOC_WORDS)
    ]
    docs: list[tuple[str, str]] = []
    rate_of: dict[str, float] = {}
    used: set[str] = set()

    def new_key() -> str:
        while True:
            k = f"{rng.getrandbits(40):010x}"
            if k not in used:
                used.add(k)
                return k

    for base in bases:
        k = new_key()
        docs.append((k, " ".join(base)))
        rate_of[k] = -1.0
        for rate in EDIT_RATES:
            k = new_key()
            docs.append((k, " ".join(edit(base, rate, vocab, rng))))
            rate_of[k] = rate
    return docs, rate_of


def true_removed(docs: list[tuple[str, str]]) -> tuple[set[str], int]:
    """Keys to remove per the exact all-pairs 5-gram Jaccard >= THRESHOLD; also the pair count."""
    ids: dict[str, int] = {}
    sets = [frozenset(ids.setdefault(s, len(ids)) for s in shingle_set(text)) for _, text in docs]
    keys = [k for k, _ in docs]
    parent = list(range(len(docs)))  # union-find: fine for a few thousand documents in one process

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    pairs = 0
    for i in range(len(docs)):
        a, la = sets[i], len(sets[i])
        for j in range(i + 1, len(docs)):
            b, lb = sets[j], len(sets[j])
            if min(la, lb) < THRESHOLD * max(la, lb):  # J <= min/max, so it cannot reach the threshold
                continue
            inter = len(a & b)
            union = la + lb - inter
            if union and inter / union >= THRESHOLD:
                pairs += 1
                parent[find(i)] = find(j)
    comps: dict[int, list[str]] = defaultdict(list)
    for i, k in enumerate(keys):
        comps[find(i)].append(k)
    removed = {k for members in comps.values() for k in sorted(members)[1:]}
    return removed, pairs


def run_dedup(docs: list[tuple[str, str]], config: NearDedupConfig) -> tuple[set[str], int, float]:
    """Dropped keys, cc_unconverged and wall seconds of Dedup on the DirectRunner."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"])) as p:
            res = p | beam.Create(docs) | Dedup(config=config)
            _ = (
                res.dropped
                | beam.Map(json.dumps)
                | "W" >> beam.io.WriteToText(f"{tmp}/dropped", num_shards=1, shard_name_template="")
            )
            _ = (
                res.cc_unconverged
                | beam.Map(str)
                | "WC" >> beam.io.WriteToText(f"{tmp}/cc", num_shards=1, shard_name_template="")
            )
        wall = time.perf_counter() - t0
        dropped = {json.loads(x)["key"] for x in Path(f"{tmp}/dropped").read_text().splitlines()}
        cc = int(Path(f"{tmp}/cc").read_text())
    return dropped, cc, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not (PAGES / "labels.tsv").is_file():
        sys.exit(f"real pages not found at {PAGES}")
    docs, rate_of = build_dataset(args.seed)
    t0 = time.perf_counter()
    truth, pairs = true_removed(docs)
    ref_s = time.perf_counter() - t0
    print(
        f"{len(docs)} documents ({len(docs) // (len(EDIT_RATES) + 1)} originals x {len(EDIT_RATES)} edit rates "
        f"+ originals), {pairs} true pairs with J >= {THRESHOLD}, {len(truth)} keys to remove "
        f"(exact all-pairs reference: {ref_s:.1f} s)\n"
    )
    print("| config | bands x rows | verify | removed | precision | recall | F1 | cc_unconverged | wall s |")
    print("|---|---|---|---|---|---|---|---|---|")
    per_rate: dict[str, dict[float, tuple[int, int]]] = {}
    for name in args.configs.split(","):
        cfg = CONFIGS[name]
        dropped, cc, wall = run_dedup(docs, cfg)
        tp = len(dropped & truth)
        precision = tp / len(dropped) if dropped else 1.0
        recall = tp / len(truth) if truth else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        lsh = cfg.lsh()
        print(
            f"| {name} (weights {cfg.weights()}) | {lsh.bands} x {lsh.rows} | {cfg.verify} | {len(dropped)} | "
            f"{precision:.3f} | {recall:.3f} | **{f1:.3f}** | {cc} | {wall:.1f} |"
        )
        per_rate[name] = {
            r: (
                sum(1 for k in truth if rate_of[k] == r and k in dropped),
                sum(1 for k in truth if rate_of[k] == r),
            )
            for r in (-1.0, *EDIT_RATES)
        }
    print(
        "\nRecall of the true removals by what the removed document is: the original or a variant edited at a rate (found / true):\n"
    )
    print("| config | original | " + " | ".join(f"{r:.1%}" for r in EDIT_RATES) + " |")
    print("|---|" + "---|" * (len(EDIT_RATES) + 1))
    for name, rates in per_rate.items():
        print(f"| {name} | " + " | ".join(f"{f}/{t}" for f, t in rates.values()) + " |")


if __name__ == "__main__":
    main()
