"""Dedup scaling on the DirectRunner: wall time and peak RSS for 10k / 50k / 100k documents.

Documents (~300 words) are generated inside the pipeline from their index (no big Create), from
the vocabulary of the real pages; 5% are exact copies and 10% near copies (1% of words edited)
of an earlier document. Each size runs in a fresh subprocess so its peak RSS (ru_maxrss of the
process and its children) is its own. Both should grow about linearly with the document count.

    .venv/bin/python benchmarks/dedup_scaling.py [--sizes 10000,50000,100000] [--workers 1]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "webpages"
WORDS = 300


def vocabulary() -> list[str]:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    words: set[str] = set()
    with (PAGES / "labels.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            raw = (PAGES / row["file"]).read_bytes()
            words.update(
                extract_plain_text(bytes_to_str(raw, detect_encoding(raw)), main_content=True).split()
            )
    return sorted(words)


class MakeDoc:
    """Document i, deterministic from i: fresh text, or an exact/near copy of an earlier one."""

    def __init__(self, vocab: list[str]) -> None:
        self.vocab = vocab

    def fresh(self, i: int) -> list[str]:
        rng = random.Random(i)
        return rng.choices(self.vocab, k=WORDS)

    @staticmethod
    def kind(i: int) -> tuple[float, random.Random]:
        rng = random.Random(-i - 1)
        return (rng.random() if i >= 10 else 1.0), rng

    def source(self, i: int, rng: random.Random) -> int:
        """An earlier document that is itself original (so the copy has a real twin)."""
        while True:
            j = rng.randrange(i)
            if self.kind(j)[0] >= 0.15:
                return j

    def __call__(self, i: int) -> tuple[str, str]:
        kind, rng = self.kind(i)
        if kind < 0.05:
            words = self.fresh(self.source(i, rng))
        elif kind < 0.15:
            words = self.fresh(self.source(i, rng))
            for _ in range(WORDS // 100):
                words[rng.randrange(WORDS)] = rng.choice(self.vocab)
        else:
            words = self.fresh(i)
        return f"k{i:09d}", " ".join(words)


def run_one(n: int, workers: int) -> dict:
    """Run Dedup on n generated documents in this process; return counts and wall time."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.dedup import Dedup

    opts = ["--runner=DirectRunner", f"--direct_num_workers={workers}"]
    if workers > 1:
        opts.append("--direct_running_mode=multi_processing")
    make = MakeDoc(vocabulary())
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with beam.Pipeline(options=PipelineOptions(opts)) as p:
            res = p | beam.Create(range(n)) | beam.Map(make) | Dedup()
            for name, pc in [("kept", res.kept), ("dropped", res.dropped), ("cc", res.cc_unconverged)]:
                _ = (pc | f"Count{name}" >> beam.combiners.Count.Globally() if name != "cc" else pc) | (
                    f"W{name}" >> beam.io.WriteToText(f"{tmp}/{name}", num_shards=1, shard_name_template="")
                )
        wall = time.perf_counter() - t0
        counts = {name: int(Path(f"{tmp}/{name}").read_text()) for name in ("kept", "dropped", "cc")}
    rss = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    return {"n": n, "wall_s": wall, "peak_rss_mib": rss / 1024, **counts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,50000,100000")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one size, print JSON
    args = ap.parse_args()
    if args.one:
        print("RESULT " + json.dumps(run_one(args.one, args.workers)))
        return
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        proc = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--workers", str(args.workers)],
            capture_output=True,
            text=True,
            check=False,
        )
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not line:
            sys.exit(f"size {n} failed:\n{proc.stderr[-3000:]}")
        rows.append(json.loads(line[0][7:]))
        print(f"done {n}: {rows[-1]}", file=sys.stderr)
    base = rows[0]
    print(
        f"DirectRunner, {args.workers} worker(s); Dedup() defaults (exact, then MinHash LSH 128 perms, "
        "14x9 bands, verified, 8 CC rounds); ~300-word documents, 5% exact + 10% near copies\n"
    )
    print("| documents | wall s | docs/s | wall / (n/n0) | peak RSS MiB | kept | dropped | cc_unconverged |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        scale = r["n"] / base["n"]
        print(
            f"| {r['n']:,} | {r['wall_s']:.1f} | {r['n'] / r['wall_s']:,.0f} | {r['wall_s'] / scale:.1f} | "
            f"{r['peak_rss_mib']:,.0f} | {r['kept']:,} | {r['dropped']:,} | {r['cc']} |"
        )


if __name__ == "__main__":
    main()
