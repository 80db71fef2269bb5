"""filters.clip_score on a real (tiny) open_clip model that this test trains on generated shapes.

Pretrained weights cannot be downloaded here, so the test trains a small open_clip model (a
ModifiedResNet image tower and a transformer text tower, registered from a JSON config) for a few
seconds on pictures of coloured shapes captioned "a red circle", saves the checkpoint, and loads it
through the scorer's real path (`pretrained=<checkpoint file>`). The scorer must then rank matched
captions above swapped ones on new pictures, and the threshold must drop the swapped pairs.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from collections.abc import Iterator

import numpy as np
import pytest

from filters.base import Drop, Keep
from filters.clip_score import LAION_THRESHOLD, ClipConfig, ClipScorer, _load_cached
from tests.clip_fixtures import CAPTIONS, CLASSES, MODEL_NAME, draw_shape, pairs  # noqa: F401

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """One intra-op thread: on a shared 2-core machine, 2 spinning OpenMP threads run ~30x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(tiny_clip: dict[str, object]) -> dict[str, object]:
    return tiny_clip


def _config(trained: dict, **kw: object) -> ClipConfig:
    base = {
        "model": MODEL_NAME,
        "pretrained": trained["checkpoint"],
        "model_config": trained["config_path"],
        "device": "cpu",
        "batch_size": 16,
    }
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
    threshold = float(
        (scorer.score(v_images, v_matched).mean() + scorer.score(v_images, v_swapped).mean()) / 2
    )
    images, matched, swapped = pairs(96, seed=2)
    s_matched, s_swapped = scorer.score(images, matched), scorer.score(images, swapped)
    assert s_matched.dtype == np.float32 and s_matched.shape == (96,)
    assert np.all(np.abs(s_matched) <= 1.0001)  # cosine similarities
    assert (s_matched > s_swapped).mean() >= 0.95
    assert s_matched.mean() > s_swapped.mean() + 0.3
    filtering = ClipScorer(_config(trained))
    kept = filtering(images, matched, threshold)
    dropped = filtering(images, swapped, threshold)
    assert np.mean([isinstance(d, Keep) for d in kept]) >= 0.95
    assert np.mean([isinstance(d, Drop) and d.reason == "clip_score" for d in dropped]) >= 0.95
    assert all(
        isinstance(d, Keep) and d.score == pytest.approx(float(s))
        for d, s in zip(kept, s_matched, strict=True)
        if d
    )


def test_random_weights_do_not_separate(trained: dict) -> None:
    """The checkpoint is really loaded: the same architecture without it cannot tell pairs apart."""
    images, matched, swapped = pairs(96, seed=3)
    random_scorer = ClipScorer(_config(trained, pretrained=None))
    assert (random_scorer.score(images, matched) > random_scorer.score(images, swapped)).mean() < 0.8


def test_local_dir_model_scores_like_the_checkpoint(trained: dict) -> None:
    images, matched, _ = pairs(20, seed=4)
    by_path = ClipScorer(_config(trained)).score(images, matched)
    by_dir = ClipScorer(ClipConfig(model=f"local-dir:{trained['local_dir']}", device="cpu")).score(
        images, matched
    )
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
    ClipScorer(_config(trained, batch_size=3)).score(images, matched)  # same model
    assert _load_cached.cache_info().misses == misses
    assert clone.bundle is scorer.bundle


def test_defaults_follow_the_laion_rule() -> None:
    config = ClipConfig()
    assert config.model == "ViT-B-32" and LAION_THRESHOLD == 0.28
    assert "threshold" not in {f.name for f in dataclasses.fields(ClipConfig)}  # the pipeline's setting
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
