"""The KOSMOS-1 model: configs, the network (torchscale-style split), generation, run directories.

The decoder alone imports without open_clip; the vision tower imports it when built.
"""

from .architecture import Decoder, Kosmos, KVCache, LossOutput, image_slot_mask, text_loss_mask
from .config import (
    PRESETS,
    ConnectorConfig,
    DecoderConfig,
    KosmosConfig,
    VisionConfig,
    kosmos1,
    load_config,
    tiny,
)

__all__ = [
    "PRESETS",
    "ConnectorConfig",
    "Decoder",
    "DecoderConfig",
    "KVCache",
    "Kosmos",
    "KosmosConfig",
    "LossOutput",
    "VisionConfig",
    "image_slot_mask",
    "kosmos1",
    "load_config",
    "text_loss_mask",
    "tiny",
]
