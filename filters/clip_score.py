"""CLIP image-text similarity with open_clip: batched, CPU or GPU, model loaded once per process.

    scorer = ClipScorer(ClipConfig(model="ViT-B-32", pretrained="laion2b_s34b_b79k"))  # cheap, picklable
    scores = scorer.score(images, captions)      # np.float32 cosine similarities, one per pair
    decisions = scorer.decide(scores, 0.28)      # Keep(score) / Drop("clip_score") at a threshold

Any open_clip architecture works: a built-in name (`ViT-B-32`, `ViT-L-14`, ...), a custom one
registered from a JSON config (`model_config=`), or `local-dir:/path` / `hf-hub:org/repo`. Weights
come from `pretrained`: an open_clip tag or a local checkpoint file; None = random weights (for
benchmarks). The model lives in a per-process cache keyed by the config, so every DoFn instance
(and every thread) of a Beam worker shares one copy; the scorer itself pickles as its config only.

The stored `clip_score` is the cosine similarity of the L2-normalised embeddings (no logit scale),
the number LAION (>= 0.28 for ViT-B-32 on LAION-2B-en) and DataComp thresholds refer to.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image

from filters.base import Drop, Keep

Precision = Literal["fp32", "bf16", "fp16", "amp", "amp_bf16"]

LAION_THRESHOLD = 0.28
"""LAION-2B-en's keep rule for ViT-B-32: cosine >= 0.28 (the image-text pipeline's default)."""


@dataclass(frozen=True)
class ClipConfig:
    """Which CLIP, where it runs, and the keep rule. Defaults: the issue's LAION-2B-en rule."""

    model: str = "ViT-B-32"
    """open_clip architecture name, or 'local-dir:/path' / 'hf-hub:org/repo'."""
    pretrained: str | None = None
    """open_clip pretrained tag (e.g. 'laion2b_s34b_b79k', 'openai') or a local checkpoint path;
    None = random weights (benchmarks only: scores are meaningless)."""
    model_config: str | None = None
    """A JSON model config (file or folder) to register first, for an architecture open_clip lacks."""
    device: str = "auto"
    """'auto' = cuda when available, else cpu; or any torch device string."""
    precision: Precision = "fp32"
    """open_clip precision; on GPU 'fp16'/'bf16' halve memory and roughly double throughput."""
    batch_size: int = 128
    trim_text: bool = True
    """Run the text tower on the batch's longest caption instead of the padded context (77 tokens).
    Exact for open_clip's standard CLIP text tower (causal mask, pooled at the end-of-text token):
    the padding after it cannot change its features. Other text towers are run unchanged."""
    num_threads: int | None = None
    """torch CPU threads for this process; None leaves torch's default. On CPU workers that share
    cores with other processes, 1 avoids OpenMP spin-waiting (measured ~30x slower when oversubscribed)."""

    @property
    def model_id(self) -> str:
        """What the metadata's `clip_model` column records: architecture and weights."""
        return f"{self.model}/{self.pretrained or 'random'}"


