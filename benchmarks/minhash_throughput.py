"""MinHash signature throughput, docs/s on one core: ours vs datasketch vs a text-dedup-style loop.

Same documents for every method: the main text of the real pages in ../shared/data/webpages
cut into ~300-word documents (repeated to --docs), num_perm 128, word 5-grams, scheme affine32,
seed 1. Every method's time includes normalisation and shingling, and every method's signatures
are checked equal to ours before a number is printed.

    .venv/bin/python benchmarks/minhash_throughput.py [--docs 3000] [--repeat 3]

Methods:
- ours: filters.minhash.MinHasher.signatures, batches of 512 documents (as the Beam DoFn runs it).
- datasketch update loop: MinHash() per document, .update(shingle) per shingle.
- datasketch bulk: MinHash.bulk(list of shingle lists).
- text-dedup style: per document, hash each shingle once (sha1, 4 bytes), apply all permutations
  in one numpy broadcast and take the column-wise min -- text-dedup's `embed_func`, here with
  datasketch 2.0's affine32 permutations so the signatures are the same.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from datasketch import MinHash  # noqa: E402
from datasketch.minhash import _fmix  # noqa: E402

from filters.minhash import MinHashConfig, MinHasher  # noqa: E402
from filters.text_normalize import shingles  # noqa: E402

PAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "webpages"
CFG = MinHashConfig()  # 128 perms, seed 1, affine32, 5-grams


def documents(n: int, words: int = 300) -> list[str]:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    base = []
    with (PAGES / "labels.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            raw = (PAGES / row["file"]).read_bytes()
            ws = extract_plain_text(bytes_to_str(raw, detect_encoding(raw)), main_content=True).split()
            base += [" ".join(ws[i : i + words]) for i in range(0, len(ws) - words + 1, words)]
    # repeat with a distinguishing token so repeats are not identical documents
    return [f"{base[i % len(base)]} copy{i // len(base)}" for i in range(n)]


def ours(docs: list[str]) -> np.ndarray:
    h = MinHasher(CFG)
    return np.concatenate([h.signatures(docs[i : i + 512]) for i in range(0, len(docs), 512)])


def datasketch_update(docs: list[str]) -> np.ndarray:
    out = []
    for d in docs:
        m = MinHash(num_perm=CFG.num_perm, seed=CFG.seed, scheme=CFG.scheme)
        for s in shingles(d, CFG.ngram):
            m.update(s.encode("utf-8"))
        out.append(m.hashvalues)
    return np.array(out)


def datasketch_bulk(docs: list[str]) -> np.ndarray:
    mhs = MinHash.bulk(
        [[s.encode("utf-8") for s in shingles(d, CFG.ngram)] for d in docs],
        num_perm=CFG.num_perm,
        seed=CFG.seed,
        scheme=CFG.scheme,
    )
    return np.array([m.hashvalues for m in mhs])


def text_dedup_style(docs: list[str]) -> np.ndarray:
    ref = MinHash(num_perm=CFG.num_perm, seed=CFG.seed, scheme=CFG.scheme)
    a, b = ref.permutations
    out = []
    for d in docs:
        hv = np.array(
            [
                int.from_bytes(hashlib.sha1(s.encode("utf-8")).digest()[:4], "little")
                for s in shingles(d, CFG.ngram)
            ],
            dtype=np.uint32,
        )
        out.append((_fmix(hv.reshape(-1, 1), 32) * a + b).min(axis=0))
    return np.array(out)


def best_time(fn, docs: list[str], repeat: int) -> tuple[float, np.ndarray]:
    best, sigs = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        sigs = fn(docs)
        best = min(best, time.perf_counter() - t0)
    return best, sigs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=3000)
    ap.add_argument("--update-docs", type=int, default=500, help="documents for the (slow) update loop")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    docs = documents(args.docs)
    mean_words = sum(len(d.split()) for d in docs) / len(docs)
    t_ours, sig_ours = best_time(ours, docs, args.repeat)
    rows = [("ours (MinHasher.signatures, batch 512)", len(docs) / t_ours)]
    for name, fn, n in [
        ("datasketch MinHash.update loop", datasketch_update, args.update_docs),
        ("datasketch MinHash.bulk", datasketch_bulk, args.docs),
        ("text-dedup style (per-doc numpy broadcast)", text_dedup_style, args.docs),
    ]:
        t, sig = best_time(fn, docs[:n], args.repeat if n == args.docs else 1)
        assert np.array_equal(sig, sig_ours[:n]), f"{name}: signatures differ from ours"
        rows.append((name, n / t))
    print(
        f"{len(docs)} documents, {mean_words:.0f} words each on average, num_perm {CFG.num_perm}, "
        f"{CFG.ngram}-gram words, scheme {CFG.scheme}, seed {CFG.seed}; one process, best of {args.repeat}; "
        "all signatures identical\n"
    )
    print("| method | docs/s (1 core) | ours is x faster |")
    print("|---|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate:,.0f} | {rows[0][1] / rate:.2f} |")


if __name__ == "__main__":
    main()
