"""`kosmos_train plan`: predicted peak memory per rank and step time / MFU for a training config.

Memory per rank (bf16 weights, ZeRO stage s over W ranks, AdamW):
  weights      2 B x every parameter (frozen CLIP included; DeepSpeed casts the module to bf16)
  gradients    fp32 accumulation (data_types.grad_accum_dtype): 4 B x trainable / W (s >= 2, else
               x 1), plus two bf16 reduce buckets (overlap_comm double-buffers them)
  optimizer    fp32 master weights + Adam m and v: 12 B x trainable / W (s >= 1, else x 1)
  activations  decoder: layers x padded positions x bytes per position per layer, the constant
               measured with saved-tensor hooks (`measure_saved_bytes`); full checkpointing keeps
               only each layer's input plus one layer being recomputed; vision: the trainable last
               CLIP block and the connector per image (frozen blocks save nothing)
  logits/loss  one chunk of fp32 logits, their bf16 GEMM output and the fp32 gradient
  workspace    CUDA context, cuBLAS/NCCL workspaces and allocator fragmentation (an assumption)

Step time is a roofline: the GEMM FLOPs (recompute included) at an assumed fraction of the bf16
peak, attention at another, the elementwise bytes (LayerNorms, xPos, GeLU, dropout, residuals;
fused by `--compile`) at HBM bandwidth, and the optimizer's pass over its states. Gradient
reduction is assumed hidden behind the backward (overlap_comm). MFU counts model FLOPs only
(no recompute), as PaLM does.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.checkpoint import checkpoint

from kosmos_train.model.config import KosmosConfig
from kosmos_train.train.config import TrainConfig, load_train_config
from kosmos_train.train.metrics import image_flops, token_flops

GIB = 1024**3

# Bytes saved for backward per position per decoder layer, bf16, as  A * dim + B * ffn_dim + H * heads,
# measured by `calibrate()` with saved-tensor hooks (torch 2.14 on CPU, dropout 0.1; attention dropout
# off, as the GPU flash kernel stores no dropout mask). kosmos1 without checkpointing: 118.9 KB.
# Regenerate: python -m kosmos_train.train.plan --calibrate
SAVED = {"none": (26.062, 8.0, 4.0), "selective": (22.047, 4.0, 0.0), "full": (2.0, 0.0, 0.0)}
# Vision tower per image: bytes per CLIP token and width unit saved by the trainable last block,
# ln_post and the connector (frozen blocks save nothing), measured by `calibrate()` as well.
VISION_SAVED_PER_TOKEN_WIDTH = 68.158


@dataclass
class Device:
    """A GPU's roofline numbers and the efficiencies assumed for each kind of work."""

    name: str = "H100/H200 SXM"
    peak_tflops: float = 989.0  # dense bf16
    hbm_tb_s: float = 3.35  # H100 SXM; H200: 4.8
    gemm_efficiency: float = 0.75  # achieved / peak for the large GEMMs (cuBLAS on H100: 0.7-0.8)
    attention_efficiency: float = 0.5  # FlashAttention-2 on H100 forward+backward
    elementwise_efficiency: float = 0.7  # of HBM bandwidth for memory-bound kernels
    workspace_gib: float = 2.5  # CUDA context, cuBLAS + NCCL workspaces
    fragmentation: float = 0.05  # allocator slack on top of the live tensors


@dataclass
class Plan:
    config: str
    gpus: int
    gpu_memory_gib: float
    micro_batch_tokens: dict[str, int]
    memory_gib: dict[str, float]  # per rank, at the stream with the largest micro-batch footprint
    peak_gib: float
    fits: bool
    largest_micro_batch_tokens: int
    step_s: float
    mfu: float
    tokens_per_s_per_gpu: float
    assumptions: dict[str, Any] = field(default_factory=dict)


def parameter_counts(config: KosmosConfig) -> tuple[int, int]:
    """(all parameters, trainable parameters), counted on the meta device (once per config)."""
    return _counts(json.dumps(config.to_dict(), sort_keys=True))


