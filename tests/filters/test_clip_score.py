"""filters.clip_score on a real (tiny) open_clip model that this test trains on generated shapes.

Pretrained weights cannot be downloaded here, so the test trains a small open_clip model (a
ModifiedResNet image tower and a transformer text tower, registered from a JSON config) for a few
seconds on pictures of coloured shapes captioned "a red circle", saves the checkpoint, and loads it
through the scorer's real path (`pretrained=<checkpoint file>`). The scorer must then rank matched
captions above swapped ones on new pictures, and the threshold must drop the swapped pairs.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image, ImageDraw

from filters.base import Drop, Keep
from filters.clip_score import ClipConfig, ClipScorer, _load_cached

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")

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


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """One intra-op thread: on a shared 2-core machine, 2 spinning OpenMP threads run ~30x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Train the tiny CLIP contrastively (image vs. the 12 captions) and save its checkpoint."""
    import torch.nn.functional as F

    tmp = tmp_path_factory.mktemp("clip")
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
    return {"config_path": str(config_path), "checkpoint": str(checkpoint), "local_dir": str(local_dir),
            "losses": losses}


def _config(trained: dict, **kw: object) -> ClipConfig:
    base = {"model": MODEL_NAME, "pretrained": trained["checkpoint"], "model_config": trained["config_path"],
            "device": "cpu", "batch_size": 16}
    base.update(kw)
    return ClipConfig(**base)  # type: ignore[arg-type]


def test_training_converged(trained: dict) -> None:
    losses = trained["losses"]
    assert np.mean(losses[-10:]) < 0.3 < losses[0], (len(losses), losses[0], losses[-10:])
    print(f"trained {len(losses)} steps, final loss {np.mean(losses[-10:]):.4f}")


def test_matched_captions_score_higher_and_the_threshold_drops_swapped(trained: dict) -> None:
    scorer = ClipScorer(_config(trained))
    # The threshold is chosen on held-out validation pairs, then applied to new test pairs.
    v_images, v_matched, v_swapped = pairs(48, seed=1)
    threshold = float((scorer.score(v_images, v_matched).mean() + scorer.score(v_images, v_swapped).mean()) / 2)
    images, matched, swapped = pairs(96, seed=2)
    s_matched, s_swapped = scorer.score(images, matched), scorer.score(images, swapped)
    assert s_matched.dtype == np.float32 and s_matched.shape == (96,)
    assert np.all(np.abs(s_matched) <= 1.0001)  # cosine similarities
    assert (s_matched > s_swapped).mean() >= 0.95
    assert s_matched.mean() > s_swapped.mean() + 0.3
    filtering = ClipScorer(_config(trained, threshold=threshold))
    kept = filtering(images, matched)
    dropped = filtering(images, swapped)
    assert np.mean([isinstance(d, Keep) for d in kept]) >= 0.95
    assert np.mean([isinstance(d, Drop) and d.reason == "clip_score" for d in dropped]) >= 0.95
    assert all(isinstance(d, Keep) and d.score == pytest.approx(float(s)) for d, s in zip(kept, s_matched, strict=True) if d)


def test_random_weights_do_not_separate(trained: dict) -> None:
    """The checkpoint is really loaded: the same architecture without it cannot tell pairs apart."""
    images, matched, swapped = pairs(96, seed=3)
    random_scorer = ClipScorer(_config(trained, pretrained=None))
    assert (random_scorer.score(images, matched) > random_scorer.score(images, swapped)).mean() < 0.8


def test_local_dir_model_scores_like_the_checkpoint(trained: dict) -> None:
    images, matched, _ = pairs(20, seed=4)
    by_path = ClipScorer(_config(trained)).score(images, matched)
    by_dir = ClipScorer(ClipConfig(model=f"local-dir:{trained['local_dir']}", device="cpu")).score(images, matched)
    np.testing.assert_allclose(by_dir, by_path, atol=1e-5)


def test_batching_and_modes_do_not_change_scores(trained: dict) -> None:
    images, matched, _ = pairs(21, seed=5)
    a = ClipScorer(_config(trained, batch_size=16)).score(images, matched)
    b = ClipScorer(_config(trained, batch_size=5)).score(images, matched)
    np.testing.assert_allclose(a, b, atol=1e-5)
    rgba = [im.convert("RGBA") for im in images]
    np.testing.assert_allclose(ClipScorer(_config(trained)).score(rgba, matched), a, atol=1e-5)
    assert ClipScorer(_config(trained)).score([], []).shape == (0,)
    with pytest.raises(ValueError):
        ClipScorer(_config(trained)).score(images, matched[:-1])


def test_model_loads_once_per_process_and_scorer_pickles_as_config(trained: dict) -> None:
    scorer = ClipScorer(_config(trained))
    images, matched, _ = pairs(4, seed=6)
    scorer.score(images, matched)
    misses = _load_cached.cache_info().misses
    clone = pickle.loads(pickle.dumps(scorer))
    assert len(pickle.dumps(scorer)) < 2000  # no weights travel with the scorer
    clone.score(images, matched)
    ClipScorer(_config(trained, threshold=0.5, batch_size=3)).score(images, matched)  # same model
    assert _load_cached.cache_info().misses == misses
    assert clone.bundle is scorer.bundle


def test_defaults_follow_the_laion_rule() -> None:
    config = ClipConfig()
    assert (config.model, config.threshold) == ("ViT-B-32", 0.28)
    assert config.model_id == "ViT-B-32/random"
    assert ClipConfig(pretrained="/ckpt/x.pt").model_id == "ViT-B-32//ckpt/x.pt"
    decisions = ClipScorer().decide([0.30, 0.28, 0.2799])
    assert [type(d).__name__ for d in decisions] == ["Keep", "Keep", "Drop"]


def test_trimmed_text_encoding_is_exact(trained: dict) -> None:
    """Cutting the padded context after the last end-of-text token changes nothing (causal mask)."""
    from filters.clip_score import _encode_text_trimmed

    texts = ["a red circle", "a yellow triangle", "a"]
    bundle = ClipScorer(_config(trained)).bundle
    tokens = bundle.tokenizer(texts)
    with torch.inference_mode():
        trimmed = _encode_text_trimmed(bundle.model, tokens)
        full = bundle.model.encode_text(tokens, normalize=True)
    assert trimmed is not None and tokens.argmax(-1).max() + 1 < tokens.shape[1]
    torch.testing.assert_close(trimmed, full, atol=1e-5, rtol=0)
    on = ClipScorer(_config(trained)).embed_texts(texts)
    off = ClipScorer(_config(trained, trim_text=False)).embed_texts(texts)
    np.testing.assert_allclose(on, off, atol=1e-5)
