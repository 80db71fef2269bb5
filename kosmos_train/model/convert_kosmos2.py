"""Import Kosmos-2 weights (transformers' `Kosmos2ForConditionalGeneration`) into our model.

Kosmos-2 is the public KOSMOS-1-lineage model (`microsoft/kosmos-2-patch14-224`). Its architecture is
ours with sinusoidal positions: the same Sub-LN decoder, CLIP ViT-L/14 features (all tokens after
post_layernorm, L2-normalised) and the same single cross-attention connector. Only layouts differ:
separate q/k/v projections (we fuse them), transformers' CLIP names vs open_clip's.

    python -m kosmos_train.model.convert_kosmos2 --source microsoft/kosmos-2-patch14-224 --out runs/k2
(needs network access or a local copy of the checkpoint).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from kosmos_train.vocab import PAPER_SP_PIECES, VocabLayout

from .config import ConnectorConfig, DecoderConfig, KosmosConfig, VisionConfig

T = "text_model.model."
V = "vision_model.model."


def sp_pieces_for(vocab_size: int) -> int:
    """The paper's 64,000-piece layout when it fits (Kosmos-2 appends grounding tokens), else the largest that fits."""
    extra = VocabLayout(PAPER_SP_PIECES).size - PAPER_SP_PIECES
    return min(PAPER_SP_PIECES, vocab_size - extra)


def config_from_kosmos2(hf_config: Any, sp_pieces: int | None = None) -> KosmosConfig:
    """Our config for a transformers `Kosmos2Config` (positions switched to sinusoidal)."""
    text, vision = hf_config.text_config, hf_config.vision_config
    if text.activation_function != "gelu" or not text.scale_embedding:
        raise ValueError("only gelu and scaled embeddings are supported (as in Kosmos-2)")
    if vision.hidden_act not in ("quick_gelu", "gelu") or abs(vision.layer_norm_eps - 1e-5) > 1e-12:
        raise ValueError("the vision tower must use (quick_)gelu and LayerNorm eps 1e-5 as open_clip does")
    return KosmosConfig(
        name="kosmos2-import",
        sp_pieces=sp_pieces or sp_pieces_for(text.vocab_size),
        decoder=DecoderConfig(
            vocab_size=text.vocab_size,
            layers=text.layers,
            dim=text.embed_dim,
            ffn_dim=text.ffn_dim,
            heads=text.attention_heads,
            max_len=text.max_position_embeddings,
            dropout=text.dropout,
            attention_dropout=text.attention_dropout,
            activation_dropout=text.activation_dropout,
            layernorm_eps=text.layer_norm_eps,
            positions="sinusoidal",
        ),
        vision=VisionConfig(
            width=vision.hidden_size,
            layers=vision.num_hidden_layers,
            heads=vision.num_attention_heads,
            patch_size=vision.patch_size,
            image_size=vision.image_size,
            mlp_ratio=vision.intermediate_size / vision.hidden_size,
            quick_gelu=vision.hidden_act == "quick_gelu",
        ),
        connector=ConnectorConfig(
            image_tokens=hf_config.latent_query_num,
            heads=text.attention_heads,
            depth=1,
            dropout=text.attention_dropout,
        ),
    )


def _qkv(sd: Mapping[str, Tensor], prefix: str, kind: str) -> Tensor:
    return torch.cat([sd[f"{prefix}{p}_proj.{kind}"] for p in ("q", "k", "v")], dim=0)


def convert_state_dict(sd: Mapping[str, Tensor], config: KosmosConfig) -> dict[str, Tensor]:
    """Rename and fuse a Kosmos-2 state dict into ours."""
    out: dict[str, Tensor] = {"decoder.embed_tokens.weight": sd[T + "embed_tokens.weight"]}
    lm_head = sd.get("text_model.lm_head.weight")
    if lm_head is not None and not torch.equal(lm_head, out["decoder.embed_tokens.weight"]):
        raise ValueError("lm_head is not tied to embed_tokens; our model ties them")
    for i in range(config.decoder.layers):
        src, dst = f"{T}layers.{i}.", f"decoder.layers.{i}."
        for kind in ("weight", "bias"):
            out[f"{dst}self_attn.qkv_proj.{kind}"] = _qkv(sd, src + "self_attn.", kind)
            for name in (
                "self_attn.inner_attn_ln",
                "self_attn.out_proj",
                "self_attn_layer_norm",
                "ffn.fc1",
                "ffn.fc2",
                "ffn.ffn_layernorm",
                "final_layer_norm",
            ):
                out[f"{dst}{name}.{kind}"] = sd[f"{src}{name}.{kind}"]
    for kind in ("weight", "bias"):
        out[f"decoder.layer_norm.{kind}"] = sd[f"{T}layer_norm.{kind}"]

    clip = "vision.clip."
    out[clip + "class_embedding"] = sd[V + "embeddings.class_embedding"]
    out[clip + "conv1.weight"] = sd[V + "embeddings.patch_embedding.weight"]
    out[clip + "positional_embedding"] = sd[V + "embeddings.position_embedding.weight"]
    assert config.vision is not None
    for kind in ("weight", "bias"):
        out[f"{clip}ln_pre.{kind}"] = sd[f"{V}pre_layrnorm.{kind}"]
        out[f"{clip}ln_post.{kind}"] = sd[f"{V}post_layernorm.{kind}"]
        for i in range(config.vision.layers):
            src, dst = f"{V}encoder.layers.{i}.", f"{clip}transformer.resblocks.{i}."
            out[f"{dst}attn.in_proj_{kind}"] = _qkv(sd, src + "self_attn.", kind)
            pairs = {
                "attn.out_proj": "self_attn.out_proj",
                "ln_1": "layer_norm1",
                "ln_2": "layer_norm2",
                "mlp.c_fc": "mlp.fc1",
                "mlp.c_proj": "mlp.fc2",
            }
            for ours, theirs in pairs.items():
                out[f"{dst}{ours}.{kind}"] = sd[f"{src}{theirs}.{kind}"]
        out[f"connector.dense.{kind}"] = sd[f"image_to_text_projection.dense.{kind}"]
        for p in ("q", "k", "v", "out"):
            out[f"connector.x_attn.{p}_proj.{kind}"] = sd[f"image_to_text_projection.x_attn.{p}_proj.{kind}"]
    out["connector.latent_query"] = sd["image_to_text_projection.latent_query"]
    return out


def convert(hf_model: torch.nn.Module, sp_pieces: int | None = None):
    """Our `Kosmos` with the weights of a transformers Kosmos2ForConditionalGeneration."""
    from .architecture.kosmos import Kosmos

    config = config_from_kosmos2(hf_model.config, sp_pieces)
    with torch.device("meta"):
        model = Kosmos(config)
    model = model.to_empty(device="cpu")
    model.load_state_dict(convert_state_dict(hf_model.state_dict(), config), strict=True)
    assert model.vision is not None
    model.vision.freeze()
    return model


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--source", default="microsoft/kosmos-2-patch14-224", help="hub id or local directory"
    )
    parser.add_argument("--out", required=True, help="run directory to write")
    parser.add_argument("--tokenizer-model", help="SentencePiece model to copy into the run directory")
    args = parser.parse_args(argv)
    from transformers import Kosmos2ForConditionalGeneration

    hf = Kosmos2ForConditionalGeneration.from_pretrained(args.source, torch_dtype=torch.float32)
    from .run_dir import save_pretrained

    save_pretrained(convert(hf), args.out, args.tokenizer_model)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