class ClipScorer:
    """Cosine similarity of (image, caption) pairs. Cheap to build; the model loads on first use."""

    name = "clip_score"

    def __init__(self, config: ClipConfig | None = None) -> None:
        self.config = config or ClipConfig()

    @property
    def bundle(self) -> _Bundle:
        """The process-wide (model, preprocess, tokenizer, device) for this config."""
        return _load(self.config)

    def score(self, images: Sequence[Image.Image], texts: Sequence[str]) -> np.ndarray:
        """Cosine similarity per pair, float32, in order; computed in batches of `batch_size`."""
        if len(images) != len(texts):
            raise ValueError(f"{len(images)} images but {len(texts)} texts")
        if not images:
            return np.zeros(0, dtype=np.float32)
        out = [
            self._score_batch(images[i : i + self.config.batch_size], texts[i : i + self.config.batch_size])
            for i in range(0, len(images), self.config.batch_size)
        ]
        return np.concatenate(out)

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """L2-normalised image embeddings (n, d), float32."""
        import torch

        b = self.bundle
        pixels = torch.stack([b.preprocess(_rgb(im)) for im in images]).to(b.device)
        with torch.inference_mode(), b.autocast():
            feats = b.model.encode_image(pixels.to(b.input_dtype), normalize=True)
        return feats.float().cpu().numpy()

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised text embeddings (n, d), float32."""
        import torch

        b = self.bundle
        tokens = b.tokenizer(list(texts)).to(b.device)
        with torch.inference_mode(), b.autocast():
            feats = _encode_text_trimmed(b.model, tokens) if self.config.trim_text else None
            if feats is None:
                feats = b.model.encode_text(tokens, normalize=True)
        return feats.float().cpu().numpy()

    def decide(
        self, scores: Sequence[float] | np.ndarray, threshold: float = LAION_THRESHOLD
    ) -> list[Keep | Drop]:
        """Keep(score) when score >= threshold, else Drop('clip_score')."""
        t = threshold
        return [Keep(float(s)) if s >= t else Drop("clip_score", f"{float(s):.4f} < {t}") for s in scores]

    def __call__(
        self, images: Sequence[Image.Image], texts: Sequence[str], threshold: float = LAION_THRESHOLD
    ) -> list[Keep | Drop]:
        """Score and decide a batch in one call."""
        return self.decide(self.score(images, texts), threshold)

    def __reduce__(self) -> tuple:
        return (ClipScorer, (self.config,))

    def _score_batch(self, images: Sequence[Image.Image], texts: Sequence[str]) -> np.ndarray:
        img = self.embed_images(images)
        txt = self.embed_texts(texts)
        return np.einsum("nd,nd->n", img, txt).astype(np.float32)


def _encode_text_trimmed(model: Any, tokens: Any) -> Any | None:
    """open_clip CLIP.encode_text on tokens cut after the last end-of-text token, or None when the
    model is not the standard causal, argmax-pooled text tower (then the caller runs it unchanged)."""
    import open_clip
    import torch
    import torch.nn.functional as F

    if (
        type(model) is not open_clip.CLIP
        or getattr(model, "text_pool_type", None) != "argmax"
        or getattr(model, "attn_mask", None) is None
    ):
        return None
    length = int(tokens.argmax(dim=-1).max()) + 1  # the EOT id is the largest id in every row
    if length >= tokens.shape[1]:
        return None
    tokens = tokens[:, :length]
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast_dtype) + model.positional_embedding[:length].to(cast_dtype)
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
    projection = model.text_projection
    x = projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection
    return F.normalize(x, dim=-1)


@dataclass
class _Bundle:
    model: Any
    preprocess: Any
    tokenizer: Any
    device: Any
    input_dtype: Any
    autocast: Any


_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load_cached(
    model_name: str,
    pretrained: str | None,
    model_config: str | None,
    device_name: str,
    precision: str,
    num_threads: int | None,
) -> _Bundle:
    import contextlib

    import open_clip
    import torch

    if num_threads:
        torch.set_num_threads(num_threads)
    if model_config:
        open_clip.add_model_config(model_config)
    device = (
        torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if device_name == "auto"
        else torch.device(device_name)
    )
    model, _, preprocess = open_clip.create_model_and_transforms(
        model_name,
        pretrained=pretrained,
        device=device,
        precision=precision,
    )
    model.eval()
    tokenizer = open_clip.get_tokenizer(model_name)
    input_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision, torch.float32)
    if precision in ("amp", "amp_bf16") and device.type == "cuda":
        dtype = torch.bfloat16 if precision == "amp_bf16" else torch.float16
        autocast = functools.partial(torch.autocast, device_type="cuda", dtype=dtype)
    else:
        autocast = contextlib.nullcontext
    return _Bundle(model, preprocess, tokenizer, device, input_dtype, autocast)


def _load(config: ClipConfig) -> _Bundle:
    """The cached model for the fields that define it (threshold, batch size ... share one copy)."""
    with _LOCK:  # two threads of one worker must not build the model twice
        return _load_cached(
            config.model,
            config.pretrained,
            config.model_config,
            config.device,
            config.precision,
            config.num_threads,
        )


def _rgb(im: Image.Image) -> Image.Image:
    return im if im.mode == "RGB" else im.convert("RGB")
