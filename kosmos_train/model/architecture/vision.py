"""The vision tower: an open_clip ViT returning all last-layer tokens after ln_post, L2-normalised.

open_clip is imported here, lazily, so the decoder alone imports without it.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import VisionConfig


def build_open_clip_vit(cfg: VisionConfig) -> nn.Module:
    """An open_clip `VisionTransformer` of the configured shape: random, from a local checkpoint file,
    or from an open_clip pretrained tag ("openai")."""
    import open_clip

    if cfg.pretrained and not Path(cfg.pretrained).is_file():  # an open_clip tag
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
        vit = _random_vit(cfg)
        if cfg.pretrained:
            load_visual_weights(vit, cfg.pretrained)
    vit.proj = None  # KOSMOS uses the features before CLIP's projection
    return vit


def _random_vit(cfg: VisionConfig) -> nn.Module:
    from open_clip.model import CLIPVisionCfg, _build_vision_tower

    vision_cfg = CLIPVisionCfg(
        layers=cfg.layers,
        width=cfg.width,
        head_width=cfg.width // cfg.heads,
        mlp_ratio=cfg.mlp_ratio,
        patch_size=cfg.patch_size,
        image_size=cfg.image_size,
    )
    return _build_vision_tower(embed_dim=cfg.width, vision_cfg=vision_cfg, quick_gelu=cfg.quick_gelu)


def load_visual_weights(vit: nn.Module, path: str | Path) -> None:
    """Load the `visual.*` tensors of an open_clip checkpoint file (.pt state dict or .safetensors).

    The architecture comes from our config, not from open_clip's name registry, so a checkpoint of
    any ViT shape loads; a shape or name mismatch is an error naming the tensors.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    visual = {k[len("visual.") :]: v for k, v in state.items() if k.startswith("visual.")}
    visual.pop("proj", None)
    if not visual:
        raise ValueError(f"{path}: no visual.* tensors (not an open_clip checkpoint)")
    own = {k for k in vit.state_dict() if k != "proj"}
    missing, unexpected = sorted(own - set(visual)), sorted(set(visual) - own)
    if missing or unexpected:
        raise ValueError(
            f"{path}: does not fit the vision config: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    vit.load_state_dict(visual, strict=False)


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
