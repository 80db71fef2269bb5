"""Whole networks (torchscale's `architecture/`): decoder, vision tower, connector, KOSMOS."""

from .decoder import Decoder, DecoderLayer, KVCache, subln_gamma
from .kosmos import Kosmos, LossOutput, image_slot_mask, text_loss_mask

__all__ = [
    "Decoder",
    "DecoderLayer",
    "KVCache",
    "Kosmos",
    "LossOutput",
    "image_slot_mask",
    "subln_gamma",
    "text_loss_mask",
]
