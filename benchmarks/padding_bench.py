"""Computed positions per real token, each stream: the trainer's packing and bucketing vs one row per item.

A micro-batch computes rows x longest row positions; real tokens are its non-pad positions (image
slots included). The trainer (kosmos_train.data) packs text and interleaved documents into full rows
and buckets captions by length, with micro-batches bounded by padded positions. The anchor, measured
on the same items in the same run, is the earlier layout: one caption / one interleaved document per
row (cut at max_len), micro-batches closing at `budget` non-pad tokens in arrival order.

Corpora: realistic synthetic length distributions (captions median ~16 tokens; interleaved documents
~600 tokens with 1-5 images; text documents of ~40-token lines), and any corpus folders given with
--data (the demo's out/demo/{text,image_text,interleaved}).

    python benchmarks/padding_bench.py [--data out/demo/text out/demo/image_text out/demo/interleaved]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kosmos_train.data import synthetic as S  # noqa: E402
from kosmos_train.data.corpus import SourceSpec, StreamSpec  # noqa: E402
from kosmos_train.data.stream import WorkerPipeline  # noqa: E402
from kosmos_train.tokenizer import Tokenizer, train_tokenizer  # noqa: E402
from kosmos_train.train.config import kosmos1  # noqa: E402
from schemas.kinds import Kind  # noqa: E402
from schemas.manifest import read_manifest  # noqa: E402

IMAGE_TOKENS = 64  # kosmos1
_LETTERS = np.random.default_rng(1).integers(0, 26, (300, 6))
WORDS = ["".join(chr(97 + c) for c in row) for row in _LETTERS]  # 300 words: one piece each after training


def _words(rng: np.random.Generator, n: int) -> str:
    return " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), max(1, n)))


def synthetic_corpora(root: Path, seed: int = 0) -> dict[str, Path]:
    """Corpora with realistic lengths (in words, about one token each with the tokenizer trained here)."""
    rng = np.random.default_rng(seed)
    pics = S.distinct_pictures(8)
    captions = [(pics[i % 8][0], _words(rng, int(rng.lognormal(np.log(16), 0.5)))) for i in range(1500)]
    docs = []
    for _ in range(400):
        n_images = int(rng.integers(1, 6))
        length = int(rng.lognormal(np.log(600), 0.6))
        paragraphs = max(n_images + 1, length // 80)
        nodes: list = []
        for p in range(paragraphs):
            nodes.append(_words(rng, length // paragraphs))
            if p < n_images:
                nodes.append(pics[p % 8][0])
        docs.append(nodes)
    texts = [
        "\n".join(
            _words(rng, int(rng.lognormal(np.log(40), 0.5)))
            for _ in range(int(rng.lognormal(np.log(20), 0.8)) + 1)
        )
        for _ in range(400)
    ]
    return {
        "text": S.write_corpus(root / "text", Kind.TEXT, S.text_samples(texts), per_shard=100),
        "image_text": S.write_corpus(
            root / "image_text", Kind.IMAGE_TEXT, S.image_text_samples(captions), per_shard=500
        ),
        "interleaved": S.write_corpus(
            root / "interleaved", Kind.INTERLEAVED, S.interleaved_samples(docs), per_shard=100
        ),
    }


def stream_spec(kind: str, path: Path) -> StreamSpec:
    recipe = kosmos1()
    return StreamSpec(
        kind,
        [SourceSpec(kind, str(path))],
        tokens_per_step=recipe.tokens_per_step[kind],
        micro_batch_tokens=recipe.micro_batch_tokens[kind],
        max_len=min(recipe.max_len.get(kind, 2048), 2048),
        shuffle_buffer=64,
    )


def trainer_ratio(spec: StreamSpec, tok: Path, batches: int) -> tuple[float, int, int]:
    """(computed / real positions, micro-batches, worst padded size) with the trainer's own pipeline."""
    pipe = WorkerPipeline(
        spec, str(tok), IMAGE_TOKENS, 32, reader_slot=0, n_reader_slots=1, seed=0, state=None
    )
    computed = real = worst = 0
    for _ in range(batches):
        b = pipe.next_batch()
        computed += b.padded_positions
        real += b.n_tokens
        worst = max(worst, b.padded_positions)
    return computed / real, batches, worst


