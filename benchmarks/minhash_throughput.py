"""MinHash signature throughput, docs/s on one core: ours vs datasketch, rensa and a text-dedup-style loop.

Same documents for every method: the main text of the real web pages (tests/real_pages.py)
cut into ~300-word documents (repeated to --docs), num_perm 128, word 5-grams, seed 1. Every
method's time includes normalisation and shingling (text_normalize's words for all). The
datasketch-compatible methods' signatures are checked equal to ours (scheme affine32) before a
number is printed; the native scheme and rensa hash differently, so their signatures are checked
by the estimate they give: mean |estimated - exact 5-gram Jaccard| on edited document pairs.

    .venv/bin/python benchmarks/minhash_throughput.py [--docs 3000] [--repeat 3]

Methods:
- ours native: filters.minhash.MinHasher.signatures (scheme "native", the default), batches of 512.
- ours compatible: the same with scheme "affine32" (equal to datasketch's signatures).
- rensa: rensa.RMinHash (Rust) per document, fed text_normalize's shingles.
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
from tests.real_pages import PAGES_DIR as PAGES  # noqa: E402

CFG = MinHashConfig(scheme="affine32")  # 128 perms, seed 1, 5-grams: the datasketch-compatible scheme
NATIVE = MinHashConfig()  # the default scheme


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


def ours(docs: list[str], config: MinHashConfig = CFG) -> np.ndarray:
    h = MinHasher(config)
    return np.concatenate([h.signatures(docs[i : i + 512]) for i in range(0, len(docs), 512)])


def ours_native(docs: list[str]) -> np.ndarray:
    return ours(docs, NATIVE)


def rensa_rminhash(docs: list[str]) -> np.ndarray:
    from rensa import RMinHash

    out = []
    for d in docs:
        m = RMinHash(num_perm=CFG.num_perm, seed=CFG.seed)
        m.update(shingles(d, CFG.ngram))
        out.append(m.digest())
    return np.array(out, dtype=np.uint64)


def estimate_error(fn, docs: list[str], pairs: int = 200, seed: int = 0) -> float:
    """Mean |signature-estimated - exact 5-gram Jaccard| over (document, edited copy) pairs."""
    import random

    from filters.text_normalize import jaccard, shingle_set

    rng = random.Random(seed)
    errs = []
    for i in range(pairs):
        words = docs[i].split()
        rate = (0.02, 0.05, 0.1, 0.2)[i % 4]
        other = " ".join(rng.choice(words) if rng.random() < rate else w for w in words)
        sig = fn([docs[i], other])
        est = float(np.mean(sig[0] == sig[1]))
        errs.append(abs(est - jaccard(shingle_set(docs[i]), shingle_set(other))))
    return float(np.mean(errs))


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
    ours_native(docs[:10])  # compile / load the cached kernel and build the code-point table
    t_ours, sig_ours = best_time(ours, docs, args.repeat)
    t_native, _ = best_time(ours_native, docs, args.repeat)
    t_bulk, _ = best_time(datasketch_bulk, docs, args.repeat)
    rows = [
        ("ours native (default scheme, batch 512)", len(docs) / t_native, estimate_error(ours_native, docs)),
        ("ours compatible (affine32, batch 512)", len(docs) / t_ours, estimate_error(ours, docs)),
        ("datasketch MinHash.bulk", len(docs) / t_bulk, None),
    ]
    for name, fn, n in [
        ("datasketch MinHash.update loop", datasketch_update, args.update_docs),
        ("text-dedup style (per-doc numpy broadcast)", text_dedup_style, args.docs),
    ]:
        t, sig = best_time(fn, docs[:n], args.repeat if n == args.docs else 1)
        assert np.array_equal(sig, sig_ours[:n]), f"{name}: signatures differ from ours"
        rows.append((name, n / t, None))
    t_rensa, _ = best_time(rensa_rminhash, docs, args.repeat)
    rows.append(
        ("rensa RMinHash (Rust), Python shingles", len(docs) / t_rensa, estimate_error(rensa_rminhash, docs))
    )
    assert np.array_equal(datasketch_bulk(docs[:50]), sig_ours[:50])
    print(
        f"{len(docs)} documents, {mean_words:.0f} words each on average, num_perm {CFG.num_perm}, "
        f"{CFG.ngram}-gram words, seed {CFG.seed}; one process, best of {args.repeat}; datasketch-compatible "
        "signatures identical to datasketch's\n"
    )
    bulk = rows[2][1]
    print("| method | docs/s (1 core) | x datasketch bulk | mean abs Jaccard estimate error |")
    print("|---|---|---|---|")
    for name, rate, err in rows:
        print(f"| {name} | {rate:,.0f} | {rate / bulk:.2f} | {'' if err is None else f'{err:.3f}'} |")


if __name__ == "__main__":
    main()
