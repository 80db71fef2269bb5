"""Trainer data-loader throughput per CPU core, per stream, against what `kosmos1` consumes on one H100.

    .venv/bin/python benchmarks/loader_throughput.py [--seconds 20]

Builds one corpus per kind through the real `schemas` writer: text documents from real web pages
(the real web pages of tests/real_pages.py, tags stripped), image-caption pairs and interleaved documents with real
photographs from scikit-image re-encoded as ~500 px JPEGs (LAION-like sizes). Then runs one
stream's worker pipeline (shard reading, schema checks, JPEG decode, CLIP resize/crop at 224,
SentencePiece, packing, collation) in this process on one thread, at the kosmos1 shapes
(64 image slots, rows of 2048 tokens, captions of 128), and reports samples/s and tokens/s.

Demand: one optimizer step takes 0.5M text + 0.5M image-caption + 0.2M interleaved tokens. Its
model FLOPs (kosmos_train.train.metrics: 6 x params x tokens + attention, plus CLIP and connector
per image, images per token as measured here) at 40% MFU of an H100 (989 dense bf16 TFLOP/s) give
the step time, hence each stream's tokens/s on one GPU, and the cores needed to feed it.
"""

from __future__ import annotations

import argparse
import html
import io
import re
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kosmos_train.data import synthetic as S  # noqa: E402
from kosmos_train.data.corpus import SourceSpec, StreamSpec  # noqa: E402
from kosmos_train.data.stream import WorkerPipeline  # noqa: E402
from kosmos_train.model.config import kosmos1  # noqa: E402
from kosmos_train.tokenizer import train_tokenizer  # noqa: E402
from kosmos_train.train.metrics import PEAK_BF16_TFLOPS, image_flops, token_flops  # noqa: E402
from schemas.kinds import Kind  # noqa: E402
from tests import real_pages  # noqa: E402

MFU = 0.40
BUDGET = {"text": 500_000, "image_text": 500_000, "interleaved": 200_000}
ROW = {"text": 2048, "image_text": 128, "interleaved": 2048}


def page_paragraphs(folder: Path) -> list[list[str]]:
    """Paragraphs of visible text per page (scripts/styles dropped, tags stripped)."""
    pages = []
    for path in sorted(folder.glob("*.html")):
        raw = path.read_text(errors="replace")
        raw = re.sub(r"(?is)<(script|style|noscript)[^>]*>.*?</\1>", " ", raw)
        blocks = re.split(r"(?i)</?(?:p|div|h\d|li|br|tr|section|article)[^>]*>", raw)
        paras = [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", b)).split()) for b in blocks]
        paras = [p for p in paras if len(p) > 40]
        if paras:
            pages.append(paras)
    return pages


def photos(n: int) -> list:
    from pipelines.demo.photos import load_photos

    out = []
    for _, img, caption in load_photos():
        scale = 500 / max(img.size)
        out.append((img.resize((max(1, int(img.width * scale)), max(1, int(img.height * scale)))), caption))
    return [out[i % len(out)] for i in range(n)]


def build(root: Path, webpages: Path) -> dict[str, Path]:
    pages = page_paragraphs(webpages)
    if not pages:
        raise SystemExit(f"no web pages under {webpages}")
    pics = photos(64)
    docs = ["\n".join(p) for p in pages] * 3
    inter = []
    for i, paras in enumerate(pages * 2):
        nodes: list = []
        for j, p in enumerate(paras[:12]):
            nodes.append(p)
            if j % 4 == 1 and sum(not isinstance(n, str) for n in nodes) < 5:
                nodes.append(pics[(i + j) % len(pics)][0])
        inter.append(nodes)
    return {
        "text": S.write_corpus(root / "text", Kind.TEXT, S.text_samples(docs), per_shard=40),
        "image_text": S.write_corpus(
            root / "image_text", Kind.IMAGE_TEXT, S.image_text_samples(pics), per_shard=32
        ),
        "interleaved": S.write_corpus(
            root / "interleaved", Kind.INTERLEAVED, S.interleaved_samples(inter), per_shard=20
        ),
    }


def measure(kind: str, path: Path, tokenizer: Path, seconds: float) -> dict[str, float]:
    spec = StreamSpec(
        kind,
        [SourceSpec(kind, str(path))],
        tokens_per_step=BUDGET[kind],
        micro_batch_tokens=16_384,
        max_len=ROW[kind],
        shuffle_buffer=64,
    )
    pipe = WorkerPipeline(spec, str(tokenizer), 64, 224, reader_slot=0, n_reader_slots=1, seed=0, state=None)
    pipe.next_batch()  # warm-up: fills the shuffle buffer
    samples = tokens = images = rows = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        b = pipe.next_batch()
        samples += len(set(b.keys)) if kind == "text" else len(b.keys)
        rows += b.input_ids.shape[0]
        tokens += b.n_tokens
        images += b.n_images
    dt = time.perf_counter() - t0
    return {
        "samples_s": samples / dt,
        "rows_s": rows / dt,
        "tokens_s": tokens / dt,
        "images_per_token": images / tokens,
    }


def demand(images_per_token: dict[str, float]) -> tuple[float, dict[str, float]]:
    """(step seconds on one H100 at 40% MFU, tokens/s each stream must supply)."""
    cfg = kosmos1()
    flops = sum(
        BUDGET[k] * (token_flops(cfg, ROW[k]) + images_per_token[k] * image_flops(cfg)) for k in BUDGET
    )
    step_s = flops / (MFU * PEAK_BF16_TFLOPS["H100"] * 1e12)
    return step_s, {k: BUDGET[k] / step_s for k in BUDGET}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=20.0, help="measuring time per stream")
    p.add_argument("--webpages", type=Path, default=real_pages.PAGES_DIR)
    args = p.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = build(root, args.webpages)
        tok = train_tokenizer([str(v) for v in paths.values()], root / "spm.model", vocab_size=8000)
        results = {k: measure(k, v, tok.path, args.seconds) for k, v in paths.items()}
    step_s, need = demand({k: r["images_per_token"] for k, r in results.items()})
    out = io.StringIO()
    out.write(f"kosmos1 step (1.2M tokens) on one H100 at {MFU:.0%} MFU: {step_s:.1f} s\n\n")
    out.write(
        "| stream | samples/s per core | rows/s per core | tokens/s per core | one H100 needs tokens/s | cores per H100 |\n"
    )
    out.write("|---|---|---|---|---|---|\n")
    total = 0.0
    for k, r in results.items():
        cores = need[k] / r["tokens_s"]
        total += cores
        out.write(
            f"| {k} | {r['samples_s']:,.0f} | {r['rows_s']:,.1f} | {r['tokens_s']:,.0f} | {need[k]:,.0f} | {cores:.2f} |\n"
        )
    out.write(f"| all three | | | | {sum(need.values()):,.0f} | {total:.2f} |\n")
    print(out.getvalue())


if __name__ == "__main__":
    main()
