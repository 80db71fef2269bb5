"""Attention layers: the decoder's causal Sub-LN self-attention and the connector's cross-attention.

Both go through `F.scaled_dot_product_attention`, which dispatches to flash / memory-efficient kernels
on GPU; those kernels accumulate the softmax in fp32 for bf16 inputs, as torchscale's explicit
`softmax(dtype=float32)` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .xpos import XPosTables, apply_xpos


@dataclass
class LayerCache:
    """Keys (unrotated, as torchscale caches them) and values of one layer: (B, H, L, head_dim)."""

    k: Tensor | None = None
    v: Tensor | None = None

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        if self.k is not None:
            k, v = torch.cat([self.k, k], dim=2), torch.cat([self.v, v], dim=2)
        self.k, self.v = k, v
        return k, v


def causal_mask(q_len: int, k_len: int, device: torch.device) -> Tensor:
    """Boolean (q_len, k_len) mask for queries at the last q_len of k_len positions (True = attend)."""
    q_pos = torch.arange(k_len - q_len, k_len, device=device)
    return torch.arange(k_len, device=device)[None, :] <= q_pos[:, None]


class SelfAttention(nn.Module):
    """Causal multi-head self-attention with MAGNETO's LayerNorm before out_proj.

    q, k and v come from one fused projection (one GEMM); its last third is torchscale's v_proj.
    """

    def __init__(self, dim: int, heads: int, dropout: float, eps: float) -> None:
        super().__init__()
        self.dim, self.heads = dim, heads
        self.qkv_proj = nn.Linear(dim, 3 * dim)
        self.inner_attn_ln = nn.LayerNorm(dim, eps=eps)
        self.out_proj = nn.Linear(dim, dim)
        self.dropout = dropout
        self.recompute_core = False  # selective activation checkpointing (set by the decoder)

    def forward(self, x: Tensor, xpos: XPosTables | None = None, cache: LayerCache | None = None) -> Tensor:
        b, t, _ = x.shape
        q, k, v = (
            z.view(b, t, self.heads, -1).transpose(1, 2) for z in self.qkv_proj(x).split(self.dim, dim=-1)
        )
        if cache is not None:
            k, v = cache.append(k, v)
        if self.recompute_core and self.training and torch.is_grad_enabled():
            y = checkpoint(self._core, q, k, v, xpos, use_reentrant=False)
        else:
            y = self._core(q, k, v, xpos)
        return self.out_proj(self.inner_attn_ln(y))

    def _core(self, q: Tensor, k: Tensor, v: Tensor, xpos: XPosTables | None) -> Tensor:
        """xPos rotation and scaled-dot-product attention: (B, H, T, hd) x3 -> (B, T, dim)."""
        b, _, t, _ = q.shape
        k_len = k.shape[2]
        if xpos is not None:  # rotate after caching: the cache keeps keys unrotated
            q = apply_xpos(q, xpos.cos_q, xpos.sin_q)
            k = apply_xpos(k, xpos.cos_k, xpos.sin_k)
        mask = None if t in (1, k_len) else causal_mask(t, k_len, q.device)
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            is_causal=(t == k_len and t > 1),
            dropout_p=self.dropout if self.training else 0.0,
        )
        return y.transpose(1, 2).reshape(b, t, self.dim)


class CrossAttention(nn.Module):
    """Plain multi-head attention from queries to a separate key/value sequence (no mask, no LN)."""

    def __init__(self, dim: int, heads: int, dropout: float, kv_dim: int | None = None) -> None:
        super().__init__()
        kv_dim = kv_dim or dim
        self.heads, self.dropout = heads, dropout
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(kv_dim, dim)
        self.v_proj = nn.Linear(kv_dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        b, t, d = x.shape
        q = self.q_proj(x).view(b, t, self.heads, -1).transpose(1, 2)
        k = self.k_proj(context).view(b, context.shape[1], self.heads, -1).transpose(1, 2)
        v = self.v_proj(context).view(b, context.shape[1], self.heads, -1).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(y.transpose(1, 2).reshape(b, t, d))
