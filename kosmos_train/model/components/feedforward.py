"""The Sub-LN feed-forward sublayer: fc1 -> GeLU (fp32) -> LayerNorm(ffn_dim) -> fc2 -> dropout."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class FeedForward(nn.Module):
    def __init__(self, dim: int, ffn_dim: int, dropout: float, activation_dropout: float, eps: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.ffn_layernorm = nn.LayerNorm(ffn_dim, eps=eps)  # MAGNETO's extra LN before fc2
        self.fc2 = nn.Linear(ffn_dim, dim)
        self.activation_dropout = nn.Dropout(activation_dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = self.fc1(x)
        h = F.gelu(h.float()).type_as(h)  # torchscale computes GeLU in fp32
        h = self.ffn_layernorm(self.activation_dropout(h))
        return self.dropout(self.fc2(h))
