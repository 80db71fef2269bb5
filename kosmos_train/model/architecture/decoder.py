"""The MAGNETO (Sub-LN) decoder-only language model (torchscale `architecture/decoder.py`, subln=True)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..components import FeedForward, LayerCache, SelfAttention, XPosTables, sinusoidal_positions, xpos_tables
from ..config import DecoderConfig

# Parameters that MAGNETO's init multiplies by gamma (weights and biases alike). In our fused qkv
# projection v_proj is the last third of `self_attn.qkv_proj`.
GAMMA_SCALED = ("ffn.fc1", "ffn.fc2", "self_attn.out_proj", "self_attn.qkv_proj[v]")


def subln_gamma(layers: int) -> float:
    """MAGNETO's init scale for a decoder-only model of N layers: sqrt(ln(2N)) (1.9675 for N=24)."""
    return math.sqrt(math.log(2 * layers))


class DecoderLayer(nn.Module):
    """Pre-LN block: x + Attn(LN(x)), then x + FFN(LN(x)); each sublayer has its own inner LN."""

    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.self_attn_layer_norm = nn.LayerNorm(cfg.dim, eps=cfg.layernorm_eps)
        self.self_attn = SelfAttention(cfg.dim, cfg.heads, cfg.attention_dropout, cfg.layernorm_eps)
        self.dropout = nn.Dropout(cfg.dropout)
        self.final_layer_norm = nn.LayerNorm(cfg.dim, eps=cfg.layernorm_eps)
        self.ffn = FeedForward(cfg.dim, cfg.ffn_dim, cfg.dropout, cfg.activation_dropout, cfg.layernorm_eps)

    def forward(self, x: Tensor, xpos: XPosTables | None = None, cache: LayerCache | None = None) -> Tensor:
        x = x + self.dropout(self.self_attn(self.self_attn_layer_norm(x), xpos, cache))
        return x + self.ffn(self.final_layer_norm(x))

    def set_selective_checkpointing(self, on: bool) -> None:
        """Recompute the elementwise-heavy parts (xPos + attention core, GeLU + LayerNorm) in backward."""
        self.self_attn.recompute_core = on
        self.ffn.recompute_middle = on

    @torch.no_grad()
    def scale_init(self, gamma: float) -> None:
        """Multiply fc1, fc2, out_proj and v_proj (weights and biases) by gamma."""
        dim = self.self_attn.dim
        for lin in (self.ffn.fc1, self.ffn.fc2, self.self_attn.out_proj):
            lin.weight.mul_(gamma)
            lin.bias.mul_(gamma)
        self.self_attn.qkv_proj.weight[2 * dim :].mul_(gamma)
        self.self_attn.qkv_proj.bias[2 * dim :].mul_(gamma)


@dataclass
class KVCache:
    """Per-layer key/value cache for incremental decoding."""

    layers: list[LayerCache] = field(default_factory=list)

    @classmethod
    def empty(cls, n_layers: int) -> KVCache:
        return cls([LayerCache() for _ in range(n_layers)])

    @property
    def length(self) -> int:
        k = self.layers[0].k if self.layers else None
        return 0 if k is None else k.shape[2]

    def reorder(self, index: Tensor) -> None:
        """Keep batch rows `index` (beam search)."""
        for c in self.layers:
            if c.k is not None:
                c.k, c.v = c.k.index_select(0, index), c.v.index_select(0, index)


class Decoder(nn.Module):
    """Token embeddings (tied with the output), positions, N Sub-LN layers, final LayerNorm."""

    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.embedding_rows, cfg.dim)
        self.embed_scale = math.sqrt(cfg.dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.layers))
        self.layer_norm = nn.LayerNorm(cfg.dim, eps=cfg.layernorm_eps)
        for layer in self.layers:
            layer.set_selective_checkpointing(cfg.checkpoint_activations == "selective")
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Default Linear/LayerNorm init, embeddings N(0, d^-0.5), then MAGNETO's gamma scaling."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.LayerNorm)):
                module.reset_parameters()
        nn.init.normal_(self.embed_tokens.weight, mean=0.0, std=self.cfg.dim**-0.5)
        gamma = subln_gamma(self.cfg.layers)
        for layer in self.layers:
            layer.scale_init(gamma)

    def forward(self, token_embeddings: Tensor, cache: KVCache | None = None) -> Tensor:
        """Hidden states after the final LN for embeddings (B, T, d) not yet scaled by sqrt(d).

        With a cache, the T inputs follow the cache's positions and their keys/values are appended.
        """
        start = cache.length if cache is not None else 0
        total = start + token_embeddings.shape[1]
        x = token_embeddings * self.embed_scale
        xpos = None
        if self.cfg.positions == "sinusoidal":
            x = x + sinusoidal_positions(start, x.shape[1], self.cfg.dim, x.device).to(x.dtype)
        else:
            xpos = xpos_tables(total, self.cfg.head_dim, self.cfg.xpos_scale_base, x.device)
        x = self.dropout(x)
        for i, layer in enumerate(self.layers):
            layer_cache = cache.layers[i] if cache is not None else None
            if self.cfg.checkpoint_activations == "full" and self.training and layer_cache is None:
                x = checkpoint(layer, x, xpos, use_reentrant=False)
            else:
                x = layer(x, xpos, layer_cache)
        return self.layer_norm(x)

    def logits(self, hidden: Tensor) -> Tensor:
        """Output projection tied to the input embeddings, over the real vocabulary only.

        The GEMM runs over all (padded, aligned) embedding rows; the padding columns are sliced off,
        so they are never predicted.
        """
        return (hidden @ self.embed_tokens.weight.t())[..., : self.cfg.vocab_size]


def mask_padding(logits: Tensor, vocab_size: int) -> Tensor:
    """Logits with the columns past `vocab_size` (embedding padding) set to -inf."""
    if logits.shape[-1] == vocab_size:
        return logits
    keep = torch.arange(logits.shape[-1], device=logits.device) < vocab_size
    return logits.masked_fill(~keep, float("-inf"))
