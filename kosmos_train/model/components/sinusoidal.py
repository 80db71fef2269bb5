"""Fixed sinusoidal absolute positions, fairseq layout (as in Kosmos-2 / M2M100).

Differs from "Attention Is All You Need" in two details that matter for loading Kosmos-2 weights:
sines and cosines are concatenated (not interleaved), the frequency step is ln(10000)/(d/2 - 1),
and positions start at padding_idx + 1 = 2.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

POSITION_OFFSET = 2  # fairseq: the first real position is padding_idx + 1 with <pad> = 1


def sinusoidal_table(num_positions: int, dim: int, device: torch.device | None = None) -> Tensor:
    """(num_positions, dim) table, row p = [sin(p w_0..), cos(p w_0..)] (+ a zero column if dim is odd)."""
    half = dim // 2
    step = math.log(10000) / (half - 1)
    freqs = torch.exp(torch.arange(half, device=device, dtype=torch.float32) * -step)
    args = torch.arange(num_positions, device=device, dtype=torch.float32)[:, None] * freqs[None, :]
    table = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    if dim % 2:
        table = torch.cat([table, torch.zeros(num_positions, 1, device=device)], dim=1)
    return table


def sinusoidal_positions(start: int, length: int, dim: int, device: torch.device | None = None) -> Tensor:
    """Embeddings of sequence positions start..start+length-1, shape (length, dim)."""
    return sinusoidal_table(POSITION_OFFSET + start + length, dim, device)[POSITION_OFFSET + start :]
