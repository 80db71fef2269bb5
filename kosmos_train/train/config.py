"""Training configuration: the KOSMOS-1 recipe and a `tiny` CPU preset.

A training config file (YAML or JSON) holds these keys; `model` is a preset name, a model config
file, or an inline model config mapping. A plain model config file (one with a `decoder` key) is
accepted too and gets the recipe defaults of the matching preset.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kosmos_train.data.corpus import STREAM_KINDS, SourceSpec, StreamSpec
from kosmos_train.model.config import PRESETS, KosmosConfig, load_config

# Stream order within a step (fixed, so every rank runs the same sequence of micro-batches).
STREAM_ORDER = STREAM_KINDS
RANDOM_CLIP = "random"  # the explicit opt-in to a randomly initialised vision tower
CLIP_FLAG = "--clip-pretrained"


class ConfigError(ValueError):
    """A training config that must not start (a user's mistake: one line, exit 2)."""


@dataclass
class TrainConfig:
    model: Any = "kosmos1"  # preset name, model config path, or a model config dict
    steps: int = 300_000
    lr: float = 2e-4
    warmup_steps: int = 375  # linear warm-up to `lr`, then linear decay to 0 at `steps`
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    weight_decay: float = 0.01  # not on biases, norms or other 1-d parameters
    grad_clip: float = 2.0
    zero_stage: int = 2
    precision: str = "auto"  # auto: bf16 on GPU, fp32 on CPU; or "bf16" / "fp32"
    # Decoder activation checkpointing: "full" (recompute whole layers), "selective" (recompute the
    # elementwise parts: xPos + attention core, GeLU + FFN LayerNorm) or "none". kosmos1 on 8 x 80 GB
    # with selective: 43.6 GiB per rank predicted by `kosmos_train plan`.
    activation_checkpointing: str = "selective"
    # CLIP weights: an open_clip tag ("openai"), a local open_clip checkpoint file, or "random"
    # (explicit: benchmarks and tests). None refuses to start when the vision tower is frozen.
    clip_pretrained: str | None = None
    # "tokens": one token-weighted mean NLL over all streams and ranks (the KOSMOS lineage);
    # "streams": the sum of per-stream means (each stream an equal share of the gradient).
    loss_weighting: str = "tokens"
    compile: bool = False  # torch.compile each decoder layer
    seed: int = 1
    # Global tokens per optimizer step for each stream (KOSMOS-1: 1.2M = 0.5M + 0.5M + 0.2M);
    # instruction data (when given) adds its own budget.
    tokens_per_step: dict[str, int] = field(
        default_factory=lambda: {
            "text": 500_000,
            "image_text": 500_000,
            "interleaved": 200_000,
            "instruction": 50_000,
        }
    )
    # Padded positions per micro-batch on one rank (rows x longest row, fairseq's max_tokens): the
    # bound on a micro-batch's activation memory whatever the length distribution.
    micro_batch_tokens: dict[str, int] = field(
        default_factory=lambda: {
            "text": 16_384,
            "image_text": 16_384,
            "interleaved": 16_384,
            "instruction": 16_384,
        }
    )
    # Longest row per stream; missing kinds use the model's max_len. Captions: 128 (paper: 6144 x 128).
    max_len: dict[str, int] = field(default_factory=lambda: {"image_text": 128})
    max_images: int = 5
    # Captions / instructions: rows of this many micro-batches are sorted by length together (bucketing:
    # 1.03 computed positions per token at 8); a small corpus wants a small pool (fewer repeats per batch).
    bucket_pool: int = 8
    shuffle_buffer: int = 512
    num_workers: int = 2  # dataloader workers per stream and rank
    log_every: int = 10
    save_every: int = 1000
    keep_checkpoints: int = 2
    peak_tflops: float | None = None  # per device, for the MFU estimate; None: known GPUs only

    def __post_init__(self) -> None:
        from kosmos_train.model.config import CHECKPOINT_MODES

        if self.activation_checkpointing not in CHECKPOINT_MODES:
            raise ConfigError(
                f"activation_checkpointing {self.activation_checkpointing!r}: expected one of {CHECKPOINT_MODES}"
            )
        if self.loss_weighting not in ("tokens", "streams"):
            raise ConfigError(f"loss_weighting {self.loss_weighting!r}: expected 'tokens' or 'streams'")

    def model_config(self) -> KosmosConfig:
        if isinstance(self.model, dict):
            return KosmosConfig.from_dict(self.model)
        return load_config(self.model)

    def streams(self, sources: list[SourceSpec], model: KosmosConfig) -> list[StreamSpec]:
        """One StreamSpec per kind that has sources, in STREAM_ORDER."""
        out = []
        for kind in STREAM_ORDER:
            mine = [s for s in sources if s.kind == kind]
            if not mine:
                continue
            max_len = min(self.max_len.get(kind, model.decoder.max_len), model.decoder.max_len)
            out.append(
                StreamSpec(
                    kind=kind,
                    sources=mine,
                    tokens_per_step=self.tokens_per_step[kind],
                    micro_batch_tokens=self.micro_batch_tokens[kind],
                    max_len=max_len,
                    shuffle_buffer=self.shuffle_buffer,
                    max_images=self.max_images,
                    bucket_pool=self.bucket_pool,
                )
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if isinstance(self.model, KosmosConfig):
            d["model"] = self.model.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown training config keys {sorted(unknown)}")
        d = dict(d)
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        for key in ("tokens_per_step", "micro_batch_tokens", "max_len"):
            if key in d:
                d[key] = {**getattr(cls(), key), **d[key]}
        return cls(**d)


def kosmos1() -> TrainConfig:
    return TrainConfig()


def tiny() -> TrainConfig:
    """The recipe scaled to a CPU: small budgets, short warm-up, higher LR, no dataloader workers."""
    return TrainConfig(
        model="tiny",
        steps=200,
        lr=1e-3,
        warmup_steps=10,
        zero_stage=2,
        tokens_per_step={"text": 1024, "image_text": 1024, "interleaved": 512, "instruction": 256},
        micro_batch_tokens={"text": 512, "image_text": 512, "interleaved": 512, "instruction": 256},
        max_len={"image_text": 64},
        shuffle_buffer=64,
        bucket_pool=1,  # tiny corpora: a pool of 8 micro-batches would repeat each caption many times
        num_workers=0,
        activation_checkpointing="none",
        clip_pretrained=RANDOM_CLIP,  # no pretrained weights exist for the tiny ViT
        log_every=10,
        save_every=100,
    )


TRAIN_PRESETS = {"kosmos1": kosmos1, "tiny": tiny}


def clip_weights(cfg: TrainConfig, model: KosmosConfig) -> str | None:
    """The CLIP weights a run asks for: `clip_pretrained`, else the model config's own setting."""
    if cfg.clip_pretrained is not None:
        return cfg.clip_pretrained
    return model.vision.pretrained if model.vision is not None else None


def check_clip_weights(cfg: TrainConfig) -> None:
    """Refuse a frozen vision tower without weights: it would silently train against a random ViT."""
    model = cfg.model_config()
    if model.vision is None:
        return
    weights = clip_weights(cfg, model)
    if weights is None:
        raise ConfigError(
            f"model {model.name!r} freezes its CLIP vision tower: pass {CLIP_FLAG} TAG|PATH (an open_clip "
            f"tag such as openai, or a local open_clip checkpoint file), or {CLIP_FLAG} {RANDOM_CLIP}"
        )
    looks_like_path = "/" in weights or Path(weights).suffix in (".pt", ".pth", ".bin", ".safetensors")
    if weights != RANDOM_CLIP and looks_like_path and not Path(weights).is_file():
        raise ConfigError(f"{CLIP_FLAG} {weights}: no such checkpoint file")


def load_train_config(name_or_path: str | Path) -> TrainConfig:
    """A preset name, a training config file, or a model config file (with the matching recipe)."""
    name = str(name_or_path)
    if name in TRAIN_PRESETS:
        return TRAIN_PRESETS[name]()
    path = Path(name_or_path)
    if not path.is_file():
        raise ValueError(f"{name!r} is neither a preset ({', '.join(TRAIN_PRESETS)}) nor a file")
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        d = yaml.safe_load(text)
    else:
        d = json.loads(text)
    if not isinstance(d, dict):
        raise ValueError(f"{path}: expected a mapping")
    if "decoder" in d:  # a model config file
        model = KosmosConfig.from_dict(d)
        base = TRAIN_PRESETS.get(model.name, kosmos1)()
        base.model = model.to_dict()
        decoder = d["decoder"] if isinstance(d["decoder"], dict) else {}
        if decoder.get("checkpoint_activations") is not None:  # the file's own choice wins the preset's
            base.activation_checkpointing = model.decoder.checkpoint_activations
        return base
    preset = d.pop("preset", None) or (d.get("model") if d.get("model") in PRESETS else "kosmos1")
    base = TRAIN_PRESETS.get(preset, kosmos1)().to_dict()
    merged = {**base, **d}
    for key in ("tokens_per_step", "micro_batch_tokens", "max_len"):
        if isinstance(d.get(key), dict):
            merged[key] = {**base[key], **d[key]}
    return TrainConfig.from_dict(merged)
