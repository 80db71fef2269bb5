"""KOSMOS-1 training-step benchmark: exactly what `kosmos_train train` runs, one GPU.

The trainer's own pieces: the model built on the device and cast to bf16 (as DeepSpeed does), the
`TrainingModule` forward (index-based slots and targets, chunked loss), the recipe's micro-batch
(padded positions per micro-batch from the training config, rows x longest row), the activation
checkpointing mode, and an optimizer step. With DeepSpeed installed it is the trainer's own engine
(`build_engine`, ZeRO-2, fp32 gradient accumulation); without, an equivalent: fp32 master weights
and AdamW, bf16 model weights copied back after each step.

    python benchmarks/gpu_model_bench.py --stream text --activation-checkpointing selective
    python benchmarks/gpu_model_bench.py --device cpu --config tiny          # CPU smoke run

MFU counts model FLOPs the PaLM way (kosmos_train.train.metrics: 6 x matrices x tokens plus attention,
the CLIP forward and its trainable last block's backward), no recompute. Writes JSON to
$OUT/model_bench[-NAME].json when OUT is set, and prints it.
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

from kosmos_train.model import Kosmos, KosmosConfig  # noqa: E402
from kosmos_train.train.config import TrainConfig, load_train_config  # noqa: E402
from kosmos_train.train.metrics import PEAK_BF16_TFLOPS, image_flops, token_flops  # noqa: E402

CAPTION_ROW = 16  # median caption tokens (the padding benchmark's distribution)
INTERLEAVED_IMAGES_PER_1K = 5  # ~600-token documents with ~3 images


def peak_tflops(device: torch.device, override: float | None) -> float | None:
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def step_flops(cfg: KosmosConfig, batch: int, seq: int, images_per_sample: int) -> float:
    """Model FLOPs of one micro-batch's forward+backward (the trainer's MFU convention)."""
    return float(batch * seq * token_flops(cfg, seq) + batch * images_per_sample * image_flops(cfg))


def micro_batch_shape(train: TrainConfig, cfg: KosmosConfig, stream: str) -> tuple[int, int, int]:
    """(rows, row length, images per row) of the recipe's micro-batch for `stream`."""
    budget = train.micro_batch_tokens[stream]
    max_len = min(train.max_len.get(stream, cfg.decoder.max_len), cfg.decoder.max_len, budget)
    if stream == "image_text":
        seq = min(max_len, 1 + cfg.connector.image_tokens + 2 + CAPTION_ROW + 1)
        return budget // seq, seq, 1
    images = INTERLEAVED_IMAGES_PER_1K * max_len // 1000 if stream == "interleaved" else 0
    images = min(images, max_len // (cfg.connector.image_tokens + 2))
    return max(1, budget // max_len), max_len, images if cfg.vision is not None else 0


def make_batch(cfg: KosmosConfig, rows: int, seq: int, images_per_row: int, device: torch.device):
    """Random text with image blocks spread over each row; every text token is a target."""
    from kosmos_train.data.stream import batch_indices

    v, n = cfg.vocab, cfg.connector.image_tokens
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(v.first_piece, v.mask, (rows, seq), generator=g)
    ids[:, 0] = v.bos
    slots = torch.zeros(rows, seq, dtype=torch.bool)
    for k in range(images_per_row):
        start = 1 + k * (n + 2)
        ids[:, start], ids[:, start + n + 1] = v.image, v.image_end
        ids[:, start + 1 : start + n + 1] = v.mask
        slots[:, start + 1 : start + n + 1] = True
    loss = ~slots & (ids != v.image) & (ids != v.image_end) & (ids != v.bos)
    size = cfg.vision.image_size if cfg.vision is not None else 224
    images = torch.randint(0, 256, (rows * images_per_row, 3, size, size), dtype=torch.uint8, generator=g)
    slot_index, predict, target = batch_indices(slots, loss)
    pin = device.type == "cuda"
    tensors = [ids, images, slot_index, predict, target]
    return [(t.pin_memory() if pin else t).to(device, non_blocking=True) for t in tensors]


class Stepper:
    """forward + backward per micro-batch and an optimizer step, the way the trainer runs them."""

    def __init__(self, train: TrainConfig, model: Kosmos, device: torch.device, use_deepspeed: bool) -> None:
        from kosmos_train.train.forward import TrainingModule

        self.engine = None
        self.device = device
        if use_deepspeed:
            from kosmos_train.train.distributed import init_distributed
            from kosmos_train.train.loop import build_engine

            init_distributed()
            self.engine, _ = build_engine(train, model, 1, True, None)  # bf16 weights, as on GPU
            return
        self.module = TrainingModule(model.to(torch.bfloat16))
        trainable = [p for p in self.module.parameters() if p.requires_grad]
        self.pairs = [(p, p.detach().float().clone().requires_grad_(True)) for p in trainable]
        self.opt = torch.optim.AdamW(
            [m for _, m in self.pairs],
            lr=1e-5,
            betas=train.betas,
            eps=train.eps,
            weight_decay=train.weight_decay,
        )

    def micro_batch(self, batch: list[torch.Tensor], scale: float) -> torch.Tensor:
        if self.engine is not None:
            nll = self.engine(*batch)
            self.engine.backward(nll * scale, scale_wrt_gas=False)
            self.engine.step()
            return nll.detach()
        nll = self.module(*batch)
        (nll * scale).backward()
        return nll.detach()

    def optimizer_step(self) -> None:
        if self.engine is not None:
            return  # DeepSpeed steps at the accumulation boundary inside engine.step()
        for p, m in self.pairs:
            m.grad = p.grad.float() if p.grad is not None else torch.zeros_like(m)
            p.grad = None
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            for p, m in self.pairs:
                p.copy_(m)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(stepper: Stepper, batch, n_targets: int, device, warmup: int, steps: int) -> float:
    """Median seconds per (one micro-batch + one optimizer step)."""
    times = []
    for i in range(warmup + steps):
        sync(device)
        t = time.perf_counter()
        stepper.micro_batch(batch, 1.0 / max(n_targets, 1))
        stepper.optimizer_step()
        sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--config", default="kosmos1", help="training preset or config file (default kosmos1)")
    p.add_argument("--stream", choices=("text", "image_text", "interleaved"), default="text")
    p.add_argument("--activation-checkpointing", choices=("full", "selective", "none"), default=None)
    p.add_argument("--compile", action="store_true", help="torch.compile each decoder layer (as --compile)")
    p.add_argument("--micro-batch-tokens", type=int, help="padded positions (default: the recipe's)")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 10 GPU, 2 CPU)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--engine", choices=("auto", "deepspeed", "torch"), default="auto")
    p.add_argument("--name", default="", help="suffix of the JSON file written to $OUT")
    p.add_argument("--peak-tflops", type=float, default=None, help="override the GPU's dense bf16 peak")
    args = p.parse_args(argv)

    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    train = load_train_config(args.config)
    if args.activation_checkpointing:
        train.activation_checkpointing = args.activation_checkpointing
    if args.micro_batch_tokens:
        train.micro_batch_tokens[args.stream] = args.micro_batch_tokens
    train.compile = args.compile
    cfg = train.model_config()
    cfg.decoder.checkpoint_activations = train.activation_checkpointing
    if cfg.vision is not None:
        cfg.vision.pretrained = None  # random CLIP: same compute
    rows, seq, images_per_row = micro_batch_shape(train, cfg, args.stream)
    steps = args.steps or (10 if on_gpu else 2)
    engine = args.engine
    if engine == "auto":
        try:
            import deepspeed  # noqa: F401

            engine = "deepspeed"
        except ImportError:
            engine = "torch"

    from kosmos_train.train.loop import build_model

    t = time.perf_counter()
    model = build_model(cfg, train, device)
    build_s = time.perf_counter() - t
    params = sum(p.numel() for p in model.parameters())
    if on_gpu:
        torch.cuda.reset_peak_memory_stats(device)
    stepper = Stepper(train, model, device, engine == "deepspeed")
    batch = make_batch(cfg, rows, seq, images_per_row, device)
    step_s = time_steps(stepper, batch, int(batch[3].numel()), device, args.warmup, steps)
    flops = step_flops(cfg, rows, seq, images_per_row)
    peak = peak_tflops(device, args.peak_tflops)
    result: dict = {
        "device": torch.cuda.get_device_name(device) if on_gpu else "cpu",
        "torch": torch.__version__,
        "config": cfg.name,
        "engine": engine,
        "stream": args.stream,
        "activation_checkpointing": train.activation_checkpointing,
        "compile": train.compile,
        "params": params,
        "build_s": round(build_s, 2),
        "weights_dtype": "bfloat16",
        "micro_batch": {"rows": rows, "seq": seq, "images_per_row": images_per_row, "padded": rows * seq},
        "step_s": round(step_s, 4),
        "tokens_per_s": round(rows * seq / step_s, 1),
        "images_per_s": round(rows * images_per_row / step_s, 1),
        "model_tflops_per_s": round(flops / step_s / 1e12, 2),
        "mfu": round(flops / step_s / (peak * 1e12), 4) if peak else None,
        "threads": torch.get_num_threads(),
    }
    if on_gpu:
        result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    print(json.dumps(result, indent=2))
    out = os.environ.get("OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        name = f"model_bench-{args.name}.json" if args.name else "model_bench.json"
        (Path(out) / name).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
