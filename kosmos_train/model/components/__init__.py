"""Building blocks (torchscale's `component/`): attention, feed-forward, position encodings."""

from .attention import CrossAttention, LayerCache, SelfAttention, causal_mask
from .feedforward import FeedForward
from .sinusoidal import POSITION_OFFSET, sinusoidal_positions, sinusoidal_table
from .xpos import XPosTables, apply_xpos, rotate_every_two, xpos_tables

__all__ = [
    "POSITION_OFFSET",
    "CrossAttention",
    "FeedForward",
    "LayerCache",
    "SelfAttention",
    "XPosTables",
    "apply_xpos",
    "causal_mask",
    "rotate_every_two",
    "sinusoidal_positions",
    "sinusoidal_table",
    "xpos_tables",
]
