"""A tiny open_clip model trained for a few seconds on coloured shapes: the real CLIP path with
weights made here (pretrained weights cannot be downloaded). Shared by the CLIP scorer tests and the
image-text pipeline's CLIP tests through the session fixture `tiny_clip` (tests/conftest.py).

The model (a ModifiedResNet image tower and a transformer text tower, registered from a JSON config)
learns captions such as "a red circle"; it is saved both as a checkpoint file (for
`pretrained=<file>`) and as an open_clip `local-dir:` folder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLORS = {"red": (220, 30, 30), "green": (30, 180, 40), "blue": (30, 60, 220), "yellow": (230, 210, 30)}
SHAPES = ("circle", "square", "triangle")
CLASSES = [(c, s) for c in COLORS for s in SHAPES]
CAPTIONS = [f"a {c} {s}" for c, s in CLASSES]
MODEL_NAME = "kosmos-test-tiny-rn"
MODEL_CFG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "layers": [1, 1, 1, 1], "width": 16},
    "text_cfg": {"context_length": 8, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
TRAIN_STEPS = 300
TRAIN_BUDGET_S = 40.0


def draw_shape(color: str, shape: str, rng: np.random.Generator, size: int = 64) -> Image.Image:
    """A shape of one colour at a random place and size on a random light background."""
    bg = tuple(int(v) for v in rng.integers(200, 256, 3))
    im = Image.new("RGB", (size, size), bg)
    draw = ImageDraw.Draw(im)
    r = int(rng.integers(size // 4, size // 3 + 1))
    cx, cy = (int(v) for v in rng.integers(r + 2, size - r - 2, 2))
    fill = COLORS[color]
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
    return im


def pairs(n: int, seed: int, size: int = 96) -> tuple[list[Image.Image], list[str], list[str]]:
    """n pictures with their matched caption and a swapped caption (another class's)."""
    rng = np.random.default_rng(seed)
    labels = [i % len(CLASSES) for i in range(n)]
    images = [draw_shape(*CLASSES[k], rng, size=size) for k in labels]
    other = [(k + int(rng.integers(1, len(CLASSES)))) % len(CLASSES) for k in labels]
    return images, [CAPTIONS[k] for k in labels], [CAPTIONS[k] for k in other]


def train_tiny_clip(tmp: Path) -> dict[str, object]:
    """Train the tiny CLIP contrastively (image vs. the 12 captions) and save its checkpoint."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # on a shared 2-core machine, 2 spinning OpenMP threads run ~30x slower
    try:
        return _train(tmp)
    finally:
        torch.set_num_threads(before)


def _train(tmp: Path) -> dict[str, object]:
    import open_clip
    import torch
    import torch.nn.functional as F

    config_path = tmp / f"{MODEL_NAME}.json"
    config_path.write_text(json.dumps(MODEL_CFG))
    open_clip.add_model_config(str(config_path))
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms(MODEL_NAME)
    tokenizer = open_clip.get_tokenizer(MODEL_NAME)
    rng = np.random.default_rng(0)
    n = 600
    labels = torch.tensor([i % len(CLASSES) for i in range(n)])
    pixels = torch.stack([preprocess(draw_shape(*CLASSES[int(k)], rng)) for k in labels])
    tokens = tokenizer(CAPTIONS)
    model.token_embedding.requires_grad_(False)  # 49408 x 64 table: Adam on it is most of a step
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.0)
    model.train()
    start, losses = time.monotonic(), []
    for _ in range(TRAIN_STEPS):
        idx = torch.from_numpy(rng.choice(n, 48, replace=False))
        img = model.encode_image(pixels[idx], normalize=True)
        txt = model.encode_text(tokens, normalize=True)
        loss = F.cross_entropy(model.logit_scale.exp() * img @ txt.T, labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if time.monotonic() - start > TRAIN_BUDGET_S or (len(losses) > 20 and max(losses[-10:]) < 0.005):
            break
    checkpoint = tmp / "tiny_clip.pt"
    torch.save(model.state_dict(), checkpoint)
    local_dir = tmp / "local"
    local_dir.mkdir()
    (local_dir / "open_clip_config.json").write_text(json.dumps({"model_cfg": MODEL_CFG}))
    torch.save(model.state_dict(), local_dir / "open_clip_pytorch_model.bin")
    return {
        "config_path": str(config_path),
        "checkpoint": str(checkpoint),
        "local_dir": str(local_dir),
        "losses": losses,
    }
