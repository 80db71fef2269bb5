"""The resampler that turns image tokens into `image_tokens` vectors for the language model.

depth=1 is KOSMOS-1/Kosmos-2's connector (Kosmos-2 `connector.py`, transformers'
`Kosmos2ImageToTextProjection`): Linear to the LM width, then ONE cross-attention whose queries are
learned latents and whose keys/values are concat(projected image tokens, latents); no LN, FFN or
residual. depth>1 is a Flamingo-style Perceiver resampler (pre-LN cross-attention + FFN blocks with
residuals, final LN), an option the paper does not use.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..components import CrossAttention
from ..config import ConnectorConfig


class PerceiverBlock(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.ln_latents = nn.LayerNorm(dim)
        self.ln_context = nn.LayerNorm(dim)
        self.x_attn = CrossAttention(dim, heads, dropout)
        self.ln_ffn = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, latents: Tensor, image: Tensor) -> Tensor:
        q = self.ln_latents(latents)
        latents = latents + self.x_attn(q, self.ln_context(torch.cat([image, latents], dim=1)))
        return latents + self.ffn(self.ln_ffn(latents))


class Connector(nn.Module):
    def __init__(self, vision_width: int, dim: int, cfg: ConnectorConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(vision_width, dim)
        self.latent_query = nn.Parameter(torch.randn(cfg.image_tokens, dim))
        if cfg.depth == 1:
            self.x_attn = CrossAttention(dim, cfg.heads, cfg.dropout)
        else:
            self.blocks = nn.ModuleList(PerceiverBlock(dim, cfg.heads, cfg.dropout) for _ in range(cfg.depth))
            self.ln_out = nn.LayerNorm(dim)

    def forward(self, features: Tensor) -> Tensor:
        """(N, tokens, vision_width) image features -> (N, image_tokens, dim)."""
        image = self.dense(features)
        latents = self.latent_query.unsqueeze(0).expand(image.shape[0], -1, -1).to(image.dtype)
        if hasattr(self, "x_attn"):
            return self.x_attn(latents, torch.cat([image, latents], dim=1))
        for block in self.blocks:
            latents = block(latents, image)
        return self.ln_out(latents)