@functools.lru_cache(maxsize=16)
def _counts(config_json: str) -> tuple[int, int]:
    from kosmos_train.model.info import count_parameters

    counts = count_parameters(KosmosConfig.from_dict(json.loads(config_json)))
    return counts["total"], counts["trainable"]


def per_layer_bytes(config: KosmosConfig, mode: str) -> float:
    """Saved bytes per position per decoder layer in `mode` ("none" / "selective" / "full")."""
    d = config.decoder
    a, b, h = SAVED[mode]
    return a * d.dim + b * d.ffn_dim + h * d.heads


def activation_bytes(config: KosmosConfig, positions: int, images: int, mode: str) -> float:
    """Decoder + vision activations saved for backward in one micro-batch of `positions` padded positions."""
    d = config.decoder
    layers = d.layers * positions * per_layer_bytes(config, mode)
    if mode == "full":  # the layer being recomputed holds its full set for a moment
        layers += positions * per_layer_bytes(config, "none")
    edges = positions * d.dim * 2 * 4  # embeddings, their scaled copy, final LN in/out
    edges += positions * d.head_dim * 4 * 4  # the xPos tables (fp32, shared by all rows and layers)
    vision = 0.0
    if config.vision is not None:
        vision = images * config.vision.tokens * config.vision.width * VISION_SAVED_PER_TOKEN_WIDTH
    return layers + edges + vision


def loss_bytes(config: KosmosConfig, positions: int) -> float:
    """The chunked loss: one chunk's bf16 logits, fp32 logits and fp32 logit gradient (10 B per logit)."""
    from kosmos_train.model.loss import LOSS_CHUNK_ROWS

    return min(positions, LOSS_CHUNK_ROWS) * config.decoder.embedding_rows * 10.0


