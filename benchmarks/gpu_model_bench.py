"""KOSMOS-1 model benchmark: training step throughput, MFU, memory, micro-batch limits, CLIP throughput.

GPU (the issue's figures; one H100/H200, bf16, sequence 2048):
    python benchmarks/gpu_model_bench.py                       # kosmos1 config
CPU reference (tiny config step time only):
    python benchmarks/gpu_model_bench.py --device cpu --config tiny

Measures forward+backward of the whole model (CLIP forward, its trainable last block's backward,
connector, decoder, loss), without the optimizer step (DeepSpeed's, measured by the training issue).
MFU counts model FLOPs the PaLM way (6 x params x tokens plus 12 x layers x seq x dim per token for
attention, no causal halving) and adds the CLIP forward and the last CLIP block's backward.
Writes the figures as JSON to $OUT/model_bench.json when OUT is set, and prints them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kosmos_train.model import Kosmos, KosmosConfig, load_config  # noqa: E402

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0}  # dense, no sparsity


def peak_tflops(device: torch.device, override: float | None) -> float | None:
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def make_batch(cfg: KosmosConfig, batch: int, seq: int, images_per_sample: int, device: torch.device):
    """Random text with `images_per_sample` image blocks spread over each row; all text carries loss."""
    v, n = cfg.vocab, cfg.connector.image_tokens
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(v.first_piece, v.mask, (batch, seq), generator=g)
    ids[:, 0] = v.bos
    if cfg.vision is None:
        images_per_sample = 0
    for k in range(images_per_sample):
        start = 1 + k * (seq - 1) // max(images_per_sample, 1)
        ids[:, start] = v.image
        ids[:, start + n + 1] = v.image_end
    images = None
    if images_per_sample and cfg.vision is not None:
        size = cfg.vision.image_size
        images = torch.randn(batch * images_per_sample, 3, size, size, generator=g)
        images = images.to(device)
    return ids.to(device), images


def step_flops(cfg: KosmosConfig, batch: int, seq: int, images_per_sample: int) -> float:
    """Model FLOPs of one forward+backward (see the module docstring for the convention)."""
    d, layers = cfg.decoder, cfg.decoder.layers
    per_layer = 4 * d.dim * d.dim + 2 * d.dim * d.ffn_dim  # qkv + out, fc1 + fc2 weights
    tokens = batch * seq
    flops = 6 * (layers * per_layer + d.vocab_size * d.dim) * tokens + 12 * layers * seq * d.dim * tokens
    if cfg.vision is not None and images_per_sample:
        vis, t = cfg.vision, cfg.vision.tokens
        block = 4 * vis.width * vis.width + 2 * vis.width * int(vis.width * vis.mlp_ratio)
        per_image_fwd = 2 * vis.layers * block * t + 4 * vis.layers * t * t * vis.width
        last_block_bwd = 4 * block * t + 8 * t * t * vis.width
        n_lat = cfg.connector.image_tokens
        conn = 6 * (
            cfg.vision.width * d.dim * t + 2 * d.dim * d.dim * n_lat + 2 * d.dim * d.dim * (t + n_lat)
        )
        conn += 12 * n_lat * (t + n_lat) * d.dim
        flops += batch * images_per_sample * (per_image_fwd + last_block_bwd + conn)
    return float(flops)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_step(model: Kosmos, ids: torch.Tensor, images: torch.Tensor | None, dtype: torch.dtype) -> float:
    with torch.autocast(device_type=ids.device.type, dtype=dtype, enabled=dtype != torch.float32):
        out = model.loss(ids, images)
    out.loss.backward()
    model.zero_grad(set_to_none=True)
    return out.loss.item()


def time_steps(model, ids, images, dtype, device, warmup: int, steps: int) -> float:
    """Median seconds per forward+backward."""
    for _ in range(warmup):
        train_step(model, ids, images, dtype)
    times = []
    for _ in range(steps):
        sync(device)
        t = time.perf_counter()
        train_step(model, ids, images, dtype)
        sync(device)
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def largest_micro_batch(model, cfg, seq, images_per_sample, dtype, device, limit: int) -> int:
    """Doubling search for the largest micro-batch whose forward+backward fits in GPU memory."""
    best, mb = 0, 1
    while mb <= limit:
        try:
            ids, images = make_batch(cfg, mb, seq, images_per_sample, device)
            train_step(model, ids, images, dtype)
            best = mb
            mb *= 2
        except torch.cuda.OutOfMemoryError:
            break
        finally:
            model.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return best


@torch.no_grad()
def clip_throughput(cfg: KosmosConfig, model: Kosmos, device, dtype, batch: int, steps: int) -> float:
    """Images per second through the vision tower (features for the connector), inference."""
    assert model.vision is not None and cfg.vision is not None
    size = cfg.vision.image_size
    x = torch.randn(batch, 3, size, size, device=device)
    with torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype != torch.float32):
        for _ in range(2):
            model.vision(x)
        sync(device)
        t = time.perf_counter()
        for _ in range(steps):
            model.vision(x)
        sync(device)
    return batch * steps / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--config", default="kosmos1", help="preset or JSON/YAML file")
    p.add_argument("--seq", type=int, default=None, help="sequence length (default: the config's max_len)")
    p.add_argument("--micro-batch", type=int, default=None, help="default 8 on GPU, 2 on CPU")
    p.add_argument("--images-per-sample", type=int, default=1)
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 10 GPU, 5 CPU)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--dtype", choices=["bf16", "fp32"], default=None, help="default bf16 on GPU, fp32 on CPU")
    p.add_argument("--search-limit", type=int, default=128, help="largest micro-batch tried in the search")
    p.add_argument("--skip-search", action="store_true", help="skip the micro-batch search")
    p.add_argument("--clip-batch", type=int, default=256)
    p.add_argument("--peak-tflops", type=float, default=None, help="override the GPU's dense bf16 peak")
    args = p.parse_args(argv)

    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    cfg = load_config(args.config)
    cfg.decoder.checkpoint_activations = False
    seq = args.seq or cfg.decoder.max_len
    mb = args.micro_batch or (8 if on_gpu else 2)
    steps = args.steps or (10 if on_gpu else 5)
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype or ("bf16" if on_gpu else "fp32")]
    torch.manual_seed(0)

    t = time.perf_counter()
    with torch.device(device):
        model = Kosmos(cfg).train()
    build_s = time.perf_counter() - t
    params = sum(p.numel() for p in model.parameters())
    ids, images = make_batch(cfg, mb, seq, args.images_per_sample, device)
    if on_gpu:
        torch.cuda.reset_peak_memory_stats(device)
    step_s = time_steps(model, ids, images, dtype, device, args.warmup, steps)
    tokens_per_s = mb * seq / step_s
    flops = step_flops(cfg, mb, seq, args.images_per_sample)
    peak = peak_tflops(device, args.peak_tflops)
    result: dict = {
        "device": torch.cuda.get_device_name(device) if on_gpu else "cpu",
        "torch": torch.__version__,
        "config": cfg.name,
        "params": params,
        "build_s": round(build_s, 2),
        "dtype": str(dtype).removeprefix("torch."),
        "seq": seq,
        "micro_batch": mb,
        "images_per_sample": args.images_per_sample,
        "step_s": round(step_s, 4),
        "tokens_per_s": round(tokens_per_s, 1),
        "model_tflops_per_s": round(flops / step_s / 1e12, 2),
        "mfu": round(flops / step_s / (peak * 1e12), 4) if peak else None,
        "threads": torch.get_num_threads(),
    }
    if on_gpu:
        result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        if not args.skip_search:
            result["max_micro_batch"] = largest_micro_batch(
                model, cfg, seq, args.images_per_sample, dtype, device, args.search_limit
            )
            model.decoder.cfg.checkpoint_activations = True
            result["max_micro_batch_checkpointed"] = largest_micro_batch(
                model, cfg, seq, args.images_per_sample, dtype, device, args.search_limit
            )
            model.decoder.cfg.checkpoint_activations = False
    if model.vision is not None:
        clip_batch = args.clip_batch if on_gpu else 8
        result["clip_images_per_s"] = round(
            clip_throughput(cfg, model, device, dtype, clip_batch, 5 if on_gpu else 2), 1
        )
    print(json.dumps(result, indent=2))
    out = os.environ.get("OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "model_bench.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
