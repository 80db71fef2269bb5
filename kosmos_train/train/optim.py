"""AdamW with KOSMOS-1's settings, its parameter groups, and the learning-rate schedule."""

from __future__ import annotations

import torch
from torch import nn


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Trainable parameters in two groups: decayed, and not decayed.

    No weight decay on biases, LayerNorm weights and any other 1-d parameter (e.g. CLIP's class
    embedding), the usual GPT/BERT practice (fairseq's Adam, the KOSMOS lineage, decays every
    parameter; the paper does not say which it used); matrices,
    embeddings, positional tables and the resampler's latent queries decay. Frozen CLIP weights
    are left out entirely.
    """
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or name.endswith(".bias") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(
    model: nn.Module, lr: float, betas: tuple[float, float], eps: float, weight_decay: float
) -> torch.optim.AdamW:
    """A ready torch AdamW handed to DeepSpeed, so no DeepSpeed optimizer op is JIT-compiled."""
    return torch.optim.AdamW(
        param_groups(model, weight_decay), lr=lr, betas=betas, eps=eps, weight_decay=weight_decay
    )


def lr_at(step: int, peak: float, warmup: int, total: int) -> float:
    """Linear warm-up from 0 to `peak` over `warmup` steps, then linear decay to 0 at `total`.

    `step` is the 0-based index of the optimizer step about to run.
    """
    if warmup > 0 and step < warmup:
        return peak * (step + 1) / warmup
    remaining = max(total - warmup, 1)
    return peak * max(0.0, (total - step) / remaining)