def row_lengths(kind: str, path: Path, tok: Tokenizer, max_len: int, limit: int) -> list[int]:
    """One row per caption / document, as the earlier builders made them (cut at max_len)."""
    from kosmos_train.data.corpus import open_source
    from kosmos_train.data.sequences import IMAGE, image_text_sequence, interleaved_sequence

    shards = open_source(SourceSpec(kind, str(path)))
    v, out = tok.layout, []
    for url in shards.urls:
        for _, _, sample in shards.items(url):
            if kind == "image_text":
                ids, _ = image_text_sequence(tok.encode(sample.caption), v, IMAGE_TOKENS, max_len)
            else:
                enc = iter(tok.encode_batch([t for t in sample.texts if t is not None]))
                nodes = [IMAGE if t is None else next(enc) for t in sample.texts]
                ids, _, _ = interleaved_sequence(nodes, v, IMAGE_TOKENS, max_len)
            out.append(len(ids))
            if len(out) >= limit:
                return out
    return out


def anchor_ratio(lengths: list[int], budget: int, batches: int = 12) -> float:
    """One row per item, micro-batches closing at `budget` non-pad tokens in arrival order (the
    items repeat, as epochs do, until `batches` micro-batches are closed)."""
    computed = real = done = 0
    rows: list[int] = []
    i = 0
    while done < batches:
        rows.append(lengths[i % len(lengths)])
        i += 1
        if sum(rows) >= budget:
            computed, real, rows, done = computed + len(rows) * max(rows), real + sum(rows), [], done + 1
    return computed / real


def measure(name: str, corpora: dict[str, Path], tok_path: Path, batches: int) -> list[tuple]:
    tok = Tokenizer(tok_path)
    rows = []
    for kind, path in corpora.items():
        spec = stream_spec(kind, path)
        ratio, n, worst = trainer_ratio(spec, tok_path, batches)
        anchor = None
        if kind in ("image_text", "interleaved"):
            lengths = row_lengths(kind, path, tok, spec.max_len, 2000)
            anchor = anchor_ratio(lengths, spec.micro_batch_tokens, batches)
            median = int(np.median(lengths))
        else:
            median = None
        rows.append((name, kind, median, anchor, ratio, n, worst, spec.micro_batch_tokens))
    return rows


def main(argv: list[str] | None = None) -> list[tuple]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="*", default=[], help="corpus folders (kinds from their manifests)")
    ap.add_argument("--batches", type=int, default=12, help="micro-batches measured per stream")
    args = ap.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpora = synthetic_corpora(root)
        tok = root / "spm.model"
        train_tokenizer([str(p) for p in corpora.values()], tok, vocab_size=4000)
        results += measure("synthetic", corpora, tok, args.batches)
        if args.data:
            demo = {read_manifest(d).kind.value: Path(d) for d in args.data}
            dtok = root / "demo.model"
            train_tokenizer([str(p) for p in demo.values()], dtok, vocab_size=2000)
            results += measure("demo", demo, dtok, args.batches)
    print(
        f"{'corpus':<10} {'stream':<12} {'median row':>10} {'one row/item':>13} {'trainer':>8} {'batches':>8} {'max padded':>11}"
    )
    for name, kind, median, anchor, ratio, n, worst, budget in results:
        a = f"{anchor:.3f}" if anchor is not None else "-"
        m = str(median) if median is not None else "-"
        print(f"{name:<10} {kind:<12} {m:>10} {a:>13} {ratio:>8.3f} {n:>8} {worst:>6}/{budget}")
    return results


if __name__ == "__main__":
    main()
