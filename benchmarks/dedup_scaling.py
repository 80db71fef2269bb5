"""Dedup scaling on the DirectRunner: wall time, peak RSS and shuffle bytes per document.

Documents (~300 words) are generated inside the pipeline from their index (no big Create), from
the vocabulary of the real pages; 5% are exact copies and 10% near copies (1% of words edited)
of an earlier document. Each size runs in a fresh subprocess so its peak RSS (ru_maxrss of the
process and its children) is its own. Both should grow about linearly with the document count.

    .venv/bin/python benchmarks/dedup_scaling.py [--sizes 100000,300000,1000000] [--workers 1]
        [--previous-sizes 30000]

`--previous-sizes` also runs the record-shuffling implementation this one replaced (loaded from git
history, commit PREVIOUS below) at those sizes, as the anchor measured in the same run; its memory
grows about 10x faster, so keep its sizes small.
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
PREVIOUS = "a63625a"  # the last commit with the record-shuffling pipelines/dedup.py


def previous_dedup():
    """The record-shuffling Dedup from git history, as a module (its one moved import patched)."""
    import types

    src = subprocess.run(
        ["git", "show", f"{PREVIOUS}:pipelines/dedup.py"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.replace("from pipelines.drops import", "from pipelines.common.drops import")
    module = types.ModuleType("previous_dedup")
    sys.modules["previous_dedup"] = module
    exec(compile(src, "previous_dedup.py", "exec"), module.__dict__)  # noqa: S102 - our own history
    from filters.minhash import MinHashConfig

    # as it ran then: datasketch-compatible signatures (its band code reads only 32/64-bit affine layouts)
    config = module.NearDedupConfig(minhash=MinHashConfig(scheme="affine32"))
    return lambda: module.Dedup(config=config)


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


def run_one(n: int, workers: int, previous: bool) -> dict:
    """Run Dedup on n generated documents in this process; return counts, wall time, shuffle bytes."""
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.dedup import Dedup

    if previous:
        Dedup = previous_dedup()  # noqa: N806
    opts = ["--runner=DirectRunner", f"--direct_num_workers={workers}"]
    if workers > 1:
        opts.append("--direct_running_mode=multi_processing")
    make = MakeDoc(vocabulary())
    cpu0 = sum(
        u.ru_utime + u.ru_stime
        for u in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        p = beam.Pipeline(options=PipelineOptions(opts))
        res = p | beam.Create(range(n)) | beam.Map(make) | Dedup()
        for name, pc in [("kept", res.kept), ("dropped", res.dropped), ("cc", res.cc_unconverged)]:
            _ = (pc | f"Count{name}" >> beam.combiners.Count.Globally() if name != "cc" else pc) | (
                f"W{name}" >> beam.io.WriteToText(f"{tmp}/{name}", num_shards=1, shard_name_template="")
            )
        result = p.run()
        result.wait_until_finish()
        wall = time.perf_counter() - t0
        counts = {name: int(Path(f"{tmp}/{name}").read_text()) for name in ("kept", "dropped", "cc")}
    counters = result.metrics().query(MetricsFilter().with_name("shuffle_bytes"))["counters"]
    shuffle = sum(c.committed or c.attempted or 0 for c in counters)
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    rss = max(u.ru_maxrss for u in usage)
    cpu = sum(u.ru_utime + u.ru_stime for u in usage) - cpu0
    return {
        "n": n,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mib": rss / 1024,
        "shuffle_per_doc": shuffle / n,
        **counts,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100000,300000,1000000")
    ap.add_argument("--previous-sizes", default="", help="sizes for the previous implementation")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one size, print JSON
    ap.add_argument("--previous", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print("RESULT " + json.dumps(run_one(args.one, args.workers, args.previous)))
        return
    runs = [(int(x), True) for x in args.previous_sizes.split(",") if x]
    runs += [(int(x), False) for x in args.sizes.split(",") if x]
    rows = []
    for n, previous in runs:
        cmd = [sys.executable, __file__, "--one", str(n), "--workers", str(args.workers)]
        proc = subprocess.run(cmd + (["--previous"] if previous else []), capture_output=True, text=True)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not line:
            sys.exit(f"size {n} failed:\n{proc.stderr[-3000:]}")
        rows.append(
            {**json.loads(line[0][7:]), "impl": "previous (records shuffled)" if previous else "keys only"}
        )
        print(f"done {n}: {rows[-1]}", file=sys.stderr)
    print(
        f"DirectRunner, {args.workers} worker(s); Dedup() defaults (exact, then MinHash LSH 128 perms, "
        "14x9 bands, verified, 8 CC rounds); ~300-word documents, 5% exact + 10% near copies\n"
    )
    print(
        "| implementation | documents | wall s | CPU s | docs per CPU-s | peak RSS MiB | RSS KB/doc "
        "| shuffle B/doc | kept | dropped | cc_unconverged |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['impl']} | {r['n']:,} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['n'] / r['cpu_s']:,.0f} | "
            f"{r['peak_rss_mib']:,.0f} | {r['peak_rss_mib'] * 1024 / r['n']:.1f} | "
            f"{r['shuffle_per_doc']:,.0f} | {r['kept']:,} | {r['dropped']:,} | {r['cc']} |"
        )


if __name__ == "__main__":
    main()
