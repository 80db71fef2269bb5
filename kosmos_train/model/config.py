"""Model configuration: plain dataclasses, named presets, JSON/YAML round trip.

Presets: `kosmos1` (the paper's model) and `tiny` (CPU tests and the demo).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kosmos_train.vocab import VocabLayout

PositionKind = Literal["xpos", "sinusoidal"]
CHECKPOINT_MODES = ("none", "selective", "full")


def padded_size(n: int, multiple: int) -> int:
    """`n` rounded up to a multiple of `multiple` (GEMM-friendly embedding row counts)."""
    return -(-n // multiple) * multiple


@dataclass
class DecoderConfig:
    """The MAGNETO (Sub-LN) decoder-only language model."""

    vocab_size: int = 64_007
    layers: int = 24
    dim: int = 2048
    ffn_dim: int = 8192
    heads: int = 32
    max_len: int = 2048
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.0
    layernorm_eps: float = 1e-5
    # "xpos" (the paper) or "sinusoidal" (the public Kosmos-2 lineage; needed for its weights).
    positions: PositionKind = "xpos"
    xpos_scale_base: int = 512
    # Recompute in backward: "full" (whole layers: only each layer's input is kept), "selective"
    # (xPos + attention core and the FFN's GeLU/LayerNorm), or "none". True/False mean full/none.
    checkpoint_activations: str = "none"
    # Embedding rows are vocab_size rounded up to this multiple (aligned output GEMM); the extra rows'
    # logits are -inf, so they are never predicted and never change the loss.
    pad_vocab_multiple: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.checkpoint_activations, bool):
            self.checkpoint_activations = "full" if self.checkpoint_activations else "none"
        if self.checkpoint_activations not in CHECKPOINT_MODES:
            raise ValueError(
                f"checkpoint_activations {self.checkpoint_activations!r}: expected one of {CHECKPOINT_MODES}"
            )

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def embedding_rows(self) -> int:
        return padded_size(self.vocab_size, max(1, self.pad_vocab_multiple))


@dataclass
class VisionConfig:
    """An open_clip ViT used as a feature extractor (all tokens after ln_post, no projection)."""

    width: int = 1024
    layers: int = 24
    heads: int = 16
    patch_size: int = 14
    image_size: int = 224
    mlp_ratio: float = 4.0
    quick_gelu: bool = True  # OpenAI CLIP weights were trained with QuickGELU
    # None: random init. A local checkpoint path, or an open_clip pretrained tag such as "openai".
    pretrained: str | None = None
    open_clip_name: str = "ViT-L-14"  # the architecture a pretrained tag refers to
    train_last_block: bool = True  # KOSMOS-1 trains resblocks[-1] and ln_post, freezes the rest

    @property
    def tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2 + 1


@dataclass
class ConnectorConfig:
    """The resampler from image tokens to `image_tokens` language-model vectors."""

    image_tokens: int = 64
    heads: int = 32
    depth: int = 1  # 1: the KOSMOS/Kosmos-2 single cross-attention; >1: Flamingo-style Perceiver stack
    dropout: float = 0.1


@dataclass
class KosmosConfig:
    name: str = "kosmos1"
    sp_pieces: int = 64_000  # size of the SentencePiece model the vocabulary layout is built on
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    vision: VisionConfig | None = field(default_factory=VisionConfig)  # None: text-only model
    connector: ConnectorConfig = field(default_factory=ConnectorConfig)

    def __post_init__(self) -> None:
        if self.decoder.vocab_size < self.vocab.size:
            raise ValueError(
                f"vocab_size {self.decoder.vocab_size} < {self.vocab.size} ids of the layout "
                f"for {self.sp_pieces} SentencePiece pieces"
            )
        if self.decoder.dim % self.decoder.heads or self.decoder.dim % self.connector.heads:
            raise ValueError("dim must be divisible by the decoder and connector head counts")
        if self.decoder.positions not in ("xpos", "sinusoidal"):
            raise ValueError(f"unknown positions {self.decoder.positions!r}")

    @property
    def vocab(self) -> VocabLayout:
        return VocabLayout(self.sp_pieces)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KosmosConfig:
        d = dict(d)
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}")
        sub = {"decoder": DecoderConfig, "vision": VisionConfig, "connector": ConnectorConfig}
        for key, kind in sub.items():
            if isinstance(d.get(key), dict):
                d[key] = _strict(kind, d[key])
        return cls(**d)

    def save(self, path: str | Path) -> None:
        """Write JSON, or YAML when the suffix is .yaml/.yml."""
        path = Path(path)
        if path.suffix in (".yaml", ".yml"):
            import yaml

            text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        else:
            text = json.dumps(self.to_dict(), indent=2) + "\n"
        path.write_text(text)

    @classmethod
    def load(cls, path: str | Path) -> KosmosConfig:
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            import yaml

            return cls.from_dict(yaml.safe_load(text))
        return cls.from_dict(json.loads(text))


def _strict(kind: type, d: dict[str, Any]) -> Any:
    """Build dataclass `kind` from `d`, refusing unknown keys (typos must not pass silently)."""
    unknown = set(d) - {f.name for f in dataclasses.fields(kind)}
    if unknown:
        raise ValueError(f"unknown {kind.__name__} keys {sorted(unknown)}")
    return kind(**d)


def kosmos1() -> KosmosConfig:
    """The paper's model: 24 x 2048 MAGNETO decoder + CLIP ViT-L/14 + 64-token resampler.

    The 64,007-id vocabulary gets 64,128 embedding rows (a multiple of 128) for the output GEMM.
    """
    return KosmosConfig(decoder=DecoderConfig(pad_vocab_multiple=128))


def tiny() -> KosmosConfig:
    """A few-layer model with a tiny ViT: builds and trains in seconds on a CPU."""
    return KosmosConfig(
        name="tiny",
        sp_pieces=1000,
        decoder=DecoderConfig(
            vocab_size=1007,
            layers=2,
            dim=64,
            ffn_dim=256,
            heads=4,
            max_len=256,
            dropout=0.0,
            attention_dropout=0.0,
            pad_vocab_multiple=128,
        ),
        vision=VisionConfig(width=64, layers=2, heads=2, patch_size=8, image_size=32),
        connector=ConnectorConfig(image_tokens=8, heads=4, dropout=0.0),
    )


PRESETS = {"kosmos1": kosmos1, "tiny": tiny}


def load_config(name_or_path: str | Path) -> KosmosConfig:
    """A preset by name, or a JSON/YAML file, or a run directory holding config.json."""
    if str(name_or_path) in PRESETS:
        return PRESETS[str(name_or_path)]()
    path = Path(name_or_path)
    if not path.exists():
        raise ValueError(f"{name_or_path!r} is neither a preset ({', '.join(PRESETS)}) nor a file")
    return KosmosConfig.load(path)