def images_per_micro_batch(cfg: TrainConfig, config: KosmosConfig, kind: str, positions: int) -> int:
    """Images in a micro-batch: one per caption row; interleaved at most one block per block length."""
    if config.vision is None or kind in ("text", "instruction"):
        return 0
    block = config.connector.image_tokens + 2
    if kind == "image_text":
        caption_row = 1 + block + 16 + 1  # median caption ~16 tokens
        return positions // caption_row
    return min(positions // block, positions // 600 * cfg.max_images)  # ~600-token documents


def memory(
    cfg: TrainConfig, config: KosmosConfig, gpus: int, positions: int, kind: str, dev: Device
) -> dict[str, float]:
    """Predicted bytes per rank, by part, for one stream's micro-batch of `positions` padded positions."""
    total, trainable = parameter_counts(config)
    stage = cfg.zero_stage
    bucket = 2 * 2 * 50_000_000  # two bf16 reduce buckets (loop.BUCKET_ELEMENTS)
    grads = 4.0 * trainable / (gpus if stage >= 2 else 1) + (bucket if stage >= 2 else 2.0 * trainable)
    parts = {
        "weights": 2.0 * total,
        "gradients": grads,
        "optimizer": 12.0 * trainable / (gpus if stage >= 1 else 1),
        "activations": activation_bytes(
            config,
            positions,
            images_per_micro_batch(cfg, config, kind, positions),
            cfg.activation_checkpointing,
        ),
        "logits_loss": loss_bytes(config, positions),
    }
    parts["workspace"] = dev.workspace_gib * GIB + dev.fragmentation * sum(parts.values())
    return parts


def step_time(cfg: TrainConfig, config: KosmosConfig, gpus: int, dev: Device) -> tuple[float, float, float]:
    """(seconds per step, MFU, model FLOPs per rank per step) from the roofline."""
    d = config.decoder
    _, trainable = parameter_counts(config)
    seconds, model_flops = 0.0, 0.0
    for kind, tokens in cfg.tokens_per_step.items():
        if kind == "instruction":
            continue
        seq = min(cfg.max_len.get(kind, d.max_len), d.max_len)
        rank_tokens = tokens / gpus
        images = (
            rank_tokens / 84
            if kind == "image_text"
            else (rank_tokens / 600 * 3 if kind == "interleaved" else 0)
        )
        matmul = 6.0 * (d.layers * (4 * d.dim**2 + 2 * d.dim * d.ffn_dim) + d.embedding_rows * d.dim)
        attention = 12.0 * d.layers * seq * d.dim / 2  # causal: half the score matrix
        recompute = {"full": 1.0, "selective": 0.0, "none": 0.0}[cfg.activation_checkpointing]
        gemm = rank_tokens * matmul * (1 + recompute / 3)
        attn = (
            rank_tokens * attention * (1 + recompute / 3 + (cfg.activation_checkpointing == "selective") / 3)
        )
        vision = images * image_flops(config)
        seconds += (gemm + vision) / (dev.peak_tflops * 1e12 * dev.gemm_efficiency)
        seconds += attn / (dev.peak_tflops * 1e12 * dev.attention_efficiency)
        seconds += (
            rank_tokens
            * d.layers
            * elementwise_bytes(config, cfg)
            / (dev.hbm_tb_s * 1e12 * dev.elementwise_efficiency)
        )
        model_flops += rank_tokens * token_flops(config, seq) + vision
    optimizer_bytes = 16.0 * trainable / (gpus if cfg.zero_stage >= 1 else 1) * 2  # read + write
    seconds += optimizer_bytes / (dev.hbm_tb_s * 1e12 * dev.elementwise_efficiency)
    return seconds, model_flops / (seconds * dev.peak_tflops * 1e12), model_flops


def elementwise_bytes(config: KosmosConfig, cfg: TrainConfig) -> float:
    """HBM bytes per position per layer of the non-GEMM work, forward + backward (+ recompute).

    Forward, per position (bf16 = 2 B): two pre-LNs and the inner LN (read + write d each), xPos on q
    and k (read 2d, write 2d), dropout + residual twice (read 2d, write d each), GeLU and the FFN
    LayerNorm (read + write ffn each; fused into one pass by --compile), attention output. Unfused,
    xPos and GeLU also round-trip fp32 copies. Backward moves about twice the forward's bytes.
    """
    d, f = config.decoder.dim, config.decoder.ffn_dim
    if cfg.compile:
        forward = 2.0 * (3 * 2 * d + 4 * d + 2 * 3 * d + 2 * f)
    else:
        forward = 2.0 * (3 * 2 * d + 4 * d + 2 * 3 * d + 4 * f) + 4.0 * (4 * d + 2 * f)
    recompute = 1.0 if cfg.activation_checkpointing != "none" else 0.0
    return forward * (3.0 + recompute)


def plan(cfg: TrainConfig, name: str, gpus: int, gpu_memory_gib: float, dev: Device | None = None) -> Plan:
    dev = dev or Device()
    config = cfg.model_config()
    config.decoder.checkpoint_activations = cfg.activation_checkpointing
    kinds = [k for k in cfg.tokens_per_step if k != "instruction"]
    worst, parts = 0.0, {}
    for kind in kinds:
        p = memory(cfg, config, gpus, cfg.micro_batch_tokens[kind], kind, dev)
        if sum(p.values()) > worst:
            worst, parts = sum(p.values()), p
    largest = largest_micro_batch(cfg, config, gpus, gpu_memory_gib, dev)
    seconds, mfu, _ = step_time(cfg, config, gpus, dev)
    tokens = sum(v for k, v in cfg.tokens_per_step.items() if k != "instruction") / gpus
    return Plan(
        config=name,
        gpus=gpus,
        gpu_memory_gib=gpu_memory_gib,
        micro_batch_tokens={k: cfg.micro_batch_tokens[k] for k in kinds},
        memory_gib={k: round(v / GIB, 2) for k, v in parts.items()},
        peak_gib=round(worst / GIB, 2),
        fits=worst <= gpu_memory_gib * GIB,
        largest_micro_batch_tokens=largest,
        step_s=round(seconds, 3),
        mfu=round(mfu, 3),
        tokens_per_s_per_gpu=round(tokens / seconds),
        assumptions={
            **dataclasses.asdict(dev),
            "activation_checkpointing": cfg.activation_checkpointing,
            "zero_stage": cfg.zero_stage,
            "compile": cfg.compile,
            "images": "one per caption row (16-token captions); interleaved ~600-token documents, 3 images",
            "communication": "gradient reduction hidden behind the backward (overlap_comm)",
        },
    )


def largest_micro_batch(
    cfg: TrainConfig, config: KosmosConfig, gpus: int, gpu_memory_gib: float, dev: Device
) -> int:
    """The most padded positions per micro-batch (a multiple of 1024) whose worst stream still fits."""
    budget = gpu_memory_gib * GIB

    def fits(positions: int) -> bool:
        kinds = [k for k in cfg.tokens_per_step if k != "instruction"]
        return all(sum(memory(cfg, config, gpus, positions, k, dev).values()) <= budget for k in kinds)

    lo, hi = 0, 1024
    while fits(hi) and hi < 1 << 24:
        lo, hi = hi, hi * 2
    while hi - lo > 1024:
        mid = (lo + hi) // 2 // 1024 * 1024
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


# -- measuring the activation constant ----------------------------------------------------------


def measure_saved_bytes(
    config: KosmosConfig, rows: int, seq: int, mode: str, dtype: torch.dtype = torch.bfloat16
) -> float:
    """Bytes the decoder layers save for backward on a (rows, seq) input, counted by saved-tensor hooks.

    Each storage counts once (views share it). Parameters are not activations, and the xPos tables
    are shared by all layers (`activation_bytes` adds them once), so both are left out. The inputs a
    checkpointed region keeps for its recompute pass through the same hooks, so every mode is measured.
    """
    from kosmos_train.model.architecture.decoder import Decoder

    d = dataclasses.replace(config.decoder, checkpoint_activations=mode, attention_dropout=0.0)
    torch.manual_seed(0)
    decoder = Decoder(d).to(dtype).train()
    skip = {p.untyped_storage().data_ptr() for p in decoder.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in skip:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    x = torch.randn(rows, seq, d.dim, dtype=dtype, requires_grad=True)
    xpos = None
    if d.positions == "xpos":
        from kosmos_train.model.components import xpos_tables

        xpos = xpos_tables(seq, d.head_dim, d.xpos_scale_base)
        skip |= {t.untyped_storage().data_ptr() for t in xpos}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        for layer in decoder.layers:
            x = layer(x, xpos) if mode != "full" else checkpoint(layer, x, xpos, use_reentrant=False)
    return float(sum(seen.values()))


def measure_vision_saved_bytes(
    config: KosmosConfig, images: int, dtype: torch.dtype = torch.bfloat16
) -> float:
    """Bytes the vision tower and connector save for backward on `images` images (hooks, as above)."""
    from kosmos_train.model.architecture.kosmos import Kosmos

    torch.manual_seed(0)
    model = Kosmos(dataclasses.replace(config, vision=dataclasses.replace(config.vision, pretrained=None)))
    model = model.to(dtype).train()
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.untyped_storage().data_ptr() not in params:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    size = config.vision.image_size
    pixels = torch.randn(images, 3, size, size, dtype=dtype)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.image_embeddings(pixels)
    return float(sum(seen.values()))


def calibrate() -> dict[str, Any]:
    """Fit SAVED and VISION_SAVED_PER_TOKEN_WIDTH from hook measurements at small widths."""
    from kosmos_train.model.config import ConnectorConfig, DecoderConfig, VisionConfig

    rows, seq = 2, 128
    out: dict[str, Any] = {}
    for mode in ("none", "selective", "full"):
        shapes = [(256, 1024, 4), (256, 512, 4), (256, 1024, 8)]
        per = []
        for dim, ffn, heads in shapes:
            cfg = KosmosConfig(
                sp_pieces=1000,
                decoder=DecoderConfig(
                    vocab_size=1007, layers=1, dim=dim, ffn_dim=ffn, heads=heads, dropout=0.1
                ),
                vision=None,
            )
            per.append(measure_saved_bytes(cfg, rows, seq, mode) / (rows * seq))
        b = (per[0] - per[1]) / 512
        h = (per[2] - per[0]) / 4
        a = (per[0] - b * 1024 - h * 4) / 256
        out[mode] = (round(a, 3), round(b, 3), round(h, 3))
    vis = KosmosConfig(
        sp_pieces=1000,
        decoder=DecoderConfig(vocab_size=1007, layers=1, dim=128, ffn_dim=512, heads=4),
        vision=VisionConfig(width=128, layers=2, heads=4, patch_size=8, image_size=64),
        connector=ConnectorConfig(image_tokens=16, heads=4),
    )
    images = 3
    out["vision"] = round(
        measure_vision_saved_bytes(vis, images) / (images * vis.vision.tokens * vis.vision.width), 3
    )
    return out


# -- the command ---------------------------------------------------------------------------------


def table(p: Plan) -> str:
    lines = [
        f"plan: {p.config} on {p.gpus} x {p.gpu_memory_gib:g} GiB, micro-batches {p.micro_batch_tokens} padded positions",
        f"{'memory per rank':<22}{'GiB':>8}",
    ]
    lines += [f"  {k:<20}{v:>8.2f}" for k, v in p.memory_gib.items()]
    lines += [
        f"  {'peak':<20}{p.peak_gib:>8.2f}  ({'fits' if p.fits else 'DOES NOT FIT'})",
        f"largest micro-batch that fits: {p.largest_micro_batch_tokens} padded positions",
        f"predicted step: {p.step_s:.3f} s, {p.tokens_per_s_per_gpu} tokens/s per GPU, MFU {100 * p.mfu:.1f}%",
        "assumptions: " + ", ".join(f"{k}={v}" for k, v in p.assumptions.items()),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="kosmos_train plan", description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="kosmos1", help="training preset or config file (default kosmos1)")
    ap.add_argument("--gpus", type=int, default=8, help="data-parallel ranks")
    ap.add_argument("--gpu-memory-gib", type=float, default=80.0, help="memory of one GPU")
    ap.add_argument(
        "--micro-batch-tokens", nargs="+", metavar="KIND=N", help="padded positions per micro-batch"
    )
    ap.add_argument("--activation-checkpointing", choices=("full", "selective", "none"))
    ap.add_argument("--compile", action="store_true", help="assume compiled (fused) elementwise work")
    ap.add_argument("--hbm-tb-s", type=float, help="HBM bandwidth (H100 3.35, H200 4.8)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ap.add_argument(
        "--calibrate", action="store_true", help="measure the activation constants and print them"
    )
    args = ap.parse_args(argv)
    if args.calibrate:
        print(json.dumps(calibrate()))
        return 0
    try:
        cfg = load_train_config(args.config)
    except ValueError as e:
        raise SystemExit(f"kosmos_train plan: {e}") from None
    for value in args.micro_batch_tokens or []:
        kind, _, n = value.partition("=")
        if kind not in cfg.micro_batch_tokens or not n.isdigit():
            raise SystemExit(f"kosmos_train plan: --micro-batch-tokens {value!r}: expected KIND=N")
        cfg.micro_batch_tokens[kind] = int(n)
    if args.activation_checkpointing:
        cfg.activation_checkpointing = args.activation_checkpointing
    cfg.compile = cfg.compile or args.compile
    dev = Device(hbm_tb_s=args.hbm_tb_s) if args.hbm_tb_s else Device()
    result = plan(cfg, args.config, args.gpus, args.gpu_memory_gib, dev)
    print(json.dumps(dataclasses.asdict(result), indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
