"""Per-stream perplexity on held-out corpora (any corpus folder, or an instruction .jsonl).

Captions and instruction rows are built by the training builders themselves
(`kosmos_train.data.builders`, one item -> one row): `<s> <image> slots </image> caption </s>`,
instruction rows with the loss on the output; a sample whose image does not decode is skipped and
counted (`skipped/KIND`). Documents (text, interleaved) are cut into the same units as training
(`line </line>` units; interleaved documents with up to 5 images) but scored one document per row
group, where the training packers fill rows across documents: every held-out token is scored with
its own document as context, and the score does not depend on the order of the documents.
Perplexity per kind = exp(summed NLL / loss tokens) over all of that kind's sources.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from kosmos_train.data.builders import BUILDERS, IMAGE_ERRORS
from kosmos_train.data.corpus import INSTRUCTION
from kosmos_train.data.images import load_image, normalize
from kosmos_train.data.sequences import IMAGE, Example, interleaved_sequence, text_loss, text_units
from kosmos_train.data.sources import Item, SkipLog
from kosmos_train.eval.report import TaskResult
from kosmos_train.model.architecture.kosmos import image_slot_mask
from kosmos_train.tokenizer import Tokenizer


def source_kind(path: str | Path) -> str:
    if str(path).endswith(".jsonl"):
        return INSTRUCTION
    from schemas.manifest import read_manifest

    return read_manifest(str(path)).kind.value


def _pack(units: list[list[int]], max_len: int) -> Iterator[list[int]]:
    row: list[int] = []
    for unit in units:
        if row and len(row) + len(unit) > max_len:
            yield row
            row = []
        row += unit
    if row:
        yield row


def _items(path: str | Path, kind: str, limit: int | None) -> Iterator[Item]:
    """The source's samples as the training readers hand them to a builder (in file order)."""
    if kind == INSTRUCTION:
        lines = [x for x in Path(path).read_text(encoding="utf-8").splitlines() if x.strip()]
        for n, line in enumerate(lines[:limit]):
            yield Item((0, 0, n), str(path), f"line{n + 1}", json.loads(line))
        return
    from schemas.reader import iter_corpus

    for n, sample in enumerate(iter_corpus(str(path))):
        if limit is not None and n >= limit:
            return
        yield Item((0, 0, n), str(path), sample.key, sample)


def examples(
    path: str | Path,
    tok: Tokenizer,
    image_tokens: int,
    image_size: int,
    max_len: int,
    max_images: int = 5,
    limit: int | None = None,
    skips: SkipLog | None = None,
) -> Iterator[Example]:
    """Scored rows of one held-out source; `limit` samples at most; undecodable ones go to `skips`."""
    v = tok.layout
    kind = source_kind(path)
    skips = skips or SkipLog(kind)
    builder = BUILDERS[kind](tok, max_len, image_tokens, image_size, skips, max_images)
    for item in _items(path, kind, limit):
        if kind == "text":
            lines = [line for line in item.sample.text.splitlines() if line.strip()]
            for row in _pack(text_units(tok.encode_batch(lines), v, max_len), max_len):
                yield Example(row, text_loss(row, v), keys=[item.key])
        elif kind == "interleaved":
            texts = [t for t in item.sample.texts if t is not None]
            encoded = iter(tok.encode_batch(texts))
            nodes = [IMAGE if t is None else next(encoded) for t in item.sample.texts]
            ids, loss, used = interleaved_sequence(nodes, v, image_tokens, max_len, max_images)
            stored = item.sample.stored_images
            try:
                pixels = [load_image(stored[i].data, image_size) for i in used]
            except IMAGE_ERRORS as e:
                skips.report(item.url, item.key, f"an image does not decode: {type(e).__name__}: {e}")
                continue
            yield Example(ids, loss, pixels, [item.key])
        else:
            row = builder.example(item)  # type: ignore[attr-defined]
            if row is not None:
                yield row


