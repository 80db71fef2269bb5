"""Two calls for demos and notebooks: train `tiny` on corpus folders, and caption an image.

from kosmos_train.inference.api import train_tiny, caption_image
run = train_tiny(["out/text", "out/image_text", "out/interleaved"], "out/run", steps=300)
print(caption_image(run, "photo.jpg"))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from kosmos_train.data.corpus import INSTRUCTION, DataError, SourceSpec
from kosmos_train.data.images import clip_preprocess
from kosmos_train.model.run_dir import TOKENIZER_FILE
from kosmos_train.tokenizer import Tokenizer
from schemas.foreign import is_foreign_target
from schemas.kinds import SchemaError
from schemas.manifest import read_manifest


def sources_from_dirs(dirs: Sequence[str | Path] | dict[str, Any]) -> list[SourceSpec]:
    """Corpus folders -> SourceSpecs, the kind read from each manifest; or {kind: dir | [dirs]}."""
    if isinstance(dirs, dict):
        out = []
        for kind, paths in dirs.items():
            for p in [paths] if isinstance(paths, (str, Path)) else paths:
                out.append(SourceSpec(kind, str(p)))
        return out
    specs = []
    for d in dirs:
        d = str(d)
        if d.endswith(".jsonl"):
            specs.append(SourceSpec(INSTRUCTION, d))
            continue
        if is_foreign_target(d):  # an img2dataset / LAION / COYO webdataset folder
            specs.append(SourceSpec("image_text", d))
            continue
        try:
            specs.append(SourceSpec(read_manifest(d).kind.value, d))
        except SchemaError as e:
            raise DataError(f"{d}: {e}") from None
    return specs


def train_tiny(
    data: Sequence[str | Path] | dict[str, Any],
    output: str | Path,
    steps: int = 200,
    tokenizer: str | Path | None = None,
    progress: bool | None = None,
    threads: int | None = None,
    **overrides: Any,
) -> Path:
    """Train the `tiny` model on CPU in this process (single-rank DeepSpeed, ZeRO 2) and export it.

    `data`: corpus folders (kinds read from their manifests) or {kind: folder(s)}; a tokenizer
    is trained on them unless one is given. `overrides` set TrainConfig fields (lr, log_every, ...).
    `threads` sets torch's intra-op threads for the call: 1 is much faster for `tiny` on a busy
    2-core machine (no OpenMP contention). Running it again on the same `output` resumes.
    Returns the run directory, holding model.safetensors, config.json and tokenizer.model.
    """
    from kosmos_train.train.config import tiny
    from kosmos_train.train.loop import train

    cfg = dataclasses.replace(tiny(), steps=steps, **overrides)
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        result = train(cfg, sources_from_dirs(data), output, tokenizer=tokenizer, progress=progress)
    finally:
        torch.set_num_threads(before)
    return result.run_dir


def load_run(run_dir: str | Path, device: str = "cpu") -> tuple[Any, Tokenizer]:
    """(model in eval mode, tokenizer) from a run directory with model.safetensors."""
    from kosmos_train.model.run_dir import from_pretrained

    return from_pretrained(str(run_dir), device).eval(), Tokenizer(Path(run_dir) / TOKENIZER_FILE)


def caption_prompt(tok: Tokenizer, n_slots: int, prompt: str = "") -> list[int]:
    """`<s> <image> [slots] </image> prompt` — the image-caption layout, cut where the caption starts."""
    v = tok.layout
    return [v.bos, v.image, *[v.mask] * n_slots, v.image_end, *tok.encode(prompt)]


@torch.no_grad()
def caption_images(
    model: Any,
    tok: Tokenizer,
    images: Sequence[str | Path | bytes | Image.Image],
    prompt: str = "An image of",
    max_new_tokens: int = 30,
    num_beams: int = 1,
) -> list[str]:
    """Continue the prompt after each image; returns only the generated text, stripped."""
    size = model.config.vision.image_size
    pixels = []
    for img in images:
        if isinstance(img, (str, Path)):
            img = Image.open(img)
        pixels.append(clip_preprocess(img, size))
    device = next(model.parameters()).device
    ids = torch.tensor(
        [caption_prompt(tok, model.config.connector.image_tokens, prompt)] * len(pixels), device=device
    )
    batch = torch.stack(pixels).to(device)
    out = model.generate(ids, batch, max_new_tokens=max_new_tokens, num_beams=num_beams)
    return [tok.decode(row).strip() for row in out.tolist()]


def caption_image(
    run_dir: str | Path,
    image: str | Path | bytes | Image.Image,
    prompt: str = "An image of",
    max_new_tokens: int = 30,
    num_beams: int = 1,
    device: str = "cpu",
) -> str:
    """Caption one image with the model in `run_dir` (greedy unless num_beams > 1)."""
    model, tok = load_run(run_dir, device)
    return caption_images(model, tok, [image], prompt, max_new_tokens, num_beams)[0]
