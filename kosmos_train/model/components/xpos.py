"""xPos: rotary position embedding with an exponential decay (Sun et al. 2022; torchscale's XPOS).

For head dim d and pair i = 0..d/2-1 (pairs are interleaved: dims 2i and 2i+1):
    theta_i = 10000^(-2i/d)                  rotation angle n * theta_i at position n
    zeta_i  = (2i + 0.4 d) / (1.4 d)         per-pair decay base
Queries are multiplied by zeta_i^(c_n / B) and keys divided by zeta_i^(c_m / B), with B the scale
base (512) and c the position centred around zero, so q_n . k_m carries zeta_i^((n - m) / B):
attention to equal content decays with distance. Centring cancels in the product; it only keeps the
factors near 1 so that they stay representable in bf16 for long sequences.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class XPosTables(NamedTuple):
    """Per-position factors, each (length, head_dim) in fp32: rotation times (inverse) decay."""

    cos_q: Tensor
    sin_q: Tensor
    cos_k: Tensor
    sin_k: Tensor


def xpos_tables(
    length: int, head_dim: int, scale_base: int = 512, device: torch.device | None = None
) -> XPosTables:
    """Tables for positions 0..length-1 (the centring depends on the total length, as in torchscale)."""
    half = head_dim // 2
    i = torch.arange(half, device=device, dtype=torch.float32)
    theta = 1.0 / (10000 ** (i / half))  # = 10000^(-2i/d)
    zeta = (2 * i + 0.4 * head_dim) / (1.4 * head_dim)
    pos = torch.arange(length, device=device, dtype=torch.float32)
    lo = -length // 2  # Python floor division, exactly torchscale's min_pos
    centred = torch.arange(lo, lo + length, device=device, dtype=torch.float32)
    angle = pos[:, None] * theta[None, :]
    scale = zeta[None, :] ** (centred[:, None] / scale_base)
    cos, sin = _interleave(torch.cos(angle)), _interleave(torch.sin(angle))
    scale = _interleave(scale)
    return XPosTables(cos * scale, sin * scale, cos / scale, sin / scale)


def _interleave(t: Tensor) -> Tensor:
    """(L, d/2) -> (L, d) with each column duplicated in place: [a, b] -> [a, a, b, b]."""
    return t.repeat_interleave(2, dim=-1)


def rotate_every_two(x: Tensor) -> Tensor:
    """(x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...): the 90-degree turn of each pair."""
    x1, x2 = x[..., ::2], x[..., 1::2]
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


def apply_xpos(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate-and-scale x (..., T, d), whose T rows are the LAST T positions of the tables."""
    t = x.shape[-2]
    cos, sin = cos[-t:], sin[-t:]
    xf = x.float()
    return (xf * cos + rotate_every_two(xf) * sin).to(x.dtype)
