"""The vision tower: an open_clip ViT returning all last-layer tokens after ln_post, L2-normalised.

open_clip is imported here, lazily, so the decoder alone imports without it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import VisionConfig


def build_open_clip_vit(cfg: VisionConfig) -> nn.Module:
    """An open_clip `VisionTransformer` of the configured shape: random, or pretrained when asked."""
    import open_clip
    from open_clip.model import CLIPVisionCfg, _build_vision_tower

    if cfg.pretrained:  # a local checkpoint path or an open_clip tag ("openai"); open_clip parses both
        clip = open_clip.create_model(
            cfg.open_clip_name, pretrained=cfg.pretrained, force_quick_gelu=cfg.quick_gelu
        )
        vit = clip.visual
        got = (vit.conv1.out_channels, len(vit.transformer.resblocks), vit.conv1.kernel_size[0])
        if got != (cfg.width, cfg.layers, cfg.patch_size):
            raise ValueError(
                f"{cfg.open_clip_name} has (width, layers, patch) {got}, the config asks otherwise"
            )
    else:
        vision_cfg = CLIPVisionCfg(
            layers=cfg.layers,
            width=cfg.width,
            head_width=cfg.width // cfg.heads,
            mlp_ratio=cfg.mlp_ratio,
            patch_size=cfg.patch_size,
            image_size=cfg.image_size,
        )
        vit = _build_vision_tower(embed_dim=cfg.width, vision_cfg=vision_cfg, quick_gelu=cfg.quick_gelu)
    vit.proj = None  # KOSMOS uses the features before CLIP's projection
    return vit


class VisionEncoder(nn.Module):
    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.clip = build_open_clip_vit(cfg)
        self.freeze()

    def freeze(self) -> None:
        """Freeze everything except the last block and ln_post (the KOSMOS-1 recipe)."""
        last = f"transformer.resblocks.{self.cfg.layers - 1}."
        for name, p in self.clip.named_parameters():
            trainable = self.cfg.train_last_block and (name.startswith(last) or name.startswith("ln_post."))
            p.requires_grad_(trainable)

    def forward(self, images: Tensor) -> Tensor:
        """(N, 3, H, W) normalised pixels -> (N, 1 + patches, width) unit-length features."""
        vit = self.clip
        x = vit.conv1(images.to(vit.conv1.weight.dtype))
        x = x.flatten(2).transpose(1, 2)  # (N, patches, width)
        cls = vit.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + vit.positional_embedding.to(x.dtype)
        x = vit.ln_pre(x)
        batch_first = getattr(vit.transformer, "batch_first", False)
        if not batch_first:  # open_clip < 2.21 runs its blocks sequence-first
            x = x.transpose(0, 1)
        for block in vit.transformer.resblocks:
            x = block(x)
        if not batch_first:
            x = x.transpose(0, 1)
        return F.normalize(vit.ln_post(x), dim=-1)
