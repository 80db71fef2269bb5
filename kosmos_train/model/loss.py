"""Next-token NLL through the tied output projection, chunk by chunk.

The full (tokens x vocab) fp32 logits of a 16k-token micro-batch over 64k ids are 4 GB; here they
exist one chunk at a time. Each chunk's logits are recomputed in backward (activation checkpointing
of the projection), so only the hidden rows are kept between forward and backward. Padding columns
of the embedding (rows past `vocab_size`) are -inf: never predicted, no change to the loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from .architecture.decoder import mask_padding

LOSS_CHUNK_ROWS = 2048  # rows of logits alive at once: 2048 x 64,128 fp32 = 0.5 GB


def _chunk_nll(hidden: Tensor, weight: Tensor, targets: Tensor, vocab_size: int) -> Tensor:
    logits = mask_padding(hidden @ weight.t(), vocab_size).float()
    return F.cross_entropy(logits, targets, reduction="sum")


def chunked_nll(
    hidden: Tensor, weight: Tensor, targets: Tensor, vocab_size: int, chunk_rows: int = LOSS_CHUNK_ROWS
) -> Tensor:
    """Summed NLL of `targets` (N,) under logits `hidden` (N, d) @ `weight`.T, fp32 softmax."""
    total = hidden.new_zeros((), dtype=torch.float32)
    recompute = torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad)
    for start in range(0, hidden.shape[0], chunk_rows):
        h, t = hidden[start : start + chunk_rows], targets[start : start + chunk_rows]
        if recompute:
            total = total + checkpoint(_chunk_nll, h, weight, t, vocab_size, use_reentrant=False)
        else:
            total = total + _chunk_nll(h, weight, t, vocab_size)
    return total
