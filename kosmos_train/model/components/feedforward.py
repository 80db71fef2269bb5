"""The Sub-LN feed-forward sublayer: fc1 -> GeLU (fp32) -> LayerNorm(ffn_dim) -> fc2 -> dropout."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint


class FeedForward(nn.Module):
    def __init__(self, dim: int, ffn_dim: int, dropout: float, activation_dropout: float, eps: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.ffn_layernorm = nn.LayerNorm(ffn_dim, eps=eps)  # MAGNETO's extra LN before fc2
        self.fc2 = nn.Linear(ffn_dim, dim)
        self.activation_dropout = nn.Dropout(activation_dropout)
        self.dropout = nn.Dropout(dropout)
        self.recompute_middle = False  # selective activation checkpointing (set by the decoder)

    def forward(self, x: Tensor) -> Tensor:
        h = self.fc1(x)
        if self.recompute_middle and self.training and torch.is_grad_enabled():
            h = checkpoint(self._middle, h, use_reentrant=False)
        else:
            h = self._middle(h)
        return self.dropout(self.fc2(h))

    def _middle(self, h: Tensor) -> Tensor:
        """GeLU in fp32 (as torchscale), dropout, the Sub-LN LayerNorm: (.., ffn_dim) elementwise work."""
        h = F.gelu(h.float()).type_as(h)
        return self.ffn_layernorm(self.activation_dropout(h))