@torch.no_grad()
def batch_nll(model: Any, rows: Sequence[Example]) -> list[tuple[float, int]]:
    """(summed NLL, loss tokens) of each row; rows are right-padded into one batch."""
    p = next(model.parameters())
    pad, n_slots = model.vocab.pad, model.config.connector.image_tokens
    longest = max(len(r.ids) for r in rows)
    ids = torch.tensor([r.ids + [pad] * (longest - len(r.ids)) for r in rows], device=p.device)
    loss = torch.tensor([r.loss + [False] * (longest - len(r.loss)) for r in rows], device=p.device)
    pixels = [torch.from_numpy(im) for r in rows for im in r.images]
    images = normalize(torch.stack(pixels).to(p.device), p.dtype) if pixels else None
    slots = image_slot_mask(ids, model.vocab.image, n_slots)
    h = model.hidden(ids, images, slots)
    logp = model.decoder.logits(h[:, :-1]).float()
    nll = F.cross_entropy(logp.transpose(1, 2), ids[:, 1:], reduction="none") * loss[:, 1:]
    return [(float(a), int(b)) for a, b in zip(nll.sum(-1), loss[:, 1:].sum(-1), strict=True)]


def stream_max_len(run_dir: str | Path | None, kind: str, model_max: int) -> int:
    """The training max_len of the stream (RUN/train_config.json), capped by the model's."""
    cfg = Path(run_dir) / "train_config.json" if run_dir else None
    if cfg is not None and cfg.is_file():
        return min(int(json.loads(cfg.read_text()).get("max_len", {}).get(kind, model_max)), model_max)
    return model_max


def run_perplexity(
    model: Any,
    tok: Tokenizer,
    paths: Sequence[str | Path],
    run_dir: str | Path | None = None,
    batch_size: int = 8,
    limit: int | None = None,
) -> TaskResult:
    cfg = model.config
    image_size = cfg.vision.image_size if cfg.vision else 224
    totals: dict[str, list[float]] = {}
    skipped: dict[str, int] = {}
    predictions = []
    was_training = model.training
    model.eval()
    try:
        for path in paths:
            kind = source_kind(path)
            max_len = stream_max_len(run_dir, kind, cfg.decoder.max_len)
            if kind in ("image_text", "interleaved") and cfg.vision is None:
                raise ValueError(f"{path}: {kind} data needs a model with a vision tower")
            skips = SkipLog(kind)
            rows = list(
                examples(path, tok, cfg.connector.image_tokens, image_size, max_len, limit=limit, skips=skips)
            )
            if skips.count:
                skipped[kind] = skipped.get(kind, 0) + skips.count
            for start in range(0, len(rows), batch_size):
                chunk = rows[start : start + batch_size]
                for row, (nll, n) in zip(chunk, batch_nll(model, chunk), strict=True):
                    t = totals.setdefault(kind, [0.0, 0])
                    t[0] += nll
                    t[1] += n
                    predictions.append(
                        {
                            "source": str(path),
                            "kind": kind,
                            "key": row.keys[0],
                            "tokens": n,
                            "nll": round(nll, 4),
                        }
                    )
    finally:
        model.train(was_training)
    metrics: dict[str, float] = {}
    for kind, (nll, n) in totals.items():
        metrics[f"ppl/{kind}"] = math.exp(nll / max(n, 1))
        metrics[f"tokens/{kind}"] = int(n)
    for kind, n in skipped.items():
        metrics[f"skipped/{kind}"] = n
    return TaskResult("perplexity", metrics, predictions, {"sources": [str(p) for p in paths], "shots": 0})


def training_evaluator(paths: Sequence[str | Path], limit: int | None = None, batch_size: int = 8):
    """An `evaluate(model, tok) -> metrics` for the training loop: held-out perplexity per stream,
    logged as eval/ppl/<kind>."""

    def evaluate(model: Any, tok: Tokenizer) -> dict[str, float]:
        result = run_perplexity(model, tok, paths, tok.path.parent, batch_size=batch_size, limit=limit)
        return {f"eval/{k}": v for k, v in result.metrics.items() if k.startswith("ppl/")}

    return evaluate
